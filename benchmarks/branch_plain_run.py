"""Continue a finished plain run as the APR run of the same seed, without re-training the plain phase.

Not a test: ``python benchmarks/branch_plain_run.py PLAIN_RUN CONFIG OUT [--set KEY=VALUE ...]``.

An APR config with ``adversary.start_after_plateau: N`` trains exactly the plain model until valid
``eval.select_metric`` has not improved for N evaluations, then switches the adversary on. A plain run of the
same config without the adversary and with ``train.patience: N`` stops at that very epoch, with the same
model, optimizer and sampler state (bit for bit: the adversary draws nothing before it starts). So the APR
run can start from the plain run's ``last.pt``: this script checks that the two configs differ only in
``adversary`` and in ``train.patience`` / ``train.epochs``, that the plain run stopped by patience
N (not by its epoch cap), writes OUT as the APR run would look on the epoch it switches on (split, log,
config, ``last.pt`` with the hook's state and a fresh selection state: plain epochs are never candidates),
and resumes it with ``train_run(..., resume=True)``. It saves the plain phase in every sweep of APR settings
over the same seeds (for LightGCN: ~250 epochs a run). ``--check-epochs K`` stops after K adversarial epochs
(a check against a full run's log; see docs/notes/2026-11-robustness-mf.md).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

import yaml

from advrec.runs.config import RunConfig, dump_config, load_config, parse_config
from advrec.runs.train import train_run
from advrec.train.adversaries.registry import ADVERSARIES
from advrec.train.checkpoint import load_checkpoint, save_checkpoint
from advrec.utils.files import atomic_write_text
from advrec.utils.seeding import torch_generator


def _as_plain(config: RunConfig, plain: RunConfig) -> RunConfig:
    """``config`` with the plain run's adversary (none), patience, epoch cap and threads."""
    train = config.train.model_copy(update={"patience": plain.train.patience, "epochs": plain.train.epochs})
    update = {"adversary": ADVERSARIES.default_config(), "train": train, "threads": plain.threads}
    return config.model_copy(update=update)


def branch(plain_dir: Path, config: RunConfig, out: Path) -> None:
    """Write OUT as ``config``'s run on the epoch its adversary switches on (see the module docstring)."""
    saved = plain_dir / "config.yaml"
    plain = parse_config(yaml.safe_load(saved.read_text(encoding="utf-8")), str(saved))
    adv = config.adversary
    if adv.name != "apr" or adv.start_after_plateau < 1:
        sys.exit("CONFIG must be an apr config with adversary.start_after_plateau >= 1")
    if plain.adversary.name != "none" or _as_plain(config, plain) != plain:
        sys.exit(f"{saved} is not CONFIG without its adversary (only train.patience/epochs may differ)")
    ckpt = load_checkpoint(plain_dir / "checkpoints" / "last.pt")
    state = ckpt["trainer"]
    stopped_by_patience = state["bad_epochs"] >= plain.train.patience and state["epoch"] < plain.train.epochs
    if plain.train.patience != adv.start_after_plateau or not stopped_by_patience:
        sys.exit(
            f"{plain_dir} must have stopped by patience {adv.start_after_plateau} (= start_after_plateau); "
            f"patience {plain.train.patience}, {state['bad_epochs']} bad evaluations "
            f"at epoch {state['epoch']}"
        )
    if config.train.eval_every != 1 or adv.start_epoch != 0:
        sys.exit("branching needs train.eval_every 1 and adversary.start_epoch 0")
    if out.exists():
        sys.exit(f"{out} exists; choose another OUT")
    out.mkdir(parents=True)
    shutil.copytree(plain_dir / "split", out / "split")
    log = [json.loads(x) for x in (plain_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    log[-1]["adv_starts_at"] = state["epoch"]  # what the APR hook writes on its switching epoch
    atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(x) + "\n" for x in log))
    atomic_write_text(out / "config.yaml", dump_config(config))
    hook = {
        "epoch": state["epoch"] - 1,
        "generator": torch_generator(config.seed, "adversary").get_state(),  # unused before the start
        "started_at": state["epoch"],
        "plain_best": state["best"],
        "plain_bad": state["bad_epochs"],
    }
    fresh = {"epoch": state["epoch"], "best": -math.inf, "best_epoch": -1, "bad_epochs": 0, "best_valid": {}}
    save_checkpoint(out / "checkpoints" / "last.pt", {**ckpt, "hooks": [hook], "trainer": fresh})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("plain_run")
    parser.add_argument("config")
    parser.add_argument("out")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--check-epochs", type=int, help="stop after this many adversarial epochs")
    args = parser.parse_args()
    config = load_config(args.config, args.overrides)
    branch(Path(args.plain_run), config, Path(args.out))
    if args.check_epochs:
        start = load_checkpoint(Path(args.out) / "checkpoints" / "last.pt")["trainer"]["epoch"]
        train = config.train.model_copy(update={"epochs": start + args.check_epochs})
        config = config.model_copy(update={"train": train})
        atomic_write_text(Path(args.out) / "config.yaml", dump_config(config))
    results = train_run(config, args.out, resume=True, show_progress=False)
    print(f"{args.out}: test ndcg@10 {results['test']['ndcg@10']:.4f}, best epoch {results['best_epoch']}")


if __name__ == "__main__":
    main()
