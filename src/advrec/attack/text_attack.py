"""Text-side attack probe: a seller rewrites target items' descriptions; how far do the items move?

For a run trained on item texts (``data.item_text``), the probe edits the texts of some target items,
re-embeds them with the run's own encoder, swaps those rows into the trained model's feature matrix (no
retraining: the seller edits a product page, the deployed model re-reads it) and measures the targets'
exposure to real users before and after, with the poisoning probe's metrics
(:mod:`advrec.measure.poisoning`: a target's rank among the items not in the user's training profile,
over the users who do not already have it; per-target means, then the mean over targets).

Edits (``kind``):

* ``promo``: append a fixed promotional phrase (:data:`PROMO_TEXT`);
* ``popular``: append the texts of the ``n_popular`` most popular training items (the copy-the-bestsellers
  trick: the target borrows their words, hence their embedding direction).

Targets: a band spec of :mod:`advrec.attack.targets` (``unpopular:K``, ``mid:K``, ``random:K``) drawn from
the run's ``attack`` seed stream (so the same items as ``advrec attack`` with that spec and seed), or ids.

``rank_gain`` is the mean over targets of the mean over eligible users of (rank before - rank after):
positive when the targets moved up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from advrec.attack.targets import select_targets
from advrec.errors import AdvrecError, ConfigError
from advrec.measure.poisoning import exposure_metrics, mean_shift, score_targets

PROMO_TEXT = "Best movie ever, a must watch masterpiece, five stars, everyone loves it."
KINDS = ("promo", "popular")
RESULTS_KEY = "text_attack"


def perturb_texts(
    kind: str, texts: list[str], targets: np.ndarray, item_counts: np.ndarray, n_popular: int = 3
) -> list[str]:
    """The new texts of ``targets`` (item indices into ``texts``), in the order of ``targets``."""
    if kind == "promo":
        return [f"{texts[t]} {PROMO_TEXT}" for t in targets.tolist()]
    if kind == "popular":
        # Stable order: most interactions first, ties by lower index, so the copied words are reproducible.
        order = np.lexsort((np.arange(len(item_counts)), -np.asarray(item_counts)))
        out = []
        for t in targets.tolist():
            donors = [int(i) for i in order if i != t][:n_popular]
            out.append(" ".join([texts[t], *(texts[i] for i in donors)]))
        return out
    raise ConfigError(f"--text-attack {kind!r}: expected one of {', '.join(KINDS)}")


def target_exposure(
    model, train, targets: np.ndarray, memory_budget_mb: float, device: str
) -> tuple[np.ndarray, np.ndarray]:
    """Ranks and scores [n_users, n_targets] of the targets for every training user."""
    scorer = model.scorer()
    return score_targets(
        lambda u: scorer(u.to(device)),
        np.arange(train.n_users),
        train.csr(),
        targets,
        train.n_items,
        memory_budget_mb,
    )


def swap_feature_rows(model, targets: np.ndarray, rows: np.ndarray):
    """Point the model's feature buffer at a copy with ``rows`` in place of ``targets``; return the
    original buffer (untouched) for the caller to restore."""
    original = model.item_features
    patched = original.clone()
    patched[torch.as_tensor(targets, dtype=torch.long)] = torch.as_tensor(rows, dtype=patched.dtype).to(
        patched.device
    )
    model.item_features = patched
    return original


def text_attack_run(
    run_dir: str | Path,
    kind: str = "promo",
    targets: str = "random:5",
    *,
    n_popular: int = 3,
    encoder=None,
    device: str | None = None,
) -> dict[str, Any]:
    """Probe a run trained on item texts; the entry goes to ``results.json['text_attack'][kind][targets]``
    (other entries kept).

    ``encoder``: a :class:`~advrec.data.text_encoder.TextEncoder` to use instead of the one the run's
    config names (tests); its identity must still match the one the run trained with.
    """
    from advrec.utils.files import read_json_object, update_json_object

    if kind not in KINDS:
        raise ConfigError(f"--text-attack {kind!r}: expected one of {', '.join(KINDS)}")
    run_dir = Path(run_dir)
    config, split, model, filled, chosen, encoder = load_text_run(run_dir, targets, encoder, device)
    train = split.train
    counts = np.bincount(train.items, minlength=train.n_items)
    new_texts = perturb_texts(kind, filled, chosen, counts, n_popular)
    original_texts = [filled[t] for t in chosen.tolist()]
    encoded = encoder.encode(original_texts + new_texts)
    reencoded, new_rows = encoded[: len(chosen)], encoded[len(chosen) :]
    stored = model.embedding_tables()["item_features"][torch.as_tensor(chosen)].cpu().numpy()
    budget = config.eval.memory_budget_mb
    with torch.inference_mode():
        before_ranks, before_scores = target_exposure(model, train, chosen, budget, config.device)
        original = swap_feature_rows(model, chosen, new_rows)
        try:
            after_ranks, after_scores = target_exposure(model, train, chosen, budget, config.device)
        finally:
            model.item_features = original
    eligible = np.asarray(train.csr()[:, chosen].todense()) == 0
    entry = {
        "targets": targets,
        "target_ids": [x.item() for x in train.item_map.raw[chosen]],
        "target_train_counts": counts[chosen].tolist(),
        "n_popular": n_popular if kind == "popular" else None,
        "encoder": encoder.identity,
        # Re-embedding the unedited texts should give back the trained rows; a large value means the
        # encoder (or its batching) no longer reproduces the training features.
        "reencode_max_abs_diff": float(np.abs(reencoded - stored).max()),
        "feature_shift": float(np.linalg.norm(new_rows - stored, axis=1).mean()),
        "before": exposure_metrics(before_ranks, eligible),
        "after": exposure_metrics(after_ranks, eligible),
        "rank_gain": mean_shift(after_ranks, before_ranks, eligible),
        "score_shift": mean_shift(before_scores, after_scores, eligible),
        "per_target": [
            {
                "item": train.item_map.raw[t].item(),
                "text_after": new,
                "eligible_users": int(eligible[:, j].sum()),
                "mean_rank_before": _mean_or_none(before_ranks[eligible[:, j], j]),
                "mean_rank_after": _mean_or_none(after_ranks[eligible[:, j], j]),
            }
            for j, (t, new) in enumerate(zip(chosen.tolist(), new_texts))
        ],
    }
    path = run_dir / "results.json"
    block = read_json_object(path).get(RESULTS_KEY, {})
    block.setdefault(kind, {})[targets] = entry
    update_json_object(path, {RESULTS_KEY: block})
    return entry


def load_text_run(run_dir: Path, targets: str, encoder=None, device: str | None = None):
    """A run trained on item texts, read back for a text-side probe: (config, split, model, the text of
    each item ("" where none), the chosen targets, the encoder), the encoder checked to be the one the run
    embedded its texts with and every target checked to have a text."""
    from advrec.data.text import align_texts, read_run_texts
    from advrec.data.text_features import build_encoder, read_encoder_record
    from advrec.runs.load import load_run
    from advrec.utils.seeding import numpy_rng

    config, split, model = load_run(run_dir, device)
    if config.data.item_text is None:
        raise AdvrecError(f"{run_dir}: the text attack needs a run trained on item texts (data.item_text)")
    folder = run_dir / "split"
    train = split.train
    texts = align_texts(read_run_texts(folder), train.item_map.raw)
    chosen = select_targets(targets, train, numpy_rng(config.seed, "attack"))
    no_text = [train.item_map.raw[t].item() for t in chosen.tolist() if texts[t] is None]
    if no_text:
        raise AdvrecError(f"target items {no_text} have no text in {folder}; choose other targets")
    encoder = encoder or build_encoder(config.data.item_text, config.device)
    trained_with = read_encoder_record(folder).get("identity")
    if encoder.identity != trained_with:
        raise AdvrecError(
            f"{run_dir}: the encoder {config.data.item_text.model!r} is now {encoder.identity}, but the run "
            f"was trained with {trained_with}; the probe must re-embed with the same model"
        )
    filled = [t if t is not None else "" for t in texts]
    return config, split, model, filled, chosen, encoder


def _mean_or_none(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None
