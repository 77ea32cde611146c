"""A study file cannot write outside its folder, and its YAML is read with the bounded reader."""

import json

import pytest
import yaml
from reliability_helpers import alias_bomb

from advrec.errors import ConfigError
from advrec.experiments.study import load_study, parse_study

STUDY = {
    "base": {
        "threads": 1,
        "data": {"synthetic": {"n_users": 30, "n_items": 40, "interactions_per_user": 8}},
        "model": {"dim": 4},
        "train": {"epochs": 1},
    },
    "axes": {"method": {"bpr": {}}},
    "per_user": False,
}


@pytest.mark.parametrize("name", ["../../evil", "..", "a/b", "a\\b", "/abs", ".hidden", "", "x\0y"])
def test_study_name_must_be_a_plain_folder_name(name):
    with pytest.raises(ConfigError, match="name: .*plain folder name"):
        parse_study({**STUDY, "name": name}, "s.yaml")


def test_cli_refuses_a_traversing_name_and_writes_nothing(tmp_path, monkeypatch, cli):
    """Before: ``name: ../../evil`` put study.json, checkpoints and results two folders up."""
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    (work / "s.yaml").write_text(yaml.safe_dump({**STUDY, "name": "../../evil"}))
    result = cli("study", "s.yaml", "--no-report")
    assert result.code == 2
    assert "name" in result.error_line()
    assert not (tmp_path / "evil").exists() and not (work / "runs").exists()


def test_study_file_alias_bomb_is_refused(tmp_path, cli):
    """Six levels here (531,441 strings once expanded): the study's merge expanded them before."""
    rest = {k: v for k, v in STUDY.items() if k != "base"}
    base = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in STUDY["base"].items())
    text = yaml.safe_dump(rest) + "base:\n" + base + alias_bomb(levels=6, indent="  ")
    (tmp_path / "s.yaml").write_text(text)
    result = cli("study", tmp_path / "s.yaml", "--out", tmp_path / "o")
    assert result.code == 2 and "aliases expand to more than" in result.error_line()


def test_study_file_duplicate_key_is_refused(tmp_path):
    (tmp_path / "s.yaml").write_text("seeds: [1]\n" + yaml.safe_dump(STUDY) + "seeds: [2]\n")
    with pytest.raises(ConfigError, match=r"s\.yaml:\d+: key 'seeds' is given twice"):
        load_study(tmp_path / "s.yaml")


def test_base_config_is_read_with_the_bounded_reader(tmp_path):
    (tmp_path / "base.yaml").write_text("model: {dim: 4}\nmodel: {dim: 8}\n")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({**STUDY, "base_config": "base.yaml"}))
    with pytest.raises(ConfigError, match=r"base\.yaml:2: key 'model' is given twice"):
        load_study(tmp_path / "s.yaml")
