"""The attack experiment: clean victim -> targets -> fake profiles -> poisoned victim [-> defended
victim], each a normal run folder, probed with the same target-exposure metrics.

Folder layout (``advrec attack ... --out DIR``)::

    DIR/attack.json      the attack settings (a rerun with other settings refuses the folder; adding or
                         changing --defence is allowed and reuses clean/ and poisoned/)
    DIR/clean/           the victim trained on the clean split (a normal run folder)
    DIR/poisoned/        the victim retrained, same config and seed, on split/ = clean train + fake
                         rows (split/fake_users.txt lists their ids); valid/test are the clean ones
    DIR/defended-<name>/ with --defence: the defended victim (its split/ is what it trained on; a filter
                         with a non-default detector: defended-<name>-<detector>/; defence.json says
                         which detector, how many users it flagged and their ids)
    DIR/results.json     "poisoning": attack, targets, before / after [/ defended], shift
    DIR/poisoning.png    bar chart of the same

Every sub-run that has a results.json is reused, one with only a checkpoint is resumed: a killed
attack run continues where it stopped, and the folder reproduces the experiment.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from advrec.attack.inject import inject, read_fake_users, write_poisoned_split
from advrec.attack.profiles import AttackSpec
from advrec.attack.registry import get_attack
from advrec.attack.targets import select_targets
from advrec.config.schema import RunConfig
from advrec.data.split import load_saved_split, save_split
from advrec.defend.defences import Defence, Detector, build_defence
from advrec.errors import AdvrecError, ConfigError
from advrec.measure.poisoning import exposure_metrics, mean_shift, score_targets
from advrec.runs.fingerprint import split_complete, write_fingerprint
from advrec.runs.folder import clear_stray_temps
from advrec.utils.files import atomic_write_json, read_json_object
from advrec.utils.locking import folder_lock
from advrec.utils.seeding import child_seed

SETTINGS_FILE = "attack.json"


@dataclass(frozen=True)
class AttackSettings:
    attack: str
    size: float  # fake users as a share of real users
    targets: str  # a band (mid:5) or original item ids
    filler: float | None = None  # < 1: share of the catalogue; >= 1: items; None: mean real profile
    defence: str = "none"
    n_selected: int = 10  # bandwagon / segment selected items

    def check(self) -> None:
        """Bad settings fail here, before any training (a filter defence's detector is checked later)."""
        from advrec.defend.defences import DEFENCES

        get_attack(self.attack)
        if self.defence not in DEFENCES:
            raise ConfigError(f"--defence {self.defence!r}: unknown defence; valid: {', '.join(DEFENCES)}")
        if not 0 < self.size <= 1:
            raise ConfigError(f"--size {self.size}: expected a share of real users in (0, 1], e.g. 0.03")
        finite = self.filler is not None and math.isfinite(self.filler)
        whole = finite and self.filler >= 1 and self.filler == int(self.filler)
        if self.filler is not None and not (0 < self.filler < 1 or whole):
            raise ConfigError(
                f"--filler {self.filler}: expected a share in (0, 1) or a whole number of items"
            )
        if self.n_selected < 1:
            raise ConfigError(f"n_selected {self.n_selected}: expected at least 1")


def default_detector(settings: AttackSettings, seed: int = 0, name: str = "simulated") -> Detector | None:
    """The detector a filter defence uses when the caller brings none: by default a supervised one
    trained on attacks the defender simulates, no labels of the attacked data needed
    (``advrec.defend.filters.simulated_filter``); ``name`` iforest / pca: unsupervised."""
    if not settings.defence.startswith("filter"):
        return None
    from advrec.defend.filters import filter_detector

    return filter_detector(name, settings.size, seed)


def defended_folder(out: Path, defence: Defence) -> Path:
    """``defended-<defence>``, plus ``-<detector>`` for a filter whose detector is not the default."""
    tag = getattr(defence.detector, "name", None)
    suffix = f"-{tag}" if defence.detector is not None and tag not in (None, "simulated") else ""
    return out / f"defended-{defence.name}{suffix}"


def _check_detector(folder: Path, defence: Defence) -> None:
    """A defended folder is reused only with the detector that made it."""
    path = folder / "defence.json"
    if defence.detector is None or not path.exists():
        return
    made_by = json.loads(path.read_text(encoding="utf-8")).get("detector")
    wanted = getattr(defence.detector, "name", "custom")
    if made_by != wanted:
        raise AdvrecError(
            f"{path}: this defended run was filtered by detector {made_by!r}, not {wanted!r}; "
            f"delete {folder} or choose another --out"
        )


def filler_count(filler: float | None, train, n_items: int) -> int:
    if filler is None:
        return max(1, int(round(len(train) / max(1, len(np.unique(train.users))))))
    if filler < 1:
        return max(1, int(round(filler * n_items)))
    return int(filler)


def attack_rng(seed: int, stream: int) -> np.random.Generator:
    """The seeded streams of ``advrec attack``: 0 draws the targets, 1 the fake profiles (benchmarks
    that redraw an attack use further streams)."""
    return np.random.default_rng(np.random.SeedSequence(child_seed(seed, "attack"), spawn_key=(stream,)))


def _train_defended(defence: Defence, config: RunConfig, folder: Path, show_progress: bool) -> dict[str, Any]:
    from advrec.errors import NothingSelected

    victim = defence.victim_config(config)
    try:
        return train_or_reuse(victim, folder, None, show_progress)
    except NothingSelected:
        if not defence.adversarial:
            raise
        plateau = victim.adversary.start_after_plateau
        raise AdvrecError(
            f"--defence {defence.name}: APR pre-trains the victim until its valid NDCG@10 has not "
            f"improved for {plateau} evaluations, and the victim's train.epochs ({config.train.epochs}) "
            "ended before that; raise train.epochs in the victim's config (and use a new --out)"
        ) from None


def train_or_reuse(
    config: RunConfig, folder: Path, data_root=None, show_progress: bool = False
) -> dict[str, Any]:
    """``folder``'s results: reused if finished, resumed if killed, else trained; a folder holding a run of
    another config is refused."""
    from advrec.runs.folder import check_inputs_unchanged, saved_config
    from advrec.runs.train import train_run

    # an attack folder reuses its finished (or resumes its killed) runs: only if they ran this config
    previous = saved_config(folder)
    if previous is not None and previous != config:
        raise AdvrecError(
            f"{folder} holds a run of another victim config than this one ({folder / 'config.yaml'}); "
            "delete that folder or choose another --out"
        )
    results = folder / "results.json"
    if results.exists():
        check_inputs_unchanged(config, folder, data_root)
        return read_json_object(results)
    resume = (folder / "checkpoints" / "last.pt").exists()
    return train_run(config, folder, data_root=data_root, resume=resume, show_progress=show_progress)


def _check_settings(out: Path, record: dict[str, Any]) -> None:
    path = out / SETTINGS_FILE
    if path.exists():
        previous = json.loads(path.read_text(encoding="utf-8"))
        if previous != record:
            raise AdvrecError(f"{out} holds an attack run with other settings ({path}); choose another --out")
    else:
        atomic_write_json(path, record)


def probe(run_dir: Path, real_ids: np.ndarray, clean_train, targets: np.ndarray) -> dict[str, np.ndarray]:
    """Ranks and scores of the targets for every real user in a run's best model. Users are matched by
    original id (a filtered split may have dropped some), and each user's excluded items are the clean
    training profile, the same in every run, so runs differ only in their model."""
    import torch

    from advrec.runs.load import load_run

    config, split, model = load_run(run_dir)
    if not np.array_equal(split.train.item_map.raw, clean_train.item_map.raw):
        raise AdvrecError(f"{run_dir}: its items differ from the clean run's; not the same experiment")
    mapping = torch.from_numpy(np.searchsorted(split.train.user_map.raw, real_ids))
    ranks, scores = score_targets(
        lambda u: model.full_scores(mapping[u].to(config.device)),
        np.arange(len(real_ids)),
        clean_train.csr(),
        targets,
        clean_train.n_items,
        config.eval.memory_budget_mb,
    )
    return {"ranks": ranks, "scores": scores}


def _block(probed: dict[str, np.ndarray], eligible: np.ndarray, test: dict[str, float]) -> dict[str, float]:
    block = exposure_metrics(probed["ranks"], eligible)
    block["target_score"] = mean_shift(np.zeros_like(probed["scores"]), probed["scores"], eligible)
    block.update(test)
    return block


def _shift(before: dict, after: dict, eligible: np.ndarray) -> dict[str, float]:
    return {
        "prediction_shift": mean_shift(before["scores"], after["scores"], eligible),
        "rank_shift": mean_shift(before["ranks"], after["ranks"], eligible),
    }


def parse_fillers(spec: str) -> dict[str, float]:
    """``"template=60,optimised=0.05"`` -> {attack: filler} (the poisoning benchmarks' ``--filler``); a bad
    entry is a ConfigError naming it."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, value = part.partition("=")
        try:
            out[name] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ConfigError(f"--filler {part!r}: expected ATTACK=ITEMS, e.g. template=60") from None
    return out


def attack_run(
    config: RunConfig,
    out: str | Path,
    settings: AttackSettings,
    *,
    data_root: str | Path | None = None,
    detector: Detector | None = None,
    show_progress: bool = False,
    clean_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Run (or resume) the whole experiment; return ``results.json``'s content.

    ``clean_dir``: an already trained run folder of ``config`` to use as the clean victim instead of
    training ``out/clean`` (a study's cell: its attack step reuses the cell's own run)."""
    settings.check()
    defence: Defence | None = None
    if settings.defence != "none":
        defence = build_defence(settings.defence, detector)
    out = Path(out)
    with folder_lock(out):
        clear_stray_temps(out)
        return _attack_locked(config, out, settings, defence, data_root, show_progress, clean_dir)


def _attack_locked(
    config: RunConfig,
    out: Path,
    settings: AttackSettings,
    defence: Defence | None,
    data_root: str | Path | None,
    show_progress: bool,
    clean_dir: str | Path | None,
) -> dict[str, Any]:
    # the defence is left out: a folder can be rerun with a defence added, reusing clean and poisoned
    record = {k: v for k, v in asdict(settings).items() if k != "defence"}
    _check_settings(out, {**record, "seed": config.seed})

    clean_dir = out / "clean" if clean_dir is None else Path(clean_dir)
    clean_results = train_or_reuse(config, clean_dir, data_root, show_progress)
    clean = load_saved_split(clean_dir / "split")
    train = clean.train
    targets = select_targets(settings.targets, train, attack_rng(config.seed, 0))
    poisoned_dir = out / "poisoned"
    if not split_complete(poisoned_dir / "split"):
        n_real = train.n_users
        spec = AttackSpec(
            n_fake=max(1, int(round(settings.size * n_real))),
            filler=filler_count(settings.filler, train, train.n_items),
            targets=targets,
            n_selected=settings.n_selected,
        )
        profiles = get_attack(settings.attack)(spec, train, attack_rng(config.seed, 1))
        poisoned, fake_ids = inject(clean, profiles)
        write_poisoned_split(poisoned_dir / "split", poisoned, fake_ids)
    after_results = train_or_reuse(config, poisoned_dir, None, show_progress)

    real_ids = train.user_map.raw
    eligible = train.csr()[:, targets].toarray() == 0
    before_p = probe(clean_dir, real_ids, train, targets)
    after_p = probe(poisoned_dir, real_ids, train, targets)
    fake_users = read_fake_users(poisoned_dir / "split")
    poisoning: dict[str, Any] = {
        "attack": settings.attack,
        "size": settings.size,
        "n_fake": len(fake_users),
        "filler": filler_count(settings.filler, train, train.n_items),
        "targets": train.item_map.raw[targets].tolist(),
        "target_train_counts": np.bincount(train.items, minlength=train.n_items)[targets].tolist(),
        "before": _block(before_p, eligible, clean_results["test"]),
        "after": _block(after_p, eligible, after_results["test"]),
        "shift": {"after": _shift(before_p, after_p, eligible)},
    }
    if defence is not None:
        folder = defended_folder(out, defence)
        _check_detector(folder, defence)
        if not split_complete(folder / "split"):
            split, report = defence.train_split(load_saved_split(poisoned_dir / "split"))
            if defence.detector is not None:
                report["detector"] = getattr(defence.detector, "name", "custom")
            save_split(split, folder / "split")
            atomic_write_json(folder / "defence.json", {"defence": defence.name, **report})
            write_fingerprint(folder / "split", given={"defence": defence.name, "of": "poisoned/split"})
        defended_results = _train_defended(defence, config, folder, show_progress)
        defended_p = probe(folder, real_ids, train, targets)
        poisoning["defence"] = defence.name
        poisoning["defended"] = _block(defended_p, eligible, defended_results["test"])
        poisoning["shift"]["defended"] = _shift(before_p, defended_p, eligible)
    results = {"poisoning": poisoning, "seed": config.seed}
    atomic_write_json(out / "results.json", results)
    from advrec.experiments.poisoning_plot import plot_poisoning

    plot_poisoning(poisoning, out / "poisoning.png")
    return results
