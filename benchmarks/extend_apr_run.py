"""Continue an early-stopped APR run as the run of the same config with ``adversary.min_adv_epochs: K``.

Not a test: ``python benchmarks/extend_apr_run.py RUN OUT K EPOCHS PATIENCE``.

Selection never changes training, and with ``min_adv_epochs: K`` no epoch before ``started_at + K`` is a
candidate or counts for early stopping. So if RUN stopped (by patience) at an epoch no later than
``started_at + K``, the K-run is, up to there, the same training with a fresh selection state: OUT gets
RUN's split and log, the config with ``min_adv_epochs: K``, ``train.epochs: EPOCHS``, ``train.patience:
PATIENCE`` and RUN's ``last.pt`` with that fresh state, and training resumes from there. It saves re-running
the plain and the first adversarial epochs (docs/notes/2026-11-robustness-mf.md).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from pathlib import Path

import yaml

from advrec.runs.config import dump_config, parse_config
from advrec.runs.train import train_run
from advrec.train.checkpoint import load_checkpoint, save_checkpoint
from advrec.utils.files import atomic_write_text


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run")
    parser.add_argument("out")
    parser.add_argument("k", type=int)
    parser.add_argument("epochs", type=int)
    parser.add_argument("patience", type=int)
    args = parser.parse_args()
    src, out = Path(args.run), Path(args.out)
    config = parse_config(yaml.safe_load((src / "config.yaml").read_text(encoding="utf-8")))
    ckpt = load_checkpoint(src / "checkpoints" / "last.pt")
    (hook,) = ckpt["hooks"]
    stop = ckpt["trainer"]["epoch"]
    if config.adversary.name != "apr" or hook["started_at"] is None:
        sys.exit(f"{src} is not an APR run whose adversary has started")
    if hook["started_at"] + args.k < stop:
        sys.exit(f"K too small: the run stopped at {stop} > started_at {hook['started_at']} + K {args.k}")
    if out.exists():
        sys.exit(f"{out} exists; choose another OUT")
    adv = config.adversary.model_copy(update={"min_adv_epochs": args.k})
    train = config.train.model_copy(update={"epochs": args.epochs, "patience": args.patience})
    config = config.model_copy(update={"adversary": adv, "train": train})
    out.mkdir(parents=True)
    shutil.copytree(src / "split", out / "split")
    shutil.copy(src / "metrics.jsonl", out / "metrics.jsonl")
    atomic_write_text(out / "config.yaml", dump_config(config))
    fresh = {"epoch": stop, "best": -math.inf, "best_epoch": -1, "bad_epochs": 0, "best_valid": {}}
    save_checkpoint(out / "checkpoints" / "last.pt", {**ckpt, "trainer": fresh})
    results = train_run(config, out, resume=True, show_progress=False)
    print(f"{out}: test ndcg@10 {results['test']['ndcg@10']:.4f}, best epoch {results['best_epoch']}")


if __name__ == "__main__":
    main()
