import json

import numpy as np
import pytest

from advrec.attack.inject import read_fake_users
from advrec.cli.main import main
from advrec.data.split import load_saved_split

CONFIG = """
seed: 7
threads: 1
data:
  format: synthetic
  synthetic: {n_users: 70, n_items: 90, interactions_per_user: 15, seed: 1}
model: {name: mf, dim: 8, init_std: 0.1}
train: {epochs: 40, patience: 2, batch_size: 256, optimizer: {lr: 0.05}}
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "victim.yaml"
    path.write_text(CONFIG)
    return path


def _ids(part):
    return set(part.user_map.raw[part.users].tolist())


def test_attack_end_to_end_and_resume(config, tmp_path, capsys):
    out = tmp_path / "exp"
    args = [
        "attack", str(config), "--attack", "bandwagon", "--size", "0.1", "--targets", "random:2",
        "--filler", "5", "--defence", "apr", "--out", str(out), "--quiet",
    ]  # fmt: skip
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())["poisoning"]
    keys = {"target_hit@10", "target_hit@20", "target_hit@50", "target_ndcg@50", "ndcg@10"}
    for column in ("before", "after", "defended"):
        assert keys <= set(results[column])
    assert results["attack"] == "bandwagon" and len(results["targets"]) == 2 and results["n_fake"] == 7
    assert (out / "poisoning.png").stat().st_size > 0
    # fake users: in the poisoned and defended train only, with the requested profile size
    fake = set(np.array(read_fake_users(out / "poisoned" / "split")).astype(int).tolist())
    assert len(fake) == 7
    for run in ("poisoned", "defended-apr"):
        split = load_saved_split(out / run / "split")
        assert fake <= _ids(split.train)
        assert not fake & (_ids(split.valid) | _ids(split.test))
        rows = np.isin(split.train.user_map.raw[split.train.users], list(fake))
        assert np.array_equal(np.bincount(split.train.users[rows])[-7:], [2 + 10 + 5] * 7)
    assert not fake & _ids(load_saved_split(out / "clean" / "split").train)
    # the defended run is the victim with the APR adversary
    assert "name: apr" in (out / "defended-apr" / "config.yaml").read_text()
    # a rerun reuses every finished sub-run and gives the same numbers
    stamp = (out / "poisoned" / "results.json").stat().st_mtime_ns
    assert main(args) == 0
    assert (out / "poisoned" / "results.json").stat().st_mtime_ns == stamp
    assert json.loads((out / "results.json").read_text())["poisoning"] == results
    assert "target_hit@50" in capsys.readouterr().out


def test_other_settings_refuse_the_folder(config, tmp_path, capsys):
    out = tmp_path / "exp"
    base = ["attack", str(config), "--size", "0.05", "--targets", "1,2", "--filler", "3", "--out", str(out)]
    assert main([*base, "--attack", "random", "--quiet"]) == 0
    assert main([*base, "--attack", "average", "--quiet"]) == 2
    assert "other settings" in capsys.readouterr().err


SMALL_RANDOM = ["--attack", "random", "--size", "0.05", "--targets", "1,2"]


def test_another_victim_config_refuses_the_folder(config, tmp_path, capsys):
    # finished runs are reused by folder: after an edit of the victim they would be stale
    out = tmp_path / "exp"
    args = ["attack", str(config), *SMALL_RANDOM, "--out", str(out)]
    assert main([*args, "--quiet"]) == 0
    config.write_text(CONFIG.replace("lr: 0.05", "lr: 0.02"))
    assert main([*args, "--quiet"]) == 2
    assert f"{out / 'clean'} holds a run of another victim config" in capsys.readouterr().err


def test_apr_defence_on_a_victim_too_short_to_start_it_says_so(tmp_path, capsys):
    # APR waits for the victim's plateau (min(10, patience) evaluations): 8 epochs never get there
    short = tmp_path / "short.yaml"
    short.write_text(CONFIG.replace("epochs: 40, patience: 2", "epochs: 8, patience: 50"))
    args = ["attack", str(short), *SMALL_RANDOM, "--defence", "apr"]
    assert main([*args, "--out", str(tmp_path / "exp"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--defence apr: APR pre-trains the victim" in err and "train.epochs (8)" in err


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--attack", "nope"], "unknown attack"),
        (["--attack", "random", "--size", "0"], "--size"),
        (["--attack", "random", "--size", "1.5"], "--size: Input should be less than or equal to 1"),
        (["--attack", "random", "--size", "-0.1"], "--size: Input should be greater than 0"),
        (["--attack", "random", "--size", "nan"], "--size"),
        (["--attack", "random", "--targets", "99999"], "--targets: item id '99999' is not in the data"),
        (["--attack", "random", "--set", "model.name=nope"], "unknown model 'nope'; valid:"),
        (["--attack", "random", "--size", "lots"], "--size"),
        (["--attack", "random", "--filler", "2.5"], "--filler"),
        (
            ["--attack", "random", "--defence", "magic"],
            "unknown defence 'magic'; valid: apr, filter, filter+apr, none, pamacf, text-filter, vat",
        ),
        (
            ["--attack", "random", "--defence", "vat", "--defence-set", "adversary.lamb=1"],
            "lam, method, min_adv_epochs",
        ),
        (
            ["--attack", "random", "--defence", "pamacf", "--defence-set", "adversary.user_loss=sum"],
            "(valid keys here: eps,",
        ),
        (
            ["--attack", "random", "--defence", "vat", "--defence-set", "adversary.lam=-1"],
            "--defence adversary.lam: Input should be greater than 0",
        ),
        (
            ["--attack", "random", "--defence", "vat", "--defence-set", "adversary.user_loss=max"],
            "adversary.user_loss: Input should be 'mean' or 'sum'",
        ),
        (["--attack", "random", "--targets", "mid:1000"], "--targets"),
    ],
)
def test_bad_arguments_are_one_line_errors(config, tmp_path, capsys, extra, fragment):
    args = ["attack", str(config), "--size", "0.05", "--targets", "random:1", "--out", str(tmp_path / "x")]
    args += ["--quiet"]
    # argparse keeps the last of a repeated option, so extra overrides the defaults above
    assert main(args + extra) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err and err.count("\n") == 1


def test_personalised_defences_run_with_their_settings_from_the_command_line(config, tmp_path):
    out = tmp_path / "exp"
    base = ["attack", str(config), "--attack", "bandwagon", "--size", "0.1", "--targets", "random:2"]
    for name in ("vat", "pamacf"):
        args = [*base, "--defence", name, "--defence-set", "adversary.lam=1.5", "--out", str(out), "--quiet"]
        assert main(args) == 0
        victim = (out / f"defended-{name}" / "config.yaml").read_text()
        # the set key, the defence's other defaults, its plateau capped at the victim's patience (2)
        assert f"name: {name}" in victim and "lam: 1.5" in victim and "start_after_plateau: 2" in victim
        log = [json.loads(x) for x in (out / f"defended-{name}" / "metrics.jsonl").read_text().splitlines()]
        assert "adv_loss" not in log[0] and any("adv_loss" in x for x in log)
        assert "ndcg@10" in json.loads((out / "results.json").read_text())["poisoning"]["defended"]
