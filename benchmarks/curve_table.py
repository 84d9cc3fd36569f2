"""Periodic evaluations of one or more runs (finished or not) as a markdown table: per evaluation step,
each run's mean basic return and add-on metric over the evaluation episodes, and how far the updates
since the previous evaluation moved the policy (SB3's ``train/approx_kl``, learning rate). For looking into runs the
report does not cover yet (partial runs, probes kept in their own results folder):

    python -m benchmarks.curve_table benchmarks/runs/paper/HalfCheetah-v5/residual/seed0 \
        --out benchmarks/results/customize_search/plain_block.md
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import pandas as pd


def curve_table(run_dirs: list[Path]) -> pd.DataFrame:
    """One row per evaluation step, two columns per run (``<run> basic``, ``<run> metric``)."""
    columns = {}
    for run_dir in run_dirs:
        path = run_dir / "evaluations.csv"
        if not path.is_file():
            raise SystemExit(f"{run_dir} has no evaluations.csv")
        means = pd.read_csv(path).groupby("timesteps")[["basic_return", "addon_metric_mean"]].mean()
        name = "/".join(run_dir.resolve().parts[-3:])  # <env>/<variant>/seed<k>
        columns[f"{name} basic"] = means["basic_return"].round(0)
        columns[f"{name} metric"] = means["addon_metric_mean"].round(3)
        columns |= training_columns(run_dir, name, means.index)
    return pd.DataFrame(columns).rename_axis("step")


def read_updates(run_dir: Path) -> pd.DataFrame:
    """The run's logged updates (all ``logs*/progress.csv`` segments, one row per step, sorted; empty if none)."""
    frames = [pd.read_csv(path) for path in run_dir.glob("logs*/progress.csv")]
    frames = [frame for frame in frames if {"time/total_timesteps", "train/approx_kl"} <= set(frame.columns)]
    if not frames:
        return pd.DataFrame()
    # A run resumed after a kill logs each segment in its own folder (logs/, logs-resumed-<step>/), and the
    # killed segment may have logged steps past the checkpoint the next one resumed from: order segments by
    # their first step and keep the later segment's row, the one the final policy descends from.
    frames.sort(key=lambda frame: frame["time/total_timesteps"].min())
    log = pd.concat(frames).dropna(subset=["train/approx_kl"])
    return log.drop_duplicates("time/total_timesteps", keep="last").sort_values("time/total_timesteps")


def training_columns(run_dir: Path, name: str, steps: pd.Index) -> dict[str, pd.Series]:
    """From the run's SB3 log(s): the mean ``train/approx_kl`` of the updates since the previous evaluation
    and the learning rate and policy σ (``train/std``, mean over action dimensions) of the last of them
    (how far and how fast the policy was moving, how wide it is), and the mean per-step reward PPO
    optimised (``rewards/total``) and its entropy and prior terms (``rewards/entropy_term``,
    ``rewards/prior_term``), and the customizations' ``rollout/kl_to_prior``."""
    log = read_updates(run_dir)
    if log.empty:
        return {}
    bins = pd.cut(log["time/total_timesteps"], [-1, *steps], labels=steps)
    grouped = log.groupby(bins, observed=True)
    columns = {
        f"{name} approx_kl": grouped["train/approx_kl"].mean().round(4),
        f"{name} lr": grouped["train/learning_rate"].last(),
    }
    for key in ("train/std", "train/std_min"):  # std_min: a state-dependent std's smallest σ(s)
        if key in log.columns:
            columns[f"{name} {key.split('/')[1]}"] = (
                grouped[key].last().map(lambda value: float(f"{value:.3g}"))
            )
    # The reward PPO optimised (per step, rollout means): all terms, and the entropy's and prior's shares.
    # And, for customizations logged since it exists, how far the policy had moved from its prior.
    for key in ("rewards/total", "rewards/entropy_term", "rewards/prior_term", "rollout/kl_to_prior"):
        if key in log.columns:
            columns[f"{name} {key.split('/')[1]}"] = grouped[key].mean().round(3)
    return columns


def publish(title: str, command: str, explanation: str, table: pd.DataFrame, out: Path | None) -> None:
    """Print a titled markdown table with the command that produced it, and write it to ``out`` if given."""
    text = (
        f"# {title}\n\nProduced by: `{command}`\n\n{explanation}\n\n"
        f"{table.astype(object).where(table.notna(), '').to_markdown()}\n"
    )
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", type=Path, nargs="+", help="run folders (with evaluations.csv)")
    parser.add_argument("--title", default="Periodic evaluations")
    parser.add_argument("--out", type=Path, default=None, help="markdown file (default: print only)")
    args = parser.parse_args(argv)
    command = shlex.join(
        ["python", "-m", "benchmarks.curve_table", *(sys.argv[1:] if argv is None else argv)]
    )
    explanation = (
        "Mean over each evaluation's episodes (deterministic policy, full task): basic return and add-on "
        "metric. Since the previous evaluation: approx_kl, the mean SB3 `train/approx_kl` of the updates; "
        "lr and std, the last one's learning rate and policy σ (mean over action dimensions; for a "
        "state-dependent std, over the rollout's states too, and std_min its smallest σ(s)); total, "
        "entropy_term and prior_term, the mean per-step training reward and its `−α·log πθ` and "
        "`ω'·log π_prior` parts; kl_to_prior, the mean KL(πθ ‖ π_prior) estimate of the rollouts "
        "(customizations only). Empty: not evaluated or not logged."
    )
    publish(args.title, command, explanation, curve_table(args.runs), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
