"""The robustness probe on a trained tiny MF: adversarial drops beat the random control; attacks merge in
results.json; the curves land in the run folder as CSV and PNG; CLI output."""

import ast
import csv
import json
import shutil
import struct
from pathlib import Path

import pytest
import torch

from advrec.cli import main as cli_module
from advrec.cli.main import main
from advrec.measure import plots
from advrec.measure.plots import plot_method_comparison
from advrec.measure.protocol import Protocol
from advrec.measure.robustness import merge_robustness, robustness_probe
from advrec.objectives.pairwise import build_objective
from advrec.perturb.perturbation import row_norms
from advrec.runs import probe as probe_module
from advrec.runs import train as train_module
from advrec.runs.config import parse_config
from advrec.runs.load import load_run
from advrec.runs.probe import robustness_run
from advrec.runs.train import train_run

CONFIG = {
    "seed": 7,
    "data": {"synthetic": {"n_users": 100, "n_items": 120, "interactions_per_user": 15}},
    "model": {"dim": 16},
    "train": {"epochs": 6, "batch_size": 256, "patience": 50, "optimizer": {"lr": 0.02}},
    "eval": {"ks": [5, 10]},
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("probe") / "run"
    train_run(parse_config(CONFIG), folder, show_progress=False)
    return folder


@pytest.fixture
def run_dir(trained, tmp_path):
    """A fresh copy of the trained run for each test: probes write into the run folder."""
    return shutil.copytree(trained, tmp_path / "run")


def _saved(run_dir):
    return json.loads((run_dir / "results.json").read_text())


def _assert_png_by_matplotlib(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert 300 <= width <= 3000 and 200 <= height <= 3000
    assert 5_000 < len(data) < 500_000
    assert b"Software" in data and b"Matplotlib" in data  # the tEXt chunk matplotlib writes
    assert data.endswith(b"IEND\xaeB`\x82")
    assert not list(path.parent.glob(".*.tmp"))  # the atomic write left nothing behind


@pytest.mark.parametrize("eps_mode", ["absolute", "relative"])
def test_fgsm_drops_more_than_the_same_norm_random_control(run_dir, eps_mode):
    result = robustness_run(run_dir, [0.25, 0.5], attack="fgsm", eps_mode=eps_mode)
    assert set(result) == {"clean", "fgsm", "random", "settings"}
    assert list(result["fgsm"]) == ["0.25", "0.5"] and list(result["random"]) == ["fgsm"]
    assert result["settings"]["fgsm"]["eps_mode"] == eps_mode
    # the tables' mean row norms, what an absolute ε is measured against
    _, _, model = load_run(run_dir)
    expected = {name: float(t.detach().norm(dim=1).mean()) for name, t in model.embedding_tables().items()}
    assert result["settings"]["fgsm"]["mean_row_norm"] == pytest.approx(expected)
    assert result["clean"]["ndcg@10"] > 0.05
    for eps in ("0.25", "0.5"):
        adv, rand = result["fgsm"][eps], result["random"]["fgsm"][eps]
        assert set(adv) == set(rand) == {k for m in result["clean"] for k in (m, f"{m}_drop")}
        for metric in ("ndcg@10", "auc"):
            assert adv[f"{metric}_drop"] > rand[f"{metric}_drop"], (eps, metric)
            clean = result["clean"][metric]
            assert adv[f"{metric}_drop"] == pytest.approx((clean - adv[metric]) / clean)
    assert result["fgsm"]["0.5"]["ndcg@10_drop"] > result["fgsm"]["0.25"]["ndcg@10_drop"] > 0.02
    saved = _saved(run_dir)
    assert saved["robustness"] == json.loads(json.dumps(result))
    assert "test" in saved and "best_epoch" in saved  # merged, not overwritten


def test_zero_eps_changes_nothing(run_dir):
    result = robustness_run(run_dir, [0.0], attack="pgd", pgd_steps=2)
    for source in (result["pgd"], result["random"]["pgd"]):
        assert source["0.0"]["ndcg@10"] == result["clean"]["ndcg@10"]
        assert source["0.0"]["ndcg@10_drop"] == 0.0


def test_attacks_merge_per_attack_and_probing_together_changes_nothing(run_dir):
    fgsm = robustness_run(run_dir, [0.25, 0.5], attack="fgsm")
    after_pgd = robustness_run(run_dir, [0.5], attack="pgd", pgd_steps=2)
    saved = _saved(run_dir)["robustness"]
    assert saved == json.loads(json.dumps(after_pgd))
    assert set(saved) == {"clean", "fgsm", "pgd", "random", "settings"}
    assert set(saved["random"]) == set(saved["settings"]) == {"fgsm", "pgd"}
    assert saved["fgsm"] == fgsm["fgsm"] and saved["random"]["fgsm"] == fgsm["random"]["fgsm"]
    assert list(saved["pgd"]) == ["0.5"] and saved["settings"]["pgd"]["pgd_steps"] == 2
    # Probing an attack again replaces that attack's whole curve and keeps the other one.
    again = robustness_run(run_dir, [1.0], attack="fgsm")
    assert list(again["fgsm"]) == ["1.0"] and again["pgd"] == saved["pgd"]
    assert {p.name for p in (run_dir / "robustness").iterdir()} == {"fgsm.csv", "pgd.csv", "curves.png"}
    # One call with both attacks gives each attack's figures exactly as probing it alone does.
    both = robustness_run(run_dir, [0.25, 0.5], attack="fgsm,pgd", pgd_steps=2)
    assert both["fgsm"] == fgsm["fgsm"] and both["random"]["fgsm"] == fgsm["random"]["fgsm"]
    assert both["pgd"]["0.5"] == saved["pgd"]["0.5"]


def test_a_single_attack_entry_of_the_old_layout_is_upgraded_when_merging():
    clean = {"ndcg@10": 0.3}
    curve = {"0.5": {"ndcg@10": 0.2, "ndcg@10_drop": 1 / 3}}
    control = {"0.5": {"ndcg@10": 0.29, "ndcg@10_drop": 1 / 30}}
    old = {
        "clean": clean,
        "fgsm": curve,
        "random": control,
        "settings": {"attack": "fgsm", "eps_mode": "absolute", "seed": 1},
    }
    new = {
        "clean": clean,
        "pgd": curve,
        "random": {"pgd": control},
        "settings": {"pgd": {"eps_mode": "absolute", "pgd_steps": 3}},
    }
    merged = merge_robustness(old, new)
    assert merged == {
        "clean": clean,
        "fgsm": curve,
        "pgd": curve,
        "random": {"fgsm": control, "pgd": control},
        "settings": {"fgsm": {"eps_mode": "absolute", "seed": 1}, "pgd": new["settings"]["pgd"]},
    }
    assert merge_robustness(None, new) == new


def test_csv_holds_the_curves_of_results_json(run_dir):
    robustness_run(run_dir, [0.1, 0.5], attack="fgsm,pgd", pgd_steps=2)
    saved = _saved(run_dir)["robustness"]
    for attack in ("fgsm", "pgd"):
        with open(run_dir / "robustness" / f"{attack}.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert list(rows[0]) == ["eps", "metric", "clean", "perturbed", "drop", "random", "random_drop"]
        assert len(rows) == 2 * len(saved["clean"])
        assert [r["eps"] for r in rows[:: len(saved["clean"])]] == ["0.1", "0.5"]
        for row in rows:
            eps, metric = row["eps"], row["metric"]
            adv, rand = saved[attack][eps], saved["random"][attack][eps]
            expected = {
                "clean": saved["clean"][metric],
                "perturbed": adv[metric],
                "drop": adv[f"{metric}_drop"],
                "random": rand[metric],
                "random_drop": rand[f"{metric}_drop"],
            }
            for key, value in expected.items():  # repr round-trips: equal to the last bit
                assert (row[key] == "") if value is None else float(row[key]) == value, (attack, eps, key)


def test_plot_is_a_png_drawn_by_matplotlib_in_the_run_folder(run_dir):
    robustness_run(run_dir, [0.1, 0.5], attack="fgsm")
    path = run_dir / "robustness" / "curves.png"
    _assert_png_by_matplotlib(path)
    first = path.read_bytes()
    robustness_run(run_dir, [0.1, 0.5], attack="pgd", pgd_steps=2)
    _assert_png_by_matplotlib(path)
    assert path.read_bytes() != first  # redrawn with both attacks


def test_random_control_has_the_per_row_norms_of_each_attacks_delta(trained):
    config, split, model = load_run(trained)
    protocol = Protocol.from_split(split, config.eval, config.device)
    seen = []

    class Recording:
        def test_metrics(self, model, deltas=None):
            seen.append(deltas)
            return protocol.test_metrics(model, deltas=deltas)

    eps_list = [0.25, 1.0]
    robustness_probe(
        model,
        split.train,
        Recording(),
        build_objective("bpr", 0.0),
        eps_list,
        attack=["fgsm", "pgd"],
        pgd_steps=2,
        pgd_alpha=0.3,  # two steps of 0.3 ε: PGD's rows stay inside the ball, FGSM's lie on its surface
        seed=3,
    )
    assert seen[0] is None and len(seen) == 1 + 2 * len(eps_list) * 2
    pairs = list(zip(seen[1::2], seen[2::2]))  # (attack, its control): fgsm at each ε, then pgd at each ε
    for (adv, rand), eps, attack in zip(pairs, eps_list * 2, ["fgsm"] * 2 + ["pgd"] * 2):
        for name in adv:
            norms = row_norms(adv[name])
            assert torch.allclose(row_norms(rand[name]), norms, atol=1e-6)
            if attack == "fgsm":
                assert norms.max() == pytest.approx(eps) and (norms <= eps + 1e-6).all()
            else:  # inside the ball: the control follows Δ's norms, not the radius
                assert 0.5 * eps < norms.max() <= 0.6 * eps + 1e-6
            cosine = (adv[name] * rand[name]).sum(1)[norms.squeeze(1) > 0] / norms[norms > 0] ** 2
            assert cosine.abs().mean() < 0.5  # random directions, not the adversarial ones


def test_cli_attack_fgsm_pgd_in_one_call(run_dir, capsys):
    code = main(["evaluate", str(run_dir), "--attack", "fgsm,pgd", "--eps", "0.1,0.5", "--pgd-steps", "2"])
    assert code == 0
    out = capsys.readouterr().out
    assert "robustness (fgsm" in out and "robustness (pgd" in out and "random 0.5" in out
    assert out.count("mean row norm of the perturbed tables: user ") == 2 and "absolute eps" in out
    robustness = _saved(run_dir)["robustness"]
    assert set(robustness) == {"clean", "fgsm", "pgd", "random", "settings"}
    assert robustness["settings"]["pgd"]["pgd_steps"] == 2
    for attack in ("fgsm", "pgd"):
        lines = (run_dir / "robustness" / f"{attack}.csv").read_text().splitlines()
        assert lines[0] == "eps,metric,clean,perturbed,drop,random,random_drop"
        assert len(lines) == 1 + 2 * len(robustness["clean"]) and lines[1].startswith("0.1,")
    _assert_png_by_matplotlib(run_dir / "robustness" / "curves.png")


def test_cli_says_when_a_probe_replaces_a_curve_of_other_settings(run_dir, capsys):
    probe = ["evaluate", str(run_dir), "--attack", "fgsm", "--eps", "0.1,0.5"]
    assert main(probe) == 0
    assert "replaced" not in capsys.readouterr().out  # nothing there before
    assert main(probe) == 0
    assert "replaced" not in capsys.readouterr().out  # the same probe again: the same curve
    assert main([*probe, "--eps-mode", "relative"]) == 0
    out = capsys.readouterr().out
    assert "replaced the earlier fgsm curve of robustness: eps_mode absolute, eps 0.1, 0.5;" in out
    assert _saved(run_dir)["robustness"]["settings"]["fgsm"]["eps_mode"] == "relative"  # as the notice says
    assert main(["evaluate", str(run_dir), "--attack", "pgd", "--eps", "0.1", "--pgd-steps", "2"]) == 0
    assert "replaced" not in capsys.readouterr().out  # another attack's curve sits next to fgsm's
    assert main(["evaluate", str(run_dir), "--attack", "pgd", "--eps", "0.1", "--pgd-steps", "3"]) == 0
    assert "earlier pgd curve of robustness: eps_mode absolute, eps 0.1, 2 steps;" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["--attack", "fgsm", "--eps", "0.1,big"], "--eps"), (["--attack", "fgsm,cw"], "--attack")],
)
def test_cli_rejects_bad_probe_arguments(trained, capsys, args, needle):
    assert main(["evaluate", str(trained), *args]) == 2
    captured = capsys.readouterr()
    assert needle in captured.err and captured.out == ""  # rejected before any evaluation


def test_method_comparison_plot_and_no_matplotlib_at_import(tmp_path):
    rows = [
        {
            "method": method,
            "attack": attack,
            "control": control,
            "eps": eps,
            "metric": "ndcg@10",
            "clean_mean": 0.3,
            "perturbed_mean": 0.3 * (1 - drop),
            "perturbed_std": 0.01,
            "drop_mean": drop,
            "drop_std": 0.02,
        }
        for method, scale in (("BPR-MF", 1.0), ("APR-MF", 0.7))
        for attack in ("fgsm", "pgd")
        for control, factor in (("adversarial", 1.0), ("random", 0.2))
        for eps, drop in ((0.1, 0.02 * scale * factor), (0.5, 0.2 * scale * factor))
    ]
    _assert_png_by_matplotlib(plot_method_comparison(rows, tmp_path / "cmp.png", title="t"))
    # matplotlib is imported only when a plot is drawn
    for module in (plots, probe_module, train_module, cli_module):
        tree = ast.parse(Path(module.__file__).read_text())
        names = [a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in tree.body if isinstance(n, ast.ImportFrom)]
        assert not [n for n in names if n.startswith("matplotlib")], module.__name__


def test_valid_probe_is_kept_apart_and_ranks_valid_past_train(run_dir, capsys):
    before = _saved(run_dir)
    result = robustness_run(run_dir, [0.5], attack="fgsm", eps_mode="relative", split="valid")
    saved = _saved(run_dir)
    assert saved["robustness_valid"] == json.loads(json.dumps(result))
    assert "robustness" not in saved and saved["test"] == before["test"]  # test neither read nor touched
    assert {p.name for p in (run_dir / "robustness_valid").iterdir()} == {"fgsm.csv", "curves.png"}
    # its clean figures are the best epoch's valid figures, recomputed from the saved model
    log = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    best = next(line for line in log if line["epoch"] == before["best_epoch"])
    assert result["clean"]["ndcg@10"] == pytest.approx(best["valid"]["ndcg@10"])
    assert result["fgsm"]["0.5"]["ndcg@10_drop"] > result["random"]["fgsm"]["0.5"]["ndcg@10_drop"]
    code = main(["evaluate", str(run_dir), "--attack", "fgsm", "--eps", "0.5", "--split", "valid"])
    out = capsys.readouterr().out
    assert code == 0 and "robustness_valid (fgsm)" in out and "test (" not in out


def test_valid_split_is_for_the_probe_only(trained, capsys):
    assert main(["evaluate", str(trained), "--split", "valid"]) == 2
    captured = capsys.readouterr()
    assert "--split valid" in captured.err and captured.out == ""


def test_a_run_trained_with_noise_augmentation_is_probed_and_titled_by_its_adversary(tmp_path):
    """SimGCL has no perturbation method or ε of APR's kind: the probe's plot title names it alone."""
    config = {
        **CONFIG,
        "model": {"name": "lightgcn", "dim": 16, "n_layers": 1},
        "adversary": {"name": "simgcl", "cl_weight": 0.1},
        "train": {**CONFIG["train"], "epochs": 2},
    }
    run_dir = tmp_path / "run"
    train_run(parse_config(config), run_dir, show_progress=False)
    result = robustness_run(run_dir, [0.5], attack="fgsm")
    assert set(result["fgsm"]) == {"0.5"}
    assert (run_dir / "robustness" / "curves.png").read_bytes().startswith(PNG_SIGNATURE)
    assert probe_module._trained_with({"name": "simgcl", "cl_weight": 0.1, "cl_eps": 0.1}) == (
        ", trained with simgcl"
    )
    apr = {"name": "apr", "method": "fgsm", "eps": 0.5, "eps_mode": "absolute"}
    assert probe_module._trained_with(apr) == ", trained with apr (fgsm, ε = 0.5 absolute)"
    assert probe_module._trained_with({"name": "none"}) == ""
