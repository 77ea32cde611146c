#!/usr/bin/env python3
"""Run the CFGAN reproducibility study's own code (Pérez Maurera, Ferrari Dacrema & Cremonesi, ECIR 2022)
from a checkout of it, on its own MovieLens-100K split, under one protocol that advrec also runs.

This script runs in the study's Python environment (Python 3.9, TensorFlow 2.6, its ``recsys_framework``),
never in advrec's; it imports the study's code from the checkout path it is given and copies none of it.
Sub-commands:

``split CHECKOUT OUT``
    The study's data procedure for ML-100K: CFGAN's original ``ML100K.train`` / ``ML100K.test`` files
    (shipped in the checkout), then the study's 80/20 random hold-out of the training interactions into
    train and validation (``split_train_validation_percentage_random_holdout``), with ``np.random`` seeded
    by ``--seed`` (the study's reader draws it unseeded; its own split files are not in the repository).
    Writes ``OUT/{train,valid,test}.tsv`` (``user item 1``, the study's 0-based ids) and
    ``OUT/split.json``.

``cfgan CHECKOUT SPLIT OUT.json``
    The study's CFGAN (``CFGANModel``, TensorFlow 1 graph code under ``tf.compat.v1``) at the original
    code's ML-100K hyper-parameters (``get_cfgan_code_hyper_parameters``), with ``--mode`` and ``--mask``
    to pick the variant and scheme. Training follows the study's early stopping: valid NDCG@10 every
    ``--every`` epochs, stop after ``--patience`` evaluations without improvement, at most
    ``--max-epochs`` epochs; the best epoch's item scores are then evaluated on test by the study's
    ``EvaluatorHoldout`` at cut-offs 5, 10, 20, ranking past train + valid (advrec's protocol; the study
    itself re-trains on train + valid before testing). SIGTERM ends training after the current epoch (with
    a last validation) and tests the best epoch so far; the result records ``stopped_by_sigterm``. An
    epoch is ``discriminator_steps`` passes of D and ``generator_steps`` passes of G (the original code's
    outer epoch: its "1000 epochs" with 4 G steps are 250 such epochs). Time per epoch counts training
    only, as wall seconds and as CPU seconds (``time.process_time``: all the process's threads).

``ranked CHECKOUT SPLIT RUN RANKED.tsv OUT.json [--name NAME]``
    The study's ``EvaluatorHoldout`` on an advrec run's test rankings, so that both codes' models are
    measured by one evaluator (advrec's own test metrics stay in the run's ``results.json``).
    ``RANKED.tsv`` holds the run's top-20 per user past train + valid, written with advrec's API in
    advrec's environment::

        python -c "import advrec, sys; advrec.load(sys.argv[1]).recommend(k=20).to_csv(sys.argv[2], \\
            sep='\\t', index=False)" RUN RANKED.tsv

``baseline CHECKOUT SPLIT OUT.json --name EASE_R_Recommender``
    One of the study's tuned baselines, tuned by the study's own Bayesian search
    (``runParameterSearch_Collaborative``, NDCG@10 on valid) with ``--cases`` cases, the best one tested
    as above (trained on train, ranking past train + valid).

Patches needed to run the 2021 code here, all applied at run time by this script: the study's logger
reads ``pyproject.toml`` from the working directory (the script changes into the checkout's
``evaluation-cfgan`` folder); its TensorFlow session takes every core, so ``tf.compat.v1.ConfigProto`` is
wrapped to default to ``--threads`` intra- and inter-op threads (1, as advrec runs here); the study's
per-step prints are captured. The model code itself is unchanged.

Environment (outside the project)::

    python3.9 -m venv STUDY_ENV
    STUDY_ENV/bin/pip install tensorflow-cpu==2.6.5 numpy==1.19.5 "scipy<1.8" scikit-learn==0.24.2 \\
        scikit-optimize==0.8.1 pandas==1.3.5 attrs typed-argument-parser==1.7.1 toml tqdm "protobuf<3.21" \\
        keras==2.6.0 "h5py<3.2"
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

CUTOFFS = [5, 10, 20]
STUDY_SEED = 1234567890  # the study's REPRODUCIBILITY_SEED


def _use_checkout(checkout: Path) -> None:
    code = checkout / "evaluation-cfgan"
    sys.path[:0] = [str(code), str(checkout / "recsys-framework")]
    os.chdir(code)  # the study's logger reads ./pyproject.toml


def _read_tsv(path: Path, shape: tuple[int, int]):
    import numpy as np
    import scipy.sparse as sps

    rows = np.loadtxt(path, dtype=np.int64, ndmin=2)
    ones = np.ones(len(rows), dtype=np.float64)
    return sps.csr_matrix((ones, (rows[:, 0], rows[:, 1])), shape=shape)


def load_split(split: Path):
    info = json.loads((split / "split.json").read_text())
    shape = (info["n_users"], info["n_items"])
    return tuple(_read_tsv(split / f"{part}.tsv", shape) for part in ("train", "valid", "test"))


def cmd_split(args: argparse.Namespace) -> None:
    out = Path(args.out).resolve()
    _use_checkout(Path(args.checkout).resolve())
    import numpy as np
    from conferences.cikm.cfgan.our_implementation.dataset_reader.CFGANDatasetReader import (
        CFGANDatasetReader,
        dict_to_sparse_csr,
    )
    from conferences.cikm.cfgan.our_implementation.original.data import loadTestData, loadTrainingData
    from recsys_framework.Data_manager.split_functions.split_train_validation import (
        split_train_validation_percentage_random_holdout,
    )

    path = CFGANDatasetReader.ORIGINAL_DATA_PATH
    with contextlib.redirect_stdout(io.StringIO()):
        train_dict, n_users, n_items = loadTrainingData(benchmark="ML100K", path=path)
        test_dict, _ = loadTestData(benchmark="ML100K", path=path)
    original_train = dict_to_sparse_csr(train_dict, n_users, n_items)
    test = dict_to_sparse_csr(test_dict, n_users, n_items)
    np.random.seed(args.seed)
    train, valid = split_train_validation_percentage_random_holdout(
        original_train.copy(), train_percentage=0.8
    )
    out.mkdir(parents=True, exist_ok=True)
    for name, matrix in (("train", train), ("valid", valid), ("test", test)):
        coo = matrix.tocoo()
        order = np.lexsort((coo.col, coo.row))
        with open(out / f"{name}.tsv", "w") as f:
            for u, i in zip(coo.row[order], coo.col[order]):
                f.write(f"{u}\t{i}\t1\n")
    info = {
        "source": "CFGAN original ML100K.train/ML100K.test, study's 80/20 random hold-out of train",
        "seed": args.seed,
        "n_users": n_users,
        "n_items": n_items,
        "rows": {"train": int(train.nnz), "valid": int(valid.nnz), "test": int(test.nnz)},
    }
    (out / "split.json").write_text(json.dumps(info, indent=2))
    print(json.dumps(info))


class _Scores:
    """A study recommender that ranks a fixed score matrix, filtering the given seen matrix."""

    @staticmethod
    def make(seen, scores):
        from recsys_framework.Recommenders.BaseRecommender import BaseRecommender

        class FixedScores(BaseRecommender):
            RECOMMENDER_NAME = "FixedScores"

            def __init__(self):
                super().__init__(seen, verbose=False)

            def _compute_item_score(self, user_id_array, items_to_compute=None):
                return scores[user_id_array].copy()

        return FixedScores()


def evaluate(seen, scores, truth, cutoffs) -> dict[str, float]:
    """The study's EvaluatorHoldout on ``scores``, ranking past ``seen``."""
    from recsys_framework.Evaluation.Evaluator import EvaluatorHoldout

    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = EvaluatorHoldout(truth, cutoff_list=cutoffs, verbose=False)
        results, _ = evaluator.evaluateRecommender(_Scores.make(seen, scores))
    return {
        f"{metric}@{k}": float(results[k][key])
        for k in cutoffs
        for metric, key in (("precision", "PRECISION"), ("recall", "RECALL"), ("ndcg", "NDCG"))
    }


def _limit_tensorflow_threads(threads: int) -> None:
    """The study's session takes every core; advrec runs on ``threads`` of them, so this one does too."""
    import tensorflow as tf

    make_config = tf.compat.v1.ConfigProto

    def config(*args, **kwargs):
        kwargs.setdefault("intra_op_parallelism_threads", threads)
        kwargs.setdefault("inter_op_parallelism_threads", threads)
        return make_config(*args, **kwargs)

    tf.compat.v1.ConfigProto = config


def _stop_on_sigterm() -> list[int]:
    """A list that SIGTERM makes non-empty: the training loop then validates, stops and tests the best
    epoch so far, so a run cut short for time still yields its test figures (recorded as stopped)."""
    import signal

    stop: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    return stop


def cmd_cfgan(args: argparse.Namespace) -> None:
    split, out = Path(args.split).resolve(), Path(args.out).resolve()
    _use_checkout(Path(args.checkout).resolve())
    _limit_tensorflow_threads(args.threads)
    import attr
    from conferences.cikm.cfgan.our_implementation.constants import CFGANBenchmarks, CFGANMaskType, CFGANMode
    from conferences.cikm.cfgan.our_implementation.models.v1_compat.CFGANModel import CFGANModel
    from conferences.cikm.cfgan.our_implementation.parameters import get_cfgan_code_hyper_parameters

    train, valid, test = load_split(split)
    seen_at_test = (train + valid).tocsr()
    modes = {"item": CFGANMode.ITEM_BASED, "user": CFGANMode.USER_BASED}
    masks = {
        "zr": CFGANMaskType.ZERO_RECONSTRUCTION,
        "pm": CFGANMaskType.PARTIAL_MASKING,
        "zp": CFGANMaskType.ZERO_RECONSTRUCTION_AND_PARTIAL_MASKING,
    }
    hp = attr.evolve(
        get_cfgan_code_hyper_parameters(CFGANBenchmarks.ML100K),
        mode=modes[args.mode],
        mask_type=masks[args.mask],
        epochs=args.max_epochs,
        reproducibility_seed=args.seed,
    )
    with contextlib.redirect_stdout(io.StringIO()):
        model = CFGANModel(urm_train=train, hyper_parameters=hp, initialize_model=True)
    best = {"ndcg@10": -1.0, "epoch": 0, "scores": None}
    stop = _stop_on_sigterm()
    epoch_s: list[float] = []
    epoch_cpu_s: list[float] = []
    history = []
    bad = 0
    for epoch in range(args.max_epochs):
        start, cpu = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            model.run_epoch(epoch=epoch)
        epoch_s.append(time.perf_counter() - start)
        epoch_cpu_s.append(time.process_time() - cpu)
        if (epoch + 1) % args.every and epoch + 1 != args.max_epochs and not stop:
            continue
        scores = model.get_item_weights(urm=None)
        ndcg = evaluate(train, scores, valid, [10])["ndcg@10"]
        history.append(
            {"epoch": epoch + 1, "valid_ndcg@10": ndcg, "s_per_epoch": sum(epoch_s) / len(epoch_s)}
        )
        print(json.dumps(history[-1]), flush=True)
        if ndcg > best["ndcg@10"]:
            best, bad = {"ndcg@10": ndcg, "epoch": epoch + 1, "scores": scores}, 0
        else:
            bad += 1
            if bad >= args.patience:
                break
        if stop:
            break
    result = {
        "runner": "ecir2022-cfgan",
        "mode": args.mode,
        "mask": args.mask,
        "seed": args.seed,
        "hyper_parameters": {k: str(v) for k, v in attr.asdict(hp).items()},
        "best_epoch": best["epoch"],
        "epochs_run": len(epoch_s),
        "stopped_by_sigterm": bool(stop),
        "valid_ndcg@10": best["ndcg@10"],
        "test": evaluate(seen_at_test, best["scores"], test, CUTOFFS),
        "train_s_per_epoch": sum(epoch_s) / len(epoch_s),
        "train_cpu_s_per_epoch": sum(epoch_cpu_s) / len(epoch_cpu_s),
        "history": history,
    }
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "history"}))


def cmd_ranked(args: argparse.Namespace) -> None:
    split, run, out = Path(args.split).resolve(), Path(args.run_dir).resolve(), Path(args.out).resolve()
    ranked_path = Path(args.ranked).resolve()
    _use_checkout(Path(args.checkout).resolve())
    import numpy as np

    train, valid, test = load_split(split)
    # Listed items score above every unlisted one, in rank order; the evaluator's own seen filter
    # (train + valid) drops nothing more, as the list is already past them.
    scores = np.full(train.shape, -np.inf, dtype=np.float64)
    ranked = np.loadtxt(ranked_path, dtype=np.float64, skiprows=1, usecols=(0, 1, 2), ndmin=2)
    users, ranks, items = ranked[:, 0].astype(int), ranked[:, 1], ranked[:, 2].astype(int)
    scores[users, items] = 1000.0 - ranks
    results = json.loads((run / "results.json").read_text())
    result = {
        "runner": "advrec-ranked",
        "run": str(run),
        "model": args.name or run.name,
        "best_epoch": results["best_epoch"] + 1,
        "epochs_run": results["epochs_run"],
        "valid_ndcg@10": results["valid"]["ndcg@10"],
        "train_s_per_epoch": results["timing"]["train_s_per_epoch"],
        "test": evaluate((train + valid).tocsr(), scores, test, CUTOFFS),
        "advrec_test": {
            k: results["test"][k] for k in results["test"] if k.split("@")[-1] in map(str, CUTOFFS)
        },
    }
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


def cmd_baseline(args: argparse.Namespace) -> None:
    split, out = Path(args.split).resolve(), Path(args.out).resolve()
    work = Path(args.work).resolve()
    _use_checkout(Path(args.checkout).resolve())
    import numpy as np
    import recsys_framework.Recommenders as recommenders
    from recsys_framework.Evaluation.Evaluator import EvaluatorHoldout
    from recsys_framework.HyperparameterTuning.run_parameter_search import runParameterSearch_Collaborative
    from recsys_framework.Recommenders.DataIO import DataIO

    train, valid, test = load_split(split)
    np.random.seed(STUDY_SEED)
    recommender = getattr(recommenders, args.name)
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    runParameterSearch_Collaborative(
        recommender_class=recommender,
        URM_train=train,
        URM_train_last_test=None,
        metric_to_optimize="NDCG",
        evaluator_validation_earlystopping=EvaluatorHoldout(valid, cutoff_list=[10]),
        evaluator_validation=EvaluatorHoldout(valid, cutoff_list=[10]),
        evaluator_test=None,
        output_folder_path=str(work) + "/",
        parallelizeKNN=False,
        allow_weighting=True,
        resume_from_saved=False,
        n_cases=args.cases,
        n_random_starts=max(1, args.cases // 3),
        similarity_type_list=["asymmetric"],
    )
    search_s = time.perf_counter() - start
    results = []
    for meta in sorted(work.glob("*_metadata.zip")):
        data = DataIO(folder_path=str(work) + "/").load_data(file_name=meta.name)
        results.append((meta.name[: -len("_metadata.zip")], data))
    rows = []
    for name, data in results:
        best_hp = data["hyperparameters_best"]
        fitted = recommender(train)
        fitted.fit(**best_hp)
        seen_at_test = (train + valid).tocsr()
        users = np.arange(train.shape[0])
        scores = fitted._compute_item_score(users)
        scores = scores.toarray() if hasattr(scores, "toarray") else np.asarray(scores)
        rows.append(
            {
                "name": name,
                "hyper_parameters": {k: str(v) for k, v in best_hp.items()},
                "valid_ndcg@10": float(data["result_on_validation_best"]["NDCG"]),
                "test": evaluate(seen_at_test, scores, test, CUTOFFS),
            }
        )
    result = {
        "runner": "ecir2022-baseline",
        "name": args.name,
        "cases": args.cases,
        "search_s": search_s,
        "runs": rows,
    }
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


def cmd_table(args: argparse.Namespace) -> None:
    """One Markdown table of test P/R/NDCG at 5, 10, 20: the study's runs (JSON written by ``cfgan`` and
    ``baseline``) and advrec's (run folders: ``results.json``, CPU seconds from ``metrics.jsonl``)."""
    columns = [f"{m}@{k}" for k in CUTOFFS for m in ("precision", "recall", "ndcg")]
    header = ["model", "code", *[c.replace("precision", "P").replace("recall", "R") for c in columns]]
    header += ["valid NDCG@10", "best / run epochs", "s/epoch wall (CPU)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def row(name: str, code: str, test: dict, valid: float, epochs: str, speed: str) -> None:
        cells = [name, code, *[f"{test[c]:.4f}" for c in columns], f"{valid:.4f}", epochs, speed]
        lines.append("| " + " | ".join(cells) + " |")

    for path in args.study:
        result = json.loads(Path(path).read_text())
        if result["runner"] == "ecir2022-cfgan":
            name = f"CFGAN {result['mode']}-based {result['mask'].upper()}"
            speed = (
                f"{result['train_s_per_epoch']:.2f} ({result.get('train_cpu_s_per_epoch', float('nan')):.2f})"
            )
            epochs = f"{result['best_epoch']} / {result['epochs_run']}"
            row(name, "study", result["test"], result["valid_ndcg@10"], epochs, speed)
        elif result["runner"] == "advrec-ranked":
            epochs = f"{result['best_epoch']} / {result['epochs_run']}"
            speed = f"{result['train_s_per_epoch']:.2f}"
            row(result["model"], "advrec", result["test"], result["valid_ndcg@10"], epochs, speed)
        else:
            for run in result["runs"]:
                row(
                    run["name"], f"study ({result['cases']} cases)", run["test"], run["valid_ndcg@10"], "", ""
                )
    for run_dir in args.advrec:
        folder = Path(run_dir)
        results = json.loads((folder / "results.json").read_text())
        history = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line]
        cpu = [h["train_cpu_s"] for h in history if "train_cpu_s" in h]
        speed = f"{results['timing']['train_s_per_epoch']:.2f}"
        speed += f" ({sum(cpu) / len(cpu):.2f})" if cpu else ""
        config = (folder / "config.yaml").read_text()
        name = "CFGAN" if "name: cfgan" in config else folder.name
        epochs = f"{results['best_epoch'] + 1} / {results['epochs_run']}"
        row(name, "advrec", results["test"], results["valid"]["ndcg@10"], epochs, speed)
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("split", help="the study's ML-100K split, as files")
    p.add_argument("checkout")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=STUDY_SEED)
    p.set_defaults(run=cmd_split)
    p = sub.add_parser("cfgan", help="the study's CFGAN with early stopping on valid")
    p.add_argument("checkout")
    p.add_argument("split")
    p.add_argument("out")
    p.add_argument("--mode", choices=["item", "user"], default="item")
    p.add_argument("--mask", choices=["zr", "pm", "zp"], default="zp")
    p.add_argument("--max-epochs", type=int, default=400)
    p.add_argument("--every", type=int, default=5)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--seed", type=int, default=STUDY_SEED)
    p.add_argument("--threads", type=int, default=1, help="TensorFlow's intra- and inter-op threads")
    p.set_defaults(run=cmd_cfgan)
    p = sub.add_parser("ranked", help="the study's evaluator on an advrec run's top-20 lists")
    p.add_argument("checkout")
    p.add_argument("split")
    p.add_argument("run_dir", metavar="RUN", help="the advrec run folder")
    p.add_argument("ranked", help="its top-20 per user (user, rank, item columns, a header line)")
    p.add_argument("out")
    p.add_argument("--name", help="the model's name in the table (default: the run folder's)")
    p.set_defaults(run=cmd_ranked)
    p = sub.add_parser("baseline", help="a study baseline tuned by the study's search")
    p.add_argument("checkout")
    p.add_argument("split")
    p.add_argument("out")
    p.add_argument("--name", required=True, help="a class of recsys_framework.Recommenders")
    p.add_argument("--cases", type=int, default=50)
    p.add_argument("--work", default="/tmp/ecir2022-search")
    p.set_defaults(run=cmd_baseline)
    p = sub.add_parser("table", help="one Markdown table of the study's and advrec's runs")
    p.add_argument("--study", nargs="*", default=[], help="JSON files written by cfgan / baseline / ranked")
    p.add_argument("--advrec", nargs="*", default=[], help="advrec run folders")
    p.set_defaults(run=cmd_table)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
