"""How far each customization moves from its prior: ``rollout/kl_to_prior`` of the Table II runs.

ResidualPPO logs, every rollout, KL(πθ ‖ π_prior) at the rollout's states, estimated as the mean of
``log πθ(a|s) − log π_prior(a|s)`` over its samples (Greedy PPO too, whose reward does not see the prior).
This writes, for the Greedy, KL and Residual PPO runs of a results folder:

* ``prior_kl.md`` / ``.csv``: per env and variant, the KL over the last 10% of the run's rollouts
  ("late") and its largest rollout value, beside the final checkpoint's total, basic and add-on return;
  the markdown pools the seeds (mean ± std), the CSV has one row per run;
* ``prior_kl_<env>.png``: the KL along training, each seed a line (symlog scale: the warm-up's 0 included).

    python -m benchmarks.prior_kl --results-dir benchmarks/runs/kl_to_prior --budget quick \\
        --out benchmarks/results/prior_kl/quick
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from benchmarks.curve_table import read_updates
from benchmarks.report import _markdown, write_csv
from benchmarks.report_figures import LABELS, _footer

CUSTOMIZATIONS = ("greedy", "kl", "residual")
KEY = "rollout/kl_to_prior"
LATE_FRACTION = 0.1


def kl_curve(run_dir: Path) -> pd.Series:
    """The run's logged ``rollout/kl_to_prior`` by timestep (empty if it was trained before the key existed)."""
    log = read_updates(run_dir)
    if log.empty or KEY not in log.columns:
        return pd.Series(dtype=float)
    return log.set_index("time/total_timesteps")[KEY].dropna()


def run_rows(results_dir: Path, budget: str) -> tuple[pd.DataFrame, dict[tuple[str, str, int], pd.Series]]:
    """One row per finished customization run with a logged KL, and each run's KL curve."""
    rows, curves = [], {}
    for result_path in sorted((results_dir / budget).glob("*/*/seed*/result.json")):
        result = json.loads(result_path.read_text())
        if result.get("status") != "finished" or result["variant"] not in CUSTOMIZATIONS:
            continue
        curve = kl_curve(result_path.parent)
        if curve.empty:
            continue
        late = curve[curve.index >= curve.index.max() * (1 - LATE_FRACTION)]
        key = (result["env"], result["variant"], int(result["seed"]))
        curves[key] = curve
        final = result["final"]
        rows.append(
            {
                "env": key[0],
                "variant": key[1],
                "seed": key[2],
                "timesteps": int(result["timesteps"]),
                "kl_late": float(late.mean()),
                "kl_max": float(curve.max()),
                "total_return": final["total_return_mean"],
                "basic_return": final["basic_return_mean"],
                "addon_return": final["addon_return_mean"],
            }
        )
    return pd.DataFrame(rows), curves


def _cell(values: pd.Series, digits: int) -> str:
    if len(values) == 1:
        return f"{values.iloc[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


def markdown(runs: pd.DataFrame, command: str, budget: str) -> str:
    header = ["Env.", "Variant", "seeds", "KL to prior, late", "KL to prior, max", "total", "basic", "add-on"]
    rows = []
    for (env, variant), group in runs.groupby(["env", "variant"], sort=True):
        rows.append(
            [
                env,
                LABELS[variant],
                ", ".join(str(seed) for seed in sorted(group["seed"])),
                _cell(group["kl_late"], 3),
                _cell(group["kl_max"], 2),
                *(_cell(group[column], 0) for column in ("total_return", "basic_return", "addon_return")),
            ]
        )
    return "\n".join(
        [
            "# How far the customizations move from their prior",
            "",
            f"Produced by: `{command}` (budget `{budget}`).",
            "",
            (
                "KL(πθ ‖ π_prior) in nats per step at the rollouts' states (the mean of `log πθ(a|s) − log "
                "π_prior(a|s)` over each rollout's samples, logged as `rollout/kl_to_prior`): *late*, the mean "
                f"over the last {LATE_FRACTION:.0%} of the run's steps; *max*, its largest rollout value. "
                "Returns: the final checkpoint's evaluation (mean over its episodes). Mean ± std over seeds; "
                "one row per run in `prior_kl.csv`, curves in `prior_kl_<env>.png`."
            ),
            "",
            _markdown(header, rows),
            "",
        ]
    )


def plot(curves: dict[tuple[str, str, int], pd.Series], env: str, path: Path, command: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for index, variant in enumerate(CUSTOMIZATIONS):
        seeds = sorted(seed for (e, v, seed) in curves if (e, v) == (env, variant))
        for seed in seeds:
            curve = curves[(env, variant, seed)]
            label = f"{LABELS[variant]} (seeds {', '.join(map(str, seeds))})" if seed == seeds[0] else None
            ax.plot(curve.index, curve.to_numpy(), color=f"C{index}", lw=0.9, alpha=0.8, label=label)
    ax.set_yscale("symlog", linthresh=0.01)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("KL(πθ ‖ π_prior) per step (nats)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"{env}: distance from the prior during customization (one line per seed)", fontsize=9)
    _footer(fig, command)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results-dir", type=Path, required=True, help="run folder of benchmarks.run")
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--out", type=Path, required=True, help="folder for prior_kl.md, .csv and the PNGs")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "-m", "benchmarks.prior_kl", *(sys.argv[1:] if argv is None else argv)])
    runs, curves = run_rows(args.results_dir, args.budget)
    if runs.empty:
        raise SystemExit(
            f"no finished greedy/kl/residual run with {KEY} logged under {args.results_dir / args.budget}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "prior_kl.md").write_text(markdown(runs, command, args.budget))
    write_csv(runs.sort_values(["env", "variant", "seed"]), args.out / "prior_kl.csv", command)
    for env in sorted(runs["env"].unique()):
        plot(curves, env, args.out / f"prior_kl_{env}.png", command)
    print((args.out / "prior_kl.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
