"""Hostile run configs refused at validation: each asserts a one-line ConfigError naming the key (or the
YAML problem), exit 2, and that no run folder was started (refused before anything is written). The
YAML cases need the loader to read through ``advrec.config.yaml_safe``, the others the run config's
own validation."""

import time

from reliability_helpers import alias_bomb


def _refused(cli, tmp_path, config, *extra, needle):
    run = tmp_path / "run"
    result = cli("train", config, "--out", run, "--quiet", *extra)
    assert result.code == 2
    assert needle in result.error_line()  # the one 'advrec: error:' line, no traceback
    assert not run.exists()


def test_alias_bomb_in_a_run_config_is_refused_fast(tmp_path, cli, base_yaml):
    """Before: 9 aliases x 9 levels hung past 60 s and grew past 2.5 GB in the loader's deep copy. Six
    levels here (531,441 nodes expanded) finish either way, so the test fails fast until wired."""
    config = tmp_path / "bomb.yaml"
    config.write_text(base_yaml.read_text() + alias_bomb(levels=6))
    start = time.perf_counter()
    _refused(cli, tmp_path, config, needle="aliases expand to more than")
    assert time.perf_counter() - start < 10


def test_duplicate_key_in_a_run_config_is_refused(tmp_path, cli, base_yaml):
    """Before: the last of two 'train' sections won silently."""
    config = tmp_path / "dup.yaml"
    config.write_text(base_yaml.read_text() + "train:\n  epochs: 50\n")
    _refused(cli, tmp_path, config, needle="key 'train' is given twice")


def test_empty_config_file_is_refused(tmp_path, cli):
    """Before: an empty file trained the synthetic default for 300 epochs."""
    config = tmp_path / "empty.yaml"
    config.write_text("# nothing yet\n")
    _refused(cli, tmp_path, config, needle="empty")


def test_boolean_epochs_is_refused(tmp_path, cli, base_yaml):
    """Before: train.epochs: true was read as 1."""
    _refused(cli, tmp_path, base_yaml, "--set", "train.epochs=true", needle="train.epochs")


def test_degenerate_split_ratios_are_refused_at_validation(tmp_path, cli, base_yaml):
    """Before: split.ratios [1, 0, 0] passed validation and failed later on an empty valid.tsv."""
    _refused(cli, tmp_path, base_yaml, "--set", "split.ratios=[1, 0, 0]", needle="split.ratios")


def test_negative_seed_is_one_line(tmp_path, cli, base_yaml):
    """Before: --set seed=-1 ended in numpy's ValueError traceback."""
    _refused(cli, tmp_path, base_yaml, "--set", "seed=-1", needle="seed")


def test_infinite_learning_rate_is_refused_at_validation(tmp_path, cli, base_yaml):
    """Before: lr: .inf was accepted (the run then diverged; since the kernel fix it stops as diverged,
    but only after the run folder was started)."""
    _refused(cli, tmp_path, base_yaml, "--set", "train.optimizer.lr=.inf", needle="train.optimizer.lr")
