"""Evaluate the checkpoint that the *add-on* rule picks, as the runner evaluates its best checkpoint.

    python -m benchmarks.reselect --budget paper --results-dir benchmarks/runs/selection [--envs Hopper]

For each finished Table II customization run (Greedy, KL, Residual PPO, the Full Policy) trained with
``benchmarks.run --keep-checkpoints``: the periodic evaluation with the highest mean add-on return after
the critic warm-up (:func:`benchmarks.report_selection.pick_steps`), its kept policy
(``checkpoints/periodic/step-<step>.zip``) evaluated on the final evaluation's episodes (the budget's
``final_episodes``, the same episode seeds as ``eval_best.csv`` and ``eval_final.csv``) into
``eval_best_addon.csv``, with the step in column ``timesteps``. The grid's own rule (total return) and
the last checkpoint already have theirs (``eval_best.csv``, ``eval_final.csv``), so
``python -m benchmarks.report`` then scores all three rules on 100 new episodes (``selection.md``).

Safe to rerun: a run whose file already evaluates the step the rule picks is skipped.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import pandas as pd
import torch

from benchmarks.checkpoints import checkpoint_files, write_atomic
from benchmarks.config import BUDGETS, DEFAULT_RUNS_DIR, TABLES, VARIANTS, make_spec, resolve_env
from benchmarks.evaluation import FINAL_EVAL_SEED, PERIODIC_DIR, evaluate
from benchmarks.report_runs import finished_runs
from benchmarks.report_selection import RULE_FILES, pick_steps
from benchmarks.training import ALGORITHMS

RULE = "add-on"


def reselect_run(run_dir: Path, info: dict, budget: str) -> str:
    """Write ``eval_best_addon.csv`` of one finished run; return what was done ("evaluated step N",
    "up to date"). Raises :class:`FileNotFoundError` where the picked step's policy was not kept."""
    picks = pick_steps(run_dir)
    if picks is None:
        return "no evaluation after the warm-up"
    step = picks[RULE][0]
    out = run_dir / RULE_FILES[RULE]
    if out.is_file() and int(pd.read_csv(out, usecols=["timesteps"])["timesteps"].iloc[0]) == step:
        return "up to date"
    model_path, stats_path = checkpoint_files(run_dir / "checkpoints" / PERIODIC_DIR, f"step-{step}")
    if not model_path.is_file():
        raise FileNotFoundError(
            f"{run_dir}: no {model_path.name} for the add-on rule's step {step}; "
            "train the run with benchmarks.run --keep-checkpoints"
        )
    spec = make_spec(info["env"], info["variant"], info["seed"], budget)
    model = ALGORITHMS[VARIANTS[spec.variant].algorithm].load(model_path, device="cpu")
    frame = evaluate(
        model,
        spec,
        BUDGETS[budget].final_episodes,
        FINAL_EVAL_SEED,
        stats_path if stats_path.is_file() else None,
    )
    for column, value in (
        ("timesteps", step),
        ("checkpoint", "best_addon"),
        ("run_seed", spec.seed),
        ("variant", spec.variant),
        ("env", spec.env),
    ):
        frame.insert(0, column, value)
    write_atomic(out, frame.to_csv(index=False))
    return f"evaluated step {step}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.reselect",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--budget", default="paper", choices=sorted(BUDGETS))
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RUNS_DIR)
    parser.add_argument("--envs", nargs="+", default=None, help="e.g. Hopper (default: all)")
    parser.add_argument("--hyperparams", type=Path, default=None, help="the runs' --hyperparams file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; 1 where a run lacks its kept checkpoints."""
    args = parse_args(argv)
    torch.set_num_threads(1)
    envs = {resolve_env(env) for env in args.envs} if args.envs else None
    print(shlex.join(["python", "-m", "benchmarks.reselect", *(sys.argv[1:] if argv is None else argv)]))
    status = 0
    for run_dir, info in finished_runs(args.results_dir, args.budget, args.hyperparams):
        if info["variant"] not in TABLES[2] or (envs is not None and info["env"] not in envs):
            continue
        try:
            print(f"{info['run']}: {reselect_run(run_dir, info, args.budget)}", flush=True)
        except FileNotFoundError as error:
            print(f"{info['run']}: {error}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
