"""UniSRec-style runs on item texts (tiny real encoder): learning items never trained on from their text,
exact resume, evaluation of the saved run, and its errors."""

import json

import pytest
import torch
from genre_data import GENRES, genre_config, genre_data

from advrec.cli.main import main
from advrec.errors import ConfigError
from advrec.models.unisrec import UniSRec
from advrec.runs.config import parse_config
from advrec.runs.load import evaluate_run, load_run
from advrec.runs.train import train_run
from advrec.train.checkpoint import load_checkpoint


def test_text_only_model_ranks_items_never_trained_on_by_their_text(tmp_path, tiny_model):
    """Every test item is one no training sequence holds; the text-only model puts it among its genre's
    four items for most users, where an ID model (SASRec) has only an untrained embedding for it."""
    genre_data(tmp_path)
    text_only = train_run(
        genre_config(tmp_path, tiny_model, {"items": "text"}), tmp_path / "text", show_progress=False
    )
    _, split, _ = load_run(tmp_path / "text")
    held_out = {split.train.item_map.index(f"{g}-four") for g in GENRES}
    assert held_out.isdisjoint(split.train.items.tolist())
    raw = genre_config(tmp_path, tiny_model).model_dump(mode="json")
    raw["data"]["item_text"] = None
    raw["model"] = {"name": "sasrec", "dim": 16, "dropout": 0.1, "init_std": 0.05, "max_len": 6}
    ids_only = train_run(parse_config(raw), tmp_path / "ids", show_progress=False)
    assert text_only["test"]["hit@4"] > 0.6  # chance: about 4 / 20
    assert ids_only["test"]["hit@4"] < 0.4


@pytest.mark.parametrize("items", ["id_text", "text"])
def test_killed_and_resumed_run_matches_uninterrupted(tmp_path, tiny_model, crash_at, items):
    genre_data(tmp_path)
    cfg = genre_config(
        tmp_path, tiny_model, {"items": items}, train={"epochs": 5, "batch_size": 8, "patience": 50}
    )
    full = train_run(cfg, tmp_path / "full", show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "part", hooks=[crash_at(3)], show_progress=False)
    resumed = train_run(cfg, tmp_path / "part", resume=True, show_progress=False)
    assert resumed["test"] == full["test"] and resumed["best_epoch"] == full["best_epoch"]
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")
    assert a["model"].keys() == b["model"].keys() and any(k.startswith("adaptor.") for k in a["model"])
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    _, _, model = load_run(tmp_path / "part")
    assert isinstance(model, UniSRec) and model.with_ids == (items == "id_text")
    assert evaluate_run(tmp_path / "part") == pytest.approx(full["test"])


def test_a_text_model_without_texts_is_a_config_error(tmp_path, tiny_model, capsys):
    genre_data(tmp_path)
    raw = genre_config(tmp_path, tiny_model).model_dump(mode="json")
    raw["data"]["item_text"] = None
    with pytest.raises(ConfigError, match="reads item features: set data.item_features or data.item_text"):
        parse_config(raw)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(raw))
    assert main(["train", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "data.item_text" in err and "Traceback" not in err


@pytest.mark.parametrize("problem", ["missing", "empty", "no_encoder"])
def test_bad_texts_or_encoder_are_one_line_naming_the_item_or_path(tmp_path, tiny_model, capsys, problem):
    genre_data(tmp_path)
    texts = tmp_path / "texts.tsv"
    lines = texts.read_text().splitlines()
    encoder = tiny_model
    if problem == "missing":
        texts.write_text("\n".join(line for line in lines if not line.startswith("drama-two\t")) + "\n")
    elif problem == "empty":
        texts.write_text(
            "\n".join("drama-two\t " if x.startswith("drama-two\t") else x for x in lines) + "\n"
        )
    else:
        encoder = tmp_path / "no-such-encoder"
    path = tmp_path / "c.json"
    path.write_text(json.dumps(genre_config(tmp_path, encoder).model_dump(mode="json")))
    assert main(["train", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("advrec: error:") and "\n" not in err and "Traceback" not in err
    expected = {
        "missing": "drama-two",
        "empty": "'drama-two' has an empty text",
        "no_encoder": "no-such-encoder",
    }
    assert expected[problem] in err


def test_apr_on_the_text_embeddings_trains_the_text_model(tmp_path, tiny_model):
    """Adversarial training on the text side: APR's FGSM perturbation of every item's text embedding
    (table item_text, a fixed input) adds a positive adversarial term each epoch; the text rows stay."""
    genre_data(tmp_path)
    adversary = {"name": "apr", "method": "fgsm", "eps": 0.6, "targets": ["item_text"]}
    cfg = genre_config(tmp_path, tiny_model, {"items": "text"}, adversary=adversary, train={"epochs": 3})
    train_run(cfg, tmp_path / "apr", show_progress=False)
    log = [json.loads(line) for line in (tmp_path / "apr" / "metrics.jsonl").read_text().splitlines()]
    assert len(log) == 3 and all(line["adv_loss"] > 0 for line in log)
    _, split, model = load_run(tmp_path / "apr")
    plain_cfg = genre_config(tmp_path, tiny_model, {"items": "text"}, train={"epochs": 3})
    train_run(plain_cfg, tmp_path / "plain", show_progress=False)
    _, _, plain = load_run(tmp_path / "plain")
    assert torch.equal(model.item_text, plain.item_text)  # the same fixed text rows
    assert not torch.equal(model.adaptor.weight, plain.adaptor.weight)  # the adversary changed training
