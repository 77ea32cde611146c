"""Rewriting a target item's text, word by word, under a semantic budget (in the spirit of ATR, Oh et al.
2024, and TextFooler, Jin et al. 2020): the seller edits the product page, the deployed text-based model
re-reads it, and the item moves up in real users' rankings.

The budget (``RewriteBudget``) bounds what a moderator would notice: at most ``max_edits`` word edits
(substitutions, insertions and deletions, counted as the word-level edit distance to the original) and a
cosine similarity of at least ``min_similarity`` between the rewritten and the original text in the
encoder's own embedding space.

The search (``rewrite_text``) is greedy and score-guided. Each round it

1. ranks a vocabulary of words by the gradient of the attacker's objective at the current text
   embedding: the words whose own embedding points where the objective rises (first order: moving the
   text embedding t towards a word's embedding e_w changes the objective by about g·(e_w - t));
2. tries every single-word edit of the current text with the ``n_words`` best of them (substitute any
   word, insert at any place), encodes all the candidates in one batch, drops those outside the budget;
3. keeps the candidate that raises the objective most, and stops when none raises it or the edit budget
   is spent.

The objective is the model's own: a callable from text embeddings [C, d] to one value per candidate
(``advrec.attack.rewrite_probe``: the target's mean log-likelihood as the next item of the real
users who have not seen it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from pydantic import Field

from advrec.config.base import Strict

Encode = Callable[[list[str]], np.ndarray]  # texts -> [len, d] embeddings
Objective = Callable[[torch.Tensor], torch.Tensor]  # [C, d] text embeddings -> [C] values (higher: better)

_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]*")


class RewriteBudget(Strict):
    """What a rewritten text may change: word edits and semantic drift."""

    max_edits: int = Field(3, ge=1, description="word edits (substitutions, insertions, deletions) at most")
    min_similarity: float = Field(
        0.8,
        gt=-1,
        le=1,
        description="cosine similarity to the original text, in the encoder's space, at least",
    )
    n_words: int = Field(
        20, ge=1, description="vocabulary words tried per round (those the objective's gradient favours)"
    )


@dataclass(frozen=True)
class Rewrite:
    text: str
    similarity: float  # cosine to the original, encoder space
    edits: int  # word edit distance to the original
    objective: float
    trace: list[float] = field(
        default_factory=list
    )  # the objective after each accepted edit (first: original)


def word_edits(a: list[str], b: list[str]) -> int:
    """Word-level Levenshtein distance (substitution, insertion, deletion each cost 1)."""
    previous = list(range(len(b) + 1))
    for i, word in enumerate(a, start=1):
        current = [i]
        for j, other in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other)))
        previous = current
    return previous[-1]


def vocabulary(texts: list[str]) -> list[str]:
    """The distinct words of ``texts`` (letters, apostrophes, hyphens), lower-cased, sorted."""
    return sorted({w.lower() for t in texts for w in _WORD_RE.findall(t)})


def single_edits(tokens: list[str], words: list[str]) -> list[list[str]]:
    """Every text one edit away using ``words``: each word substituted, each word inserted at each place."""
    out = []
    for w in words:
        out += [tokens[:i] + [w] + tokens[i + 1 :] for i in range(len(tokens)) if tokens[i] != w]
        out += [tokens[:i] + [w] + tokens[i:] for i in range(len(tokens) + 1)]
    return out


def cosine(rows: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1) * np.linalg.norm(anchor)
    return (rows @ anchor) / np.maximum(norms, 1e-12)


def guided_words(
    objective: Objective, current: np.ndarray, vocab: list[str], vocab_rows: np.ndarray, n: int
) -> list[str]:
    """The ``n`` words whose embedding the objective's gradient at ``current`` favours most."""
    point = torch.as_tensor(current, dtype=torch.float32).unsqueeze(0).requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(objective(point).sum(), point)
    gain = vocab_rows @ grad[0].detach().cpu().numpy()
    order = np.argsort(-gain, kind="stable")[:n]
    return [vocab[i] for i in order]


def rewrite_text(
    text: str,
    vocab: list[str],
    vocab_rows: np.ndarray,
    encode: Encode,
    objective: Objective,
    budget: RewriteBudget,
) -> Rewrite:
    """The best rewrite the greedy search finds within ``budget`` (``text`` itself when no edit helps).
    ``vocab_rows``: the encoder's embedding of each vocabulary word, [len(vocab), d]."""
    original_tokens = text.split()
    original = encode([text])[0]

    def value(rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return objective(torch.as_tensor(rows, dtype=torch.float32)).cpu().numpy()

    tokens, embedding = original_tokens, original
    best = float(value(original[None])[0])
    trace = [best]
    while word_edits(original_tokens, tokens) < budget.max_edits:
        words = guided_words(objective, embedding, vocab, vocab_rows, budget.n_words)
        candidates = [
            c for c in single_edits(tokens, words) if word_edits(original_tokens, c) <= budget.max_edits
        ]
        unique = list(dict.fromkeys(" ".join(c) for c in candidates))
        if not unique:
            break
        rows = encode(unique)
        within = np.flatnonzero(cosine(rows, original) >= budget.min_similarity)
        if len(within) == 0:
            break
        values = value(rows[within])
        pick = int(np.argmax(values))
        if values[pick] <= best:
            break
        best = float(values[pick])
        tokens, embedding = unique[within[pick]].split(), rows[within[pick]]
        trace.append(best)
    return Rewrite(
        " ".join(tokens),
        float(cosine(embedding[None], original)[0]),
        word_edits(original_tokens, tokens),
        best,
        trace,
    )
