"""What APR on SASRec's scored table costs per training step: plain vs the full path vs ``shared_forward``
vs the closed-form ``worst_case`` adversary.

Not a test: ``python benchmarks/sasrec_apr_cost.py RUN_DIR [--batches 60] [--rounds 3] [--threads 1]``.
Loads a finished sequential run (config, split, best model), builds its training windows and objective
as the trainer does, and times ``--batches`` optimiser steps (Adam, lr 1e-3, training mode) of each
variant on fresh copies of the model, interleaved round by round so that the machine's load hits every
variant alike; prints CPU seconds per step (median over rounds) and the ratio to plain. FGSM, ε 0.5
relative, on ``item_output`` only, λ 1 (``worst_case``: ε 0.1, the example's).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from advrec.adversarial import APRHook, PerturbationBuilder
from advrec.experiment import load_run
from advrec.training.sequential import SequentialObjective, sequence_windows, window_batches

VARIANTS = ("plain", "apr", "apr_shared_forward", "worst_case")


def _steps(model, objective, hook, batches) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    if hook is not None:
        hook.on_epoch_start(0)
    start = time.process_time()
    for batch in batches:
        loss = objective(model, batch)
        if hook is not None:
            loss = hook.on_loss(model, batch, loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.process_time() - start) / len(batches)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config, split, model = load_run(args.run_dir)
    model.train()
    batches = window_batches(*sequence_windows(config, split), config.train.batch_size, "cpu")[: args.batches]
    objective = SequentialObjective(config.model.sasrec.loss, config.model.sasrec.span)
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name in VARIANTS:
            hook = None
            if name == "worst_case":
                builder = PerturbationBuilder("worst_case", 0.1, "relative")
                hook = APRHook(objective, builder, 1.0, targets=["item_output"])
            elif name != "plain":
                builder = PerturbationBuilder("fgsm", 0.5, "relative")
                shared = name == "apr_shared_forward"
                hook = APRHook(objective, builder, 1.0, targets=["item_output"], shared_forward=shared)
            times[name].append(_steps(copy.deepcopy(model), objective, hook, batches))
    plain = statistics.median(times["plain"])
    shape = f"dim {config.model.dim}, batch {config.train.batch_size} windows, {args.batches} steps"
    print(f"{args.run_dir}: {shape}")
    for name in VARIANTS:
        per_step = statistics.median(times[name])
        print(f"  {name:20s} {1000 * per_step:8.1f} ms CPU / step   x{per_step / plain:.2f} of plain")


if __name__ == "__main__":
    main()
