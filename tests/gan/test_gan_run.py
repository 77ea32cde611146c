"""GAN runs end to end through the one trainer: run folder, exact resume of both players, divergence."""

import json

import pytest
import torch

from advrec.errors import ConfigError, TrainingDiverged
from advrec.runs.config import parse_config
from advrec.runs.load import evaluate_run
from advrec.runs.train import train_run
from advrec.train.checkpoint import load_checkpoint
from advrec.train.hooks import TrainHook

DATA = {"synthetic": {"n_users": 80, "n_items": 100, "interactions_per_user": 12}}
GANS = {
    "cfgan": {
        "name": "cfgan",
        "g_hidden": [32],
        "d_hidden": [16],
        "noise_dim": 4,
        # Two time scales, a warm-up on one player and a plateau schedule on the other: all must resume.
        "generator": {
            "optimizer": {"lr": 3e-3},
            "batch_size": 16,
            "pretrain_epochs": 1,
            "schedule": {"warmup_epochs": 2},
        },
        "discriminator": {
            "optimizer": {"lr": 1e-3},
            "batch_size": 32,
            "steps": 2,
            "grad_clip": 1.0,
            "schedule": {"name": "plateau", "patience": 0},
        },
    },
    "irgan": {
        "name": "irgan",
        "dim": 8,
        "init_std": 0.1,
        "generator": {"optimizer": {"lr": 1e-2}, "batch_size": 32, "pretrain_epochs": 2},
        "discriminator": {
            "optimizer": {"lr": 1e-2},
            "batch_size": 64,
            "l2": 0.1,
            "schedule": {"name": "plateau", "patience": 0},
        },
    },
}


def _config(kind: str, epochs: int = 6, **gan):
    section = json.loads(json.dumps(GANS[kind]))
    section.update(gan)
    return parse_config(
        {
            "seed": 5,
            "data": DATA,
            "train": {"epochs": epochs, "patience": 50},
            "eval": {"ks": [5, 10]},
            "model": section,
        }
    )


@pytest.mark.parametrize("name", ["cfgan", "irgan"])
def test_gan_run_folder_monitors_and_plot(tmp_path, name):
    results = train_run(_config(name), tmp_path / "r", show_progress=False)
    run = tmp_path / "r"
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 6
    adversarial = [x for x in lines if x["phase"] == "adversarial"]
    for key in [
        "d_real",
        "d_fake",
        "d_loss",
        "g_loss",
        "d_grad_norm",
        "g_grad_norm",
        "lr_g",
        "lr_d",
        "g_top10_coverage",
        "g_top10_entropy",
    ]:
        assert all(key in x for x in adversarial), key
    assert all(0 < x["g_top10_coverage"] <= 1 and 0 <= x["g_top10_entropy"] <= 1 for x in lines)
    assert (run / "gan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Pre-training epochs are never selected; the test metrics are read back by `evaluate` exactly.
    assert lines[results["best_epoch"]]["phase"] == "adversarial"
    assert evaluate_run(run)["ndcg@10"] == pytest.approx(results["test"]["ndcg@10"])
    assert results["test"]["ndcg@10"] > 0.0


@pytest.mark.parametrize("name,crash_epoch", [("cfgan", 1), ("cfgan", 4), ("irgan", 1), ("irgan", 3)])
def test_killed_and_resumed_gan_run_matches_uninterrupted(tmp_path, crash_at, name, crash_epoch):
    cfg = _config(name)
    full = train_run(cfg, tmp_path / "full", show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "part", hooks=[crash_at(crash_epoch)], show_progress=False)
    resumed = train_run(cfg, tmp_path / "part", resume=True, show_progress=False)
    assert resumed["test"] == full["test"] and resumed["best_epoch"] == full["best_epoch"]
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")
    for key in a["model"]:  # both players' parameters
        assert torch.equal(a["model"][key], b["model"][key]), key
    for player in ["generator", "discriminator"]:  # both players' optimizer and schedule states
        sa, sb = a["procedure"][player], b["procedure"][player]
        assert sa["schedule"] == sb["schedule"]
        for idx, state in sa["optimizer"]["state"].items():
            for k, v in state.items():
                assert torch.equal(v, sb["optimizer"]["state"][idx][k]), (player, k)
    full_log = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    part_log = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    strip = lambda x: {k: v for k, v in json.loads(x).items() if not k.endswith("_s")}  # noqa: E731
    assert [strip(x) for x in full_log] == [strip(x) for x in part_log]


class _PoisonGenerator(TrainHook):
    """Writes a NaN into the generator's first layer when an epoch starts (the discriminator, which
    trains first, is the first to see NaN profiles)."""

    def __init__(self, model_ref: list, at_epoch: int):
        self.model_ref, self.at_epoch = model_ref, at_epoch

    def on_epoch_start(self, epoch: int) -> None:
        if epoch == self.at_epoch:
            with torch.no_grad():
                self.model_ref[0].generator_net[0].weight[0, 0] = float("nan")


def test_nan_loss_stops_the_run_keeping_the_last_good_checkpoint(tmp_path, monkeypatch):
    import advrec.runs.procedures.gan as setup

    built = []
    original = setup.build_model
    monkeypatch.setattr(setup, "build_model", lambda *a, **kw: built.append(original(*a, **kw)) or built[-1])
    with pytest.raises(TrainingDiverged, match="epoch 3: the discriminator loss became nan") as stopped:
        train_run(_config("cfgan"), tmp_path / "r", hooks=[_PoisonGenerator(built, 3)], show_progress=False)
    last = tmp_path / "r" / "checkpoints" / "last.pt"
    assert f"the last good checkpoint is {last} (after epoch 2)" in str(stopped.value)
    ckpt = load_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt")
    assert ckpt["trainer"]["epoch"] == 3
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert (tmp_path / "r" / "gan.png").exists()  # the curves up to the divergence
    assert not (tmp_path / "r" / "results.json").exists()


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"name": "irgan", "loss": "wgan_gp"}, "loss 'wgan_gp' needs continuous inputs"),
        ({"generator": {"pretrain_epochs": 6}}, "pretrain_epochs"),
        ({"recommend_with": "discriminator"}, "unknown key 'model.recommend_with'"),
        ({"use_discriminator": False, "discriminator": {"pretrain_epochs": 1}}, "use_discriminator"),
    ],
)
def test_bad_gan_configs_name_the_key(tmp_path, overrides, match):
    base = overrides.pop("name", "cfgan")
    with pytest.raises(ConfigError, match=match):
        train_run(_config(base, **overrides), tmp_path / "r", show_progress=False)


def test_gan_and_adversary_do_not_combine(tmp_path):
    raw = json.loads(json.dumps(_config("cfgan").model_dump(mode="json")))
    raw["adversary"] = {"name": "apr"}
    with pytest.raises(ConfigError, match="adversary.name: 'apr' cannot train a GAN recommender"):
        parse_config(raw)


@pytest.mark.parametrize(
    ("name", "tables"),
    [("cfgan", ["condition", "output_embedding"]), ("irgan", ["item", "user"])],
)
def test_gan_recommenders_are_victims_of_the_robustness_probe(tmp_path, name, tables):
    from advrec.runs.probe import robustness_run

    train_run(_config(name, epochs=4), tmp_path / "r", show_progress=False)
    probe = robustness_run(tmp_path / "r", [0.5, 2.0], attack="fgsm,pgd", eps_mode="relative")
    for attack in ("fgsm", "pgd"):
        assert sorted(probe["settings"][attack]["targets"]) == tables
        # A move of every table by half (then twice) each row's norm changes the ranking.
        assert probe[attack]["2.0"]["ndcg@10"] != probe["clean"]["ndcg@10"]
        assert "ndcg@10" in probe["random"][attack]["0.5"]
    assert (tmp_path / "r" / "robustness" / "curves.png").exists()
