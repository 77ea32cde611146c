"""The run folder as a transaction: fingerprinted split, one writer at a time, no stray temporaries,
and every damaged or missing piece a one-line error."""

import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from reliability_helpers import base_raw, read_results, write_config, write_ratings

from advrec.errors import AdvrecError
from advrec.runs.config import parse_config
from advrec.runs.train import train_run
from advrec.train.checkpoint import load_checkpoint, save_checkpoint


def _kill_before_first_checkpoint(config, run, crash_at):
    """As a kill after split/ is written and before last.pt: the first epoch never starts."""
    with pytest.raises(KeyboardInterrupt):
        train_run(config, run, hooks=[crash_at(0)], show_progress=False)
    assert (run / "split" / "test.tsv").exists() and not (run / "checkpoints" / "last.pt").exists()


def test_stale_split_from_other_inputs_is_rebuilt_not_reused(tmp_path, cli, crash_at):
    """Before: rerun with other data, ratios and seed exited 0 with config.yaml saying the new data and
    the split still the old one."""
    old = write_ratings(tmp_path / "a.data", seed=1)
    new = write_ratings(tmp_path / "b.data", n_users=50, seed=2)
    run = tmp_path / "run"
    _kill_before_first_checkpoint(parse_config(base_raw(old)), run, crash_at)
    raw = base_raw(new)
    raw.update(seed=2, split={"method": "ratio", "ratios": [0.7, 0.15, 0.15]})
    result = cli("train", write_config(tmp_path / "new.yaml", raw), "--out", run, "--quiet")
    assert result.code == 0, result.err
    assert "split: rebuilt, since data file data.path changed; seed 1 -> 2;" in result.err
    assert "split settings differ (split.ratios)" in result.err
    reference = tmp_path / "reference"
    assert cli("train", tmp_path / "new.yaml", "--out", reference, "--quiet").code == 0
    for name in ("train.tsv", "valid.tsv", "test.tsv"):
        assert (run / "split" / name).read_bytes() == (reference / "split" / name).read_bytes()
    assert read_results(run)["test"] == read_results(reference)["test"]


def test_a_broken_split_left_by_a_failed_run_does_not_outlive_the_fix(tmp_path, cli, base_yaml):
    """Before: after a failed run, fixing the data still failed on the stale split/train.tsv."""
    run = tmp_path / "run"
    (run / "split").mkdir(parents=True)
    (run / "split" / "train.tsv").write_text("user\titem\nnot a number\t\n")
    (run / "split" / "test.tsv").write_text("user\titem\n")
    (run / "split" / "valid.tsv").write_text("user\titem\n")
    result = cli("train", base_yaml, "--out", run, "--quiet")
    assert result.code == 0, result.err
    assert "it has no fingerprint" in result.err and (run / "split" / "fingerprint.json").exists()


def test_resume_refuses_a_data_file_that_changed(tmp_path, cli, crash_at):
    data = write_ratings(tmp_path / "u.data")
    config = parse_config(base_raw(data, epochs=3))
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_run(config, run, hooks=[crash_at(1)], show_progress=False)
    write_ratings(data, seed=5)  # the same file, other content
    cfg = write_config(tmp_path / "c.yaml", base_raw(data, epochs=3))
    result = cli("train", cfg, "--out", run, "--resume", "--quiet")
    assert result.code == 2
    assert "was made from other inputs than this config's: data file data.path changed" in result.error_line()


def test_a_finished_run_is_not_reused_for_data_that_changed(tmp_path, cli):
    from advrec.experiments.poisoning import train_or_reuse

    data = write_ratings(tmp_path / "u.data")
    config = parse_config(base_raw(data))
    train_or_reuse(config, tmp_path / "clean")
    assert train_or_reuse(config, tmp_path / "clean")["test"]  # reused: same data
    write_ratings(data, seed=9)
    with pytest.raises(AdvrecError, match="holds a finished run made from other inputs than now"):
        train_or_reuse(config, tmp_path / "clean")


@pytest.mark.parametrize("name", ["test.tsv", "train.tsv"])
def test_evaluate_names_a_missing_or_edited_split_file(tmp_path, cli, base_yaml, name):
    """Before: split/test.tsv missing gave a FileNotFoundError traceback."""
    run = tmp_path / "run"
    assert cli("train", base_yaml, "--out", run, "--quiet").code == 0
    (run / "split" / name).unlink()
    result = cli("evaluate", run)
    assert result.code == 2 and f"split/{name}: missing from the run folder" in result.error_line()
    shutil.rmtree(run / "split")
    result = cli("evaluate", run)
    assert result.code == 2 and "split/test.tsv: missing from the run folder" in result.error_line()


def test_evaluate_names_an_edited_split_file(tmp_path, cli, base_yaml):
    run = tmp_path / "run"
    assert cli("train", base_yaml, "--out", run, "--quiet").code == 0
    with open(run / "split" / "test.tsv", "a") as fh:
        fh.write("1\t2\n")
    result = cli("evaluate", run)
    assert result.code == 2 and "split/test.tsv: changed since the run was made" in result.error_line()


# ----------------------------------------------------------------------------------------------------
# one writer per folder
# ----------------------------------------------------------------------------------------------------

ADVREC = [sys.executable, "-c", "import sys; from advrec.cli.main import main; sys.exit(main())"]


def _wait_for_lock(run: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    lock = run / ".advrec.lock"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lock.exists() and lock.read_text().strip() == str(proc.pid):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the first process never took the lock")


def test_a_second_train_into_the_same_out_exits_2_naming_the_holder(tmp_path, ratings):
    """Before: two trains at once into one --out both exited 0, metrics.jsonl interleaved, and
    results.json and best.pt came from different processes."""
    long = write_config(tmp_path / "long.yaml", base_raw(ratings, epochs=100000, patience=100000))
    run = tmp_path / "run"
    first = subprocess.Popen([*ADVREC, "train", str(long), "--out", str(run), "--quiet"])
    try:
        _wait_for_lock(run, first)
        second = subprocess.run(
            [*ADVREC, "train", str(long), "--out", str(run), "--quiet", "--set", "seed=2"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2
        assert f"is in use by process {first.pid}" in second.stderr and "Traceback" not in second.stderr
    finally:
        first.kill()  # SIGKILL: the lock file keeps its pid
        first.wait()
    # the next process takes the dead holder's lock over and says so (a one-epoch run: it trains, or is
    # told the folder already holds a run, depending on where the kill fell)
    one = write_config(tmp_path / "one.yaml", base_raw(ratings, epochs=1))
    result = subprocess.run(
        [*ADVREC, "train", str(one), "--out", str(run), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert f"took over the lock of process {first.pid}" in result.stderr
    assert result.returncode in (0, 2) and "Traceback" not in result.stderr


def test_stray_temporaries_of_a_killed_run_are_removed_on_the_next_start(tmp_path, cli, ratings, crash_at):
    """Before: .last.pt.*.tmp files left by kills were never removed."""
    config = parse_config(base_raw(ratings, epochs=3))
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_run(config, run, hooks=[crash_at(1)], show_progress=False)
    stray = [run / "checkpoints" / ".last.pt.k1ll3d_x.tmp", run / ".results.json.abcdefgh.tmp"]
    for path in stray:
        path.write_bytes(b"half a file")
    cfg = write_config(tmp_path / "c.yaml", base_raw(ratings, epochs=3))
    result = cli("train", cfg, "--out", run, "--resume", "--quiet")
    assert result.code == 0, result.err
    assert "removed 2 temporary file(s) left by an interrupted run" in result.err
    assert not any(p.exists() for p in stray)


# ----------------------------------------------------------------------------------------------------
# damaged checkpoints and results, through the CLI
# ----------------------------------------------------------------------------------------------------


@pytest.fixture
def finished(tmp_path, cli, base_yaml) -> Path:
    run = tmp_path / "run"
    assert cli("train", base_yaml, "--out", run, "--quiet").code == 0
    return run


def test_flipped_bytes_in_best_pt_are_exit_2_not_a_number(finished, cli):
    """Before: 64 flipped bytes gave NDCG@10 0.2659 against the recorded 0.2972, exit 0."""
    best = finished / "checkpoints" / "best.pt"
    data = bytearray(best.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0x55
    best.write_bytes(bytes(data))
    result = cli("evaluate", finished)
    assert result.code == 2 and "best.pt: checksum mismatch" in result.error_line()
    assert result.out == ""  # no metric printed


@pytest.mark.parametrize(
    "state, needle",
    [
        ({"weights": {}}, "holds no 'model' entry"),
        ({"model": {"user_embedding.weight": torch.zeros(3, 8)}}, "does not fit MF: missing"),
    ],
)
def test_a_foreign_best_pt_is_exit_2(finished, cli, state, needle):
    """Before: KeyError: 'model' / a size-mismatch RuntimeError traceback."""
    save_checkpoint(finished / "checkpoints" / "best.pt", state)
    result = cli("evaluate", finished)
    assert result.code == 2 and needle in result.error_line()


def test_a_wrongly_shaped_best_pt_is_exit_2(finished, cli):
    state = load_checkpoint(finished / "checkpoints" / "best.pt")
    state["model"] = {k: torch.zeros(v.shape[0] + 1, *v.shape[1:]) for k, v in state["model"].items()}
    save_checkpoint(finished / "checkpoints" / "best.pt", state)
    result = cli("evaluate", finished)
    assert result.code == 2 and "a checkpoint of another model or data" in result.error_line()


def test_a_best_pt_with_nan_weights_is_exit_2(finished, cli):
    """Before: NaN weights evaluated to AUC 1.0009 with exit 0."""
    path = finished / "checkpoints" / "best.pt"
    state = load_checkpoint(path)
    name = next(iter(state["model"]))
    state["model"][name][0, 0] = float("nan")
    torch.save(state, path)  # as another tool would write it: no checksum of ours
    result = cli("evaluate", finished)
    assert result.code == 2 and f"'model.{name}' holds NaN or infinite values" in result.error_line()


@pytest.mark.parametrize(
    "change, needle",
    [
        (lambda s: s["trainer"].update(epoch=1e9), "'trainer.epoch' should be int, found 1000000000.0"),
        (
            lambda s: s["trainer"].update(epoch=10**9),
            "'trainer.epoch' is 1000000000, outside this run's 0..3",
        ),
        (lambda s: s.pop("trainer"), "holds no 'trainer' entry"),
        (
            lambda s: s.update(model={k: v[:-1] for k, v in s["model"].items()}),
            "a checkpoint of another model",
        ),
    ],
)
def test_resume_refuses_a_last_pt_that_does_not_fit_the_run(tmp_path, cli, ratings, crash_at, change, needle):
    """Before: trainer.epoch = 1e9 was accepted; and, found by the fault drill, an int epoch past the
    run's (exit 0, nothing trained), no trainer entry (KeyError traceback) and another model's weights
    (size-mismatch traceback), all on --resume."""
    config = parse_config(base_raw(ratings, epochs=3))
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_run(config, run, hooks=[crash_at(1)], show_progress=False)
    last = run / "checkpoints" / "last.pt"
    state = load_checkpoint(last)
    change(state)
    save_checkpoint(last, state)
    cfg = write_config(tmp_path / "c.yaml", base_raw(ratings, epochs=3))
    result = cli("train", cfg, "--out", run, "--resume", "--quiet")
    assert result.code == 2 and needle in result.error_line()


@pytest.mark.parametrize("text", ['{"test": {"ndcg@10": 0.1', "[1, 2]", ""])
def test_evaluate_with_a_damaged_results_json_is_exit_2(finished, cli, text):
    """Before: a truncated or non-object results.json gave a JSONDecodeError / AttributeError traceback."""
    (finished / "results.json").write_text(text)
    result = cli("evaluate", finished)
    assert result.code == 2 and "results.json: existing results file" in result.error_line()


def test_export_topk_onto_a_folder_is_exit_2(finished, cli, tmp_path):
    """Before: an IsADirectoryError traceback."""
    result = cli("evaluate", finished, "--export-topk", tmp_path)
    assert result.code == 2 and "is a folder; expected a file name" in result.error_line()


# ----------------------------------------------------------------------------------------------------
# a full disk
# ----------------------------------------------------------------------------------------------------


def _disk_full(monkeypatch):
    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_text", full)
    monkeypatch.setattr(Path, "write_bytes", full)


def test_full_disk_during_evaluate_is_exit_2(finished, cli, monkeypatch, tmp_path):
    """Before: an OSError 28 traceback."""
    _disk_full(monkeypatch)
    result = cli("evaluate", finished, "--export-topk", tmp_path / "top.tsv")
    assert result.code == 2 and "top.tsv: cannot write: No space left on device" in result.error_line()


def test_full_disk_during_train_is_exit_2(tmp_path, cli, base_yaml, monkeypatch):
    """Before: torch's 'unexpected pos' RuntimeError traceback from inside torch.save."""
    _disk_full(monkeypatch)
    result = cli("train", base_yaml, "--out", tmp_path / "run", "--quiet")
    assert result.code == 2 and "cannot write: No space left on device" in result.error_line()


def test_a_real_file_size_limit_during_train_is_exit_2(tmp_path, base_yaml):
    """The kernel refuses writes past RLIMIT_FSIZE (EFBIG): real writers failing, no patching."""
    import resource
    import signal

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))

    proc = subprocess.run(
        [*ADVREC, "train", str(base_yaml), "--out", str(tmp_path / "run"), "--quiet"],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "advrec: error: " in proc.stderr
    assert "File too large" in proc.stderr


# ----------------------------------------------------------------------------------------------------
# the split itself
# ----------------------------------------------------------------------------------------------------


def _given(tmp_path, train_lines, test_lines, **data):
    (tmp_path / "train.tsv").write_text("".join(f"{u}\t{i}\n" for u, i in train_lines))
    (tmp_path / "test.tsv").write_text("".join(f"{u}\t{i}\n" for u, i in test_lines))
    raw = {
        "seed": 1,
        "data": {
            "format": "table",
            "path": str(tmp_path / "train.tsv"),
            "test_path": str(tmp_path / "test.tsv"),
            "columns": {"user": 0, "item": 1},
            "header": False,
            **data,
        },
        "split": {"method": "given"},
        "model": {"name": "mf", "dim": 4},
        "train": {"epochs": 1},
    }
    return write_config(tmp_path / "given.yaml", raw)


def _pairs(n_users=20, n_items=30, per_user=8):
    return [(u, (u * 7 + k * 3) % n_items) for u in range(n_users) for k in range(per_user)]


def test_a_given_test_file_overlapping_train_is_refused(tmp_path, cli):
    """Before: accepted without a word; recall@10 0.0 (the overlapping items can never be ranked)."""
    train = _pairs()
    config = _given(tmp_path, train, train[::8])
    result = cli("train", config, "--out", tmp_path / "run", "--quiet")
    assert result.code == 2
    assert "20 of 20 data.test_path (" in result.error_line()
    assert "are also in train or valid (e.g. user 0, item 0)" in result.error_line()


def test_test_users_absent_from_train_are_said_aloud(tmp_path, cli):
    """Before: scored without a word (from embeddings training never touched)."""
    train = _pairs()
    test = [(u, (u * 7 + 1) % 30) for u in range(20)] + [(99, 1), (98, 2)]
    config = _given(tmp_path, train, test)
    result = cli("train", config, "--out", tmp_path / "run", "--quiet")
    assert result.code == 0, result.err
    assert "advrec: warning: 2 of 22 test users (e.g. user 98) have no training interactions" in result.err


def test_repeat_consumption_overlap_is_said_not_refused():
    import numpy as np

    from advrec.data.interactions import Interactions, RawInteractions
    from advrec.data.split import Split, check_split
    from advrec.errors import AdvrecWarning

    raw = [RawInteractions(np.array(u), np.array(i)) for u, i in (([0, 1], [1, 2]), ([1], [3]), ([0], [1]))]
    split = Split(*Interactions.encode_together(raw))
    with pytest.warns(AdvrecWarning, match=r"1 of 1 test interactions are also in train .*repeats expected"):
        check_split(split, repeats_allowed=True)
    with pytest.raises(AdvrecError, match="remove them from one of the files"):
        check_split(split)
