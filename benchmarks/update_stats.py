"""How far and how fast each run's PPO updates moved the policy, as one markdown row per run: over the
updates logged after ``--after`` steps, how many had their adaptive learning rate at its floor (the block's
``adaptive_lr_bounds``; rsl-rl's ``MIN_LR``, 1e-5, by default), and the median and 90th percentile of SB3's
``train/approx_kl`` against the run's ``desired_kl``. For telling a run whose KL target held from one that pushed past it at the smallest allowed
step (docs/benchmarks.md, Ant's state-dependent std):

    python -m benchmarks.update_stats benchmarks/runs/paper/Ant-v5/soft/seed* \\
        benchmarks/runs/paper/Ant-v5/soft_state_std/seed* --after 1000000 \\
        --out benchmarks/results/paper/ant_update_stats.md

With ``--before-best W`` the window is instead the updates in the W steps up to each run's best checkpoint
(``best_step`` of its ``result.json``): where a prior's adaptive lr stood when its best checkpoint was saved,
which is where a Table II customisation of that prior starts its own (``customize: learning_rate``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import pandas as pd

from benchmarks.config import load_yaml
from benchmarks.curve_table import publish, read_updates
from benchmarks.training import RESULT_FILE, is_finished
from sb3_rpg.common.adaptive_lr import MIN_LR


def run_ppo_block(run_dir: Path) -> dict:
    """The run's PPO block as saved in its ``config.yaml`` (empty if it has none)."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        return {}
    return (load_yaml(path) or {}).get("ppo") or {}


def desired_kl(run_dir: Path) -> float | None:
    """The KL target of the run's PPO block (``config.yaml``), or None for a constant learning rate."""
    value = run_ppo_block(run_dir).get("desired_kl")
    return None if value is None else float(value)


def lr_floor(run_dir: Path) -> float:
    """The lowest learning rate of the run's adaptive rule: its block's ``adaptive_lr_bounds``, or rsl-rl's."""
    bounds = run_ppo_block(run_dir).get("adaptive_lr_bounds")
    return MIN_LR if bounds is None else float(bounds[0])


def best_step(run_dir: Path) -> int:
    """The step of the run's best checkpoint (``result.json``); the run must have finished."""
    if not is_finished(run_dir):
        raise SystemExit(f"{run_dir} has no {RESULT_FILE} (not finished): no best checkpoint to look before")
    return int(json.loads((run_dir / RESULT_FILE).read_text())["best_step"])


def window_text(after: int, before_best: int | None, best: int | None = None) -> str:
    """The updates counted, in words: after a step, or in the steps up to the best checkpoint."""
    if before_best is None:
        return f"after step {after}"
    return f"in the {before_best} steps up to {'its best checkpoint' if best is None else f'step {best}'}"


def update_stats(run_dirs: list[Path], after: int = 0, before_best: int | None = None) -> pd.DataFrame:
    """One row per run: updates counted, how many (and what share) at the lr floor, the lr's median and range,
    approx_kl median / p90, clip fraction; over the updates after step ``after`` or, with ``before_best``,
    over those in the ``before_best`` steps up to the run's best checkpoint."""
    rows = []
    for run_dir in run_dirs:
        log = read_updates(run_dir)
        if log.empty:
            raise SystemExit(f"{run_dir} has no SB3 log with train/approx_kl (logs*/progress.csv)")
        step = log["time/total_timesteps"]
        best = None if before_best is None else best_step(run_dir)
        late = log[step > after] if best is None else log[(step > best - before_best) & (step <= best)]
        if late.empty:
            raise SystemExit(f"{run_dir} logged no update {window_text(after, before_best, best)}")
        lr = late["train/learning_rate"]
        # The floor is compared with a relative tolerance: the logged lr is a float32 round trip.
        floor = lr_floor(run_dir)
        at_floor = lr <= floor * (1 + 1e-4)
        row = {
            "run": "/".join(run_dir.resolve().parts[-3:]),  # <env>/<variant>/seed<k>
            "updates": len(late),
            "desired_kl": desired_kl(run_dir),
            "lr floor": floor,
            "at lr floor": int(at_floor.sum()),
            "share at floor": round(float(at_floor.mean()), 2),
            "median lr": float(f"{lr.median():.3g}"),
            "min lr": float(f"{lr.min():.3g}"),
            "max lr": float(f"{lr.max():.3g}"),
            "approx_kl median": round(float(late["train/approx_kl"].median()), 3),
            "approx_kl p90": round(float(late["train/approx_kl"].quantile(0.9)), 3),
            "clip_fraction median": round(float(late["train/clip_fraction"].median()), 2),
        }
        # The policy's σ where logged: SB3's train/std for a global std; for a state-dependent one (runs
        # trained since it was logged) the mean σ(s) over the rollout, and its smallest σ(s) in train/std_min.
        for key, column, stat in (
            ("train/std", "std median", "median"),
            ("train/std_min", "std_min median", "median"),
            ("train/std_min", "std_min min", "min"),
        ):
            if key in late.columns and late[key].notna().any():
                row[column] = float(f"{late[key].agg(stat):.3g}")
        rows.append(row)
    table = pd.DataFrame(rows)
    # Runs of several results folders share <env>/<variant>/seed<k>: name them by their folder too
    # (<results-dir>/<budget>/<env>/<variant>/seed<k>).
    repeated = table["run"].duplicated(keep=False).to_numpy()
    table["run"] = [
        f"{run_dir.resolve().parts[-5]}/{name}" if twin else name
        for run_dir, name, twin in zip(run_dirs, table["run"], repeated, strict=True)
    ]
    return table.set_index("run")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", type=Path, nargs="+", help="run folders (with logs*/progress.csv)")
    window = parser.add_mutually_exclusive_group()
    window.add_argument("--after", type=int, default=0, help="count only updates logged after this step")
    window.add_argument(
        "--before-best",
        type=int,
        default=None,
        metavar="STEPS",
        help="count only updates logged in the STEPS steps up to the run's best checkpoint (result.json)",
    )
    parser.add_argument("--title", default="PPO updates: learning rate and KL per run")
    parser.add_argument("--out", type=Path, default=None, help="markdown file (default: print only)")
    args = parser.parse_args(argv)
    command = shlex.join(
        ["python", "-m", "benchmarks.update_stats", *(sys.argv[1:] if argv is None else argv)]
    )
    window = window_text(args.after, args.before_best)
    if args.before_best is not None:
        window += f" (`best_step` of `{RESULT_FILE}`)"
    explanation = (
        f"Over each run's updates logged {window} (SB3's `train/*` keys, one row per update; "
        f"a run resumed after a kill logs only the segments whose logs were kept): how many (and what "
        f"share) had their adaptive learning rate at its floor (*lr floor*: the block's `adaptive_lr_bounds`, by "
        f"default {MIN_LR:g}, rsl-rl's), the learning rate's "
        f"median, minimum and maximum, and the median and 90th percentile of the per-update "
        f"`train/approx_kl` beside the block's `desired_kl` (empty: a constant learning rate), and the median `train/clip_fraction`; where logged, the median `train/std` "
        f"(the policy's σ; for a state-dependent std its mean over the rollout) and the median and minimum "
        f"of `train/std_min` (a state-dependent std's smallest σ(s) in the rollout)."
    )
    # A shell glob such as seed* also matches a running run's seed<k>.lock file: only folders are runs.
    run_dirs = [path for path in args.runs if path.is_dir()]
    for path in sorted(set(args.runs) - set(run_dirs)):
        print(f"skipped {path}: not a run folder", file=sys.stderr)
    publish(args.title, command, explanation, update_stats(run_dirs, args.after, args.before_best), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
