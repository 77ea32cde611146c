"""Optional experiment tracking: TensorBoard scalars and MLflow runs per epoch (extras ``tensorboard``,
``mlflow``).

``advrec study --tensorboard DIR`` writes one TensorBoard run per cell, ``DIR/<cell folder>``: every
numeric entry of the epoch's log line (``loss``, ``adv_loss``, ``d_loss``, ``lr``, ...) under ``train/``,
valid metrics under ``valid/``, and after training the test metrics under ``test/`` (step = best epoch).
``advrec study --mlflow DIR`` logs to an MLflow tracking folder (local file store; one MLflow experiment
named after the study): one MLflow run per cell trained now, with the cell's whole config flattened into
params (``train.optimizer.lr``, ...), the same per-epoch metrics as TensorBoard (``train/loss``,
``valid/ndcg_at_10``, ...: MLflow refuses ``@`` in names) and the test metrics at the best epoch; then one
run named ``report`` holding the study's report files as artifacts.
Off by default; the packages are imported only when asked for.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from advrec.errors import AdvrecError
from advrec.train.hooks import TrainHook


def _writer(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise AdvrecError(
            "--tensorboard needs the tensorboard package: pip install 'advrec[tensorboard]'"
        ) from None
    return SummaryWriter(log_dir=str(folder))


class TensorBoardHook(TrainHook):
    """Writes each epoch's scalars; ``close(results)`` adds the test metrics and flushes."""

    def __init__(self, folder: str | Path):
        self.writer = _writer(Path(folder))

    def on_epoch_end(self, epoch: int, log: dict[str, Any]) -> None:
        for key, value in _epoch_scalars(log):
            self.writer.add_scalar(key, value, epoch)
        self.writer.flush()

    def close(self, results: dict[str, Any] | None = None) -> None:
        if results:
            step = int(results.get("best_epoch", 0))
            for key, value in (results.get("test") or {}).items():
                if isinstance(value, (int, float)):
                    self.writer.add_scalar(f"test/{key}", value, step)
        self.writer.close()


def _epoch_scalars(log: dict[str, Any]) -> Iterator[tuple[str, float]]:
    for key, value in log.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "epoch":
            yield f"train/{key}", float(value)
    for key, value in (log.get("valid") or {}).items():
        yield f"valid/{key}", float(value)


def _mlflow_name(key: str) -> str:
    return key.replace("@", "_at_")  # MLflow refuses '@' in metric names: valid/ndcg_at_10


def _flatten(tree: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(tree, dict):
        flat: dict[str, str] = {}
        for key, value in tree.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: str(tree)}


class MLflowTracker:
    """One MLflow experiment in a local tracking folder; ``run(name, params)`` opens a run per cell."""

    def __init__(self, folder: str | Path, experiment: str):
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise AdvrecError("--mlflow needs the mlflow package: pip install 'advrec[mlflow]'") from None
        # MLflow 3 keeps the folder store in maintenance mode and refuses it unless this is set; a plain
        # folder (no database server) is what --mlflow promises, so opt in for this process.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=Path(folder).resolve().as_uri())
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)

    def run(self, name: str, params: dict[str, Any] | None = None) -> MLflowRunHook:
        run_id = self.client.create_run(self.experiment_id, run_name=name).info.run_id
        for key, value in _flatten(params or {}).items():
            self.client.log_param(run_id, key, value[:6000])  # MLflow's limit on a param's length
        return MLflowRunHook(self.client, run_id)

    def log_files(self, name: str, paths: list[Path]) -> None:
        hook = self.run(name)
        for path in paths:
            if path.exists():
                self.client.log_artifact(hook.run_id, str(path))
        hook.close()


class MLflowRunHook(TrainHook):
    """Logs each epoch's scalars to one MLflow run; ``close(results)`` adds the test metrics, ends it."""

    def __init__(self, client: Any, run_id: str):
        self.client, self.run_id = client, run_id

    def on_epoch_end(self, epoch: int, log: dict[str, Any]) -> None:
        for key, value in _epoch_scalars(log):
            self.client.log_metric(self.run_id, _mlflow_name(key), value, step=epoch)

    def close(self, results: dict[str, Any] | None = None) -> None:
        if results:
            step = int(results.get("best_epoch", 0))
            for key, value in (results.get("test") or {}).items():
                if isinstance(value, (int, float)):
                    self.client.log_metric(self.run_id, _mlflow_name(f"test/{key}"), float(value), step=step)
        self.client.set_terminated(self.run_id, status="FINISHED" if results else "KILLED")
