"""Wall time of ARLib and advrec in one run, on ARLib's ML-100K split: a victim epoch and a generated profile.

1. Victim epoch: ARLib's GMF (BPR-MF: dim 64, batch 2048) and advrec's MF-BPR victim (``--config``),
   each trained for ``--epochs`` epochs on the same split; seconds per epoch as each tool runs it (ARLib
   evaluates on its test set every 5th epoch, advrec validates every epoch) and of training alone
   (ARLib's: the difference of an E-epoch and a 1-epoch run, each evaluating once at epoch 0).
2. Generated profile: each attack both tools implement (``--pairs`` ARLIB=ADVREC), run by ARLib's own code
   (its surrogate's training included: ``surrogate_s`` + ``attack_s``) and by advrec's ``generate`` (its
   surrogate included), at the same budget (``--size`` of the real users, the mean profile length as
   filler); seconds per fake user.

Both tools run one after the other in this process's run, one thread each; the ratio is ARLib / advrec.
The ARLib checkout is copied and patched as ``arlib_compare.py`` does.

    OMP_NUM_THREADS=1 python benchmarks/arlib_speed.py --arlib /path/to/ARLib --epochs 10 \
        --pairs PGA=pga,DLAttack=dl-attack --out runs/arlib_speed
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from arlib_compare import _PREAMBLE, UNPOPULAR, _run, arlib_split_config, prepare_arlib, run_arlib

from advrec.attack.base import AttackSpec
from advrec.attack.registry import ATTACKS, generate
from advrec.data.split import load_saved_split
from advrec.experiments.poisoning import attack_rng, train_or_reuse
from advrec.utils.files import atomic_write_json, read_json_object

ROOT = Path(__file__).resolve().parents[1]

# ARLib's GMF trained for cfg["epochs"] epochs as its main.py trains a recommender
_GMF_EPOCHS = (
    _PREAMBLE
    + r"""
from recommender.GMF import GMF
rargs = recommend_parse_args()
rargs.dataset, rargs.model_name, rargs.seed = "ml-100k", "GMF", cfg["seed"]
rargs.load = rargs.save = False
rargs.maxEpoch = cfg["epochs"]
seedSet(cfg["seed"])
data = DataLoader(rargs)
victim = GMF(rargs, data)
start = time.perf_counter()
victim.train(evalNum=cfg["eval_every"])
json.dump({"train_s": time.perf_counter() - start, "epochs": cfg["epochs"]}, open(cfg["out"], "w"))
"""
)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arlib", required=True, help="an ARLib checkout (its data/clean/ml-100k is read)")
    parser.add_argument("--config", default=str(ROOT / "examples" / "basics" / "ml100k_mf_bpr.yaml"))
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--epochs", type=int, default=10, help="victim epochs, both tools")
    parser.add_argument("--size", type=float, default=0.03, help="fake users as a share of the real users")
    parser.add_argument("--pairs", default="PGA=pga,DLAttack=dl-attack", help="ARLIB=ADVREC attack names")
    parser.add_argument("--arlib-epochs", type=int, default=30, help="ARLib's surrogate training epochs")
    parser.add_argument("--out", default="runs/arlib_speed")
    return parser.parse_args()


def main() -> None:
    args = _args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    checkout = Path(args.arlib).resolve()
    work = prepare_arlib(checkout, out / "arlib", UNPOPULAR, [])
    pairs = [tuple(p.split("=", 1)) for p in args.pairs.split(",") if p]

    config = arlib_split_config(args.config, args.seed)
    train_cfg = config.train.model_copy(update={"epochs": args.epochs, "patience": args.epochs + 1})
    config = config.model_copy(update={"train": train_cfg})
    run_dir = out / "advrec-victim"
    start = time.perf_counter()
    train_or_reuse(config, run_dir, checkout / "data" / "clean")
    advrec_wall = time.perf_counter() - start
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    advrec_epoch = float(np.mean([x["train_s"] + x["eval_s"] for x in lines]))
    advrec_train = float(np.mean([x["train_s"] for x in lines]))

    def gmf_seconds(epochs: int, eval_every: int, name: str) -> float:
        cfg = {"seed": args.seed, "epochs": epochs, "eval_every": eval_every}
        cfg["out"] = str((out / f"{name}.tmp").resolve())
        return _run(work, _GMF_EPOCHS, cfg, out / f"{name}.json", "ARLib's GMF")["train_s"]

    for old in out.glob("gmf-*.json"):
        old.unlink()  # timed afresh in this run
    shipped = gmf_seconds(args.epochs, 5, "gmf-shipped") / args.epochs
    # epoch 0 always evaluates: the difference of E epochs and 1 epoch is E - 1 epochs of training alone
    train_only = (gmf_seconds(args.epochs, args.epochs + 1, "gmf-e") - gmf_seconds(1, 2, "gmf-1")) / (
        args.epochs - 1
    )
    result = {
        "epochs": args.epochs,
        "victim_epoch_s": {
            "arlib_gmf_as_shipped": shipped,
            "arlib_gmf_training": train_only,
            "advrec_mf_bpr_with_validation": advrec_epoch,
            "advrec_mf_bpr_training": advrec_train,
        },
        "advrec_victim_wall_s": advrec_wall,
        "epoch_ratio_as_run": shipped / advrec_epoch,
        "epoch_ratio_training": train_only / advrec_train,
        "attacks": {},
    }
    print(json.dumps(result["victim_epoch_s"]), flush=True)

    train = load_saved_split(run_dir / "split").train
    n_fake = max(1, int(round(args.size * train.n_users)))
    filler = int(len(train) / train.n_users)
    targets = np.array([train.item_map.index(t) for t in UNPOPULAR.split(",")])
    spec = AttackSpec(n_fake=n_fake, filler=filler, targets=targets)
    for arlib_name, advrec_name in pairs:
        made = out / f"arlib-{arlib_name}.json"
        if made.exists():
            made.unlink()  # timed afresh in this run
        arlib = run_arlib(work, arlib_name, args.seed, args.size, args.arlib_epochs, made)
        arlib_s = arlib["surrogate_s"] + arlib["attack_s"]
        cfg = ATTACKS[advrec_name].config.model_validate({})
        start = time.perf_counter()
        generate(cfg, spec, train, attack_rng(args.seed, 1))
        advrec_s = time.perf_counter() - start
        result["attacks"][arlib_name] = {
            "advrec": advrec_name,
            "n_fake": n_fake,
            "arlib_s": arlib_s,
            "arlib_surrogate_s": arlib["surrogate_s"],
            "advrec_s": advrec_s,
            "arlib_per_profile_s": arlib_s / arlib["n_fake"],
            "advrec_per_profile_s": advrec_s / n_fake,
            "ratio": (arlib_s / arlib["n_fake"]) / (advrec_s / n_fake),
        }
        print(
            f"{arlib_name} / {advrec_name}: ARLib {arlib_s:.0f} s ({arlib['n_fake']} fakes), "
            f"advrec {advrec_s:.0f} s ({n_fake} fakes)",
            flush=True,
        )
    atomic_write_json(out / "arlib_speed.json", result)
    print(json.dumps(read_json_object(out / "arlib_speed.json"), indent=1))


if __name__ == "__main__":
    main()
