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

import math
import typing
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, SerializeAsAny, field_validator

from advrec.attack.base import AttackSpec
from advrec.attack.inject import inject, read_fake_users, write_poisoned_split
from advrec.attack.registry import ATTACKS, AttackConfig, generate
from advrec.attack.targets import select_targets
from advrec.config.base import Strict
from advrec.config.loading import validate
from advrec.data.split import load_saved_split, save_split
from advrec.defend.base import Detector
from advrec.defend.defences import DEFENCES, Defence, DefenceConfig, build_defence
from advrec.errors import AdvrecError, ConfigError
from advrec.measure.poisoning import exposure_metrics, mean_shift, score_targets
from advrec.models.base import Recommender
from advrec.models.registry import MODELS, procedure_of
from advrec.runs.config import RunConfig
from advrec.runs.fingerprint import split_complete, write_fingerprint
from advrec.runs.folder import clear_stray_temps
from advrec.utils.files import atomic_write_json, read_json_object
from advrec.utils.locking import folder_lock
from advrec.utils.seeding import child_seed

SETTINGS_FILE = "attack.json"


class PoisonConfig(Strict):
    """One poisoning experiment: the attack (a registered generator and its settings), its budget, and
    optionally a defence (a registered defence and its settings). ``attack`` and ``defence`` also take a
    bare name (their default settings)."""

    attack: SerializeAsAny[AttackConfig] = Field(description="the fake-user generator and its settings")
    size: float = Field(0.03, gt=0, le=1, description="fake users as a share of the real users")
    targets: str = Field(description="unpopular:K, mid:K, random:K, or comma-separated original item ids")
    filler: float | None = Field(
        None,
        gt=0,
        description="filler items per profile: a share of the catalogue (< 1) or a whole number of items "
        "(default: the mean real training profile length)",
    )
    defence: SerializeAsAny[DefenceConfig] = Field(
        default_factory=lambda: typing.cast(DefenceConfig, DEFENCES.default_config()),
        description="the defence and its settings (none: the poisoned victim only)",
    )
    n_selected: int = Field(10, ge=1, description="selected items per profile (bandwagon, segment, gan)")

    @field_validator("attack", mode="before")
    @classmethod
    def _attack(cls, value: Any) -> AttackConfig:
        return typing.cast(AttackConfig, ATTACKS.validate(value))

    @field_validator("defence", mode="before")
    @classmethod
    def _defence(cls, value: Any) -> DefenceConfig:
        return typing.cast(DefenceConfig, DEFENCES.validate(value))

    @field_validator("filler")
    @classmethod
    def _filler(cls, value: float | None) -> float | None:
        whole = value is not None and math.isfinite(value) and value == int(value)
        if value is not None and value >= 1 and not whole:
            raise ValueError(f"expected a share in (0, 1) or a whole number of items, got {value}")
        return value

    def record(self, seed: int) -> dict[str, Any]:
        """What makes the poisoned victim (the defence left out: a folder can be rerun with a defence
        added, reusing its clean and poisoned victims), as ``attack.json`` keeps it."""
        return {**self.model_dump(mode="json", exclude={"defence"}), "seed": seed}


def poison_config(raw: dict[str, Any], where: str, flags: dict[str, str] | None = None) -> PoisonConfig:
    """A ``PoisonConfig`` from plain data (a study step's options, the CLI's), errors on one line each
    (``flags``: the command-line options that set the keys, named in the errors)."""
    return validate(PoisonConfig, raw, where, "poison settings", flags)


def defended_folder(out: Path, defence: Defence) -> Path:
    """``defended-<defence>``, plus ``-<detector>`` for a filter whose detector is not the default."""
    tag = getattr(defence.detector, "name", None)
    suffix = f"-{tag}" if defence.detector is not None and tag not in (None, "simulated") else ""
    return out / f"defended-{defence.name}{suffix}"


def _check_defence(folder: Path, defence: Defence, settings: dict[str, Any]) -> None:
    """A defended folder is reused only with the detector and the settings that made it."""
    path = folder / "defence.json"
    if not path.exists():
        return
    made = read_json_object(path)
    wanted = getattr(defence.detector, "name", "custom") if defence.detector is not None else None
    if defence.detector is not None and made.get("detector") != wanted:
        raise AdvrecError(
            f"{path}: this defended run was filtered by detector {made.get('detector')!r}, not {wanted!r}; "
            f"delete {folder} or choose another --out"
        )
    if "settings" in made and made["settings"] != settings:
        raise AdvrecError(
            f"{path}: this defended run was made with other defence settings ({made['settings']}); "
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
        plateau = getattr(victim.adversary, "start_after_plateau", "?")  # APR's setting
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
        previous = read_json_object(path)
        if isinstance(previous.get("attack"), str):  # written by an earlier version: attack by name only
            seed = previous.pop("seed", None)
            previous = {**poison_config(previous, str(path)).record(seed)}
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
    if not isinstance(model, Recommender):
        raise AdvrecError(
            f"{run_dir}: the poisoning probe scores users by id; {type(model).__name__} does not"
        )
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


def check_victim(config: RunConfig) -> None:
    """Refuse, before any training, a victim the poisoning experiment cannot measure: the attacks add user
    profiles (sets of items) and the probe ranks every item for every real user by id, which a sequential
    model (it scores the next item after a sequence) does not do. Every gradient attack here brings its own
    surrogate (ALS, WMF, NeuMF), so none needs the victim to be differentiable."""
    name = config.model.name
    if procedure_of(name) == "sequential":
        allowed = sorted(m for m in MODELS.names() if procedure_of(m) != "sequential")
        raise ConfigError(
            f"model.name {name!r}: a sequential victim cannot be attacked with user profiles and probed by "
            f"user id; victims of advrec attack: {', '.join(allowed)}"
        )


def attack_run(
    config: RunConfig,
    out: str | Path,
    settings: PoisonConfig,
    *,
    data_root: str | Path | None = None,
    detector: Detector | None = None,
    show_progress: bool = False,
    clean_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Run (or resume) the whole experiment; return ``results.json``'s content.

    ``clean_dir``: an already trained run folder of ``config`` to use as the clean victim instead of
    training ``out/clean`` (a study's cell: its attack step reuses the cell's own run); ``detector``: a
    filter's detector instead of the one the defence's settings name."""
    check_victim(config)
    defence: Defence | None = None
    if settings.defence.name != "none":
        defence = build_defence(settings.defence, settings.size, config.seed, detector)
    out = Path(out)
    with folder_lock(out):
        clear_stray_temps(out)
        return _attack_locked(config, out, settings, defence, data_root, show_progress, clean_dir)


def _attack_locked(
    config: RunConfig,
    out: Path,
    settings: PoisonConfig,
    defence: Defence | None,
    data_root: str | Path | None,
    show_progress: bool,
    clean_dir: str | Path | None,
) -> dict[str, Any]:
    _check_settings(out, settings.record(config.seed))

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
        profiles = generate(settings.attack, spec, train, attack_rng(config.seed, 1))
        poisoned, fake_ids = inject(clean, profiles)
        write_poisoned_split(poisoned_dir / "split", poisoned, fake_ids)
    after_results = train_or_reuse(config, poisoned_dir, None, show_progress)

    real_ids = train.user_map.raw
    eligible = train.csr()[:, targets].toarray() == 0
    before_p = probe(clean_dir, real_ids, train, targets)
    after_p = probe(poisoned_dir, real_ids, train, targets)
    fake_users = read_fake_users(poisoned_dir / "split")
    poisoning: dict[str, Any] = {
        "attack": settings.attack.name,
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
        defence_settings = settings.defence.model_dump(mode="json")
        _check_defence(folder, defence, defence_settings)
        if not split_complete(folder / "split"):
            split, report = defence.train_split(load_saved_split(poisoned_dir / "split"))
            if defence.detector is not None:
                report["detector"] = getattr(defence.detector, "name", "custom")
            save_split(split, folder / "split")
            atomic_write_json(
                folder / "defence.json", {"defence": defence.name, "settings": defence_settings, **report}
            )
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
