"""ARLib's poisoning attacks beside advrec's, on ARLib's own MovieLens-100K split, one victim for all.

ARLib (github.com/CoderWZW/ARLib, the code of the poisoning survey arXiv 2406.01022) ships an ML-100K
split (ratings >= 4, random 80/10/10: ``data/clean/ml-100k/{train,val,test}.txt``, "user item rating"
lines). This driver

1. copies the ARLib checkout given by ``--arlib`` into ``--out``/arlib (ARLib writes logs and data into
   its working directory) with the target file of ``--targets`` written where ARLib reads its targets;
2. for each ARLib attack and seed, runs ARLib's own code in a subprocess (its surrogate recommender,
   trained by ARLib, where the attack needs one) and keeps the fake users' rows of the poisoned matrix;
3. trains advrec's victim (``--config``: MF-BPR by default) on the same split read by advrec's table
   loader, injects each attack's fake users into its TRAIN, retrains, and measures target Hit@10,
   Hit@50, NDCG@50 and mean rank over the real users who lack each target (advrec's probe);
4. does the same for advrec's own attacks (``--advrec-attacks``) at the same budget (fake users as a
   share of the real users, the same filler size: the mean real profile length, as ARLib's default).

ARLib needs small changes to run on a CPU with current libraries; the driver makes them without editing
ARLib's logic (``PATCHES`` and ``_RUNNER``): ``.cuda()`` returns its tensor or module unchanged;
``random.sample`` accepts a set again (Python 3.11 refuses one); PGA's torch index into a scipy matrix
becomes a numpy index; DLAttack's deepcopy of a non-leaf tensor becomes a detached copy; ARLib's
argument parsers read no command line (options are set on the parsed arguments); its model pickling is
off; scikit-learn, imported but unused by the white-box attacks, is
stubbed. ``ARLIB_FIXES`` names the attacks run a second time with their budget bug repaired (``+fix``):
PGA's projection keeps ``maliciousFeedbackNum`` filler items instead of ``int(0 * n_items)`` = 0.

    OMP_NUM_THREADS=1 python benchmarks/arlib_compare.py --arlib /path/to/ARLib --seeds 2020 \
        --arlib-attacks RandomAttack,BandwagonAttack,AUSH,DLAttack,PGA,PGA+fix \
        --advrec-attacks random,bandwagon,pga,revadv,dl-attack,template --out runs/arlib_compare

Rerunning with the same --out reuses every finished ARLib profile file and advrec run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from advrec.attack.base import FakeProfiles
from advrec.attack.inject import inject, write_poisoned_split
from advrec.data.split import load_saved_split
from advrec.errors import ConfigError
from advrec.experiments.poisoning import attack_run, poison_config, probe, train_or_reuse
from advrec.measure.poisoning import exposure_metrics
from advrec.runs.config import RunConfig, apply_overrides, parse_config, read_run_config
from advrec.runs.fingerprint import split_complete
from advrec.utils.files import atomic_write_json, atomic_write_text, read_json_object

ROOT = Path(__file__).resolve().parents[1]
UNPOPULAR = "1643,1179,1498,1589,1472"  # the 5 unpopular targets ARLib's target selection drew
# (file, text ARLib ships, replacement): the smallest edits that let ARLib's attacks run here
PATCHES = [
    (
        "attack/White/PGA.py",
        "int(Pi.shape[0] * 0.05))\n",
        "int(Pi.shape[0] * 0.05))\n        maxRecNumItemInd = maxRecNumItemInd.numpy().ravel()\n",
    ),
    ("attack/White/DLAttack.py", "torch.tensor(deepcopy(mat))", "mat.detach().clone()"),
]
ARLIB_FIXES = {
    "PGA": [
        (
            "attack/White/PGA.py",
            "int(self.maliciousFeedbackSize * self.itemNum))",
            "int(self.maliciousFeedbackNum))",
        )
    ],
}
CATEGORY = {
    "RandomAttack": "Black",
    "BandwagonAttack": "Black",
    "AUSH": "Gray",
    "LegUP": "Gray",
    "DLAttack": "White",
    "PGA": "White",
}
# the recommender ARLib's attack uses as its surrogate (PGA differentiates a graph adjacency: LightGCN)
SURROGATE = {"PGA": "LightGCN"}

_PREAMBLE = r"""
import importlib, json, random, sys, time, types
from copy import deepcopy
cfg = json.loads(sys.argv[1])
sys.argv = sys.argv[:1]  # ARLib's parsers read the command line; options are set below instead
import numpy as np, torch
torch.Tensor.cuda = lambda self, *a, **k: self
torch.nn.Module.cuda = lambda self, *a, **k: self
_sample = random.sample
random.sample = lambda population, k, *a, **kw: _sample(
    sorted(population) if isinstance(population, (set, frozenset)) else population, k, *a, **kw)
sklearn = types.ModuleType("sklearn"); neighbors = types.ModuleType("sklearn.neighbors")
neighbors.LocalOutlierFactor = None; sklearn.neighbors = neighbors
import importlib.machinery
sklearn.__spec__ = importlib.machinery.ModuleSpec("sklearn", None)
neighbors.__spec__ = importlib.machinery.ModuleSpec("sklearn.neighbors", None)
sys.modules.setdefault("sklearn", sklearn); sys.modules.setdefault("sklearn.neighbors", neighbors)
torch.set_num_threads(1)
from conf.attack_parser import attack_parse_args
from conf.recommend_parser import recommend_parse_args
from util.DataLoader import DataLoader
from util.tool import seedSet
"""

_RUNNER = (
    _PREAMBLE
    + r"""
rargs, aargs = recommend_parse_args(), attack_parse_args()
rargs.dataset, rargs.model_name, rargs.seed = "ml-100k", cfg["surrogate"], cfg["seed"]
rargs.load = rargs.save = False
rargs.maxEpoch = cfg["epochs"]
aargs.attackCategory, aargs.attackModelName = cfg["category"], cfg["attack"]
aargs.maliciousUserSize, aargs.attackTargetChooseWay, aargs.targetSize = cfg["size"], "unpopular", 5
aargs.times = 1
seedSet(cfg["seed"])
data = DataLoader(rargs)
n_real = data.user_num
rec_module = importlib.import_module("recommender." + cfg["surrogate"])
rec = getattr(rec_module, cfg["surrogate"])(rargs, data)
attack_module = importlib.import_module("attack." + cfg["category"] + "." + cfg["attack"])
attack = getattr(attack_module, cfg["attack"])(aargs, data)
start = time.perf_counter()
if attack.recommenderModelRequired or attack.recommenderGradientRequired:
    try:
        rec.train(requires_grad=False)
    except TypeError:
        rec.train()
trained = time.perf_counter()
if attack.recommenderModelRequired:
    poisoned = attack.posionDataAttack(deepcopy(rec))
else:
    poisoned = attack.posionDataAttack()
done = time.perf_counter()
poisoned = poisoned.tocsr() if hasattr(poisoned, "tocsr") else poisoned
rows = []
for fake in range(n_real, poisoned.shape[0]):
    row = poisoned[fake]
    row = row.tocoo() if hasattr(row, "tocoo") else None
    for item, value in zip(row.col.tolist(), row.data.tolist()):
        if value != 0:
            rows.append((fake - n_real, data.id2item[item], float(value)))
targets = [data.id2item[i] for i in attack.targetItem]
result = {"rows": rows, "n_fake": poisoned.shape[0] - n_real, "targets": targets,
          "surrogate_s": trained - start, "attack_s": done - trained}
json.dump(result, open(cfg["out"], "w"))
"""
)

# ARLib's own victim (GMF, as its main.py retrains one) on the clean split plus given fake rows
_VICTIM = (
    _PREAMBLE
    + r"""
import os, shutil
from recommender.GMF import GMF
from util.metrics import AttackMetric
rargs = recommend_parse_args()
rargs.model_name, rargs.seed, rargs.load, rargs.save = "GMF", cfg["seed"], False, False
rargs.maxEpoch = cfg["epochs"]
folder = "data/poison/" + cfg["tag"] + "/"
os.makedirs(folder, exist_ok=True)
made = json.load(open(cfg["profiles"]))
with open("data/clean/ml-100k/train.txt") as fh:
    lines = fh.read().rstrip("\n").split("\n")
lines += ["fakeUser%d %s %s" % (u, item, value) for u, item, value in made["rows"]]
with open(folder + "train.txt", "w") as fh:
    fh.write("\n".join(lines) + "\n")
for part in ("val.txt", "test.txt"):
    shutil.copyfile("data/clean/ml-100k/" + part, folder + part)
rargs.data_path, rargs.dataset = "data/poison/", cfg["tag"]
seedSet(cfg["seed"])
data = DataLoader(rargs)
victim = GMF(rargs, data)
start = time.perf_counter()
victim.train()
train_s = time.perf_counter() - start
targets = [data.item[t] for t in made["targets"]]
shipped = AttackMetric(victim, targets, [10, 50]).hitRate()  # ARLib's: over every user, rated items too
hits, ranks = {10: 0, 50: 0}, []
for user in data.user:
    if user.startswith("fakeUser"):
        continue
    scores = victim.predict(user)
    rated = [data.item[i] for i in data.training_set_u[user]]
    scores[rated] = -np.inf
    for t in targets:
        if t not in rated:  # real users who lack the target, their rated items excluded
            rank = int((scores > scores[t]).sum()) + 1
            ranks.append(rank)
            for k in hits:
                hits[k] += rank <= k
json.dump({"shipped_hit@10": shipped[0], "shipped_hit@50": shipped[1], "hit@10": hits[10] / len(ranks),
           "hit@50": hits[50] / len(ranks), "mean_rank": float(np.mean(ranks)), "train_s": train_s,
           "epochs": rargs.maxEpoch}, open(cfg["out"], "w"))
"""
)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arlib", required=True, help="an ARLib checkout (its data/clean/ml-100k is read)")
    parser.add_argument("--config", default=str(ROOT / "examples" / "basics" / "ml100k_mf_bpr.yaml"))
    parser.add_argument("--seeds", default="2020")
    parser.add_argument("--size", type=float, default=0.03, help="fake users as a share of the real users")
    parser.add_argument("--targets", default=UNPOPULAR, help="original item ids")
    parser.add_argument("--arlib-attacks", default="RandomAttack,BandwagonAttack,AUSH,DLAttack,PGA,PGA+fix")
    parser.add_argument("--arlib-epochs", type=int, default=30, help="ARLib's surrogate training epochs")
    parser.add_argument(
        "--arlib-victim", action="store_true", help="also retrain ARLib's GMF on its poisoned data"
    )
    parser.add_argument("--advrec-attacks", default="random,bandwagon,pga,revadv,dl-attack,template")
    parser.add_argument("--attack-set", action="append", default=[], help="ATTACK.key=value (advrec)")
    parser.add_argument("--out", default="runs/arlib_compare")
    return parser.parse_args()


def arlib_split_config(base: str | Path, seed: int) -> RunConfig:
    """The victim of ``base`` on ARLib's ML-100K split (``--data-root``: the checkout's data/clean)."""
    data = {
        "format": "table",
        "path": "ml-100k/train.txt",
        "valid_path": "ml-100k/val.txt",
        "test_path": "ml-100k/test.txt",
        "sep": " ",
        "header": False,
        "columns": {"user": 0, "item": 1, "rating": 2},
    }
    overrides = {"data": data, "split": {"method": "given"}, "seed": seed, "threads": 1}
    return parse_config(apply_overrides(read_run_config(base), overrides), str(base))


def prepare_arlib(checkout: Path, work: Path, targets: str, fixes: list[tuple[str, str, str]]) -> Path:
    """A patched copy of the checkout in ``work`` (made once), its target file naming ``targets``."""
    if not (checkout / "data" / "clean" / "ml-100k" / "train.txt").exists():
        raise ConfigError(f"--arlib {checkout}: no data/clean/ml-100k/train.txt; expected an ARLib checkout")
    stamp = json.dumps([PATCHES, fixes, targets])
    done = work / ".complete"
    if not done.exists() or done.read_text() != stamp:
        if work.exists():
            shutil.rmtree(work)
        shutil.copytree(checkout, work, ignore=shutil.ignore_patterns(".git", "douban", "ml-1M"))
        for name, old, new in [*PATCHES, *fixes]:
            path = work / name
            text = path.read_text()
            if old not in text:
                raise ConfigError(
                    f"--arlib {checkout}: {name} has changed (no {old.strip()!r}); update PATCHES"
                )
            path.write_text(text.replace(old, new, 1))
        count = len([t for t in targets.split(",") if t.strip()])
        (work / "data" / "clean" / "ml-100k" / f"targetItem_unpopular_{count}.txt").write_text(targets)
        done.write_text(stamp)
    return work


def run_arlib(work: Path, attack: str, seed: int, size: float, epochs: int, out: Path) -> dict[str, Any]:
    """ARLib's ``attack`` (its own code) on its split; the fake rows and the wall times, cached in ``out``."""
    if out.exists():
        return read_json_object(out)
    name = attack.removesuffix("+fix")
    if name not in CATEGORY:
        raise ConfigError(
            f"--arlib-attacks: {attack!r} is not driven here; expected one of {sorted(CATEGORY)}"
        )
    cfg = {
        "attack": name,
        "category": CATEGORY[name],
        "surrogate": SURROGATE.get(name, "GMF"),
        "seed": seed,
        "size": size,
        "epochs": epochs,
        "out": str(out.with_suffix(".tmp").resolve()),  # the runner works in the ARLib copy
    }
    return _run(work, _RUNNER, cfg, out, f"ARLib {attack} (seed {seed})")


def run_arlib_victim(work: Path, profiles: Path, seed: int, epochs: int, out: Path) -> dict[str, Any]:
    """ARLib's GMF retrained on its split plus the fake rows of ``profiles``: ARLib's own target hit rate
    and the one over real users who lack each target, cached in ``out``."""
    if out.exists():
        return read_json_object(out)
    cfg = {
        "seed": seed,
        "epochs": epochs,
        "profiles": str(profiles.resolve()),
        "tag": f"{profiles.parent.name}-seed{seed}",
        "out": str(out.with_suffix(".tmp").resolve()),
    }
    return _run(work, _VICTIM, cfg, out, f"ARLib's victim on {profiles}")


def _run(work: Path, code: str, cfg: dict[str, Any], out: Path, what: str) -> dict[str, Any]:
    log = out.with_suffix(".log")
    with open(log, "w") as fh:
        proc = subprocess.run(
            [sys.executable, "-c", code, json.dumps(cfg)], cwd=work, stdout=fh, stderr=subprocess.STDOUT
        )
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed; its output: {log}")
    Path(cfg["out"]).replace(out)
    return read_json_object(out)


def profiles_of(rows: list, n_fake: int, train) -> FakeProfiles:
    users = np.array([r[0] for r in rows], dtype=np.int64)
    items = np.array([train.item_map.index(r[1]) for r in rows], dtype=np.int64)
    ratings = np.array([r[2] for r in rows], dtype=np.float32)
    return FakeProfiles(users, items, ratings, n_fake)


def measure_injected(config: RunConfig, out: Path, clean_dir: Path, profiles: FakeProfiles, targets) -> dict:
    """Inject ``profiles`` into the clean split, retrain the victim, probe the targets before/after."""
    clean = load_saved_split(clean_dir / "split")
    poisoned_dir = out / "poisoned"
    if not split_complete(poisoned_dir / "split"):
        poisoned, fake_ids = inject(clean, profiles)
        write_poisoned_split(poisoned_dir / "split", poisoned, fake_ids)
    start = time.perf_counter()
    train_or_reuse(config, poisoned_dir, None)
    retrain_s = time.perf_counter() - start
    train = clean.train
    real = train.user_map.raw
    eligible = train.csr()[:, targets].toarray() == 0
    before = exposure_metrics(probe(clean_dir, real, train, targets)["ranks"], eligible)
    after = exposure_metrics(probe(poisoned_dir, real, train, targets)["ranks"], eligible)
    return {"before": before, "after": after, "retrain_s": retrain_s}


def profile_stats(profiles: FakeProfiles, targets: np.ndarray) -> dict[str, float]:
    """Filler items per fake user (items besides the targets): mean, min, and fake users with none."""
    is_filler = ~np.isin(profiles.items, targets)
    per_user = np.bincount(profiles.users[is_filler], minlength=profiles.n_fake)
    return {
        "filler_mean": float(per_user.mean()),
        "filler_min": int(per_user.min()),
        "targets_only": int((per_user == 0).sum()),
    }


def main() -> None:
    args = _args()
    out = Path(args.out)
    checkout = Path(args.arlib).resolve()
    data_root = checkout / "data" / "clean"
    seeds = [int(s) for s in args.seeds.split(",")]
    arlib_attacks = [a for a in args.arlib_attacks.split(",") if a]
    advrec_attacks = [a for a in args.advrec_attacks.split(",") if a]
    works = {}
    variants = {a.endswith("+fix") for a in arlib_attacks} | ({False} if args.arlib_victim else set())
    for variant in variants:
        fixes = [p for name in ARLIB_FIXES for p in ARLIB_FIXES[name]] if variant else []
        works[variant] = prepare_arlib(
            checkout, out / ("arlib-fixed" if variant else "arlib"), args.targets, fixes
        )
    overrides: dict[str, dict[str, str]] = {}
    for item in args.attack_set:
        key, _, value = item.partition("=")
        attack, _, setting = key.partition(".")
        overrides.setdefault(attack, {})[setting] = value
    rows = []
    for seed in seeds:
        config = arlib_split_config(args.config, seed)
        clean_dir = out / f"seed{seed}" / "clean"
        t0 = time.perf_counter()
        train_or_reuse(config, clean_dir, data_root)
        train = load_saved_split(clean_dir / "split").train
        n_fake = max(1, int(round(args.size * train.n_users)))
        filler = int(len(train) / train.n_users)  # ARLib's default: the mean profile length, truncated
        target_ids = [t.strip() for t in args.targets.split(",")]
        targets = np.array([train.item_map.index(t) for t in target_ids])
        print(
            f"seed {seed}: clean victim {time.perf_counter() - t0:.0f} s; "
            f"{n_fake} fake users, filler {filler}"
        )
        if args.arlib_victim:  # ARLib's victim on the clean split: its "before"
            folder = out / f"seed{seed}" / "arlib-none"
            folder.mkdir(parents=True, exist_ok=True)
            none = folder / "profiles.json"
            if not none.exists():
                atomic_write_json(none, {"rows": [], "n_fake": 0, "targets": target_ids})
            clean_victim = run_arlib_victim(
                works[False], none, seed, args.arlib_epochs, folder / "arlib_victim.json"
            )
            rows.append(
                {"tool": "ARLib", "attack": "none (clean)", "seed": seed, "arlib_victim": clean_victim}
            )
        for attack in arlib_attacks:
            folder = out / f"seed{seed}" / f"arlib-{attack}"
            folder.mkdir(parents=True, exist_ok=True)
            made = run_arlib(
                works[attack.endswith("+fix")],
                attack,
                seed,
                args.size,
                args.arlib_epochs,
                folder / "profiles.json",
            )
            if sorted(made["targets"]) != sorted(target_ids):
                raise RuntimeError(f"ARLib {attack} attacked {made['targets']}, not {target_ids}")
            profiles = profiles_of(made["rows"], made["n_fake"], train)
            result = measure_injected(config, folder, clean_dir, profiles, targets)
            if args.arlib_victim:
                work = works[attack.endswith("+fix")]
                victim = folder / "arlib_victim.json"
                result["arlib_victim"] = run_arlib_victim(
                    work, folder / "profiles.json", seed, args.arlib_epochs, victim
                )
            rows.append(
                _row("ARLib", attack, seed, profiles, targets, result, made["surrogate_s"] + made["attack_s"])
            )
            print(_line(rows[-1]), flush=True)
        for attack in advrec_attacks:
            raw = {
                "attack": {"name": attack, **overrides.get(attack, {})},
                "size": args.size,
                "targets": args.targets,
                "filler": filler,
            }
            settings = poison_config(raw, "--advrec-attacks")
            folder = out / f"seed{seed}" / f"advrec-{attack}"
            t1 = time.perf_counter()
            p = attack_run(config, folder, settings, data_root=data_root, clean_dir=clean_dir)["poisoning"]
            poisoned = load_saved_split(folder / "poisoned" / "split").train
            fake_rows = poisoned.users >= train.n_users
            fake = FakeProfiles(
                poisoned.users[fake_rows] - train.n_users,
                poisoned.items[fake_rows],
                np.ones(fake_rows.sum(), np.float32),
                p["n_fake"],
            )
            result = {"before": p["before"], "after": p["after"], "retrain_s": float("nan")}
            rows.append(_row("advrec", attack, seed, fake, targets, result, time.perf_counter() - t1))
            print(_line(rows[-1]), flush=True)
    atomic_write_json(out / "arlib_compare.json", rows)
    atomic_write_text(out / "arlib_compare.md", _table(rows, seeds))
    print(_table(rows, seeds))


def _row(tool, attack, seed, profiles, targets, result, seconds) -> dict[str, Any]:
    return {
        "tool": tool,
        "attack": attack,
        "seed": seed,
        **profile_stats(profiles, targets),
        "before": result["before"],
        "after": result["after"],
        "seconds": seconds,
        **({"arlib_victim": result["arlib_victim"]} if "arlib_victim" in result else {}),
    }


def _line(row) -> str:
    b, a = row["before"], row["after"]
    return (
        f"{row['tool']} {row['attack']} seed {row['seed']}: filler {row['filler_mean']:.1f} "
        f"({row['targets_only']} targets-only); hit@50 {b['target_hit@50']:.4f} -> {a['target_hit@50']:.4f}, "
        f"mean rank {b['target_mean_rank']:.0f} -> {a['target_mean_rank']:.0f} ({row['seconds']:.0f} s)"
    )


def _table(rows, seeds) -> str:
    keys = ("target_hit@10", "target_hit@50", "target_ndcg@50", "target_mean_rank")
    lines = [
        f"seeds {','.join(map(str, seeds))}; means over seeds\n",
        "| tool | attack | filler/fake | targets-only fakes | HR@10 | HR@50 | NDCG@50 | mean rank | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    victims = [r for r in rows if "arlib_victim" in r]
    rows = [r for r in rows if "after" in r]  # the ARLib victim's clean row has only its own block
    order = list(dict.fromkeys((r["tool"], r["attack"]) for r in rows))
    before = {k: np.mean([r["before"][k] for r in rows]) for k in keys}
    lines.append(
        "| (clean) | none | | | "
        + " | ".join(f"{before[k]:.4f}" if k != "target_mean_rank" else f"{before[k]:.0f}" for k in keys)
        + " | |"
    )
    for tool, attack in order:
        group = [r for r in rows if (r["tool"], r["attack"]) == (tool, attack)]
        after = {k: np.mean([r["after"][k] for r in group]) for k in keys}
        cells = [f"{after[k]:.4f}" if k != "target_mean_rank" else f"{after[k]:.0f}" for k in keys]
        lines.append(
            f"| {tool} | {attack} | {np.mean([r['filler_mean'] for r in group]):.1f} | "
            f"{np.mean([r['targets_only'] for r in group]):.1f} | "
            + " | ".join(cells)
            + f" | {np.mean([r['seconds'] for r in group]):.0f} |"
        )
    if victims:
        lines += [
            "\nARLib's own victim (its GMF retrained on the poisoned data): ARLib's hit rate (over every"
            " user, fake users and rated items included) and the hit rate over real users who lack each"
            " target\n",
            "| attack | ARLib HR@10 | ARLib HR@50 | HR@10 | HR@50 | mean rank |",
            "|---|---|---|---|---|---|",
        ]
        for attack in dict.fromkeys(r["attack"] for r in victims):
            group = [r["arlib_victim"] for r in victims if r["attack"] == attack]
            cells = [
                np.mean([g[k] for g in group])
                for k in ("shipped_hit@10", "shipped_hit@50", "hit@10", "hit@50")
            ]
            rank = np.mean([g["mean_rank"] for g in group])
            lines.append(f"| {attack} | " + " | ".join(f"{c:.4f}" for c in cells) + f" | {rank:.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
