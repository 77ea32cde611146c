"""``advrec demo``: BPR-MF and APR-MF on the embedded synthetic data, the robustness probe on both, and
the HTML report, as a two-cell study (so a re-run skips what is finished)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from advrec.errors import AdvrecError


def demo_study(epochs: int | None = None) -> dict[str, Any]:
    """The demo as a study file's contents. APR pre-trains with the plain loss until valid NDCG@10 has
    not improved for 3 evaluations (as the paper pre-trains to convergence), then adds the adversarial
    term; its plain epochs are never selected and do not count for early stopping. ``epochs`` caps both
    runs (tests, quick looks); APR then pre-trains for half of them."""
    bpr_epochs, apr_epochs = 80, 100
    # pre-training ends at a plateau; with a cap on epochs it may never come (and APR would have no
    # epoch eligible for selection), so a capped demo switches APR on halfway instead
    start: dict[str, int] = {"start_after_plateau": 3}
    if epochs is not None:
        if epochs < 2:
            raise AdvrecError(f"--epochs: expected at least 2, got {epochs}")
        bpr_epochs, apr_epochs = min(bpr_epochs, epochs), min(apr_epochs, epochs)
        start = {"start_epoch": apr_epochs // 2, "start_after_plateau": 0}
    return {
        "name": "demo",
        "base": {
            "threads": 1,
            "model": {"dim": 32, "init_std": 0.01},
            "train": {"patience": 5, "optimizer": {"lr": 0.005}},
        },
        "axes": {
            "model": {
                "BPR-MF": {"train.epochs": bpr_epochs},
                "APR-MF": {
                    "train.epochs": apr_epochs,
                    "adversary": {
                        "name": "apr",
                        "method": "fgsm",
                        "eps": 0.5,
                        "reg_adv": 1.0,
                        **start,
                    },
                },
            }
        },
        "seeds": [2020],
        "probe": {"attack": "fgsm,pgd", "eps": [0.25, 0.5, 1.0], "pgd_steps": 5},
        "per_user": True,
        "report": {"baseline": "BPR-MF", "eps": "0.5"},
    }


def run_demo(out: Path, epochs: int | None = None) -> Path:
    """Run the demo study into ``out`` and return the path of ``out/report.html``."""
    from advrec.experiments.study import parse_study, run_study

    if (out / "results.json").exists() and not (out / "study.json").exists():
        shutil.rmtree(out)  # the single-run demo of earlier versions, in the same default folder
    study, cells = parse_study(demo_study(epochs), "advrec demo")
    result = run_study(study, cells, out)
    return Path(result["report"])
