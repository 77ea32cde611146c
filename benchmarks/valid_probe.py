"""The robustness probe on the VALIDATION split: for tuning adversarial training without touching test.

Not a test: ``python benchmarks/valid_probe.py RUN_DIR [RUN_DIR ...] --eps 0.5``.
For each run folder it loads the best model (or ``--checkpoint last`` or a checkpoint file; the latter
two for models without item features) and probes it as ``advrec evaluate RUN --attack fgsm`` does
(gradient of the run's objective over all training interactions, every user and item row moved to norm
ε, same seed), but ranks the VALID items past the training items, so that settings can be chosen on
valid NDCG@10 and its drop without looking at test.
Prints one line per run: best epoch, valid NDCG@10 clean, its relative drop per ε under the attack and
under the same-norm random control. ``--json PATH`` also writes the figures (atomically).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import yaml

from advrec.data.split import load_saved_split
from advrec.measure.protocol import Protocol
from advrec.measure.robustness import robustness_probe
from advrec.models.registry import build_model
from advrec.objectives.pairwise import build_objective
from advrec.runs.config import parse_config
from advrec.runs.load import load_run
from advrec.train.checkpoint import load_checkpoint
from advrec.utils.files import atomic_write_json, read_json_object
from advrec.utils.seeding import torch_generator


def valid_protocol(protocol: Protocol) -> Protocol:
    """The run's protocol with the valid split in the place of test: truth = valid, seen = train."""
    return dataclasses.replace(protocol, test=protocol.valid, seen_at_test=protocol.train)


def _load(run_dir: Path, checkpoint: str):
    """The run's config, split and model with the weights of ``checkpoint`` (best, last or a file)."""
    if checkpoint == "best":
        return load_run(run_dir)
    config = parse_config(yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")))
    split = load_saved_split(run_dir / "split")
    model = build_model(config.model, split.train, torch_generator(config.seed, "init"))
    path = run_dir / "checkpoints" / "last.pt" if checkpoint == "last" else Path(checkpoint)
    model.load_state_dict(load_checkpoint(path)["model"])
    return config, split, model.eval()


def probe_valid(run_dir: Path, eps_list: list[float], attack: str, checkpoint: str) -> dict:
    config, split, model = _load(run_dir, checkpoint)
    protocol = valid_protocol(Protocol.from_split(split, config.eval, config.device))
    return robustness_probe(
        model,
        split.train,
        protocol,
        build_objective(config.train.objective, config.train.l2),
        eps_list,
        attack=attack,
        seed=config.seed,
        batch_size=config.train.batch_size,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", help="finished run folders")
    parser.add_argument("--eps", default="0.5")
    parser.add_argument("--attack", default="fgsm", choices=["fgsm", "pgd"])
    parser.add_argument(
        "--checkpoint", default="best", help="best, last, or a checkpoint file of the same run"
    )
    parser.add_argument("--metric", default="ndcg@10")
    parser.add_argument("--json", help="also write every run's probe here")
    args = parser.parse_args()
    eps_list = [float(e) for e in args.eps.split(",")]
    out = {}
    for run in args.runs:
        run_dir = Path(run)
        probe = probe_valid(run_dir, eps_list, args.attack, args.checkpoint)
        out[str(run_dir)] = probe
        results = read_json_object(run_dir / "results.json")
        drops = "  ".join(
            f"ε={e}: {100 * probe[args.attack][str(e)][f'{args.metric}_drop']:.1f}% "
            f"(random {100 * probe['random'][args.attack][str(e)][f'{args.metric}_drop']:.1f}%)"
            for e in eps_list
        )
        print(
            f"{run_dir} [{args.checkpoint}, best epoch {results.get('best_epoch')} of "
            f"{results.get('epochs_run')}]: valid {args.metric} {probe['clean'][args.metric]:.4f}; "
            f"{args.attack} drop {drops}",
            flush=True,
        )
    if args.json:
        atomic_write_json(Path(args.json), out)


if __name__ == "__main__":
    main()
