"""Hand-made run folders (no training) for the report tests."""

import json
from pathlib import Path

import yaml


def write_run(
    folder: Path,
    *,
    model: str = "mf",
    adversary: str = "none",
    seed: int = 1,
    test: dict | None = None,
    history: list[dict] | None = None,
    extra: dict | None = None,
    per_user: dict[str, list[float]] | None = None,
) -> Path:
    """A run folder with config.yaml, results.json, metrics.jsonl and optionally per_user_test.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"seed": seed, "model": {"name": model}, "adversary": {"name": adversary, "method": "fgsm"}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    results = {"test": test or {"ndcg@10": 0.2, "recall@10": 0.3}, "best_epoch": 2, "epochs_run": 3}
    results.update(extra or {})
    (folder / "results.json").write_text(json.dumps(results))
    history = history or [
        {"epoch": e, "loss": 0.7 - 0.1 * e, "lr": 0.01, "valid": {"ndcg@10": 0.1 + 0.02 * e}}
        for e in range(3)
    ]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    if per_user is not None:
        users = per_user.pop("user")
        lines = ["user," + ",".join(per_user)]
        for i, u in enumerate(users):
            lines.append(f"{u}," + ",".join(str(v[i]) for v in per_user.values()))
        (folder / "per_user_test.csv").write_text("\n".join(lines) + "\n")
    return folder


def robustness_entry(clean: float, drops: dict[str, float]) -> dict:
    """A results.json ``robustness`` entry for ndcg@10 with the given relative drop per ε (fgsm)."""
    fgsm = {e: {"ndcg@10": clean * (1 - d), "ndcg@10_drop": d} for e, d in drops.items()}
    rand = {e: {"ndcg@10": clean * (1 - d / 4), "ndcg@10_drop": d / 4} for e, d in drops.items()}
    return {
        "clean": {"ndcg@10": clean},
        "fgsm": fgsm,
        "random": {"fgsm": rand},
        "settings": {"fgsm": {"eps_mode": "absolute"}},
    }
