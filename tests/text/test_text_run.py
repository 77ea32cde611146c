"""data.item_text end to end: a run trained on text embeddings (tiny real encoder), its one-step test, the
text attack probe (checked against ranks computed by hand from the model's scores), and the CLI."""

import json

import numpy as np
import pytest
import torch

from advrec.attack.text_attack import PROMO_TEXT, perturb_texts, text_attack_run
from advrec.cli.main import main
from advrec.data.text_encoder import TextEncoder
from advrec.errors import AdvrecError, ConfigError
from advrec.models.mf_features import MFFeatures
from advrec.objectives.pairwise import build_objective
from advrec.runs.config import parse_config
from advrec.runs.load import load_run
from advrec.runs.train import train_run

N_ITEMS = 60
SYNTH = {"n_users": 50, "n_items": N_ITEMS, "interactions_per_user": 10}
WORDS = ["toy", "story", "comedy", "drama", "action", "thriller", "war", "horror", "romance", "film"]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    """A text for each synthetic item (raw ids 1..60), lines shuffled: alignment is by id."""
    path = tmp_path_factory.mktemp("texts") / "items.tsv"
    rng = np.random.default_rng(0)
    lines = [
        f"{i}\t{' '.join(rng.choice(WORDS, size=3))} item" for i in rng.permutation(np.arange(1, N_ITEMS + 1))
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _config(text_file, encoder_model, cache_dir, **sections):
    raw = {
        "seed": 3,
        "data": {
            "synthetic": SYNTH,
            "item_text": {
                "source": "file",
                "path": str(text_file),
                "model": str(encoder_model),
                "cache_dir": str(cache_dir),
            },
        },
        "model": {"name": "mf_features", "dim": 8},
        "train": {"epochs": 3, "batch_size": 128, "patience": 50, "optimizer": {"lr": 0.01}},
        "eval": {"ks": [5, 10], "metrics": ["ndcg", "hit"]},
    }
    for key, value in sections.items():
        raw[key] = value if not isinstance(value, dict) else {**raw.get(key, {}), **value}
    return parse_config(json.loads(json.dumps(raw)))


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, text_file, tiny_model):
    folder = tmp_path_factory.mktemp("run")
    cache = folder / "cache"
    train_run(_config(text_file, tiny_model, cache), folder / "run", show_progress=False)
    return folder / "run"


def test_run_features_are_the_encoded_texts_of_each_item(text_run, tiny_model, text_file):
    _, split, model = load_run(text_run)
    assert isinstance(model, MFFeatures) and model.item_features.shape == (split.train.n_items, 8)
    lookup = dict(line.split("\t") for line in text_file.read_text().splitlines())
    raw = split.train.item_map.raw.tolist()
    expected = TextEncoder(str(tiny_model)).encode([lookup[str(i)] for i in raw])
    np.testing.assert_allclose(model.item_features.numpy(), expected, rtol=1e-5, atol=1e-6)
    saved = (text_run / "split" / "item_texts.tsv").read_text().splitlines()
    assert saved == [f"{i}\t{lookup[str(i)]}" for i in raw]
    record = json.loads((text_run / "split" / "item_text_encoder.json").read_text())
    assert record["identity"].startswith("folder:") and record["dim"] == 8


def test_a_second_run_reuses_the_cache(text_run, tmp_path, text_file, tiny_model):
    cache = text_run.parent / "cache"
    assert len(list(cache.glob("*.npy"))) == 1
    train_run(
        _config(text_file, tiny_model, cache, train={"epochs": 1}), tmp_path / "again", show_progress=False
    )
    assert json.loads((tmp_path / "again" / "split" / "item_text_encoder.json").read_text())["cached"] is True
    assert len(list(cache.glob("*.npy"))) == 1


def test_one_step_of_the_text_aware_model(text_run):
    """One Adam step on a fixed batch: every parameter moves, the loss drops, the text rows stay."""
    _, split, model = load_run(text_run)
    gen = torch.Generator().manual_seed(0)
    model = MFFeatures(
        split.train.n_users, split.train.n_items, model.item_features, dim=8, init_std=0.3, generator=gen
    )
    model.train()
    batch = {
        "users": torch.from_numpy(split.train.users[:128]),
        "pos": torch.from_numpy(split.train.items[:128]),
        "neg": torch.randint(0, split.train.n_items, (128, 1), generator=gen),
    }
    objective = build_objective("bpr", 0.0)
    features = model.item_features.clone()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    loss0 = objective(model, batch)
    opt.zero_grad()
    loss0.backward()
    opt.step()
    for key, value in model.named_parameters():
        assert not torch.equal(value, before[key]), key
    assert objective(model, batch).item() < loss0.item()
    assert torch.equal(model.item_features, features)


def test_config_errors(text_file, tiny_model, tmp_path):
    with pytest.raises(ConfigError, match="data.item_features and data.item_text are both set"):
        cfg = _config(text_file, tiny_model, tmp_path)
        cfg.data.item_features = {"path": "f.npy", "ids_path": "f.txt"}
        train_run(cfg, tmp_path / "both", show_progress=False)
    with pytest.raises(ConfigError, match="does not read features"):
        train_run(
            _config(text_file, tiny_model, tmp_path, model={"name": "mf"}),
            tmp_path / "mf",
            show_progress=False,
        )
    with pytest.raises(ConfigError, match="data.item_text.model"):
        train_run(_config(text_file, tmp_path, tmp_path), tmp_path / "nomodel", show_progress=False)


def test_content_only_options_train_resume_exactly_and_rebuild_the_mask(
    text_run, text_file, tiny_model, tmp_path, crash_at
):
    """model.id_dropout and model.id_min_count end to end: a run cut and resumed equals the uninterrupted
    one (the dropout draws come from the checkpointed torch RNG), it differs from the plain text model,
    and the model rebuilt from the run folder has no ID embedding for exactly the rare train items."""
    cfg = _config(
        text_file, tiny_model, text_run.parent / "cache", model={"id_dropout": 0.5, "id_min_count": 3}
    )
    full = train_run(cfg, tmp_path / "full", show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "part", hooks=[crash_at(2)], show_progress=False)
    resumed = train_run(cfg, tmp_path / "part", resume=True, show_progress=False)
    assert resumed["test"] == full["test"] and resumed["best_epoch"] == full["best_epoch"]
    plain = json.loads((text_run / "results.json").read_text())
    assert plain["test"] != full["test"]
    _, split, model = load_run(tmp_path / "full")
    counts = np.bincount(split.train.items, minlength=split.train.n_items)
    assert 0 < (counts < 3).sum() < len(counts)  # the mask below is neither empty nor everything
    assert model.id_mask.squeeze(1).tolist() == (counts >= 3).astype(float).tolist()
    users = torch.arange(split.train.n_users)
    with torch.no_grad():
        scores = model.eval().full_scores(users)
        content = model.user_embedding.weight @ (model.item_features @ model.projection.T).T
    rare = torch.from_numpy(counts < 3)
    torch.testing.assert_close(scores[:, rare], content[:, rare])
    assert not torch.allclose(scores[:, ~rare], content[:, ~rare])


def test_perturbed_texts_by_hand():
    texts = ["a", "b", "c", "d"]
    counts = np.array([5, 9, 9, 1])
    assert perturb_texts("promo", texts, np.array([3, 0]), counts) == [f"d {PROMO_TEXT}", f"a {PROMO_TEXT}"]
    # Most popular first, ties by lower index: 1, 2, then 0; a target never copies itself.
    assert perturb_texts("popular", texts, np.array([3, 1]), counts, n_popular=2) == ["d b c", "b c a"]
    with pytest.raises(ConfigError, match="expected one of promo, popular"):
        perturb_texts("synonyms", texts, np.array([0]), counts)


def _ranks_by_hand(model, train, targets):
    """Rank (1 = top) of each target among the items not in the user's train profile, per user."""
    scores = model.full_scores(torch.arange(train.n_users)).detach().numpy()
    seen = train.csr().toarray() > 0
    ranks = np.zeros((train.n_users, len(targets)))
    for u in range(train.n_users):
        candidates = scores[u][~seen[u]]
        for j, t in enumerate(targets):
            ranks[u, j] = 1 + (candidates > scores[u, t]).sum()
    return ranks, ~seen[:, targets]


def test_text_attack_matches_hand_computed_ranks(text_run, tiny_model):
    encoder = TextEncoder(str(tiny_model))
    entry = text_attack_run(text_run, "promo", "random:4", encoder=encoder)
    config, split, model = load_run(text_run)
    train = split.train
    targets = np.array([train.item_map.index(i) for i in entry["target_ids"]])
    assert len(targets) == 4 and entry["reencode_max_abs_diff"] < 1e-5
    before, eligible = _ranks_by_hand(model, train, targets)
    per_target = lambda r: np.mean([r[eligible[:, j], j].mean() for j in range(len(targets))])  # noqa: E731
    assert entry["before"]["target_mean_rank"] == pytest.approx(per_target(before))
    # Swap in the encoded edited texts by hand and rank again.
    texts = dict(
        line.split("\t") for line in (text_run / "split" / "item_texts.tsv").read_text().splitlines()
    )
    new_rows = encoder.encode([f"{texts[str(i)]} {PROMO_TEXT}" for i in entry["target_ids"]])
    with torch.no_grad():
        model.item_features[torch.from_numpy(targets)] = torch.from_numpy(new_rows)
    after, _ = _ranks_by_hand(model, train, targets)
    assert entry["after"]["target_mean_rank"] == pytest.approx(per_target(after))
    assert entry["rank_gain"] == pytest.approx(per_target(before) - per_target(after))
    assert entry["feature_shift"] > 0.01  # the promo words did move the rows
    hit = lambda r: np.mean([(r[eligible[:, j], j] <= 10).mean() for j in range(len(targets))])  # noqa: E731
    assert entry["after"]["target_hit@10"] == pytest.approx(hit(after))
    saved = json.loads((text_run / "results.json").read_text())
    assert saved["text_attack"]["promo"]["random:4"]["target_ids"] == entry["target_ids"]
    other = text_attack_run(text_run, "promo", "random:2", encoder=encoder)  # another entry, the first kept
    saved = json.loads((text_run / "results.json").read_text())
    assert saved["text_attack"]["promo"]["random:4"] == json.loads(json.dumps(entry))
    assert saved["text_attack"]["promo"]["random:2"]["target_ids"] == other["target_ids"]
    assert "test" in saved  # other entries kept


def test_text_attack_refuses_another_encoder_and_runs_without_texts(text_run, other_tiny_model, tmp_path):
    with pytest.raises(AdvrecError, match="must re-embed with the same model"):
        text_attack_run(text_run, "promo", "random:2", encoder=TextEncoder(str(other_tiny_model)))
    plain = parse_config(
        {"seed": 1, "data": {"synthetic": SYNTH}, "train": {"epochs": 1}, "model": {"dim": 4}}
    )
    train_run(plain, tmp_path / "plain", show_progress=False)
    with pytest.raises(AdvrecError, match="needs a run trained on item texts"):
        text_attack_run(tmp_path / "plain", "promo", "random:2")


def test_cli_text_attack(text_run, capsys):
    assert main(["evaluate", str(text_run), "--text-attack", "popular", "--text-targets", "random:3"]) == 0
    out = capsys.readouterr().out
    assert "text attack 'popular' on random:3" in out and "rank gain" in out
    saved = json.loads((text_run / "results.json").read_text())
    assert list(saved["text_attack"]["popular"]) == ["random:3"]
    assert main(["evaluate", str(text_run), "--text-attack", "synonyms"]) == 2
    assert "expected one of promo, popular" in capsys.readouterr().err
    assert main(["evaluate", str(text_run), "--text-attack", "promo", "--text-targets", "hot:3"]) == 2
    assert "unknown band 'hot'" in capsys.readouterr().err


def test_cli_train_shows_a_bad_text_file_without_a_traceback(tmp_path, tiny_model, capsys):
    bad = tmp_path / "items.tsv"
    bad.write_text("1\ttoy story\n2 no tab here\n", encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text(
        json.dumps(
            {
                "data": {
                    "synthetic": SYNTH,
                    "item_text": {"source": "file", "path": str(bad), "model": str(tiny_model)},
                },
                "model": {"name": "mf_features", "dim": 4},
                "train": {"epochs": 1},
            }
        )
    )
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: expected 'item id', a tab, then the text" in err and "Traceback" not in err
