"""A tiny synthetic study shared by the report tests."""

import pytest


@pytest.fixture
def tiny_study() -> dict:
    """Two systems (MF-BPR, APR-MF) on 40 x 60 synthetic data, 3 epochs; seeds set by the test."""
    return {
        "name": "tiny",
        "base": {
            "threads": 1,
            "data": {"synthetic": {"n_users": 40, "n_items": 60, "interactions_per_user": 10}},
            "model": {"dim": 8},
            "train": {"epochs": 3, "batch_size": 128, "patience": 10},
        },
        "axes": {"method": {"bpr": {}, "apr": {"adversary.name": "apr", "adversary.eps": 0.5}}},
        "seeds": [1],
        "report": {"baseline": "bpr"},
    }
