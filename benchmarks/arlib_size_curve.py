"""Target exposure against the share of fake users, from ``benchmarks/arlib_compare.py`` runs.

Each ``--runs`` entry is ``VICTIM:SIZE=FOLDER``, a folder that ``arlib_compare.py`` wrote with that victim
config and ``--size``; this script reads their ``arlib_compare.json`` and prints, per victim and attack,
target HR@50 and mean rank after the attack at each share (means over the seeds each folder holds), and
plots both against the share (one line per attack) into ``--out``.

    OMP_NUM_THREADS=1 python benchmarks/arlib_size_curve.py --out runs/arlib_curve.png \
        --runs mf:0.01=runs/arlib_mf_1 mf:0.03=runs/arlib_compare mf:0.05=runs/arlib_mf_5 \
               lightgcn:0.01=runs/arlib_lgcn_1 lightgcn:0.03=runs/arlib_lgcn_3 lightgcn:0.05=runs/arlib_lgcn_5
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from advrec.errors import ConfigError


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", nargs="+", required=True, help="VICTIM:SIZE=FOLDER entries")
    parser.add_argument("--out", default="runs/arlib_curve.png")
    return parser.parse_args()


def parse_runs(entries: list[str]) -> list[tuple[str, float, Path]]:
    out = []
    for entry in entries:
        key, sep, folder = entry.partition("=")
        victim, sep2, size = key.partition(":")
        try:
            share = float(size)
        except ValueError:
            share = float("nan")
        if not (sep and sep2 and victim and 0 < share <= 1):
            raise ConfigError(f"--runs {entry!r}: expected VICTIM:SIZE=FOLDER with SIZE in (0, 1]")
        out.append((victim, share, Path(folder)))
    return out


def collect(runs: list[tuple[str, float, Path]]) -> list[dict]:
    """One row per (victim, share, tool, attack): means over seeds of HR@10, HR@50, mean rank."""
    rows = []
    for victim, share, folder in runs:
        path = folder / "arlib_compare.json"
        if not path.exists():
            raise ConfigError(f"--runs: {path} does not exist; run benchmarks/arlib_compare.py first")
        cells = _read_list(path)
        keys = dict.fromkeys((c["tool"], c["attack"]) for c in cells)
        for tool, attack in keys:
            group = [c for c in cells if (c["tool"], c["attack"]) == (tool, attack)]
            rows.append(
                {
                    "victim": victim,
                    "size": share,
                    "tool": tool,
                    "attack": attack,
                    "seeds": len(group),
                    "before_hr50": float(np.mean([c["before"]["target_hit@50"] for c in group])),
                    "before_rank": float(np.mean([c["before"]["target_mean_rank"] for c in group])),
                    **{
                        name: float(np.mean([c["after"][key] for c in group]))
                        for name, key in (
                            ("hr10", "target_hit@10"),
                            ("hr50", "target_hit@50"),
                            ("rank", "target_mean_rank"),
                        )
                    },
                }
            )
    return rows


def _read_list(path: Path) -> list[dict]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a list of cells")
    return data


def table(rows: list[dict]) -> str:
    sizes = sorted({r["size"] for r in rows})
    lines = [
        "| victim | tool | attack | " + " | ".join(f"{100 * s:g}%: HR@50 / mean rank" for s in sizes) + " |",
        "|---|---|---|" + "---|" * len(sizes),
    ]
    for victim in dict.fromkeys(r["victim"] for r in rows):
        before = [r for r in rows if r["victim"] == victim]
        lines.append(
            f"| {victim} | (clean) | none | "
            + " | ".join(
                f"{np.mean([r['before_hr50'] for r in before if r['size'] == s]):.4f} / "
                f"{np.mean([r['before_rank'] for r in before if r['size'] == s]):.0f}"
                if any(r["size"] == s for r in before)
                else ""
                for s in sizes
            )
            + " |"
        )
        for tool, attack in dict.fromkeys((r["tool"], r["attack"]) for r in before):
            cells = {r["size"]: r for r in before if (r["tool"], r["attack"]) == (tool, attack)}
            lines.append(
                f"| {victim} | {tool} | {attack} | "
                + " | ".join(
                    f"{cells[s]['hr50']:.4f} / {cells[s]['rank']:.0f}" if s in cells else "" for s in sizes
                )
                + " |"
            )
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    victims = list(dict.fromkeys(r["victim"] for r in rows))
    fig, axes = plt.subplots(2, len(victims), figsize=(5 * len(victims), 7), squeeze=False)
    for col, victim in enumerate(victims):
        mine = [r for r in rows if r["victim"] == victim]
        for tool, attack in dict.fromkeys((r["tool"], r["attack"]) for r in mine):
            line = sorted(
                (r for r in mine if (r["tool"], r["attack"]) == (tool, attack)), key=lambda r: r["size"]
            )
            xs = [100 * r["size"] for r in line]
            style = "-o" if tool == "advrec" else "--s"
            axes[0, col].plot(xs, [r["hr50"] for r in line], style, label=f"{tool} {attack}")
            axes[1, col].plot(xs, [r["rank"] for r in line], style, label=f"{tool} {attack}")
        axes[0, col].set_title(f"{victim}: target HR@50 after")
        axes[1, col].set_title(f"{victim}: target mean rank after (lower: stronger)")
        axes[1, col].set_xlabel("fake users (% of real users)")
    axes[0, -1].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    args = _args()
    rows = collect(parse_runs(args.runs))
    print(table(rows))
    plot(rows, Path(args.out))
    print(f"plot: {args.out}")


if __name__ == "__main__":
    main()
