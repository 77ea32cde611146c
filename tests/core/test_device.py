"""The device key: a bad name is a config error; a device this machine lacks is a clear error when a run
starts or loads, and a run folder trained elsewhere loads with ``--device``."""

import json

import pytest
import torch
import yaml

from advrec.cli.main import main
from advrec.errors import ConfigError
from advrec.runs.config import parse_config
from advrec.runs.train import train_run

SMALL = {
    "seed": 7,
    "data": {"synthetic": {"n_users": 60, "n_items": 80, "interactions_per_user": 12}},
    "model": {"dim": 8},
    "train": {"epochs": 2, "batch_size": 256, "patience": 50},
    "eval": {"ks": [10]},
}
no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a machine without CUDA")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "cpu:0", "CUDA", ""])
def test_a_bad_device_name_is_a_config_error(name):
    with pytest.raises(ConfigError, match=r"device: .*expected cpu, cuda or cuda:N"):
        parse_config({**SMALL, "device": name})


@pytest.mark.parametrize("name", ["cpu", "cuda", "cuda:0", "cuda:3"])
def test_device_names_parse(name):
    assert parse_config({**SMALL, "device": name}).device == name


@no_gpu
def test_training_on_a_missing_gpu_says_so_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="device: 'cuda', but torch .* sees no CUDA device here"):
        train_run(parse_config({**SMALL, "device": "cuda"}), tmp_path / "run", show_progress=False)
    assert not (tmp_path / "run").exists()


@no_gpu
def test_a_run_folder_from_a_gpu_machine_loads_with_device_cpu(tmp_path, capsys):
    run = tmp_path / "run"
    results = train_run(parse_config(SMALL), run, show_progress=False)
    # as if trained on a GPU: the folder's config names cuda
    saved = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**saved, "device": "cuda"}))
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"{run / 'config.yaml'}: device: 'cuda'" in err and "pass --device cpu" in err
    assert main(["evaluate", str(run), "--device", "cpu", "--attack", "fgsm", "--eps", "0.1"]) == 0
    saved_results = json.loads((run / "results.json").read_text())
    assert saved_results["test"] == pytest.approx(results["test"])
    assert "robustness" in saved_results
    assert main(["evaluate", str(run), "--device", "gpu"]) == 2
    assert "--device" in capsys.readouterr().err


@no_gpu
def test_a_report_of_gpu_runs_computes_per_user_metrics_with_device_cpu(tmp_path, capsys):
    # per-user metrics (significance paired by users) are computed from the checkpoints when missing
    for name, dim in (("a", 8), ("b", 4)):
        train_run(
            parse_config({**SMALL, "model": {"dim": dim}}), tmp_path / "study" / name, show_progress=False
        )
        saved = yaml.safe_load((tmp_path / "study" / name / "config.yaml").read_text())
        (tmp_path / "study" / name / "config.yaml").write_text(yaml.safe_dump({**saved, "device": "cuda"}))
    args = ["report", str(tmp_path / "study"), "--paired-by", "users"]
    assert main(args) == 2
    assert "pass --device cpu" in capsys.readouterr().err
    assert main([*args, "--device", "cpu"]) == 0
    assert all((tmp_path / "study" / name / "per_user_test.csv").exists() for name in ("a", "b"))
