"""Detecting fake sequences by what the item texts say: the ``text-filter`` defence.

In the spirit of LoRec (Zhang et al., SIGIR 2024), where a language model's knowledge of the items tells
genuine sequences from injected ones: a real user's consecutive items are related in meaning (the next
movie often shares genres, era or series with the last), while heuristic fake sequences (random, popular
or target-interleaved fillers) are drawn without regard to it. A user's coherence is the mean cosine, in
the sentence encoder's space, between the text embeddings of consecutive items of the user's TRAIN
sequence (time order, ties in row order); with ``score: order``, that mean minus the mean cosine over
all pairs of the user's items (how much closer neighbours are than any two of the user's items: a
user's breadth of taste cancels out, and a sequence whose order means nothing scores about 0, one that
repeats an item far apart below it). The ``expected_fakes`` lowest-scoring users (the attack's ``--size``,
as the other filters assume) are flagged, their rows dropped, and the victim retrained.

Unlike LoRec it trains no calibrator and does not reweight users inside training: the text embeddings'
coherence is the whole score. Users with fewer than two training rows have no consecutive pair and are
never flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from advrec.data.config import ItemTextConfig
from advrec.data.interactions import Interactions
from advrec.data.sequences import user_sequences
from advrec.defend.base import Detector, expected_fakes
from advrec.defend.defences import DEFENCES, Defence, DefenceConfig
from advrec.errors import ConfigError


def sequence_coherence(
    train: Interactions, item_vectors: np.ndarray, score: Literal["consecutive", "order"] = "consecutive"
) -> np.ndarray:
    """Each user's mean cosine between consecutive items' vectors, minus the mean over all pairs of the
    user's items with ``score="order"`` ([n_users]; NaN below two rows). ``item_vectors``: [n_items, d],
    row i = item index i (a zero row, e.g. an item without a text, has cosine 0 with everything)."""
    norms = np.linalg.norm(item_vectors, axis=1, keepdims=True)
    unit = np.divide(item_vectors, norms, out=np.zeros_like(item_vectors), where=norms > 0)
    seqs = user_sequences(train)
    owner = np.repeat(np.arange(seqs.n_users), seqs.lengths())
    pair = owner[:-1] == owner[1:]  # position p and p + 1 belong to the same user
    cosines = np.einsum("pd,pd->p", unit[seqs.items[:-1][pair]], unit[seqs.items[1:][pair]])
    totals = np.bincount(owner[:-1][pair], weights=cosines, minlength=seqs.n_users)
    lengths = seqs.lengths().astype(np.float64)
    counts = np.maximum(lengths - 1, 0)
    coherence = np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)
    if score == "order":  # mean over ordered pairs i != j: (|sum of unit vectors|^2 - n) / (n (n - 1))
        sums = np.zeros((seqs.n_users, unit.shape[1]))
        np.add.at(sums, owner, unit[seqs.items])
        own = np.bincount(owner, weights=(norms[seqs.items, 0] > 0), minlength=seqs.n_users)  # i = j terms
        pairs = np.einsum("ud,ud->u", sums, sums) - own
        coherence = coherence - pairs / np.maximum(lengths * counts, 1)
    return coherence


def least_coherent(coherence: np.ndarray, n_flag: int) -> np.ndarray:
    """A mask flagging the ``n_flag`` lowest coherences (NaN never; ties in user order)."""
    order = np.argsort(np.where(np.isnan(coherence), np.inf, coherence), kind="stable")
    flags = np.zeros(len(coherence), dtype=bool)
    flags[order[: min(n_flag, int((~np.isnan(coherence)).sum()))]] = True
    return flags


@dataclass(frozen=True)
class TextCoherenceFilter:
    """A defence detector: the ``expected_fakes`` users whose sequences are least coherent in the item
    texts' embedding space (texts read and embedded, from the cache when there, at detection time)."""

    size: float
    item_text: ItemTextConfig
    score: Literal["consecutive", "order"] = "consecutive"
    name: str = "text-coherence"

    def __call__(self, train: Interactions) -> np.ndarray:
        from advrec.data.text_features import load_text_features

        features = load_text_features(self.item_text, None, train.item_map)
        coherence = sequence_coherence(train, features.matrix, self.score)
        return least_coherent(coherence, expected_fakes(train.n_users, self.size))


class TextFilterDefence(DefenceConfig):
    """Flag the users whose training sequences are least coherent in the item texts' embedding space,
    drop their rows, retrain."""

    name: Literal["text-filter"] = "text-filter"
    item_text: ItemTextConfig | None = Field(
        None,
        description="the item texts and their encoder, as data.item_text (a relative path resolves "
        "against the working directory); required",
    )
    score: Literal["consecutive", "order"] = Field(
        "consecutive",
        description="consecutive: mean cosine of consecutive items' text embeddings; order: that minus "
        "the mean over all pairs of the user's items",
    )


def _build(cfg: TextFilterDefence, size: float, seed: int, detector: Detector | None) -> Defence:
    if detector is not None:
        return Defence("text-filter", detector=detector)
    if cfg.item_text is None:
        raise ConfigError(
            "defence.item_text: the text-filter defence needs the item texts, e.g. --defence-set "
            "item_text.source=ml100k --defence-set item_text.path=DATA/ml-100k/u.item"
        )
    expected_fakes(1, size)  # a bad size fails when the defence is built, not after training
    return Defence("text-filter", detector=TextCoherenceFilter(size, cfg.item_text, cfg.score))


DEFENCES.register(TextFilterDefence)(_build)
