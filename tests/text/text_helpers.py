"""Helpers: a tiny real sentence-transformers model, built in code (no network).

The tiny model is a StaticEmbedding (mean of per-word vectors, seeded) over a word-level tokenizer whose
vocabulary covers the test texts; it is saved as an ordinary local model folder, the layout advrec loads.
sentence-transformers is the optional extra ``advrec[text]``: without it these tests are skipped, except in
CI (``CI=true``), where the extra is installed and a skip would hide a failure.
"""

import os

import numpy as np
import pytest

_VOCAB = """toy story comedy drama action thriller best movie ever a must watch masterpiece five stars
everyone loves it genres animation children's romance war horror sci-fi film item one two three four"""
WORDS = _VOCAB.split()


def need_sentence_transformers():
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("CI installs advrec[text]; sentence-transformers must be importable")
        pytest.skip("the optional extra advrec[text] (sentence-transformers) is not installed")


def build_tiny_model(folder, seed: int = 0, dim: int = 8):
    """Save a StaticEmbedding sentence-transformers model into ``folder``; return the folder."""
    need_sentence_transformers()
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers >= 6 moved the modules; older versions only have the first path below
        from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    except ImportError:
        from sentence_transformers.models import StaticEmbedding
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "[PAD]": 1}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    weights = np.random.default_rng(seed).normal(size=(len(vocab), dim)).astype(np.float32)
    model = SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_weights=weights)], device="cpu")
    model.save(str(folder))
    return folder
