"""benchmarks/text_ml100k.py's variants: names, the configs they load, and the paired-test table."""

from pathlib import Path

import pytest

from advrec.runs.config import load_config


@pytest.fixture(scope="module")
def bench(load_bench):
    return load_bench("text_ml100k")


def test_variants_are_named_by_their_overrides_and_load_the_right_models(bench):
    variants = bench._variants(
        [0.1, 0.3],
        [["model.id_dropout=0.5"], ["model.id_dropout=0.5", "model.id_min_count=10"]],
        ["model.id_min_count=10"],
    )
    assert list(variants) == [
        "mf",
        "text",
        "text id_dropout=0.5",
        "text id_dropout=0.5 id_min_count=10",
        "amr eps=0.1 id_min_count=10",
        "amr eps=0.3 id_min_count=10",
    ]
    models = {}
    for name, (path, overrides) in variants.items():
        config = load_config(path, overrides)
        model = config.model
        models[name] = (model.name, getattr(model, "id_dropout", 0.0), getattr(model, "id_min_count", 0))
        assert (config.adversary is not None and config.adversary.name != "none") == name.startswith("amr")
    assert models["mf"] == ("mf", 0.0, 0)
    # "text" is the plain text model even though the example now defaults to id_min_count 10
    assert models["text"] == ("mf_features", 0.0, 0)
    assert load_config(bench.CONFIGS["text"]).model.id_min_count == 10
    assert models["text id_dropout=0.5 id_min_count=10"] == ("mf_features", 0.5, 10)
    assert models["amr eps=0.3 id_min_count=10"] == ("mf_features", 0.0, 10)
    assert load_config(*variants["amr eps=0.3 id_min_count=10"]).adversary.eps == 0.3
    assert bench._folder(Path("/o"), "amr eps=0.1 id_min_count=10", 7) == Path(
        "/o/amr_eps0.1_id_min_count10/seed7"
    )


def test_paired_table_lists_each_seed_against_mf(bench):
    paired = {
        "n_users": 3,
        "ndcg@10 diff": 0.0032,
        "ndcg@10 t p": 0.0463,
        "ndcg@10 wilcoxon p": 0.0257,
        "recall@50 diff": -0.008,
        "recall@50 t p": 0.35,
        "recall@50 wilcoxon p": 0.34,
    }
    table = {"mf": [{"seed": 1}], "text": [{"seed": 1, "paired": paired}, {"seed": 2}]}
    lines = bench._paired_table(table)
    assert lines[2:] == ["| text | 1 | 3 | +0.0032 | 0.046 | 0.026 | -0.0080 | 0.350 | 0.340 |"]
