"""Bad input through the API: the errors the CLI gives (AdvrecError subclasses), before any work."""

import tempfile

import numpy as np
import pandas as pd
import pytest
import yaml
from api_data import interactions

import advrec
from advrec.cli.main import main
from advrec.errors import AdvrecError, ConfigError, DataError
from advrec.models.registry import MODELS
from advrec.train.adversaries.registry import ADVERSARIES

DF = interactions(n_users=12, per_user=10)


def _with(**columns):
    return DF.assign(**columns)


NULL_USER = _with(user=DF["user"].where(DF.index != 4))
INF_RATING = _with(rating=DF["rating"].where(DF.index != 2, np.inf))
BAD_FRAMES = [
    ([1, 2, 3], {}, "df: expected a pandas DataFrame of interactions, got list"),
    (DF.rename(columns={"user": "uid"}), {}, "df: no 'user' column among ['uid', 'item', 'rating',"),
    (DF, {"columns": {"user": "userId", "item": "item"}}, "df: column 'userId' is not in the DataFrame's"),
    (DF, {"columns": {"usr": "user", "item": "item"}}, "df: columns: unknown keys ['usr']"),
    (DF.iloc[:0], {}, "df: the DataFrame has no rows"),
    (_with(user=DF["user"] + 0.5), {}, "df: column 'user': floating ids (float64); expected"),
    (_with(item=DF["item"].astype(float)), {}, "df: column 'item': floating ids (float64)"),
    (_with(user=DF["user"] > 3), {}, "df: column 'user': boolean ids"),
    (_with(user=[1, "a"] * (len(DF) // 2)), {}, "df: column 'user': mixed-integer ids (object)"),
    (NULL_USER, {}, "df: column 'user': 1 missing (null) values, the first at index 4"),
    (_with(item=["x"] * (len(DF) - 1) + [""]), {}, "df: column 'item': an empty id"),
    (_with(rating="good"), {}, "df: column 'rating': str ratings; expected numbers"),
    (INF_RATING, {}, "df: column 'rating': rating inf at index 2 is not finite"),
    (_with(timestamp=DF["timestamp"] * 0.5), {}, "df: column 'timestamp': float64 timestamps; expected"),
    (pd.concat([DF, DF["user"]], axis=1), {}, "df: column 'user' appears more than once"),
]  # fmt: skip


@pytest.mark.parametrize("df, kwargs, message", BAD_FRAMES, ids=lambda x: None)
def test_bad_dataframes_are_one_line_data_errors_before_any_work(df, kwargs, message, tmp_path):
    with pytest.raises(DataError) as caught:
        advrec.fit(df, out=tmp_path / "run", progress=False, **kwargs)
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "run").exists()


def test_bad_valid_and_test_frames_are_named(tmp_path):
    with pytest.raises(DataError, match=r"^test: column 'item': floating ids"):
        advrec.fit(DF, test=_with(item=DF["item"] / 2), progress=False)
    with pytest.raises(ConfigError, match="valid= without test="):
        advrec.fit(DF, valid=DF, progress=False)


def _cli_error(tmp_path, capsys, *sets):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"data": {"synthetic": {"n_users": 20, "n_items": 20}}}))
    args = ["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "cli"), "--quiet"]
    assert main([*args, *(x for s in sets for x in ("--set", s))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("advrec: error: ")
    assert len(err.strip().splitlines()) == 1
    return err.strip().removeprefix("advrec: error: ").split(": invalid config: ", 1)[1]  # after the source


@pytest.mark.parametrize(
    "kwargs, cli_set, valid",
    [
        ({"model": "matrix"}, "model.name=matrix", MODELS.names()),
        ({"adversary": "fgsm"}, "adversary.name=fgsm", ADVERSARIES.names()),
        ({"model": {"name": "mf", "dimm": 4}}, "model.dimm=4", ["dim", "init_std"]),
    ],
)
def test_unknown_names_and_keys_list_the_valid_ones_as_the_cli_does(tmp_path, capsys, kwargs, cli_set, valid):
    with pytest.raises(ConfigError) as caught:
        advrec.fit(DF, out=tmp_path / "run", progress=False, **kwargs)
    source, problems = str(caught.value).split(": invalid config: ", 1)
    assert source == "advrec.fit" and "\n" not in problems
    assert problems == _cli_error(tmp_path, capsys, cli_set)
    for name in valid:  # from the registries: every name a run can build
        assert repr(name) in problems or name in problems, name
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"model": 3}, ConfigError, "model: expected a name or a dict of settings, got int"),
        ({"set": ["train.epochs"]}, ConfigError, "expected key=value"),
        (
            {"set": {"train.epochs": 0}},
            ConfigError,
            "train.epochs: Input should be greater than",
        ),
        ({"epochs": "many"}, ConfigError, "train.epochs: Input should be a valid integer"),
        ({"config": "no/such.yaml"}, ConfigError, "no/such.yaml: config file not found"),
        ({"resume": True}, ConfigError, "resume=True: name the run folder to continue with out="),
    ],
)
def test_bad_settings(kwargs, error, fragment):
    with pytest.raises(error, match=None) as caught:
        advrec.fit(DF, progress=False, **kwargs)
    assert fragment in str(caught.value)


def test_a_failed_fit_leaves_no_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # a combination only the built run refuses: the split is written before the adversary is built
    with pytest.raises(ConfigError, match="works on model.name lightgcn only"):
        advrec.fit(DF, adversary="simgcl", epochs=1, progress=False)
    with pytest.raises(DataError):
        advrec.fit(DF.iloc[:0], progress=False)
    assert not list(tmp_path.glob("advrec-run-*"))


def test_load_refuses_what_is_not_a_finished_run(tmp_path):
    with pytest.raises(AdvrecError, match="not a run folder"):
        advrec.load(tmp_path)
    (tmp_path / "config.yaml").write_text("seed: 1\n")
    with pytest.raises(AdvrecError, match="has no best model yet"):
        advrec.load(tmp_path)


def test_resume_continues_only_a_run_that_fit_began(tmp_path):
    with pytest.raises(AdvrecError, match="config.yaml not found"):
        advrec.fit(DF, out=tmp_path / "nothing", resume=True, progress=False)
    (tmp_path / "c.yaml").write_text("data: {synthetic: {n_users: 20, n_items: 20}}\ntrain: {epochs: 1}\n")
    assert main(["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "cli"), "--quiet"]) == 0
    with pytest.raises(AdvrecError, match="was not trained by advrec.fit .*advrec train --resume"):
        advrec.fit(DF, out=tmp_path / "cli", resume=True, progress=False)
    assert not (tmp_path / "cli" / "input").exists()  # the command line's run is left as it was
