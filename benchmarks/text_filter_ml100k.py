"""How well the text-filter defence's detector finds fake sequences in MovieLens-100K's TRAIN.

Not a test. Run (project venv, ``pip install -e '.[text]'``)::

    OMP_NUM_THREADS=1 python benchmarks/text_filter_ml100k.py --data-root ../shared/data \
        --seeds 2020,2021,2022,2023,2024

RecBole's leave-one-out split of ML-100K (``ml-100k-loo-split``). For each seed and attack, fake users
are drawn as ``advrec attack`` draws them (3% of the real users, filler = the mean training profile
length, five mid-popularity targets from the seed's target stream) and injected into TRAIN; the
detector (``advrec.defend.text_filter``: the mean cosine of consecutive items' all-MiniLM-L6-v2
embeddings of the "title. Genres: ..." texts, the expected number of least coherent users flagged) then
sees the poisoned TRAIN, with either score (``consecutive``, ``order``). Printed: precision (share of
the flagged users who are fake; the detector flags as many as there are fakes, so recall is the same
number) per attack, mean ± std over the seeds, and the mean score of real and fake users. No model is
trained.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from pathlib import Path

import numpy as np

ATTACKS = ("sequence-random", "sequence-popular", "sequence-interleaved", "random", "bandwagon")


def loo_split(folder: Path):
    from advrec.data.interactions import Interactions, RawInteractions
    from advrec.data.split import Split

    parts = []
    for name in ("train", "valid", "test"):
        rows = np.loadtxt(folder / f"{name}.tsv", dtype=np.int64, ndmin=2)
        parts.append(RawInteractions(rows[:, 0], rows[:, 1], timestamps=rows[:, 2], source=name))
    return Split(*Interactions.encode_together(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--seeds", default="2020,2021,2022,2023,2024")
    parser.add_argument("--size", type=float, default=0.03)
    args = parser.parse_args()
    from advrec.attack.base import AttackSpec
    from advrec.attack.inject import inject
    from advrec.attack.registry import get_attack
    from advrec.attack.targets import select_targets
    from advrec.data.config import ItemTextConfig
    from advrec.data.text_features import load_text_features
    from advrec.defend.text_filter import TextCoherenceFilter, sequence_coherence
    from advrec.experiments.poisoning import attack_rng, filler_count

    root = Path(args.data_root)
    clean = loo_split(root / "ml-100k-loo-split")
    texts = ItemTextConfig(source="ml100k", path=str(root / "ml-100k" / "u.item"))
    train = clean.train
    filler = filler_count(None, train, train.n_items)
    n_fake = max(1, int(round(args.size * train.n_users)))
    print(f"{train.n_users} real users, {n_fake} fake users of {filler} filler items + targets")
    for attack, score in itertools.product(ATTACKS, ("consecutive", "order")):
        detector = TextCoherenceFilter(args.size, texts, score)
        precision, real_c, fake_c = [], [], []
        for seed in (int(s) for s in args.seeds.split(",")):
            targets = select_targets("mid:5", train, attack_rng(seed, 0))
            profiles = get_attack(attack)(AttackSpec(n_fake, filler, targets), train, attack_rng(seed, 1))
            poisoned, fake_ids = inject(clean, profiles)
            flagged = detector(poisoned.train)
            fake = np.isin(poisoned.train.user_map.raw, fake_ids)
            precision.append(float((flagged & fake).sum() / max(1, flagged.sum())))
            vectors = load_text_features(texts, None, poisoned.train.item_map).matrix
            coherence = sequence_coherence(poisoned.train, vectors, score)
            real_c.append(float(np.nanmean(coherence[~fake])))
            fake_c.append(float(np.nanmean(coherence[fake])))
        spread = statistics.stdev(precision) if len(precision) > 1 else 0.0
        print(
            f"{attack:20} {score:11} precision = recall {statistics.mean(precision):.3f} ± {spread:.3f} "
            f"({', '.join(f'{p:.2f}' for p in precision)}); mean score real "
            f"{statistics.mean(real_c):.3f}, fake {statistics.mean(fake_c):.3f}"
        )


if __name__ == "__main__":
    main()
