"""advrec.fit: a DataFrame in, a run folder out, through the same config system and trainer as the CLI."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from api_data import FAST, interactions

import advrec
from advrec.cli.main import main
from advrec.errors import AdvrecError
from advrec.runs.config import load_config
from advrec.runs.train import train_run
from advrec.train.checkpoint import load_checkpoint


def _fit(df, **kw):
    kw.setdefault("set", FAST)
    epochs = kw.pop("epochs", 3)
    return advrec.fit(df, model={"name": "mf", "dim": 8}, epochs=epochs, seed=5, progress=False, **kw)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _same_weights(a: Path, b: Path) -> bool:
    one, two = (load_checkpoint(p / "checkpoints" / "best.pt")["model"] for p in (a, b))
    return one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)


def test_fit_is_the_config_path_on_a_file_of_the_same_rows(df, tmp_path):
    """The API and `advrec train` on a CSV of the same rows: the same split, weights and metrics."""
    run = _fit(df, out=tmp_path / "api")
    df.to_csv(tmp_path / "data.csv", index=False)
    raw = {
        "seed": 5,
        "data": {"format": "table", "path": "data.csv", "columns": {k: k for k in df.columns}},
        "model": {"name": "mf", "dim": 8},
        "train": {"epochs": 3},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    config = load_config(tmp_path / "c.yaml", [f"{k}={json.dumps(v)}" for k, v in FAST.items()])
    results = train_run(config, tmp_path / "cli", data_root=tmp_path, show_progress=False)
    assert run.results["test"] == results["test"] and run.results["best_epoch"] == results["best_epoch"]
    for part in ("train", "valid", "test"):
        assert (run.run_dir / "split" / f"{part}.tsv").read_text() == (
            tmp_path / "cli" / "split" / f"{part}.tsv"
        ).read_text()
    assert _same_weights(run.run_dir, tmp_path / "cli")
    # the settings given to fit are in the run's config
    assert run.config.model.dim == 8 and run.config.train.epochs == 3 and run.config.seed == 5
    assert run.config.train.optimizer.lr == FAST["train.optimizer.lr"]


def test_the_run_folder_holds_its_data_and_works_moved_and_from_the_cli(df, tmp_path, capsys):
    run = _fit(df, out=tmp_path / "run", epochs=1)
    stored = pd.read_parquet(tmp_path / "run" / "input" / "interactions.parquet")
    assert stored.equals(df[["user", "item", "rating", "timestamp"]].astype({"rating": "float64"}))
    assert run.config.data.path == "input/interactions.parquet" and run.config.data.format == "table"
    assert len(run.history) == 1 and run.results["test"] is not None  # one epoch, test read
    test = run.results["test"]
    shutil.move(tmp_path / "run", tmp_path / "moved")
    with pytest.raises(AdvrecError, match="not found"):
        _ = run.results
    moved = advrec.load(tmp_path / "moved")
    assert main(["evaluate", str(tmp_path / "moved")]) == 0
    assert "ndcg" in capsys.readouterr().out
    assert moved.evaluate() == test


def test_save_and_load_round_trip_exactly(df, tmp_path):
    run = _fit(df)
    temp = run.run_dir
    assert temp.exists() and Path(tempfile.gettempdir()) in temp.parents
    before = (run.recommend(None, k=5), run.evaluate(), run.results, run.config)
    saved = run.save(tmp_path / "saved")
    assert saved == tmp_path / "saved" and run.run_dir == saved
    assert not temp.exists()  # a temporary run moves
    loaded = advrec.load(saved)
    pd.testing.assert_frame_equal(loaded.recommend(None, k=5), before[0])
    assert loaded.evaluate() == before[1]
    assert loaded.results == run.results and loaded.config == before[3]
    pd.testing.assert_frame_equal(loaded.history, run.history)
    # a run in a folder of its own is copied; a non-empty target is refused
    copy = loaded.save(tmp_path / "copy")
    assert loaded.run_dir == saved and _same_weights(saved, copy)
    with pytest.raises(AdvrecError, match="not an empty folder"):
        loaded.save(tmp_path / "copy")


def test_a_temporary_run_is_deleted_when_closed(df):
    with _fit(df, epochs=1) as run:
        folder = run.run_dir
        assert (folder / "results.json").exists()
        assert folder.stat().st_mode & 0o777 == 0o777 & ~_umask()  # saved copies keep usual permissions
    assert not folder.exists() and not folder.parent.exists()
    with pytest.raises(AdvrecError, match="closed"):
        run.recommend([0])
    assert "closed" in repr(run)


def test_a_temporary_run_is_deleted_when_collected(df):
    code = (
        "import sys, advrec\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from api_data import interactions\n"
        "run = advrec.fit(interactions(), epochs=1, progress=False, set={'model.dim': 4})\n"
        "print(run.run_dir)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent)], capture_output=True, text=True, check=True
    )
    folder = Path(done.stdout.strip()).parent
    assert folder.name.startswith("advrec-run-") and not folder.exists()


def test_a_killed_fit_resumes_without_the_dataframe(df, tmp_path, monkeypatch, crash_at):
    full = _fit(df, out=tmp_path / "full", epochs=5)
    with monkeypatch.context() as patch:  # kill the run when epoch 3 starts
        patch.setattr("advrec.api.train_run", partial(train_run, hooks=[crash_at(3)]))
        with pytest.raises(KeyboardInterrupt):
            _fit(df, out=tmp_path / "part", epochs=5)
    assert not (tmp_path / "part" / "results.json").exists()
    with pytest.raises(AdvrecError, match="resume=True"):
        _fit(df, out=tmp_path / "part", epochs=5)
    other = df.assign(item=df["item"].where(df.index != 0, 59))
    with pytest.raises(AdvrecError, match="other interactions"):
        _fit(other, out=tmp_path / "part", epochs=5, resume=True)
    resumed = _fit(None, out=tmp_path / "part", epochs=5, resume=True)
    assert resumed.results["test"] == full.results["test"]
    assert resumed.results["best_epoch"] == full.results["best_epoch"]
    assert _same_weights(tmp_path / "full", tmp_path / "part")


def test_given_split_from_valid_and_test_frames(df, tmp_path):
    last = df.groupby("user").cumcount(ascending=False)
    test, valid, train = df[last == 0], df[last == 1], df[last >= 2]
    run = _fit(train, valid=valid, test=test, out=tmp_path / "run", epochs=1)
    assert run.config.split.method == "given"
    assert run.config.data.test_path == "input/test.parquet"
    saved = pd.read_csv(tmp_path / "run" / "split" / "test.tsv", sep="\t")
    assert sorted(zip(saved.user, saved.item)) == sorted(zip(test.user, test.item))
    # without valid, valid is carved from train; test stays as given
    carved = _fit(train, test=test, out=tmp_path / "carved", epochs=1)
    assert carved.config.data.valid_path is None and carved.results["dataset"]["n_valid"] > 0
    saved = pd.read_csv(tmp_path / "carved" / "split" / "test.tsv", sep="\t")
    assert sorted(zip(saved.user, saved.item)) == sorted(zip(test.user, test.item))


def test_components_merge_into_the_base_config_and_set_goes_last(df, tmp_path):
    base = tmp_path / "base.yaml"
    settings = {"model": {"name": "mf", "dim": 6}, "adversary": {"name": "apr", "eps": 0.2}}
    base.write_text(yaml.safe_dump(settings))
    run = advrec.fit(
        df,
        config=base,
        model={"init_std": 0.05},  # same component: merged (dim 6 kept)
        adversary={"name": "apr", "reg_adv": 0.5},
        epochs=1,
        set=["train.batch_size=128", "adversary.eps=0.3"],
        progress=False,
    )
    with run:
        c = run.config
        assert (c.model.name, c.model.dim, c.model.init_std) == ("mf", 6, 0.05)
        assert (c.adversary.name, c.adversary.eps, c.adversary.reg_adv) == ("apr", 0.3, 0.5)
        assert c.train.batch_size == 128
    # another component replaces the section: neumf does not inherit the base's settings by accident
    with advrec.fit(
        df, config={"model": {"name": "mf", "dim": 6}}, model="neumf", epochs=1, progress=False
    ) as run:
        assert run.config.model.name == "neumf" and run.config.model.dim == 64  # neumf's default dim
        assert run.config.adversary.name == "none"


def test_named_columns_string_ids_and_datetimes(tmp_path):
    df = interactions(n_users=40)
    named = pd.DataFrame(
        {
            "who": "u" + df["user"].astype(str),
            "what": "m" + df["item"].astype(str),
            "stars": df["rating"],
            "when": pd.to_datetime(df["timestamp"], unit="s"),
        }
    )
    columns = {"user": "who", "item": "what", "rating": "stars", "timestamp": "when"}
    with advrec.fit(named, columns=columns, epochs=1, progress=False, set={"model.dim": 4}) as run:
        top = run.recommend(["u1", "u2"], k=3)
        assert top["user"].tolist() == ["u1"] * 3 + ["u2"] * 3
        assert all(item.startswith("m") for item in top["item"])
        train = pd.read_csv(run.run_dir / "split" / "train.tsv", sep="\t")
        assert set(train["timestamp"]) <= set(df["timestamp"])  # datetimes stored as Unix seconds
    # string ids that are all integers are read back as integers, as from a file
    as_text = df.astype({"user": str, "item": str})
    with advrec.fit(as_text, epochs=1, progress=False, set={"model.dim": 4}) as run:
        assert run.recommend(["7"], k=2)["user"].tolist() == [7, 7]
        assert run.recommend(7, k=2)["user"].tolist() == [7, 7]


def test_advrec_import_is_cheap_and_exports_the_api():
    code = (
        "import sys, advrec\n"
        "assert 'torch' not in sys.modules and 'pandas' not in sys.modules, 'import advrec did work'\n"
        "assert 'advrec.api' not in sys.modules\n"
        "import advrec.api\n"
        "assert advrec.fit is advrec.api.fit and advrec.load is advrec.api.load\n"
        "assert advrec.Run is advrec.api.Run\n"
        "assert {'fit', 'load', 'Run'} <= set(dir(advrec))\n"
        "try:\n"
        "    advrec.nothing\n"
        "except AttributeError:\n"
        "    print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_progress_shows_a_line_per_epoch_as_the_cli_does(df, capsys):
    with advrec.fit(df, epochs=3, set={"model.dim": 4}) as run:
        err = capsys.readouterr().err.splitlines()
        assert [line.split(" · ")[0] for line in err if line.startswith("epoch")] == [
            "epoch 1/3",
            "epoch 2/3",
            "epoch 3/3",
        ]
        run.poison(size=0.05, targets="mid:2")
        assert "epoch 3/3" in capsys.readouterr().err  # the poisoned victim's training
    with advrec.fit(df, epochs=3, set={"model.dim": 4}, progress=False) as run:
        run.poison(size=0.05, targets="mid:2", progress=False)
        assert "epoch" not in capsys.readouterr().err


def test_the_cli_report_reads_a_fitted_run(df, tmp_path, capsys):
    _fit(df, out=tmp_path / "run", epochs=2)
    assert main(["report", str(tmp_path / "run"), "--no-per-user"]) == 0
    assert "leaderboard" in capsys.readouterr().out
    assert (tmp_path / "run" / "report.html").stat().st_size > 0
