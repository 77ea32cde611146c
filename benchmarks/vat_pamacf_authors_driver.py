#!/usr/bin/env python3
"""Train the VAT / PamaCF authors' MF trainers (a checkout of Kaike-Zhang/VAT or Kaike-Zhang/PamaCF, given
by path) on a given train/valid/test split, and save the full score matrix.

Run by ``benchmarks/vat_pamacf_side_by_side.py`` as a child process; nothing of the authors' code comes
into advrec. The driver imports their ``utls.trainer`` from the checkout and changes only how data gets
in: their dataset reads ``data/NAME/data.txt`` and re-splits each user's rows 70/10/20 itself, so the
driver hands their trainer a subclass of their ``CFDataset`` holding the given split instead (same
fields: ``train_data``, ``val_data``, ``test_data``, ``n_users``, ``n_items``, ``n_train_num``; their
batch sampler, loss, optimiser, perturbation and schedule run unchanged). Training is their ``train``
loop without its validation (their default ``val_interval`` 100 exceeds their 30 epochs, so it never
validates): ``_train_epoch`` for epochs 1..n, then the final model's scores.

Usage::

    python vat_pamacf_authors_driver.py CHECKOUT SPLIT_DIR OUT_DIR --defense {none,APR,VAT,PamaCF} --seed S
        [--epochs 30] [--eps E] [--user-lmb 2] [--adv-reg 1] [--begin-adv 5]

Writes OUT_DIR/scores.npy ([users, items], rows/columns in the order of OUT_DIR/users.txt / items.txt,
raw ids) and OUT_DIR/driver.json (settings, seconds per epoch).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def read_split(folder: Path) -> dict[str, list[tuple[str, str]]]:
    parts = {}
    for part in ("train", "valid", "test"):
        rows = [line.split("\t")[:2] for line in (folder / f"{part}.tsv").read_text().splitlines() if line]
        parts[part] = [(u, i) for u, i in rows]
    return parts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkout")
    parser.add_argument("split_dir")
    parser.add_argument("out")
    parser.add_argument("--defense", choices=["none", "APR", "VAT", "PamaCF"], required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--eps", type=float)
    parser.add_argument("--user-lmb", type=float, default=2.0)
    parser.add_argument("--adv-reg", type=float, default=1.0)
    parser.add_argument("--begin-adv", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)

    sys.path.insert(0, str(Path(args.checkout).resolve()))
    from utls import trainer as authors  # the checkout's module
    from utls.mydataset import CFDataset
    from utls.utilize import set_seed

    parts = read_split(Path(args.split_dir))
    users = sorted({u for rows in parts.values() for u, _ in rows}, key=int)
    items = sorted({i for rows in parts.values() for _, i in rows}, key=int)
    uid = {u: k for k, u in enumerate(users)}
    iid = {i: k for k, i in enumerate(items)}

    class GivenSplit(CFDataset):
        """Their CFDataset's fields, filled from the given split instead of their own 70/10/20 one."""

        def __init__(self, path, config) -> None:  # noqa: ARG002 (their signature)
            self.config = config
            self.n_users, self.n_items = len(users), len(items)
            self.train_data, self.val_data, self.test_data = ([[] for _ in users] for _ in range(3))
            for part, target in (
                ("train", self.train_data),
                ("valid", self.val_data),
                ("test", self.test_data),
            ):
                for u, i in parts[part]:
                    target[uid[u]].append(iid[i])
            self.n_train_num = len(parts["train"])

    name = "MF" if args.defense == "none" else f"MF{args.defense}"
    base = getattr(authors, f"{name}Trainer")

    class Driven(base):
        def _create_dataset(self, path):
            self.dataset = GivenSplit(path, self.config)

    config = {
        "seed": args.seed,
        "model": "MF",
        "dataset": "given",
        "device": torch.device("cpu"),
        "use_gpu": False,
        "batch_size": 2048,
        "test_batch_size": 2048,
        "patience": 1000,
        "val_interval": 100,
        "lr": 1e-3,
        "weight_decay": 1e-4,
        "n_epochs": args.epochs,
        "top_k": [10, 20],
        "attack_top_k": [10, 20, 50],
        "with_fakes": False,
        "model_config": {"device": torch.device("cpu"), "dim": 64},
    }
    if args.defense != "none":
        config["defense_config"] = {
            "adv_reg": args.adv_reg,
            "eps": args.eps,
            "begin_adv": args.begin_adv,
            "user_lmb": args.user_lmb,
        }
    set_seed(args.seed)
    trainer = Driven(config)
    seconds = []
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # their per-epoch line
            trainer._train_epoch(epoch)
        seconds.append(time.perf_counter() - start)
        print(f"epoch {epoch}: {seconds[-1]:.2f} s", flush=True)
    trainer.model.eval()
    with torch.no_grad():
        scores = trainer.model.predict(list(range(len(users)))).numpy()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "scores.npy", scores)
    (out / "users.txt").write_text("\n".join(users) + "\n")
    (out / "items.txt").write_text("\n".join(items) + "\n")
    settings = {k: v for k, v in vars(args).items()}
    (out / "driver.json").write_text(json.dumps({"settings": settings, "epoch_s": seconds}, indent=1))


if __name__ == "__main__":
    main()
