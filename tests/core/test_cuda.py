"""The same run on a GPU and on the CPU takes the same steps (skipped where torch sees no GPU; CI has none).

Why they can agree: the draws that shape training (negatives, windows, perturbation noise, SimGCL's noise,
initial weights) come from CPU generators and are moved to the device, so only floating-point summation
order differs (cuBLAS kernels against the CPU's, or against the CPU's fused BPR kernel). torch's dropout
draws its masks from the device's own generator, so these configs use none, except NeuMF and SASRec with
counter-based masks (``model.dropout_rng: counter``), which are the same on every device. A few epochs at
these sizes keep the two within ~1e-4 per parameter; the bounds below leave room for Adam amplifying tiny
differences.
"""

import json

import numpy as np
import pytest
import torch

from advrec.cli.main import main
from advrec.runs.config import parse_config
from advrec.runs.load import evaluate_run
from advrec.runs.probe import robustness_run
from advrec.runs.train import train_run
from advrec.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

SYNTHETIC = {"synthetic": {"n_users": 120, "n_items": 150, "interactions_per_user": 15}}
APR = {"name": "apr", "eps": 0.5, "eps_mode": "relative", "start_epoch": 1}

GENERAL = {
    "mf": {"model": {"name": "mf", "dim": 16}},
    "mf_apr_fgsm": {"model": {"name": "mf", "dim": 16}, "adversary": {**APR, "method": "fgsm"}},
    "mf_apr_pgd": {"model": {"name": "mf", "dim": 16}, "adversary": {**APR, "method": "pgd", "pgd_steps": 2}},
    "neumf": {
        "model": {"name": "neumf", "dim": 8, "mlp_layers": [16, 8], "dropout": 0.0},
        "train": {"objective": "bce", "n_negatives": 2},
    },
    "neumf_counter_dropout": {
        "model": {"name": "neumf", "dim": 8, "mlp_layers": [16, 8], "dropout": 0.3, "dropout_rng": "counter"},
        "train": {"objective": "bce", "n_negatives": 2},
    },
    "lightgcn": {"model": {"name": "lightgcn", "dim": 16, "n_layers": 2}},
    "simgcl": {
        "model": {"name": "lightgcn", "dim": 16, "n_layers": 2},
        "adversary": {"name": "simgcl", "cl_eps": 0.1, "cl_weight": 0.05},
    },
    "xsimgcl": {
        "model": {"name": "lightgcn", "dim": 16, "n_layers": 2},
        "adversary": {"name": "xsimgcl", "cl_eps": 0.1, "cl_weight": 0.05, "cl_layer": 1},
    },
}

SASREC = {"name": "sasrec", "dim": 16, "dropout": 0.0, "init_std": 0.05, "max_len": 6}
SEQUENTIAL = {
    "sasrec_ce": {"model": SASREC},
    "sasrec_bce_apr_input": {
        "model": {**SASREC, "loss": "bce"},
        "adversary": {**APR, "method": "fgsm", "targets": ["item_input"]},
    },
    "sasrec_counter_dropout": {
        "model": {**SASREC, "dropout": 0.3, "dropout_rng": "counter"},
    },
    "sasrec_worst_case": {
        "model": SASREC,
        "adversary": {
            "name": "apr",
            "method": "worst_case",
            "eps": 0.1,
            "eps_mode": "relative",
            "targets": ["item_output"],
        },
    },
}


def _walks(path, n_users: int = 40, n_items: int = 20, steps: int = 12) -> None:
    rng = np.random.default_rng(0)
    lines = ["user\titem\ttimestamp"]
    for user in range(n_users):
        start = int(rng.integers(n_items))
        lines += [f"u{user}\ti{(start + t) % n_items}\t{100 + t}" for t in range(steps)]
    path.write_text("\n".join(lines) + "\n")


def _raw(tmp_path, name: str) -> dict:
    base = {
        "seed": 3,
        "train": {"epochs": 3, "batch_size": 256, "patience": 50, "optimizer": {"lr": 0.01}},
        "eval": {"ks": [10]},
    }
    if name in SEQUENTIAL:
        _walks(tmp_path / "walks.tsv")
        base["data"] = {
            "format": "table",
            "path": str(tmp_path / "walks.tsv"),
            "columns": {"user": "user", "item": "item", "timestamp": "timestamp"},
        }
        base["split"] = {"method": "loo"}
        base["train"]["batch_size"] = 8
        extra = SEQUENTIAL[name]
    else:
        base["data"] = SYNTHETIC
        extra = GENERAL[name]
    for key, value in extra.items():
        base[key] = {**base.get(key, {}), **value}
    return base


def _run_both(tmp_path, raw: dict) -> dict[str, dict]:
    results = {}
    for device in ("cpu", "cuda"):
        config = parse_config(json.loads(json.dumps({**raw, "device": device})))
        results[device] = train_run(config, tmp_path / device, show_progress=False)
    return results


def _max_param_gap(tmp_path) -> float:
    cpu = load_checkpoint(tmp_path / "cpu" / "checkpoints" / "last.pt")["model"]
    gpu = load_checkpoint(tmp_path / "cuda" / "checkpoints" / "last.pt")["model"]
    assert cpu.keys() == gpu.keys()
    return max(float((cpu[name].double() - gpu[name].double()).abs().max()) for name in cpu)


@pytest.mark.parametrize("name", [*GENERAL, *SEQUENTIAL])
def test_gpu_run_matches_cpu_run(tmp_path, name):
    results = _run_both(tmp_path, _raw(tmp_path, name))
    gap = _max_param_gap(tmp_path)
    print(f"{name}: largest parameter gap {gap:.2e}")
    assert gap < 1e-3, f"{name}: parameters differ by up to {gap:.2e}"
    for split in ("valid", "test"):
        for key, value in results["cpu"][split].items():
            assert results["cuda"][split][key] == pytest.approx(value, abs=1e-2), f"{name} {split} {key}"
    gpu_log = (tmp_path / "cuda" / "metrics.jsonl").read_text().splitlines()
    assert all(np.isfinite(json.loads(line)["loss"]) for line in gpu_log)


@pytest.mark.parametrize("name", ["mf_apr_fgsm", "sasrec_worst_case"])
def test_gpu_robustness_probe_matches_cpu(tmp_path, name):
    _run_both(tmp_path, _raw(tmp_path, name))
    entries = {
        device: robustness_run(tmp_path / device, [0.1, 0.5], attack="fgsm", eps_mode="relative")
        for device in ("cpu", "cuda")
    }
    print(name, {d: {eps: row["ndcg@10"] for eps, row in e["fgsm"].items()} for d, e in entries.items()})
    cpu, gpu = entries["cpu"], entries["cuda"]
    for label, a, b in [
        ("fgsm", cpu["fgsm"], gpu["fgsm"]),
        ("random", cpu["random"]["fgsm"], gpu["random"]["fgsm"]),
    ]:
        assert a.keys() == b.keys()
        for eps in a:
            for key, value in a[eps].items():
                if value is not None:
                    assert b[eps][key] == pytest.approx(value, abs=1e-2), f"{name} {label} {eps} {key}"


@pytest.mark.parametrize("name", ["mf_apr_fgsm", "sasrec_worst_case"])
def test_gpu_run_resumes_exactly(tmp_path, name, crash_at):
    raw = {**_raw(tmp_path, name), "device": "cuda"}
    whole = train_run(parse_config(raw), tmp_path / "whole", show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(parse_config(raw), tmp_path / "cut", hooks=[crash_at(2)], show_progress=False)
    resumed = train_run(parse_config(raw), tmp_path / "cut", resume=True, show_progress=False)
    assert resumed["valid"] == pytest.approx(whole["valid"], abs=1e-6)
    a = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["model"]
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key


GANS = {
    "cfgan": {"name": "cfgan", "g_hidden": [32], "d_hidden": [16], "noise_dim": 4,
              "generator": {"batch_size": 16, "pretrain_epochs": 1}, "discriminator": {"batch_size": 32}},
    "cfgan_wgan_gp": {"name": "cfgan", "loss": "wgan_gp", "g_hidden": [32], "d_hidden": [16],
                      "generator": {"batch_size": 16, "pretrain_epochs": 1},
                      "discriminator": {"batch_size": 32}},
    "irgan": {"name": "irgan", "dim": 8, "init_std": 0.1,
              "generator": {"optimizer": {"lr": 1e-2}, "batch_size": 32, "pretrain_epochs": 1},
              "discriminator": {"optimizer": {"lr": 1e-2}, "batch_size": 64}},
}  # fmt: skip


@pytest.mark.parametrize("name", list(GANS))
def test_gpu_gan_run_matches_cpu(tmp_path, name):
    raw = {"seed": 5, "data": SYNTHETIC, "train": {"epochs": 3, "patience": 50}, "eval": {"ks": [10]},
           "model": GANS[name]}  # fmt: skip
    results = _run_both(tmp_path, raw)
    gap = _max_param_gap(tmp_path)
    print(f"{name}: largest parameter gap {gap:.2e}", results["cpu"]["valid"], results["cuda"]["valid"])
    assert gap < 1e-3, f"{name}: parameters differ by up to {gap:.2e}"
    for key, value in results["cpu"]["valid"].items():
        assert results["cuda"]["valid"][key] == pytest.approx(value, abs=1e-2), key


VICTIM = """
seed: 7
device: {device}
data:
  format: synthetic
  synthetic: {{n_users: 70, n_items: 90, interactions_per_user: 15, seed: 1}}
model: {{name: mf, dim: 8, init_std: 0.1}}
train: {{epochs: 40, patience: 2, batch_size: 256, optimizer: {{lr: 0.05}}}}
"""


@pytest.mark.parametrize("attack", ["bandwagon", "optimised"])
def test_gpu_poisoning_matches_cpu(tmp_path, attack):
    poisoning = {}
    for device in ("cpu", "cuda"):
        config = tmp_path / f"{device}.yaml"
        config.write_text(VICTIM.format(device=device))
        args = ["attack", str(config), "--attack", attack, "--size", "0.1", "--targets", "random:2"]
        assert main([*args, "--defence", "apr", "--out", str(tmp_path / device), "--quiet"]) == 0
        poisoning[device] = json.loads((tmp_path / device / "results.json").read_text())["poisoning"]
    print(
        attack, {d: (p["before"]["target_hit@50"], p["after"]["target_hit@50"]) for d, p in poisoning.items()}
    )
    assert poisoning["cuda"]["targets"] == poisoning["cpu"]["targets"]
    for column in ("before", "after", "defended"):
        for key, value in poisoning["cpu"][column].items():
            assert poisoning["cuda"][column][key] == pytest.approx(value, abs=2e-2), f"{column} {key}"


def test_a_gpu_run_folder_evaluates_on_the_cpu(tmp_path):
    raw = {**_raw(tmp_path, "sasrec_worst_case"), "device": "cuda"}
    train_run(parse_config(raw), tmp_path / "run", show_progress=False)
    on_gpu, on_cpu = evaluate_run(tmp_path / "run"), evaluate_run(tmp_path / "run", device="cpu")
    for key, value in on_gpu.items():
        assert on_cpu[key] == pytest.approx(value, abs=1e-2), key
