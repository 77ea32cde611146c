"""The attacks from the papers run through ``advrec attack`` with their settings from the command line,
and refuse bad settings in one line."""

import json

import pytest

from advrec.cli.main import main

CONFIG = """
seed: 7
threads: 1
data:
  format: synthetic
  synthetic: {n_users: 60, n_items: 80, interactions_per_user: 12, seed: 1}
model: {name: mf, dim: 8, init_std: 0.1}
train: {epochs: 20, patience: 2, batch_size: 256, optimizer: {lr: 0.05}}
"""

FAST = {
    "pga": ["dim=4", "steps=3"],
    "revadv": ["dim=4", "epochs=4", "unroll=2", "outer_epochs=2"],
    "dl-attack": ["dim=4", "mlp_layers=[8,4]", "epochs=2", "tune_epochs=1", "batch=256"],
    "legup": ["dim=4", "hidden=8", "steps=3"],
}


@pytest.mark.parametrize("attack", sorted(FAST))
def test_paper_attacks_run_through_the_cli(attack, tmp_path):
    config = tmp_path / "victim.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "exp"
    sets = [arg for setting in FAST[attack] for arg in ("--attack-set", setting)]
    args = ["attack", str(config), "--attack", attack, *sets, "--size", "0.05", "--targets", "random:2"]
    assert main([*args, "--filler", "6", "--out", str(out), "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())["poisoning"]
    assert results["attack"] == attack and results["n_fake"] == 3 and results["filler"] == 6
    assert json.loads((out / "attack.json").read_text())["attack"]["name"] == attack


@pytest.mark.parametrize(
    "attack, setting",
    [("pga", "step=0"), ("revadv", "momentum=1.5"), ("dl-attack", "bogus=1"), ("legup", "steps=0")],
)
def test_bad_settings_are_one_line_errors(attack, setting, tmp_path, capsys):
    config = tmp_path / "victim.yaml"
    config.write_text(CONFIG)
    args = ["attack", str(config), "--attack", attack, "--attack-set", setting, "--size", "0.05"]
    args += ["--targets", "random:1"]
    assert main([*args, "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert setting.split("=")[0] in err and "Traceback" not in err and err.count("\n") == 1
