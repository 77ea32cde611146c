"""The word-substitution rewrite: its edit distance, its budget on hand-made texts (a bag-of-words encoder),
and the probe on a trained text-based model against the phrase baselines (tiny real encoder)."""

import json

import numpy as np
import pytest
from genre_data import genre_config, genre_data

from advrec.attack.rewrite_probe import rewrite_probe_run
from advrec.attack.text_rewrite import RewriteBudget, rewrite_text, single_edits, vocabulary, word_edits
from advrec.cli.main import main
from advrec.data.text_encoder import TextEncoder
from advrec.errors import AdvrecError
from advrec.runs.config import parse_config
from advrec.runs.train import train_run

WORDS = ["good", "bad", "film", "story", "great", "dull", "long", "short"]


def bag_of_words(texts: list[str]) -> np.ndarray:
    """A hand-made encoder: word counts over WORDS, plus a constant so no text is the zero vector."""
    rows = np.zeros((len(texts), len(WORDS) + 1), dtype=np.float32)
    for r, text in enumerate(texts):
        for word in text.split():
            rows[r, WORDS.index(word)] += 1
        rows[r, -1] = 1.0
    return rows


def likes(word: str):
    """An objective that rises with the share of ``word`` in the text's embedding."""
    column = WORDS.index(word)
    return lambda rows: rows[:, column] / rows.norm(dim=1)


def test_word_edits_is_the_word_level_edit_distance():
    assert word_edits(["a", "b", "c"], ["a", "b", "c"]) == 0
    assert word_edits(["a", "b", "c"], ["a", "x", "c"]) == 1
    assert word_edits(["a", "b", "c"], ["a", "b", "c", "d"]) == 1
    assert word_edits(["a", "b", "c"], ["b", "c"]) == 1
    assert word_edits(["a", "b"], ["c", "d", "e"]) == 3
    assert word_edits([], ["a", "b"]) == 2


def test_single_edits_substitute_and_insert_each_word_everywhere():
    edits = single_edits(["a", "b"], ["x"])
    assert edits == [["x", "b"], ["a", "x"], ["x", "a", "b"], ["a", "x", "b"], ["a", "b", "x"]]
    assert all(word_edits(["a", "b"], e) == 1 for e in edits)
    assert vocabulary(["Toy Story (1995). Genres: Children's", "toy"]) == [
        "children's",
        "genres",
        "story",
        "toy",
    ]


@pytest.mark.parametrize(("max_edits", "min_similarity"), [(1, 0.5), (2, 0.5), (3, 0.8), (3, 0.95)])
def test_rewrite_stays_within_its_budget_and_spends_it_on_the_objective(max_edits, min_similarity):
    text = "dull long film story"
    budget = RewriteBudget(max_edits=max_edits, min_similarity=min_similarity, n_words=len(WORDS))
    vocab_rows = bag_of_words(WORDS)
    out = rewrite_text(text, WORDS, vocab_rows, bag_of_words, likes("good"), budget)
    original = bag_of_words([text])[0]
    again = bag_of_words([out.text])[0]
    cos = again @ original / np.linalg.norm(again) / np.linalg.norm(original)
    assert out.edits == word_edits(text.split(), out.text.split()) <= max_edits
    assert out.similarity == pytest.approx(cos) and cos >= min_similarity - 1e-6
    assert out.trace == sorted(out.trace) and len(out.trace) == out.edits + 1
    if out.edits:
        assert "good" in out.text.split() and out.objective > out.trace[0]
    if min_similarity == 0.5:  # loose: every edit is spent, each on the objective's word
        assert out.edits == max_edits and out.text.split().count("good") == max_edits


def test_rewrite_keeps_the_text_when_no_edit_fits_the_similarity():
    budget = RewriteBudget(max_edits=3, min_similarity=0.999, n_words=len(WORDS))
    out = rewrite_text("dull film", WORDS, bag_of_words(WORDS), bag_of_words, likes("good"), budget)
    assert out.text == "dull film" and out.edits == 0 and out.similarity == pytest.approx(1.0)


def test_the_gradient_picks_the_words_the_objective_wants():
    """With one word tried per round, the gradient must point at the objective's word, or nothing rises."""
    budget = RewriteBudget(max_edits=1, min_similarity=0.0, n_words=1)
    out = rewrite_text("dull film", WORDS, bag_of_words(WORDS), bag_of_words, likes("great"), budget)
    assert "great" in out.text.split() and out.edits == 1


# half the users are comedy fans; the other genres share the rest (32 items, 8 genres)
SKEWED = [
    g
    for other in ["drama", "action", "thriller", "romance", "war", "horror", "animation"]
    for g in ("comedy", other)
]


@pytest.fixture(scope="module")
def genre_run(tmp_path_factory, tiny_model):
    folder = tmp_path_factory.mktemp("genres")
    genre_data(folder, n_users=112, genres=SKEWED)
    config = genre_config(folder, tiny_model, {"items": "id_text"}, train={"epochs": 15, "batch_size": 8})
    train_run(config, folder / "run", show_progress=False)
    return folder / "run"


def test_rewrite_raises_the_target_above_the_phrase_probe_within_budget(genre_run, tiny_model):
    budget = RewriteBudget(max_edits=2, min_similarity=0.8)
    entry = rewrite_probe_run(genre_run, "war-one", budget, encoder=TextEncoder(str(tiny_model)))
    rewrite, promo, popular = (entry["methods"][k] for k in ("rewrite", "promo", "popular"))
    assert entry["reencode_max_abs_diff"] < 1e-5
    assert max(rewrite["word_edits"]) <= 2 and rewrite["similarity_min"] >= 0.8
    assert rewrite["texts"] != entry["original_texts"]
    for metric in ("target_hit@10", "target_ndcg@50"):  # above the fixed phrase on every measure
        assert rewrite["gain"][metric] > promo["gain"][metric] + 0.05, metric
    assert rewrite["rank_gain"] > promo["rank_gain"] + 1
    # copying the bestsellers' texts moves the target too, but far outside the semantic budget
    assert popular["similarity_min"] < 0.7 and promo["similarity_min"] < 0.7
    saved = json.loads((genre_run / "results.json").read_text())["text_rewrite"]["war-one"]
    assert saved["methods"]["rewrite"]["texts"] == rewrite["texts"]


def test_rewrite_probe_refuses_a_model_it_cannot_score(tmp_path, tiny_model):
    genre_data(tmp_path)
    raw = genre_config(tmp_path, tiny_model).model_dump(mode="json")
    raw["model"] = {"name": "mf_features", "dim": 8}
    train_run(parse_config(raw), tmp_path / "mf", show_progress=False)
    with pytest.raises(AdvrecError, match="model.name unisrec"):
        rewrite_probe_run(tmp_path / "mf", "random:2", encoder=TextEncoder(str(tiny_model)))


def test_cli_runs_the_rewrite_and_names_a_bad_budget(genre_run, capsys):
    args = ["evaluate", str(genre_run), "--text-attack", "rewrite", "--text-targets", "war-one"]
    assert main([*args, "--rewrite-edits", "1"]) == 0
    out = capsys.readouterr().out
    assert "text rewrite on war-one" in out and "rewrite" in out and "popular" in out
    saved = json.loads((genre_run / "results.json").read_text())["text_rewrite"]["war-one"]
    assert saved["budget"]["max_edits"] == 1 and max(saved["methods"]["rewrite"]["word_edits"]) <= 1
    for flag, value in (("--rewrite-edits", "0"), ("--rewrite-similarity", "1.5")):
        assert main([*args, flag, value]) == 2
        err = capsys.readouterr().err
        assert f"advrec: error: {flag}" in err and "Traceback" not in err
