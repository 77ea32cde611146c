"""Where a SASRec training step spends its time: torch.profiler over a run's first training batches.

Not a test: ``python benchmarks/sasrec_profile.py RUN_DIR [--batches 60] [--threads 1]``. Loads a
finished sequential run (its config, split and best model), builds its training windows and objective as
the trainer does, and runs ``--batches`` optimiser steps (Adam, lr 1e-3) in training mode under
``torch.profiler``; prints the operators by self CPU time. The steps change a copy in memory only.
"""

from __future__ import annotations

import argparse

import torch

from advrec.objectives.sequential import SequentialObjective, sequence_windows, window_batches
from advrec.runs.load import load_run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", type=int, default=15, help="operators shown")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config, split, model = load_run(args.run_dir)
    model.train()
    batches = window_batches(*sequence_windows(config.model, split), config.train.batch_size, "cpu")
    objective = SequentialObjective(config.model.loss, config.model.span)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    with torch.profiler.profile() as prof:
        for batch in batches[: args.batches]:
            loss = objective(model, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
