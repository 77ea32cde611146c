"""Is a sequential model robust where it was trained? The robustness probe's FGSM Δ (full-data gradient of
the training loss, both item tables, relative ε), scored on two targets side by side:

- ``train-last``: each user's last *training* item, ranked after the rest of the train sequence (a target
  position the model trained on);
- ``valid``: the valid item after the whole train sequence (``advrec evaluate RUN --split valid``'s view).

Not a test: ``python benchmarks/sasrec_trained_positions_probe.py RUN_DIR [RUN_DIR ...] [--eps E1,E2]``.
Prints, per run and target, clean NDCG@10 (unmasked, as the runs are configured) and its relative drop
under FGSM at each ε, then under the same-norm random control at the largest ε. Reads nothing of test.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.sequences import Sequences, padded_histories, user_sequences
from advrec.measure.robustness import robustness_probe
from advrec.measure.sequential import SequentialProtocol
from advrec.objectives.sequential import SequentialObjective, probe_batches
from advrec.runs.load import load_run
from advrec.runs.setup import build_protocol


def without_last(seqs: Sequences) -> tuple[Sequences, np.ndarray]:
    """Every sequence cut before its last item, and that item (-1 for an empty sequence)."""
    lengths = seqs.lengths()
    has = lengths > 0
    last = np.full(len(lengths), -1, dtype=np.int64)
    last[has] = seqs.items[seqs.indptr[1:][has] - 1]
    keep = np.ones(len(seqs.items), dtype=bool)
    keep[seqs.indptr[1:][has] - 1] = False
    indptr = np.concatenate([[0], np.cumsum(np.maximum(lengths - 1, 0))]).astype(np.int64)
    return Sequences(indptr, seqs.items[keep]), last


def train_last_protocol(protocol: SequentialProtocol, train, max_len: int) -> SequentialProtocol:
    """``protocol`` with the last training item of each user in the place of test."""
    heads, last = without_last(user_sequences(train))
    users = np.flatnonzero(last >= 0)
    truth = sp.csr_matrix((np.ones(len(users)), (users, last[users])), shape=protocol.train.shape)
    histories = torch.from_numpy(padded_histories(heads, max_len)).to(protocol.device)
    return replace(protocol, test_histories=histories, test=truth, seen_at_test=protocol.train)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="finished sequential run folders")
    parser.add_argument("--eps", default="0.1,0.25,0.5", help="relative budgets (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    eps_list = [float(e) for e in args.eps.split(",")]
    torch.set_num_threads(args.threads)
    print("run target clean " + " ".join(f"fgsm@{e}" for e in eps_list) + f" random@{eps_list[-1]}")
    for run in args.runs:
        config, split, model = load_run(run)
        protocol = build_protocol(config, split)
        objective = SequentialObjective(config.model.loss, config.model.span)
        batches = probe_batches(config.model, split, config.seed, config.device, config.train.batch_size)
        targets = {
            "train-last": train_last_protocol(protocol, split.train, config.model.max_len),
            "valid": protocol.valid_as_test(),
        }
        for name, target in targets.items():
            probe = robustness_probe(
                model,
                split.train,
                target,
                objective,
                eps_list,
                attack="fgsm",
                eps_mode="relative",
                seed=config.seed,
                batches=batches,
            )
            drops = [probe["fgsm"][str(e)]["ndcg@10_drop"] for e in eps_list]
            drops.append(probe["random"]["fgsm"][str(eps_list[-1])]["ndcg@10_drop"])
            cells = " ".join(f"{100 * d:5.1f}%" for d in drops)
            print(f"{run} {name} {probe['clean']['ndcg@10']:.4f} {cells}", flush=True)


if __name__ == "__main__":
    main()
