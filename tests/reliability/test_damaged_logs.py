"""A metrics.jsonl cut short by a kill resumes; a damaged line inside it is one error naming file:line."""

import json

import pytest
from reliability_helpers import base_raw, read_results, write_config

from advrec.runs.config import parse_config
from advrec.runs.train import train_run


@pytest.fixture
def killed(tmp_path, ratings, crash_at):
    raw = base_raw(ratings, epochs=4)
    with pytest.raises(KeyboardInterrupt):
        train_run(parse_config(raw), tmp_path / "run", hooks=[crash_at(3)], show_progress=False)
    return tmp_path / "run", write_config(tmp_path / "c.yaml", raw)


def test_a_truncated_last_line_resumes_to_the_uninterrupted_result(tmp_path, cli, killed):
    """Before: --resume failed with a JSONDecodeError traceback."""
    run, config = killed
    log = run / "metrics.jsonl"
    with open(log, "a") as fh:  # what a kill during the append of epoch 3's line leaves
        fh.write('{"epoch": 3, "loss": 0.69')
    result = cli("train", config, "--out", run, "--resume", "--quiet")
    assert result.code == 0, result.err
    assert cli("train", config, "--out", tmp_path / "full", "--quiet").code == 0
    assert read_results(run)["test"] == read_results(tmp_path / "full")["test"]
    epochs = [json.loads(line)["epoch"] for line in log.read_text().splitlines()]
    assert epochs == [0, 1, 2, 3]


def test_a_damaged_line_inside_the_log_is_one_error_naming_it(cli, killed):
    run, config = killed
    log = run / "metrics.jsonl"
    lines = log.read_text().splitlines()
    lines[1] = lines[1][:10]
    log.write_text("\n".join(lines) + "\n")
    result = cli("train", config, "--out", run, "--resume", "--quiet")
    assert result.code == 2 and "metrics.jsonl:2" in result.error_line()


def test_a_log_that_is_not_text_is_one_error(cli, killed):
    """Found by the fault drill: bytes that are not UTF-8 in metrics.jsonl end --resume in a
    UnicodeDecodeError traceback."""
    run, config = killed
    (run / "metrics.jsonl").write_bytes(b"\xff\xfe\x00garbage\n{}\n")
    result = cli("train", config, "--out", run, "--resume", "--quiet")
    assert result.code == 2 and "metrics.jsonl:1: not UTF-8" in result.error_line()


def test_a_log_line_with_a_text_epoch_is_one_error(cli, killed):
    """Found by the fault drill's reading of _read_log: an entry whose epoch is text was compared with an
    int (TypeError traceback)."""
    run, config = killed
    (run / "metrics.jsonl").write_text('{"epoch": "0", "loss": 0.5}\n{"epoch": 1, "loss": 0.5}\n')
    result = cli("train", config, "--out", run, "--resume", "--quiet")
    assert result.code == 2 and "metrics.jsonl:1: 'epoch' must be a whole number" in result.error_line()


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ('{"epoch": 0, "loss": 0.69}', "'train_s' is missing"),  # was a KeyError traceback after training
        ("[0, 0.69]", "expected a JSON object"),  # was dropped without a word: an epoch lost from history
        ('{"epoch": true, "train_s": 0.1}', "'epoch' must be a whole number"),  # was read as epoch 1
        ('{"epoch": 0, "train_s": "fast"}', "'train_s' must be a finite number"),  # a TypeError traceback
        ("[" * 100_000, "not a JSON object"),  # a RecursionError traceback
    ],
)
def test_a_log_line_the_trainer_cannot_read_back_is_one_error(cli, killed, line, said):
    """An inner line of metrics.jsonl that parses but lacks what resuming reads from it (the epoch, its
    seconds) is damage, named by file:line, never a traceback at the end of training or a lost epoch."""
    run, config = killed
    log = run / "metrics.jsonl"
    lines = log.read_text().splitlines()
    lines[0] = line
    log.write_text("\n".join(lines) + "\n")
    result = cli("train", config, "--out", run, "--resume", "--quiet")
    assert result.code == 2, result.err
    assert f"metrics.jsonl:1: {said}" in result.error_line()


@pytest.fixture
def finished(tmp_path, cli, base_yaml):
    run = tmp_path / "run"
    assert cli("train", base_yaml, "--out", run, "--quiet").code == 0
    return run


def test_report_on_a_log_that_is_not_text_is_one_error(cli, finished):
    """Before: advrec report ended in a UnicodeDecodeError traceback (its own metrics.jsonl reader)."""
    (finished / "metrics.jsonl").write_bytes(b'{"epoch": 0}\n\xff\xfe\n')
    result = cli("report", finished, "--no-per-user")
    assert result.code == 2 and "metrics.jsonl:2: not UTF-8" in result.error_line()


def test_report_on_a_line_without_an_epoch_is_one_error(cli, finished):
    """Before: the report's curves read h["epoch"] of every line (a KeyError traceback)."""
    (finished / "metrics.jsonl").write_text('{"epoch": 0, "loss": 0.7}\n{"loss": 0.6}\n')
    result = cli("report", finished, "--no-per-user")
    assert result.code == 2 and "metrics.jsonl:2: 'epoch' is missing" in result.error_line()


def test_the_api_history_of_a_killed_run_drops_only_the_torn_line(finished):
    """Before: Run.history ended in a JSONDecodeError on the line a kill cut short."""
    import advrec

    log = finished / "metrics.jsonl"
    with open(log, "a") as fh:
        fh.write('{"epoch": 2, "lo')
    assert list(advrec.load(finished).history["epoch"]) == [0, 1]
