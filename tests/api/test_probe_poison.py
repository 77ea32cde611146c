"""Run.probe and Run.poison: the robustness probe and the poisoning experiment of the CLI, as tables."""

import json
import math
import shutil

import pytest
import yaml

from advrec.cli.main import main
from advrec.errors import ConfigError
from advrec.measure.robustness import curve_rows
from advrec.perturb.methods.registry import probe_attacks
from advrec.runs.probe import robustness_run


def test_probe_is_robustness_run_as_a_table(apr_run, tmp_path):
    shutil.copytree(apr_run.run_dir, tmp_path / "copy")
    curve = apr_run.probe(attack="fgsm", eps=[0.25, 0.5])
    entry = robustness_run(tmp_path / "copy", [0.25, 0.5], attack="fgsm", eps_mode="absolute")
    assert list(curve.columns) == [
        "attack",
        "eps",
        "metric",
        "clean",
        "perturbed",
        "drop",
        "random",
        "random_drop",
    ]
    expected = [{"attack": "fgsm", **row, "eps": float(row["eps"])} for row in curve_rows(entry, "fgsm")]
    got = curve.to_dict("records")
    assert len(got) == len(expected) == 2 * len(entry["clean"])
    for row, want in zip(got, expected):
        assert row.keys() == want.keys()
        for key, value in want.items():
            assert (value is None and (row[key] is None or math.isnan(row[key]))) or row[key] == value, key
    # recorded in the run folder as advrec evaluate --attack records it
    recorded = json.loads((apr_run.run_dir / "results.json").read_text())["robustness"]
    assert recorded["fgsm"] == entry["fgsm"] and recorded["random"] == entry["random"]
    assert (apr_run.run_dir / "robustness" / "fgsm.csv").exists()


def test_probe_with_two_attacks_relative_eps(apr_run):
    curve = apr_run.probe(attack=["fgsm", "pgd"], eps=0.5, eps_mode="relative", pgd_steps=2)
    assert set(curve.attack) == {"fgsm", "pgd"} and set(curve.eps) == {0.5}
    ndcg = curve[curve.metric == "ndcg@10"].set_index("attack")
    assert (ndcg.clean > 0).all() and (ndcg.perturbed < ndcg.clean).all()  # the attack hurts


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"eps": [0.5, float("nan")]}, "finite, non-negative"),
        ({"eps": [float("inf")]}, "finite, non-negative"),
        ({"eps": [-0.1]}, "finite, non-negative"),
        ({"eps": []}, "finite, non-negative"),
        ({"eps": ["0.5"]}, "finite, non-negative"),
        ({"attack": "deepfool"}, "unknown attack deepfool; valid: " + ", ".join(probe_attacks())),
        ({"eps_mode": "percent"}, "eps_mode 'percent': expected one of absolute, relative"),
        ({"pgd_steps": 0}, "pgd_steps 0"),
    ],
)
def test_bad_probe_arguments(apr_run, kwargs, fragment):
    with pytest.raises(ConfigError) as caught:
        apr_run.probe(**kwargs)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_poison_is_the_attack_experiment_with_this_run_as_victim(apr_run, tmp_path):
    table = apr_run.poison(attack="bandwagon", size=0.05, targets="mid:3")
    assert list(table.columns) == ["before", "after"]
    assert {"target_hit@10", "target_hit@50", "target_mean_rank", "ndcg@10"} <= set(table.index)
    attrs = table.attrs
    n_users = apr_run.results["dataset"]["n_users"]
    assert attrs["attack"] == "bandwagon" and attrs["n_fake"] == round(0.05 * n_users)
    assert len(attrs["targets"]) == 3 and set(attrs["shift"]) == {"after"}
    folder = apr_run.run_dir / "poisoning" / "bandwagon-0.05-mid_3"
    assert attrs["folder"] == str(folder) and (folder / "poisoned" / "split" / "fake_users.txt").exists()
    assert not (folder / "clean").exists()  # the run itself is the clean victim
    assert table["before"]["ndcg@10"] == apr_run.results["test"]["ndcg@10"]
    # the same experiment through `advrec attack`, which trains its own clean victim of the same config
    (tmp_path / "victim.yaml").write_text(yaml.safe_dump(apr_run.config.model_dump(mode="json")))
    args = ["attack", str(tmp_path / "victim.yaml"), "--attack", "bandwagon", "--size", "0.05"]
    args += [
        "--targets",
        "mid:3",
        "--data-root",
        str(apr_run.run_dir),
        "--out",
        str(tmp_path / "cli"),
        "--quiet",
    ]
    assert main(args) == 0
    cli = json.loads((tmp_path / "cli" / "results.json").read_text())["poisoning"]
    for column in ("before", "after"):
        assert [cli[column][metric] for metric in table.index] == table[column].tolist()  # to the bit
    assert cli["targets"] == attrs["targets"] and cli["n_fake"] == attrs["n_fake"]
    # a rerun reuses the folder
    stamp = (folder / "poisoned" / "results.json").stat().st_mtime_ns
    again = apr_run.poison(attack="bandwagon", size=0.05, targets="mid:3")
    assert again.equals(table) and (folder / "poisoned" / "results.json").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"attack": "shilling"}, "attack: unknown attack 'shilling'; valid: average, bandwagon"),
        ({"size": 2.0}, "size: Input should be less than or equal to 1"),
        ({"size": float("nan")}, "size: Input should be a finite number"),
        ({"size": "0.03"}, "size: Input should be a valid number"),
        ({"defence": "wall"}, "defence: unknown defence 'wall'; valid: apr, filter, filter+apr, none"),
        ({"defence": "filter", "detector": "oracle"}, "defence.detector: Input should be 'simulated'"),
    ],
)
def test_bad_poison_arguments_fail_before_any_training(apr_run, kwargs, fragment):
    before = sorted((apr_run.run_dir / "poisoning").glob("*"))
    with pytest.raises(ConfigError) as caught:
        apr_run.poison(**kwargs)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
    assert sorted((apr_run.run_dir / "poisoning").glob("*")) == before
