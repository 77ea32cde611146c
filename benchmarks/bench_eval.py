"""Time full-ranking evaluation of a random 64-dim MF scorer at MovieLens-100K and Gowalla sizes.

Not a test: run ``python benchmarks/bench_eval.py [--data-root /work/shared/data]``. For each dataset it
prints the wall time of ``evaluate_ranking`` (best of ``--repeats``), the time of the bare score matmul
over all evaluated users in the same chunks (the compute bound) and their ratio, and the process's peak
RSS. MovieLens-100K is synthetic at the real sizes (943 x 1,682, ~9.6k test of 100k interactions);
Gowalla is read from ``<data-root>/gowalla/{train,test}.txt`` (``user item item ...`` lines, 0-based
ids), with exclude = train and truth = test. The data are read in place, never copied.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.io import read_lightgcn
from advrec.measure.ranking import evaluate_ranking, rows_per_chunk

REPO_ROOT = Path(__file__).resolve().parents[1]
TOPK_METRICS = ["precision", "recall", "f1", "ndcg", "hit", "mrr", "map"]


def read_user_items(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(users, items) of a LightGCN-style file, through advrec's own loader (ids are 0-based already)."""
    raw = read_lightgcn(path)
    return raw.users.astype(np.int64), raw.items.astype(np.int64)


def binary_csr(users: np.ndarray, items: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    mat = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)), shape=shape)
    mat.sum_duplicates()
    mat.data[:] = 1.0
    return mat


def gowalla(data_root: Path) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(train, test) matrices of the real Gowalla split."""
    train_u, train_i = read_user_items(data_root / "gowalla" / "train.txt")
    test_u, test_i = read_user_items(data_root / "gowalla" / "test.txt")
    shape = (int(max(train_u.max(), test_u.max())) + 1, int(max(train_i.max(), test_i.max())) + 1)
    return binary_csr(train_u, train_i, shape), binary_csr(test_u, test_i, shape)


def movielens_like(seed: int = 0) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Random (train, test) at MovieLens-100K sizes: 100k distinct pairs, ~9.6k of them held out."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 943, 1682
    flat = rng.choice(n_users * n_items, size=100_000, replace=False)
    held_out = rng.random(len(flat)) < 0.096
    users, items = np.divmod(flat, n_items)
    shape = (n_users, n_items)
    return binary_csr(users[~held_out], items[~held_out], shape), binary_csr(
        users[held_out], items[held_out], shape
    )


def mf_scorer(n_users: int, n_items: int, dim: int, seed: int = 0) -> Callable[[torch.Tensor], torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    user_emb = torch.randn(n_users, dim, generator=gen) / dim**0.5
    item_emb = torch.randn(n_items, dim, generator=gen) / dim**0.5
    return lambda users: user_emb[users] @ item_emb.T


def best_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_time(scorer, users: np.ndarray, n_items: int, budget_mb: float, repeats: int) -> float:
    """Scoring every evaluated user in the same chunks as the evaluation, results discarded."""
    size = rows_per_chunk(n_items, budget_mb)

    def run() -> None:
        with torch.inference_mode():
            for start in range(0, len(users), size):
                scorer(torch.from_numpy(users[start : start + size]))

    return best_time(run, repeats)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def bench(
    name: str, train: sp.csr_matrix, test: sp.csr_matrix, args: argparse.Namespace, repeats: int
) -> None:
    n_users, n_items = train.shape
    scorer = mf_scorer(n_users, n_items, args.dim)
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    print(
        f"\n== {name}: {n_users:,} users x {n_items:,} items, train {train.nnz:,}, test {test.nnz:,} "
        f"({len(users):,} evaluated users, {rows_per_chunk(n_items, args.memory_budget_mb):,} users/chunk)"
    )
    print(f"peak RSS before evaluation: {peak_rss_mib():,.0f} MiB")
    bound = matmul_time(scorer, users, n_items, args.memory_budget_mb, repeats)
    print(f"bare score matmul over all evaluated users: {bound:.4f} s")
    for label, metrics in (("top-k metrics", TOPK_METRICS), ("top-k metrics + auc", [*TOPK_METRICS, "auc"])):
        wall, result = time_evaluation(scorer, train, test, metrics, args, repeats)
        print(
            f"evaluate_ranking ({label}, ks={args.ks}): {wall:.4f} s  = {wall / bound:.1f} x matmul; "
            f"peak RSS {peak_rss_mib():,.0f} MiB"
        )
        print("   " + ", ".join(f"{k}={v:.4f}" for k, v in result.items() if k.endswith("@20") or k == "auc"))


def time_evaluation(scorer, train, test, metrics, args, repeats) -> tuple[float, dict]:
    """Best wall time of ``evaluate_ranking`` after one warm-up run, and its result."""

    def run() -> dict:
        return evaluate_ranking(scorer, test, train, args.ks, metrics, memory_budget_mb=args.memory_budget_mb)

    result = run()
    return best_time(run, repeats), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--ks", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--memory-budget-mb", type=float, default=256)
    parser.add_argument("--repeats", type=int, default=10, help="for MovieLens; Gowalla runs twice")
    parser.add_argument("--skip-gowalla", action="store_true")
    args = parser.parse_args()
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads, memory budget {args.memory_budget_mb} MB")
    bench("MovieLens-100K sizes (synthetic)", *movielens_like(), args, args.repeats)
    if not args.skip_gowalla:
        train, test = gowalla(args.data_root)
        bench("Gowalla", train, test, args, min(args.repeats, 2))


if __name__ == "__main__":
    main()
