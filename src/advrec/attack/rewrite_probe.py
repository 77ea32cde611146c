"""Text-rewriting probe of a text-based sequential model (``unisrec``): how far do target items move when a
seller rewrites their texts within a semantic budget, against the fixed-phrase edits of the text attack?

For each target item, the word-substitution search (:mod:`advrec.attack.text_rewrite`) rewrites its text
to raise the target's log-likelihood as the next item of the real users who have not seen it (their
test histories: train + valid), within ``RewriteBudget``; the phrase edits of
:mod:`advrec.attack.text_attack` (``promo``, ``popular``) are the baselines. Every method's new texts are
re-embedded by the run's own encoder and swapped into the trained model's text table (no retraining:
the deployed model re-reads the page), and the targets' exposure to real users is measured before and
after with the poisoning metrics (:mod:`advrec.measure.poisoning`: rank among the items outside the
user's history, over the users without the target; per-target means, then the mean over targets), with
the similarity each method reached and its word edits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advrec.attack.text_attack import load_text_run, perturb_texts
from advrec.attack.text_rewrite import (
    Objective,
    RewriteBudget,
    cosine,
    rewrite_text,
    vocabulary,
    word_edits,
)
from advrec.errors import AdvrecError
from advrec.measure.poisoning import exposure_metrics, mean_shift, score_targets

RESULTS_KEY = "text_rewrite"
BASELINES = ("promo", "popular")


def next_item_objective(model, states: torch.Tensor, others_lse: torch.Tensor, target: int) -> Objective:
    """Text embeddings [C, d] -> the mean over users of the target's log-probability as their next item
    (softmax over the target and the other items outside their history, whose scores give ``others_lse``
    [U], the log-sum-exp of them per user), were the target's text embedding each row."""
    ids = torch.tensor([target + 1]) if model.with_ids else None

    def objective(rows: torch.Tensor) -> torch.Tensor:
        idx = None if ids is None else ids.expand(len(rows))
        vectors = model.scored_vectors(model.text_item_vectors(rows, idx))
        scores = states @ vectors.T  # [U, C]
        return (scores - torch.logaddexp(others_lse.unsqueeze(1), scores)).mean(0)

    return objective


def rewrite_probe_run(
    run_dir: str | Path,
    targets: str = "mid:5",
    budget: RewriteBudget | None = None,
    *,
    n_popular: int = 3,
    encoder=None,
    device: str | None = None,
) -> dict[str, Any]:
    """Rewrite the targets' texts and measure every method; the entry goes to
    ``results.json['text_rewrite'][targets]`` (other entries kept). ``encoder``: as in
    :func:`advrec.attack.text_attack.text_attack_run`."""
    from advrec.measure.sequential import SequentialProtocol
    from advrec.models.unisrec import UniSRec
    from advrec.runs.setup import build_protocol
    from advrec.utils.files import read_json_object, update_json_object

    budget = budget or RewriteBudget()
    run_dir = Path(run_dir)
    config, split, model, texts, chosen, encoder = load_text_run(run_dir, targets, encoder, device)
    if not isinstance(model, UniSRec):
        raise AdvrecError(
            f"{run_dir}: the rewrite probe scores text-based sequential models (model.name unisrec); "
            f"this run's model is {config.model.name!r} (its text probe: --text-attack promo|popular)"
        )
    train = split.train
    protocol = build_protocol(config, split)
    assert isinstance(protocol, SequentialProtocol)  # a UniSRec run's protocol
    seen = protocol.seen_at_test.tocsc()
    eligible = np.asarray(seen[:, chosen].todense()) == 0  # users whose history lacks the target
    originals = [texts[t] for t in chosen.tolist()]
    original_rows = encoder.encode(originals)
    vocab = vocabulary([t for t in texts if t])
    vocab_rows = encoder.encode(vocab)

    with torch.no_grad():
        states = model.hidden(protocol.test_histories)[:, -1]
        item_scores = states @ model.output_items()[1:].T  # [U, n_items]
        outside = torch.from_numpy(np.asarray(protocol.seen_at_test.todense()) == 0).to(item_scores.device)
    rewrites = []
    for j, target in enumerate(chosen.tolist()):
        users = torch.from_numpy(eligible[:, j])
        others = item_scores[users].masked_fill(~outside[users], float("-inf"))
        others[:, target] = float("-inf")
        objective = next_item_objective(model, states[users], torch.logsumexp(others, dim=1), target)
        rewrites.append(rewrite_text(originals[j], vocab, vocab_rows, encoder.encode, objective, budget))

    counts = np.bincount(train.items, minlength=train.n_items)
    methods = {"rewrite": [r.text for r in rewrites]}
    methods.update({kind: perturb_texts(kind, texts, chosen, counts, n_popular) for kind in BASELINES})

    def exposure() -> tuple[np.ndarray, np.ndarray]:
        return score_targets(
            protocol.test_scorer(model),
            np.arange(train.n_users),
            protocol.seen_at_test,
            chosen,
            train.n_items,
            config.eval.memory_budget_mb,
        )

    before_ranks, _ = exposure()
    before = exposure_metrics(before_ranks, eligible)
    stored = model.item_text[torch.as_tensor(chosen + 1)].cpu().numpy()
    entry: dict[str, Any] = {
        "targets": targets,
        "target_ids": [x.item() for x in train.item_map.raw[chosen]],
        "target_train_counts": counts[chosen].tolist(),
        "budget": budget.model_dump(),
        "encoder": encoder.identity,
        "reencode_max_abs_diff": float(np.abs(original_rows - stored).max()),
        "original_texts": originals,
        "before": before,
        "methods": {},
    }
    for name, new_texts in methods.items():
        rows = encoder.encode(new_texts)
        with swapped_texts(model, chosen, rows):
            after_ranks, _ = exposure()
        after = exposure_metrics(after_ranks, eligible)
        similarity = np.array([cosine(r[None], o)[0] for r, o in zip(rows, original_rows)])
        entry["methods"][name] = {
            "after": after,
            "gain": {key: after[key] - before[key] for key in after},
            "rank_gain": mean_shift(after_ranks, before_ranks, eligible),
            "similarity_mean": float(similarity.mean()),
            "similarity_min": float(similarity.min()),
            "word_edits": [word_edits(o.split(), n.split()) for o, n in zip(originals, new_texts)],
            "texts": new_texts,
        }
    path = run_dir / "results.json"
    block = read_json_object(path).get(RESULTS_KEY, {})
    block[targets] = entry
    update_json_object(path, {RESULTS_KEY: block})
    return entry


@contextmanager
def swapped_texts(model, targets: np.ndarray, rows: np.ndarray) -> Iterator[None]:
    """Within the block, the model's text rows of ``targets`` are ``rows`` (the table is restored after)."""
    original = model.item_text
    patched = original.clone()
    index = torch.as_tensor(targets + 1, dtype=torch.long)  # row 0 is padding
    patched[index] = torch.as_tensor(rows, dtype=patched.dtype).to(patched.device)
    model.item_text = patched
    try:
        yield
    finally:
        model.item_text = original
