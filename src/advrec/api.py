"""The Python front door: fit a recommender on a pandas DataFrame, then recommend, evaluate, probe and
poison it, through the same config system, trainer and run folder as the command line.

::

    import advrec

    run = advrec.fit(df, model="mf", adversary={"name": "apr", "eps": 0.5}, epochs=100, seed=2020)
    top10 = run.recommend([1, 2, 3], k=10)        # user, rank, item, score (original ids)
    curve = run.probe(attack="fgsm", eps=[0.25, 0.5])
    exposure = run.poison(attack="bandwagon", size=0.03, targets="mid:5")
    run.save("runs/apr_mf")                       # later: advrec.load("runs/apr_mf")

``fit`` writes the DataFrame into the run folder (``input/interactions.parquet``) and points
``data.path`` at it, so a run folder holds everything it needs: it reloads, resumes and re-evaluates
without the DataFrame, and ``advrec evaluate``/``advrec attack`` read it like any other run folder.
Bad input raises the errors the command line prints (:class:`advrec.errors.AdvrecError` subclasses).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import tempfile
import typing
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pandas as pd

from advrec.config.loading import parse_overrides
from advrec.data.filtering import apply_rating_threshold
from advrec.data.interactions import IdMap, RawInteractions
from advrec.data.io import TABLE_KEYS
from advrec.data.split import Split
from advrec.errors import AdvrecError, ConfigError, DataError
from advrec.measure.protocol import EvaluationProtocol
from advrec.measure.ranking import topk_scored
from advrec.measure.robustness import curve_rows, parse_attacks
from advrec.models.base import ScoringModel
from advrec.perturb.perturbation import EpsMode
from advrec.runs.config import RunConfig, apply_overrides, load_config, parse_config
from advrec.runs.folder import saved_config
from advrec.runs.load import evaluate_run, load_run
from advrec.runs.probe import robustness_run
from advrec.runs.setup import build_protocol
from advrec.runs.train import train_run
from advrec.train.metrics_log import read_metrics_log
from advrec.utils.files import atomic_write, read_json_object
from advrec.utils.log import ROOT, console_log

INPUT = "input"
"""The run folder's copy of the DataFrames ``fit`` was given (one Parquet file each)."""
INPUT_FILES = {"df": "interactions.parquet", "valid": "valid.parquet", "test": "test.parquet"}
_INT_ID = r"-?[0-9]+"  # the id grammar of advrec.data.io: such strings are read back as integers


def fit(
    df: pd.DataFrame | None,
    *,
    model: str | Mapping[str, Any] | None = None,
    adversary: str | Mapping[str, Any] | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    columns: Mapping[str, Any] | None = None,
    valid: pd.DataFrame | None = None,
    test: pd.DataFrame | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    set: Mapping[str, Any] | Sequence[str] | None = None,  # named as the CLI's --set
    out: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> Run:
    """Train a recommender on the interactions in ``df`` and return its :class:`Run`.

    ``df``: one row per interaction, with columns ``user``, ``item`` and optionally ``rating`` and
    ``timestamp`` (``columns={"user": "userId", "item": "movieId", ...}`` names others). Ids are integers
    or strings; ratings finite numbers; timestamps integers or datetimes.

    ``valid``/``test``: interactions of a given split (``split.method: given``; without ``valid``, a
    share of each user's training interactions validates). Without them the config's split applies
    (default: per-user random 80/10/10).

    ``model``/``adversary``: a name (``"mf"``, ``"apr"``) or a dict of that section's settings
    (``{"name": "apr", "eps": 0.5}``), merged into the base config's section when it names the same
    component, replacing it otherwise. ``config``: the base, a YAML path or a dict (default: the
    defaults). ``epochs``, ``seed``: ``train.epochs`` and ``seed``. ``set``: dotted overrides applied
    last, as the command line's ``--set`` (``{"train.optimizer.lr": 0.01}`` or ``["train.l2=0.001"]``).

    ``out``: the run folder (default: a temporary folder, deleted when the run is closed or garbage
    collected unless it was saved). ``resume=True`` continues a killed run in ``out``; ``df`` may then
    be None (the run's stored copy is used), and a different ``df`` is refused.

    ``progress``: show training as ``advrec train`` does: a line per epoch on stderr (and progress bars
    on a terminal). Without it, advrec's log lines reach only the handlers the caller configured (and
    the run folder's ``run.log``).
    """
    if out is None and resume:
        raise ConfigError("resume=True: name the run folder to continue with out=")
    # a temporary run lives in a folder of its own inside a private one, made with the usual permissions
    temporary: Path | None = None
    if out is None:
        temporary = Path(tempfile.mkdtemp(prefix="advrec-run-"))
        run_dir = temporary / "run"
    else:
        run_dir = Path(out)
    try:
        _check_out(run_dir, resume)
        frames = _input_frames(run_dir, df, valid, test, columns, resume)
        run_config = _fit_config(config, model, adversary, epochs, seed, set, frames)
        _store_frames(run_dir, frames)
        # data.path is relative to the run folder, so the folder can move and still resume
        with _shown(progress):
            train_run(run_config, run_dir, data_root=run_dir, resume=resume, show_progress=progress)
    except BaseException:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
        raise
    return Run(run_dir, _temporary=temporary)


def load(path: str | Path) -> Run:
    """A trained run folder (from :func:`fit`, :meth:`Run.save` or ``advrec train``) as a :class:`Run`."""
    run_dir = Path(path)
    if not (run_dir / "config.yaml").exists():
        raise AdvrecError(f"{run_dir}: not a run folder (no config.yaml)")
    if not (run_dir / "checkpoints" / "best.pt").exists():
        raise AdvrecError(
            f"{run_dir}: the run has no best model yet; continue it with advrec.fit(..., out=, resume=True) "
            "or advrec train --resume"
        )
    return Run(run_dir)


class Run:
    """A trained run folder: its config, results and history, and what can be asked of its best model.

    Made by :func:`fit` or :func:`load`. Every method reads the folder, so a run trained by the command
    line answers the same questions; probes and poisoning experiments are recorded in the folder as
    ``advrec evaluate --attack`` and ``advrec attack`` record them.
    """

    def __init__(self, run_dir: str | Path, *, _temporary: Path | None = None):
        self._run_dir = Path(run_dir)
        self._state: tuple[RunConfig, Split, ScoringModel, EvaluationProtocol] | None = None
        # _temporary: the folder fit made for this run, deleted with it (unless it is saved first)
        self._cleanup = None
        if _temporary is not None:
            self._cleanup = weakref.finalize(self, shutil.rmtree, _temporary, True)

    # -- what the folder holds ------------------------------------------------------------------

    @property
    def run_dir(self) -> Path:
        """The run folder."""
        self._check_open()
        return self._run_dir

    @property
    def config(self) -> RunConfig:
        """The run's resolved config (``config.yaml``)."""
        config = saved_config(self.run_dir)
        if config is None:
            raise AdvrecError(f"{self.run_dir}: not a run folder (no config.yaml)")
        return config

    @property
    def results(self) -> dict[str, Any]:
        """``results.json``: test and valid metrics, best epoch, timing, and any probes recorded."""
        path = self.run_dir / "results.json"
        if not path.exists():
            raise AdvrecError(f"{path} not found: the run has not finished (or the folder moved)")
        return read_json_object(path)

    @property
    def history(self) -> pd.DataFrame:
        """``metrics.jsonl`` as a table: one row per epoch (loss, lr, timings, ``valid.<metric>``)."""
        return pd.json_normalize(read_metrics_log(self.run_dir / "metrics.jsonl", timings=False))

    def __repr__(self) -> str:
        if self._closed:
            return "<advrec.Run (closed)>"
        try:
            config, results = self.config, self.results
        except AdvrecError:  # a folder that moved or never finished still has a repr
            return f"<advrec.Run {self._run_dir}>"
        what = config.model.name + (f" + {config.adversary.name}" if config.adversary.name != "none" else "")
        test = (results.get("test") or {}).get(config.eval.select_metric)
        score = f", test {config.eval.select_metric} {test:.4f}" if test is not None else ""
        best = results.get("best_epoch")
        epoch = f", best epoch {best + 1}" if isinstance(best, int) else ""  # counted from 1, as logs do
        return f"<advrec.Run {self._run_dir}: {what}{epoch}{score}>"

    # -- questions to the best model ------------------------------------------------------------

    def recommend(self, users: Any = None, k: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """The top-``k`` items of each user: columns ``user``, ``rank`` (from 1), ``item``, ``score``, in
        original ids, users in the order given (``None``: every user of the run).

        ``exclude_seen`` leaves out the user's training and validation items, as the test protocol
        ranks; test items stay candidates (they are what the run has not seen). A user with fewer
        candidates than ``k`` gets fewer rows. Sequential models rank after the user's train + valid
        history.
        """
        _check_k(k)
        config, split, model, protocol = self._loaded()
        user_map = split.train.user_map
        index = (
            np.arange(len(user_map))
            if users is None
            else _indices(user_map, _given_ids(users, "users"), "users")
        )
        items, scores = topk_scored(
            protocol.test_scorer(model),
            index,
            protocol.seen_at_test if exclude_seen else None,
            k,
            memory_budget_mb=config.eval.memory_budget_mb,
            device=config.device,
        )
        filled = items >= 0
        rows, ranks = np.nonzero(filled)
        return pd.DataFrame(
            {
                "user": user_map.raw[index[rows]],
                "rank": ranks + 1,
                "item": split.train.item_map.raw[items[filled]],
                "score": scores[filled],
            }
        )

    def evaluate(self, test: pd.DataFrame | None = None, *, columns: Mapping[str, Any] | None = None) -> dict:
        """Test metrics of the best model.

        ``None``: the run's own test split, read once and recorded in ``results.json`` if the run was
        trained without reading it (``advrec evaluate``). A DataFrame (``columns`` as in :func:`fit`):
        metrics on those interactions instead, ranked past the run's train + valid items, as test is;
        its users and items must be the run's, and none of its pairs may be a train or valid pair.
        """
        if test is None:
            return evaluate_run(self.run_dir)
        config, split, model, protocol = self._loaded()
        frame = _frame(test, columns, "test")
        raw = RawInteractions(
            users=frame["user"].to_numpy(),
            items=frame["item"].to_numpy(),
            ratings=frame["rating"].to_numpy() if "rating" in frame else None,
            source="test",
        )
        raw = apply_rating_threshold(raw, config.data.rating_threshold)  # as the run's data was read
        users = _indices(split.train.user_map, raw.users, "test")
        items = _indices(split.train.item_map, raw.items, "test")
        truth = _matrix(users, items, protocol.seen_at_test.shape)
        overlap = truth.multiply(protocol.seen_at_test).nnz
        if overlap:
            raise DataError(
                f"{overlap} (user, item) pairs are in the run's train or valid split, which the ranking "
                "excludes; leave them out",
                path="test",
            )
        return protocol.with_test(truth).test_metrics(model)

    def probe(
        self,
        attack: str | Sequence[str] = "fgsm",
        eps: float | Iterable[float] = (0.25, 0.5),
        *,
        eps_mode: str = "absolute",
        pgd_steps: int = 10,
        targets: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """The robustness probe (``advrec evaluate --attack``): every test metric clean and with the
        embedding rows moved by ``attack`` (``"fgsm"``, ``"pgd"`` or both) to norm ε, next to a random
        move of the same norms. One row per (attack, ε, metric): ``clean``, ``perturbed``, ``drop``
        (relative), ``random``, ``random_drop``. Recorded in ``results.json`` and ``robustness/``.

        ``eps_mode``: ``absolute`` ε, or ``relative`` to each row's norm. ``targets``: the tables to
        perturb (default: all the model's), kept apart as ``robustness_<tables>``.
        """
        try:
            attacks = parse_attacks(attack)
        except ValueError as exc:
            raise ConfigError(f"attack {attack!r}: {exc}") from None
        eps_list = _eps_list(eps)
        modes = get_args(EpsMode)
        if eps_mode not in modes:
            raise ConfigError(f"eps_mode {eps_mode!r}: expected one of {', '.join(modes)}")
        if isinstance(pgd_steps, bool) or not isinstance(pgd_steps, int) or pgd_steps < 1:
            raise ConfigError(f"pgd_steps {pgd_steps!r}: expected a whole number of at least 1")
        entry = robustness_run(
            self.run_dir,
            eps_list,
            attack=attacks,
            eps_mode=typing.cast(EpsMode, eps_mode),
            pgd_steps=pgd_steps,
            targets=None if targets is None else list(targets),
        )
        rows = [{"attack": name, **row} for name in attacks for row in curve_rows(entry, name)]
        curve = pd.DataFrame(rows)
        curve["eps"] = curve["eps"].astype(float)
        return curve

    def poison(
        self,
        attack: str | dict[str, Any] = "bandwagon",
        size: float = 0.03,
        targets: str = "mid:5",
        *,
        filler: float | None = None,
        defence: str | dict[str, Any] = "none",
        detector: str | None = None,
        out: str | Path | None = None,
        progress: bool = True,
    ) -> pd.DataFrame:
        """The poisoning experiment of ``advrec attack`` with this run as the clean victim: fake users
        (``size``: a share of the real users) push ``targets`` (``mid:5``, ``unpopular:5``, ``random:5``
        or original item ids ``"12,40"``); the victim is retrained on the poisoned data with the same
        config and seed (and with ``defence``, also defended), and the targets' exposure is measured.

        Returns one row per metric (``target_hit@10``, ``target_mean_rank``, ... and the test metrics)
        and a column per victim (``before``, ``after``[, ``defended``]); ``.attrs`` holds the attack's
        description (fake users, filler, target ids, shifts) and the experiment folder, by default
        ``poisoning/<attack>-<size>-<targets>/`` inside the run folder (rerunning reuses it). ``progress``:
        as in :func:`fit`.
        """
        from advrec.experiments.poisoning import attack_run, poison_config

        chosen: dict[str, Any] = {"name": defence} if isinstance(defence, str) else dict(defence)
        if detector is not None:
            chosen["detector"] = detector
        raw = {"attack": attack, "size": size, "targets": str(targets), "filler": filler, "defence": chosen}
        settings = poison_config(raw, "poison")
        config = self.config
        slug = _slug(settings.attack.name, settings.size, targets)
        folder = Path(out) if out is not None else self.run_dir / "poisoning" / slug
        with _shown(progress):
            results = attack_run(
                config,
                folder,
                settings,
                data_root=self.run_dir,  # the victim's data.path is relative to its folder
                show_progress=progress,
                clean_dir=self.run_dir,
            )
        p = results["poisoning"]
        table = pd.DataFrame({c: p[c] for c in ("before", "after", "defended") if c in p})
        table.index.name = "metric"
        table.attrs = {k: v for k, v in p.items() if k not in ("before", "after", "defended")}
        table.attrs["folder"] = str(folder)
        return table

    # -- the folder's life ----------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the run folder to ``path`` (a new or empty folder) and return it. A temporary run moves
        there (this object then lives at ``path``); a run in a folder of its own is copied."""
        target = Path(path)
        source = self.run_dir
        if target.resolve() == source.resolve():
            return target
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise AdvrecError(f"{target}: exists and is not an empty folder; choose another path")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:  # copied beside the target, then renamed: a reader never sees half a folder
            shutil.copytree(source, staging / "run")
            os.replace(staging / "run", target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if self._cleanup is not None:
            self._cleanup()
            self._cleanup = None
            self._run_dir, self._state = target, None
        return target

    def close(self) -> None:
        """Delete a temporary run folder (not one given as ``out=`` or saved); the run is then unusable."""
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _closed(self) -> bool:
        return self._cleanup is not None and not self._cleanup.alive

    def _check_open(self) -> None:
        if self._closed:
            raise AdvrecError("this run was closed and its temporary folder deleted; save() keeps a run")

    def _loaded(self) -> tuple[RunConfig, Split, ScoringModel, EvaluationProtocol]:
        """The config, split, best model and test protocol, read once per folder."""
        if self._state is None:
            config, split, model = load_run(self.run_dir)
            self._state = (config, split, model, build_protocol(config, split))
        return self._state


@contextmanager
def _shown(progress: bool) -> Iterator[None]:
    """advrec's INFO lines on stderr while the block runs, as the command line shows them; not when the
    caller's own logging already shows them (a second handler would print every line twice)."""
    logger = logging.getLogger(ROOT)
    if not progress or (logger.isEnabledFor(logging.INFO) and logger.hasHandlers()):
        yield
        return
    with console_log(logging.INFO):
        yield


# -- DataFrames in, ids out -------------------------------------------------------------------------


def _frame(df: Any, columns: Mapping[str, Any] | None, what: str) -> pd.DataFrame:
    """``df``'s interactions with the canonical column names and checked types: ids int64 (strings
    that are all integers become integers, as when a file is read) or str, rating float64, timestamp
    int64 seconds."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame of interactions, got {type(df).__name__}", path=what)
    spec = _column_spec(df, columns, what)
    if len(df) == 0:
        raise DataError("the DataFrame has no rows", path=what)
    out = {}
    for key, name in spec.items():
        column = df[name]
        if isinstance(column, pd.DataFrame):
            raise DataError(f"column {name!r} appears more than once", path=what)
        out[key] = _CHECKS[key](column, f"column {name!r}: ", what)
    return pd.DataFrame(out)


def _column_spec(df: pd.DataFrame, columns: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    hint = "name them with columns={'user': ..., 'item': ...}"
    if columns is None:
        spec = {key: key for key in TABLE_KEYS if key in df.columns}
    elif isinstance(columns, Mapping):
        unknown = sorted(set(columns) - set(TABLE_KEYS))
        if unknown:
            raise DataError(
                f"columns: unknown keys {unknown}; expected some of {', '.join(TABLE_KEYS)}", path=what
            )
        spec = {key: columns[key] for key in TABLE_KEYS if key in columns}
    else:
        raise DataError(f"columns must be a dict like {{'user': 'userId'}}, got {columns!r}", path=what)
    missing = [key for key in ("user", "item") if key not in spec]
    if missing:
        raise DataError(
            f"no {' or '.join(repr(m) for m in missing)} column among {list(df.columns)}; {hint}", path=what
        )
    absent = [name for name in spec.values() if name not in df.columns]
    if absent:
        raise DataError(
            f"column {absent[0]!r} is not in the DataFrame's columns {list(df.columns)}", path=what
        )
    return spec


def _nulls(column: pd.Series, label: str, what: str) -> None:
    missing = column.isna().to_numpy()
    if missing.any():
        first = column.index[np.flatnonzero(missing)[0]]
        raise DataError(
            f"{label}{int(missing.sum())} missing (null) values, the first at index {first!r}", path=what
        )


def _ids(column: pd.Series, label: str, what: str) -> np.ndarray:
    """Ids as int64 or str; any other type (floats, booleans, a mix) is an error naming it."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(column.cat.categories.dtype)
    _nulls(column, label, what)
    kind = pd.api.types.infer_dtype(column, skipna=False)
    if kind == "integer" and not pd.api.types.is_bool_dtype(column.dtype):
        values = column.to_numpy()
        if values.dtype.kind == "u" and len(values) and values.max() > np.iinfo(np.int64).max:
            raise DataError(f"{label}ids above the int64 range", path=what)
        try:
            return values.astype(np.int64)
        except OverflowError:
            raise DataError(f"{label}ids above the int64 range", path=what) from None
    if kind == "string":
        text = column.astype(str)
        if (text == "").any():
            raise DataError(f"{label}an empty id", path=what)
        if text.str.fullmatch(_INT_ID).all():
            try:
                return text.to_numpy().astype(np.int64)
            except (OverflowError, ValueError):
                pass  # beyond int64: kept as text, as the file readers keep them
        return text.to_numpy(dtype=str)
    raise DataError(f"{label}{kind} ids ({column.dtype}); expected integer or string ids", path=what)


def _ratings(column: pd.Series, label: str, what: str) -> np.ndarray:
    _nulls(column, label, what)
    if pd.api.types.is_bool_dtype(column.dtype) or not pd.api.types.is_numeric_dtype(column.dtype):
        raise DataError(f"{label}{column.dtype} ratings; expected numbers", path=what)
    values = column.to_numpy().astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise DataError(
            f"{label}rating {values[bad[0]]} at index {column.index[bad[0]]!r} is not finite", path=what
        )
    return values


def _timestamps(column: pd.Series, label: str, what: str) -> np.ndarray:
    _nulls(column, label, what)
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        zero = pd.Timestamp(0, tz=column.dt.tz)
        return ((column - zero) // pd.Timedelta(seconds=1)).to_numpy().astype(np.int64)
    if pd.api.types.is_integer_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy().astype(np.int64)
    raise DataError(f"{label}{column.dtype} timestamps; expected integers or datetimes", path=what)


_CHECKS = {"user": _ids, "item": _ids, "rating": _ratings, "timestamp": _timestamps}


def _given_ids(ids: Any, what: str) -> np.ndarray:
    """Ids passed as one id or a list/array/Series of them, checked as a DataFrame's id column is."""
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        ids = [ids]
    column = ids if isinstance(ids, pd.Series) else pd.Series(np.asarray(list(ids), dtype=object))
    return _ids(column, "", what)


def _indices(id_map: IdMap, wanted: np.ndarray, what: str) -> np.ndarray:
    """Dense indices of original ids (int64 or str); ids the run does not know are an error naming them."""
    raw = id_map.raw
    if len(wanted) == 0:
        return np.zeros(0, dtype=np.int64)
    if (wanted.dtype.kind == "i") != (raw.dtype.kind in "iu") or len(raw) == 0:
        found, where = np.zeros(len(wanted), dtype=bool), np.zeros(len(wanted), dtype=np.int64)
    else:
        where = np.minimum(np.searchsorted(raw, wanted), len(raw) - 1)
        found = raw[where] == wanted
    if not found.all():
        unknown = list(dict.fromkeys(wanted[~found].tolist()))
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise DataError(
            f"not in the run's data: {', '.join(repr(u) for u in unknown[:5])}{more} "
            f"({len(raw)} known, e.g. {raw[:3].tolist()})",
            path=what,
        )
    return where.astype(np.int64)


def _matrix(users: np.ndarray, items: np.ndarray, shape: tuple[int, int]):
    import scipy.sparse as sp

    truth = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)), shape=shape)
    truth.sum_duplicates()
    truth.data[:] = 1.0
    return truth


# -- the run's config and its stored input ----------------------------------------------------------


def _check_out(run_dir: Path, resume: bool) -> None:
    """A fresh fit does not start over a run; a resumed one continues a run that fit began."""
    if not resume:
        if (run_dir / "checkpoints" / "last.pt").exists():
            raise AdvrecError(
                f"{run_dir} already holds a run; pass resume=True to continue it or choose another out"
            )
        return
    if not (run_dir / "config.yaml").exists():
        raise AdvrecError(f"resume=True: {run_dir / 'config.yaml'} not found; is {run_dir} a run folder?")
    if not (run_dir / INPUT / INPUT_FILES["df"]).exists():
        raise AdvrecError(
            f"resume=True: {run_dir} was not trained by advrec.fit (no {INPUT}/{INPUT_FILES['df']}); "
            "continue it with advrec train --resume"
        )


def _input_frames(
    run_dir: Path,
    df: pd.DataFrame | None,
    valid: pd.DataFrame | None,
    test: pd.DataFrame | None,
    columns: Mapping[str, Any] | None,
    resume: bool,
) -> dict[str, pd.DataFrame]:
    """The checked frames to train on, by ``INPUT_FILES`` key; on resume without ``df``, the stored ones."""
    if df is None:
        if not resume:
            raise DataError("expected a pandas DataFrame of interactions, got None", path="df")
        stored = {key: run_dir / INPUT / name for key, name in INPUT_FILES.items()}
        return {key: pd.read_parquet(path) for key, path in stored.items() if path.exists()}
    if valid is not None and test is None:
        raise ConfigError("valid= without test=: a given split needs its test interactions")
    given = {"df": df, "valid": valid, "test": test}
    return {key: _frame(frame, columns, key) for key, frame in given.items() if frame is not None}


def _store_frames(run_dir: Path, frames: dict[str, pd.DataFrame]) -> None:
    """Each frame as ``input/<name>.parquet``, written atomically; a stored copy that differs (another
    DataFrame for the same folder) is refused rather than replaced."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for key, frame in frames.items():
        path = run_dir / INPUT / INPUT_FILES[key]
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if path.exists():
            if not pq.read_table(path).equals(table):
                raise AdvrecError(
                    f"{path}: this folder holds a run on other interactions than {key}; choose another out"
                )
            continue
        atomic_write(path, functools.partial(pq.write_table, table))


def _fit_config(
    base: str | Path | Mapping[str, Any] | None,
    model: str | Mapping[str, Any] | None,
    adversary: str | Mapping[str, Any] | None,
    epochs: int | None,
    seed: int | None,
    overrides: Mapping[str, Any] | Sequence[str] | None,
    frames: dict[str, pd.DataFrame],
) -> RunConfig:
    """The base config with fit's arguments on top, then ``set``; validated by the config system."""
    if base is None:
        raw: dict[str, Any] = {}
    elif isinstance(base, Mapping):
        raw = json.loads(json.dumps(base, default=str))  # a deep copy; the caller's dict is left alone
    else:  # a file goes through load_config (its errors name the file); its resolved values are the base
        raw = load_config(base).model_dump(mode="json")
    _set_component(raw, "model", model)
    _set_component(raw, "adversary", adversary)
    if epochs is not None:
        raw.setdefault("train", {})["epochs"] = epochs
    if seed is not None:
        raw["seed"] = seed
    stored = {key: f"{INPUT}/{name}" for key, name in INPUT_FILES.items() if key in frames}
    raw["data"] = {
        **(raw.get("data") or {}),
        "format": "table",
        "path": stored["df"],
        "valid_path": stored.get("valid"),
        "test_path": stored.get("test"),
        "columns": {key: key for key in frames["df"].columns},
        "sep": None,
        "header": None,
    }
    if "test" in frames:
        raw.setdefault("split", {})["method"] = "given"
    return parse_config(apply_overrides(raw, parse_overrides(_override_list(overrides)), "set"), "advrec.fit")


def _set_component(raw: dict[str, Any], section: str, value: str | Mapping[str, Any] | None) -> None:
    """A section given by name or settings: merged into the base's if it is the same component."""
    if value is None:
        return
    if isinstance(value, str):
        value = {"name": value}
    elif isinstance(value, Mapping):
        value = dict(value)
    else:
        raise ConfigError(f"{section}: expected a name or a dict of settings, got {type(value).__name__}")
    current = raw.get(section) or {}
    same = value.get("name", current.get("name")) == current.get("name", getattr(RunConfig(), section).name)
    raw[section] = {**current, **value} if same else value


def _override_list(overrides: Mapping[str, Any] | Sequence[str] | None) -> list[str]:
    """``set`` as ``--set`` strings: a dict's values are written as JSON, which YAML reads back as is."""
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return [f"{key}={json.dumps(value, default=str)}" for key, value in overrides.items()]
    if isinstance(overrides, str):
        return [overrides]
    return list(overrides)


def _check_k(k: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k {k!r}: expected a whole number of at least 1")


def _eps_list(eps: float | Iterable[float]) -> list[float]:
    values = [eps] if isinstance(eps, (int, float, np.number)) else list(eps)
    try:
        numbers = [float(v) for v in values if not isinstance(v, (bool, str))]
    except (TypeError, ValueError):
        numbers = []
    if not values or len(numbers) != len(values) or not all(np.isfinite(v) and v >= 0 for v in numbers):
        raise ConfigError(f"eps {eps!r}: expected one or more finite, non-negative numbers, e.g. [0.25, 0.5]")
    return numbers


def _slug(attack: str, size: float, targets: Any) -> str:
    """A folder name for one attack's settings (``bandwagon-0.03-mid5``)."""
    text = f"{attack}-{size}-{targets}"
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in text)
