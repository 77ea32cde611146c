"""No metric, probe or report number is computed from NaN or infinity: non-finite ε and non-finite
scores are refused by name."""

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from advrec.errors import AdvrecError


@pytest.fixture
def finished(tmp_path, cli, base_yaml):
    run = tmp_path / "run"
    assert cli("train", base_yaml, "--out", run, "--quiet").code == 0
    return run


@pytest.mark.parametrize("eps", ["nan", "inf", "0.1,nan", "-inf", "1e400"])
def test_probe_refuses_non_finite_eps(finished, cli, eps):
    """Before: --eps nan (or inf) reported AUC 1.0009 and wrote a "nan" curve into results.json."""
    before = (finished / "results.json").read_text()
    result = cli("evaluate", finished, "--attack", "fgsm", f"--eps={eps}")
    assert result.code == 2 and "expected one or more finite, non-negative numbers" in result.error_line()
    assert (finished / "results.json").read_text() == before
    assert not (finished / "robustness").exists()


def test_a_probe_whose_perturbation_overflows_is_refused_not_scored(finished, cli):
    result = cli("evaluate", finished, "--attack", "fgsm", "--eps", "1e30")
    assert result.code == 2 and "scores hold NaN or infinite values" in result.error_line()
    assert "robustness" not in json.loads((finished / "results.json").read_text())


def test_ranking_refuses_nan_scores_instead_of_an_auc_above_one():
    from advrec.measure.ranking import evaluate_ranking, topk_items

    truth = sp.csr_matrix(np.eye(4, 6, dtype=np.float32))

    def scorer(users):
        scores = torch.arange(24, dtype=torch.float32).reshape(4, 6)[users]
        scores[:, 2] = float("nan")
        return scores

    with pytest.raises(AdvrecError, match=r"NaN or infinite values \(4 of 4 users' rows"):
        evaluate_ranking(scorer, truth, None, [2], ["ndcg", "auc"])
    with pytest.raises(AdvrecError, match="NaN or infinite"):
        topk_items(scorer, np.arange(4), None, 2)


def test_target_exposure_refuses_infinite_scores():
    from advrec.measure.poisoning import score_targets

    def scorer(users):
        return torch.full((len(users), 5), float("inf"))

    with pytest.raises(AdvrecError, match="NaN or infinite"):
        score_targets(scorer, np.arange(3), sp.csr_matrix((3, 5)), np.array([1]), 5)


def test_probe_api_refuses_non_finite_eps():
    from advrec.measure.robustness import robustness_probe

    with pytest.raises(ValueError, match="finite and non-negative"):
        robustness_probe(None, None, None, None, [0.1, math.inf])


def test_study_probe_refuses_non_finite_eps():
    from advrec.errors import ConfigError
    from advrec.experiments.study import parse_study

    study = {"axes": {"m": {"a": {}}}, "probe": {"eps": [0.5, float("nan")]}}
    with pytest.raises(ConfigError, match=r"probe\.eps.*finite"):
        parse_study(study)


@pytest.mark.parametrize(
    "change, needle",
    [
        (lambda r: r["test"].update({"ndcg@10": float("nan")}), "test.ndcg@10 is nan"),
        (lambda r: r["test"].update({"auc": float("inf")}), "test.auc is inf"),
        (lambda r: r.update({"robustness": {"fgsm": {"nan": {"ndcg@10": 0.1}}}}), "ε 'nan' is not a finite"),
    ],
)
def test_report_refuses_non_finite_numbers(finished, cli, change, needle):
    results = json.loads((finished / "results.json").read_text())
    change(results)
    (finished / "results.json").write_text(json.dumps(results))  # json writes NaN / Infinity tokens
    result = cli("report", finished, "--no-per-user")
    assert result.code == 2 and needle in result.error_line()


def test_an_undefined_metric_is_said_not_recorded_silently(tmp_path, cli):
    """Found by the fault drill: one user who rated every item has no item to rank below a test item,
    so AUC is NaN; it was recorded and printed without a word."""
    from reliability_helpers import base_raw, write_config

    data = tmp_path / "u.data"
    data.write_text("".join(f"1\t{i}\t3\t{880000000 + i}\n" for i in range(1, 60)))
    config = write_config(tmp_path / "c.yaml", base_raw(data))
    result = cli("train", config, "--out", tmp_path / "run", "--quiet")
    assert result.code == 0, result.err
    assert "advrec: warning: test auc undefined (NaN)" in result.err
    evaluated = cli("evaluate", tmp_path / "run")
    assert evaluated.code == 0 and "test auc undefined (NaN)" in evaluated.err
