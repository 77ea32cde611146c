"""The text-filter defence: fake sequences flagged by the incoherence of their items' texts."""

import json

import numpy as np
import pytest
import yaml
from genre_data import GENRES, genre_config, genre_data

from advrec.attack.inject import read_fake_users
from advrec.cli.main import main
from advrec.data.config import ItemTextConfig
from advrec.data.interactions import Interactions
from advrec.defend.defences import build_defence
from advrec.defend.text_filter import (
    TextCoherenceFilter,
    TextFilterDefence,
    least_coherent,
    sequence_coherence,
)
from advrec.errors import ConfigError


def test_coherence_and_flags_by_hand():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    # user a: 0 -> 2 -> 1 (cosines 0.707, 0.707); b: 0 -> 1 (0); c: one row; d: 1 -> 3 (no text: 0)
    users = np.array(["a", "a", "a", "b", "b", "c", "d", "d"])
    items = np.array([0, 2, 1, 0, 1, 2, 1, 3])
    stamps = np.array([1, 2, 3, 1, 2, 1, 1, 2])
    train = Interactions.from_raw(users, items, timestamps=stamps)
    coherence = sequence_coherence(train, vectors)
    assert coherence[:2] == pytest.approx([np.sqrt(0.5), 0.0])
    assert np.isnan(coherence[2]) and coherence[3] == 0.0
    assert least_coherent(coherence, 1).tolist() == [False, True, False, False]
    assert least_coherent(coherence, 9).tolist() == [True, True, False, True]  # one row: never flagged
    # order: minus the mean over all pairs of the user's items (a: (0.707 + 0 + 0.707) / 3)
    order = sequence_coherence(train, vectors, "order")
    assert order[[0, 1, 3]] == pytest.approx([np.sqrt(0.5) / 3, 0.0, 0.0]) and np.isnan(order[2])
    # time order, not row order: a's rows listed backwards in time give the same pairs reversed
    backwards = Interactions.from_raw(users[:3], items[::-1][5:], timestamps=stamps[:3][::-1])
    assert sequence_coherence(backwards, vectors)[0] == pytest.approx(np.sqrt(0.5))


def _genre_users_with_fakes(folder, n_fake: int, seed: int = 0) -> Interactions:
    """genre_data's users (each in one genre) plus ``n_fake`` users of 8 items drawn across genres."""
    genre_data(folder)
    rows = [line.split("\t") for line in (folder / "views.tsv").read_text().splitlines()[1:]]
    items = [f"{g}-{n}" for g in GENRES for n in ("one", "two", "three")]
    rng = np.random.default_rng(seed)
    for fake in range(n_fake):
        rows += [[f"x-fake{fake}", str(item), str(100 + t)] for t, item in enumerate(rng.choice(items, 8))]
    users, items_, stamps = (np.array(column) for column in zip(*rows))
    return Interactions.from_raw(users, items_, timestamps=stamps.astype(np.int64))


def _texts(folder, encoder) -> ItemTextConfig:
    return ItemTextConfig(
        source="file", path=str(folder / "texts.tsv"), model=str(encoder), cache_dir=str(folder / "cache")
    )


def test_the_least_coherent_sequences_are_the_fakes(tmp_path, tiny_model):
    train = _genre_users_with_fakes(tmp_path, n_fake=6)
    detector = build_defence(TextFilterDefence(item_text=_texts(tmp_path, tiny_model)), size=0.1).detector
    flagged = detector(train)
    assert flagged.sum() == 6
    assert sorted(train.user_map.raw[flagged].tolist()) == [f"x-fake{i}" for i in range(6)]
    # the texts are what tells them apart: with one text for every item all users tie (flagged in id
    # order, the fakes last)
    same = tmp_path / "same"
    same.mkdir()
    ids = [line.split("\t")[0] for line in (tmp_path / "texts.tsv").read_text().splitlines()]
    (same / "texts.tsv").write_text("".join(f"{item}\tone film\n" for item in ids))
    blind = TextCoherenceFilter(0.1, _texts(same, tiny_model))(train)
    assert sorted(train.user_map.raw[blind].tolist()) != [f"x-fake{i}" for i in range(6)]


def test_without_texts_the_defence_is_a_config_error():
    with pytest.raises(ConfigError, match="defence.item_text"):
        build_defence("text-filter")


def test_advrec_attack_with_the_text_filter_drops_the_fake_sequences(tmp_path, tiny_model, capsys):
    genre_data(tmp_path)
    config = genre_config(tmp_path, tiny_model, train={"epochs": 3, "batch_size": 8}).model_dump(mode="json")
    config["data"]["item_text"] = None  # the victim, MF, reads no texts; the defence does
    config["model"] = {"name": "mf", "dim": 16}
    path = tmp_path / "victim.yaml"
    path.write_text(yaml.safe_dump(config))
    args = ["attack", str(path), "--attack", "sequence-random", "--size", "0.1", "--targets", "horror-one"]
    args += ["--filler", "6", "--defence", "text-filter", "--defence-set", "item_text.source=file"]
    args += ["--defence-set", f"item_text.path={tmp_path / 'texts.tsv'}"]
    args += ["--defence-set", f"item_text.model={tiny_model}"]
    args += ["--defence-set", f"item_text.cache_dir={tmp_path / 'cache'}"]
    assert main([*args, "--out", str(tmp_path / "out"), "--quiet"]) == 0
    fake = set(read_fake_users(tmp_path / "out" / "poisoned" / "split"))
    folders = [p for p in (tmp_path / "out").iterdir() if (p / "defence.json").exists()]
    report = json.loads((folders[0] / "defence.json").read_text())
    assert len(fake) == 6 and set(report["flagged_ids"]) == fake
    results = json.loads((tmp_path / "out" / "results.json").read_text())["poisoning"]
    assert results["defence"] == "text-filter" and "defended" in results

    capsys.readouterr()
    bad = [a for a in args if not a.startswith("item_text") and a != "--defence-set"]
    assert main([*bad, "--out", str(tmp_path / "bad"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("advrec: error:") and "defence.item_text" in err and "\n" not in err
