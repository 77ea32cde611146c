"""Items held out of training on MovieLens-100K: can a text-only (inductive) UniSRec-style model rank items
no training sequence holds, where SASRec has only an untrained embedding for them?

Not a test. Run (project venv, ``pip install -e '.[text]'``)::

    python benchmarks/unisrec_held_out_items.py --data-root ../shared/data --out /tmp/held-out --seed 2020

The split is RecBole's leave-one-out split of MovieLens-100K (``ml-100k-loo-split``) with a share
(``--share``, default 10%) of the catalogue held out of training: items drawn uniformly (seeded by
``--seed``) among those that are some user's test item, all their TRAIN rows dropped (valid and test are
untouched; a user's test history still holds a held-out item if it is the user's valid item). The derived
split is written under ``--out``. Each model (``--models``: sasrec, the 20-epoch plain recipe of
``examples/sequential/ml100k_worst_case_sasrec_20ep.yaml``; unisrec_text and unisrec_idtext,
``examples/text_sequential/ml100k_unisrec.yaml`` with ``model.items`` text / id_text; unisrec_text_trained,
text only with ``model.train_softmax: trained``, which leaves the held-out items out of the training
softmax instead of training against them) is trained on it
and its test NDCG@10 / Hit@10 reported for the users whose test item is held out ("held-out") and for
the others ("seen"), with the full ranking of the run's protocol. Finished runs under ``--out`` are reused.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "sasrec": (
        ROOT / "examples/sequential/ml100k_worst_case_sasrec_20ep.yaml",
        {"adversary": {"name": "none"}},
    ),
    "unisrec_text": (ROOT / "examples/text_sequential/ml100k_unisrec.yaml", {"model": {"items": "text"}}),
    "unisrec_idtext": (
        ROOT / "examples/text_sequential/ml100k_unisrec.yaml",
        {"model": {"items": "id_text"}},
    ),
    "unisrec_text_trained": (
        ROOT / "examples/text_sequential/ml100k_unisrec.yaml",
        {"model": {"items": "text", "train_softmax": "trained"}},
    ),
}


def held_out_split(source: Path, folder: Path, share: float, seed: int) -> np.ndarray:
    """Write ``train.tsv`` without the held-out items' rows, ``valid.tsv`` and ``test.tsv`` as they are;
    return the held-out item ids."""
    tables = {
        name: np.loadtxt(source / f"{name}.tsv", dtype=np.int64, ndmin=2)
        for name in ("train", "valid", "test")
    }
    n_items = len(np.unique(np.concatenate([t[:, 1] for t in tables.values()])))
    candidates = np.unique(tables["test"][:, 1])
    rng = np.random.default_rng(seed)
    held = np.sort(rng.choice(candidates, size=int(round(share * n_items)), replace=False))
    folder.mkdir(parents=True, exist_ok=True)
    keep = ~np.isin(tables["train"][:, 1], held)
    for name, rows in (
        ("train", tables["train"][keep]),
        ("valid", tables["valid"]),
        ("test", tables["test"]),
    ):
        np.savetxt(folder / f"{name}.tsv", rows, fmt="%d", delimiter="\t")
    (folder / "held_out_items.txt").write_text("".join(f"{i}\n" for i in held.tolist()))
    return held


def run(name: str, split_dir: Path, out: Path, seed: int, data_root: str) -> Path:
    from advrec.runs.config import apply_overrides, parse_config, read_run_config
    from advrec.runs.train import train_run

    path, over = MODELS[name]
    raw = apply_overrides(
        read_run_config(path), {**over, "seed": seed, "threads": 1, "data": {"path": str(split_dir)}}
    )
    folder = out / f"{name}_{seed}"
    if not (folder / "results.json").exists() or "test" not in json.loads(
        (folder / "results.json").read_text()
    ):
        train_run(
            parse_config(raw),
            folder,
            data_root=data_root,
            resume=(folder / "checkpoints" / "last.pt").exists(),
        )
    return folder


def per_user_ndcg(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(per-user test NDCG@10, Hit@10, raw id of each user's test item), for the users with a test item."""
    import torch

    from advrec.runs.load import load_run
    from advrec.runs.setup import build_protocol

    config, split, model = load_run(folder)
    with torch.inference_mode():
        metrics = build_protocol(config, split).test_metrics(model, per_user=True)
    per_user = metrics["per_user"]
    users = np.asarray(metrics["users"])
    test = split.test.csr()
    items = split.train.item_map.raw[np.asarray(test[users].argmax(axis=1)).ravel()]
    return np.asarray(per_user["ndcg@10"]), np.asarray(per_user["hit@10"]), items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--share", type=float, default=0.1)
    parser.add_argument("--models", default="sasrec,unisrec_text,unisrec_text_trained")
    args = parser.parse_args()
    out = Path(args.out)
    split_dir = out / f"split_{args.seed}"
    held = held_out_split(Path(args.data_root) / "ml-100k-loo-split", split_dir, args.share, args.seed)
    print(f"held out of training: {len(held)} items; split in {split_dir}")
    for name in args.models.split(","):
        folder = run(name, split_dir, out, args.seed, args.data_root)
        ndcg, hit, items = per_user_ndcg(folder)
        cold = np.isin(items, held)
        print(
            f"{name:16} held-out users {int(cold.sum()):4d}: NDCG@10 {ndcg[cold].mean():.4f} Hit@10 "
            f"{hit[cold].mean():.4f} | seen {int((~cold).sum())}: NDCG@10 {ndcg[~cold].mean():.4f} "
            f"Hit@10 {hit[~cold].mean():.4f} | all {ndcg.mean():.4f}"
        )


if __name__ == "__main__":
    main()
