"""``data.item_text`` -> item feature matrix: read the texts, embed them (cached), align to the data's items.

The result feeds the same path as ``data.item_features`` (model ``mf_features``: item vector = ID embedding
+ projection of the text embedding); the run keeps the aligned matrix, the texts and the encoder identity
in its split folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advrec.data.config import ItemTextConfig
from advrec.data.features import ItemFeatures, align_item_features
from advrec.data.interactions import IdMap
from advrec.data.text import ItemTexts, align_texts, read_ml100k_texts, read_text_file
from advrec.data.text_encoder import Embedded, TextEncoder, embed_texts

ENCODER_FILE = "item_text_encoder.json"


@dataclass(frozen=True)
class TextFeatures:
    matrix: np.ndarray  # float32 [n_items, d], aligned to the item map
    texts: list[str | None]  # the text of each item (None: no text, zero row with missing: zeros)
    embedded: Embedded


def read_item_texts(cfg: ItemTextConfig, data_root: str | Path | None) -> ItemTexts:
    from advrec.data.loading import resolve_path

    path = resolve_path(cfg.path, data_root, "data.item_text.path")
    if cfg.source == "ml100k":
        return read_ml100k_texts(path)
    return read_text_file(path, header=cfg.header)


def build_encoder(cfg: ItemTextConfig, device: str = "cpu") -> TextEncoder:
    return TextEncoder(model=cfg.model, device=device, batch_size=cfg.batch_size)


def load_text_features(
    cfg: ItemTextConfig,
    data_root: str | Path | None,
    item_map: IdMap,
    encoder: TextEncoder | None = None,
) -> TextFeatures:
    texts = read_item_texts(cfg, data_root)
    encoder = encoder or build_encoder(cfg)
    embedded = embed_texts(texts, encoder, cfg.cache_dir)
    features = ItemFeatures(texts.ids, embedded.matrix, texts.source)
    matrix = align_item_features(features, item_map, cfg.missing)
    return TextFeatures(matrix, align_texts(texts, item_map.raw), embedded)


def write_encoder_record(folder: str | Path, features: TextFeatures, model: str) -> None:
    from advrec.utils.files import atomic_write_json

    record = {
        "model": model,
        "identity": features.embedded.identity,
        "dim": int(features.matrix.shape[1]),
        "cached": features.embedded.cached,
        "encode_s": features.embedded.seconds,
    }
    atomic_write_json(Path(folder) / ENCODER_FILE, record)


def read_encoder_record(folder: str | Path) -> dict:
    from advrec.utils.files import read_json_object

    return read_json_object(Path(folder) / ENCODER_FILE)
