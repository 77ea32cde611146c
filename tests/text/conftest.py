"""Fixtures: tiny real sentence-transformers models (see text_helpers)."""

import pytest
from text_helpers import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def other_tiny_model(tmp_path_factory):
    """Same architecture and vocabulary, other weights: a different model."""
    return build_tiny_model(tmp_path_factory.mktemp("other_tiny_model"), seed=1)
