"""What a SASRec training step costs: plain vs APR on the scored table (the full path, ``shared_forward``,
the closed-form ``worst_case``), each with torch's dropout masks or the counter-based ones.

Not a test: ``python benchmarks/sasrec_apr_cost.py RUN_DIR [--batches 60] [--rounds 3] [--threads 1]
[--variants plain,apr,apr_shared_forward,worst_case] [--dropout-rngs torch]``. Loads a finished sequential
run (config, split, best model), builds its training windows and objective as the trainer does, and times
``--batches`` optimiser steps (Adam, lr 1e-3, training mode) of each variant × dropout generator
(``model.dropout_rng``) on fresh copies of the model, interleaved round by round so that the
machine's load hits every one alike; prints CPU and wall milliseconds per step (median over rounds) and the
ratio of CPU time to the first row's. FGSM, ε 0.5 relative, on ``item_output`` only, λ 1 (``worst_case``:
ε 0.1, the example's).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from advrec.models.counter_dropout import DROPOUT_RNGS
from advrec.objectives.sequential import SequentialObjective, sequence_windows, window_batches
from advrec.perturb.builder import PerturbationBuilder
from advrec.runs.load import load_run
from advrec.train.adversaries.apr import APRHook

VARIANTS = ("plain", "apr", "apr_shared_forward", "worst_case")


def _hook(name: str, objective: SequentialObjective) -> APRHook | None:
    if name == "plain":
        return None
    if name == "worst_case":
        builder = PerturbationBuilder("worst_case", 0.1, "relative")
        return APRHook(objective, builder, 1.0, targets=["item_output"])
    builder = PerturbationBuilder("fgsm", 0.5, "relative")
    shared = name == "apr_shared_forward"
    return APRHook(objective, builder, 1.0, targets=["item_output"], shared_forward=shared)


def _steps(model, objective, hook, batches) -> tuple[float, float]:
    """(CPU, wall) seconds per optimiser step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    if hook is not None:
        hook.on_epoch_start(0)
    cpu, wall = time.process_time(), time.perf_counter()
    for batch in batches:
        loss = objective(model, batch)
        if hook is not None:
            loss = hook.on_loss(model, batch, loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.process_time() - cpu) / len(batches), (time.perf_counter() - wall) / len(batches)


def _names(text: str, allowed: tuple[str, ...], flag: str) -> list[str]:
    names = [name for name in text.split(",") if name]
    unknown = sorted(set(names) - set(allowed))
    if unknown or not names:
        raise SystemExit(f"{flag}: expected a comma-separated subset of {', '.join(allowed)}, got {text!r}")
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--dropout-rngs", default="torch")
    args = parser.parse_args(argv)
    variants = _names(args.variants, VARIANTS, "--variants")
    rngs = _names(args.dropout_rngs, DROPOUT_RNGS, "--dropout-rngs")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config, split, model = load_run(args.run_dir)
    model.train()
    batches = window_batches(*sequence_windows(config.model, split), config.train.batch_size, "cpu")[
        : args.batches
    ]
    objective = SequentialObjective(config.model.loss, config.model.span)
    rows = [(name, rng) for name in variants for rng in rngs]
    times: dict[tuple[str, str], list[tuple[float, float]]] = {row: [] for row in rows}
    for _ in range(args.rounds):
        for name, rng in rows:
            copied = copy.deepcopy(model)
            copied.dropout_rng = rng
            times[name, rng].append(_steps(copied, objective, _hook(name, objective), batches))
    medians = {row: [statistics.median(t[i] for t in times[row]) for i in (0, 1)] for row in rows}
    first = medians[rows[0]][0]
    shape = f"dim {config.model.dim}, batch {config.train.batch_size} windows, {args.batches} steps"
    print(f"{args.run_dir}: {shape}, {args.rounds} rounds, {args.threads} threads")
    for name, rng in rows:
        cpu, wall = medians[name, rng]
        print(
            f"  {name:20s} {rng:8s} {1000 * cpu:8.1f} ms CPU {1000 * wall:8.1f} ms wall / step"
            f"   x{cpu / first:.2f} of {rows[0][0]} ({rows[0][1]})"
        )


if __name__ == "__main__":
    main()
