"""Build the paper's Tables I-III from finished runs, beside the paper's numbers, plus figures.

    python -m benchmarks.report --budget quick [--results-dir benchmarks/runs] [--out DIR]

Reads every run folder with a ``result.json`` and writes to ``--out``: ``table1.md``, ``table2.md``,
``table3.md`` (ours: mean ± std over all final-evaluation episodes of all seeds, as the paper does;
"paper": the reference values of ``benchmarks/paper_results.yml``; Δ = ours − paper), ``summary.csv``
and ``summary.json`` (every env x variant x checkpoint x quantity), learning curves
(``curves_table*_*.png``), the aggregate IQM view (``aggregate.*``) and the paper's claims and cells
checked (``claims.md``, ``claims.csv``: :mod:`benchmarks.report_claims`), and the same claims at each
periodic evaluation (``claims_training.md``, ``claims_training.csv``:
:mod:`benchmarks.report_claims_training`), and Table II under other checkpoint rules (``selection.md``,
``selection.csv``: :mod:`benchmarks.report_selection`). Each file names the command that produced it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.config import (
    DEFAULT_RUNS_DIR,
    ENVS,
    PAPER_RESULTS,
    PRIOR_VARIANT,
    RESULTS_DIR,
    TABLES,
    VARIANTS,
    load_yaml,
)
from benchmarks.report_runs import QUANTITIES, finished_runs, load_runs, run_table

#: Table II's add-on metric per env, as the paper names its column.
METRIC_NAMES = {"HalfCheetah-v5": r"\|θ̄\|", "Hopper-v5": "z̄", "Ant-v5": "v̄_y"}
CHECKPOINTS = {"average": "final", "best": "best"}
#: Table II rows: "prior" is the Soft PPO run's best checkpoint evaluated on the full task.
TABLE2_ROWS = ("prior", "greedy", "kl", "residual", "full", "residual_tuned")
ROW_LABELS = {"prior": "Prior Policy", **{name: variant.label for name, variant in VARIANTS.items()}}
MISSING = "—"


def with_prior_rows(episodes: pd.DataFrame) -> pd.DataFrame:
    """Add Table II's "prior" rows: the Soft PPO runs' best checkpoints (evaluated on the full task)."""
    prior = episodes[(episodes["variant"] == PRIOR_VARIANT) & (episodes["checkpoint"] == "best")]
    return pd.concat([episodes, prior.assign(variant="prior")], ignore_index=True)


def seed_table(episodes: pd.DataFrame) -> pd.DataFrame:
    """One row per env x variant x checkpoint x seed: each quantity's mean over that seed's final-evaluation
    episodes. With few seeds a pooled mean ± std can hide that one seed kept the basic task and another
    lost it; this is where to look. ``length`` (the mean episode length) shows falls in envs that
    terminate (Hopper, Ant)."""
    frame = with_prior_rows(episodes)
    keys = ["env", "variant", "checkpoint", "run_seed"]
    grouped = frame.groupby(keys, sort=False)
    columns = [*QUANTITIES, *(["length"] if "length" in frame else [])]
    table = grouped[columns].mean().join(grouped.size().rename("n_episodes")).reset_index()
    return table.rename(columns={"run_seed": "seed"})


def summarize(episodes: pd.DataFrame, paper: dict[str, Any]) -> pd.DataFrame:
    """One row per env x variant x checkpoint x quantity, with the paper's value where it has one.

    ``mean``/``std`` pool all episodes of all seeds (the paper's "N episodes across 5 seeds");
    ``seed_std`` is the std of the per-seed means, the spread a reader of few seeds should look at.
    """
    rows = []
    frame = with_prior_rows(episodes)
    for (env, variant, checkpoint), group in frame.groupby(["env", "variant", "checkpoint"], sort=False):
        for quantity in QUANTITIES:
            values = group[quantity].astype(float)
            seed_means = group.groupby("run_seed")[quantity].mean()
            ref = paper_value(paper, env, variant, checkpoint, quantity)
            rows.append(
                {
                    "env": env,
                    "variant": variant,
                    "checkpoint": checkpoint,
                    "quantity": quantity,
                    "mean": values.mean(),
                    "std": values.std(ddof=0),
                    "seed_std": seed_means.std(ddof=0),
                    "n_episodes": len(values),
                    "n_seeds": len(seed_means),
                    "paper_mean": ref[0] if ref else np.nan,
                    "paper_std": ref[1] if ref else np.nan,
                }
            )
    summary = pd.DataFrame(
        rows,
        columns=[
            *["env", "variant", "checkpoint", "quantity", "mean", "std", "seed_std"],
            "n_episodes",
            "n_seeds",
            "paper_mean",
            "paper_std",
        ],
    )
    summary["diff"] = summary["mean"] - summary["paper_mean"]
    return summary


def paper_value(
    paper: dict[str, Any], env: str, variant: str, checkpoint: str, quantity: str
) -> list[float] | None:
    """The paper's [mean, std] for a cell, or None where the paper reports none.

    Tables I/III report the basic return of final ("average") and best checkpoints; Table II the four
    quantities of best checkpoints (and of the prior).
    """
    kind = "average" if checkpoint == "final" else "best"
    if quantity == "basic_return":
        for table in ("table1", "table3"):
            value = paper.get(table, {}).get(kind, {}).get(env, {}).get(variant)
            if value is not None:
                return value
    if checkpoint == "best":
        return paper.get("table2", {}).get(env, {}).get(variant, {}).get(quantity)
    return None


def _cell(summary: pd.DataFrame, env: str, variant: str, checkpoint: str, quantity: str) -> pd.Series | None:
    match = summary[
        (summary["env"] == env)
        & (summary["variant"] == variant)
        & (summary["checkpoint"] == checkpoint)
        & (summary["quantity"] == quantity)
    ]
    return match.iloc[0] if len(match) else None


def _fmt(value: float, digits: int) -> str:
    return MISSING if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _triple(
    summary: pd.DataFrame,
    paper: dict[str, Any],
    env: str,
    variant: str,
    checkpoint: str,
    quantity: str,
    paper_checkpoint: str | None = None,
) -> list[str]:
    """Markdown cells "ours", "paper", "Δ" for one quantity (``paper_checkpoint``: compare with the
    paper's value of another checkpoint kind)."""
    digits = 2 if quantity == "addon_metric_mean" else 1
    row = _cell(summary, env, variant, checkpoint, quantity)
    ref = paper_value(paper, env, variant, paper_checkpoint or checkpoint, quantity)
    ours = (
        MISSING
        if row is None
        else f"{_fmt(row['mean'], digits)} ± {_fmt(row['std'], digits)} ({row['n_seeds']})"
    )
    theirs = MISSING if ref is None else f"{ref[0]:.{digits}f} ± {ref[1]:.{digits}f}"
    diff = MISSING if row is None or ref is None else f"{row['mean'] - ref[0]:+.{digits}f}"
    return [ours, theirs, diff]


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _preamble(title: str, command: str, budget: str) -> list[str]:
    return [
        f"# {title}",
        "",
        f"Produced by: `{command}` (budget `{budget}`).",
        "",
        (
            "*ours*: mean ± std over all final-evaluation episodes of all seeds (number of seeds in "
            "parentheses); *paper*: reference values transcribed from the paper "
            "(`benchmarks/paper_results.yml`, 500 episodes over 5 seeds, 5M steps); Δ = ours − paper. "
            "— : not run yet / not reported."
        ),
        "",
    ]


def basic_return_table(
    summary: pd.DataFrame, paper: dict[str, Any], variants: tuple[str, ...], envs: tuple[str, ...]
) -> list[str]:
    """Tables I and III: per kind (Average = final, Best = best checkpoints), rows env, cells basic return."""
    lines: list[str] = []
    for kind, checkpoint in CHECKPOINTS.items():
        title = (
            "Average Performance (final checkpoints)"
            if kind == "average"
            else ("Best Performance (best checkpoint of each seed)")
        )
        header = ["Env."] + [
            f"{VARIANTS[v].label} {col}" for v in variants for col in ("(ours)", "(paper)", "Δ")
        ]
        rows = [
            [env]
            + [cell for v in variants for cell in _triple(summary, paper, env, v, checkpoint, "basic_return")]
            for env in envs
        ]
        lines += [f"## {title}", "", _markdown(header, rows), ""]
    return lines


def table2_lines(summary: pd.DataFrame, paper: dict[str, Any], envs: tuple[str, ...]) -> list[str]:
    """Table II: per env, rows Prior/Greedy/KL/Residual/Full, four quantities; first the best
    checkpoints (the paper's protocol), then the final ones beside the same paper values."""
    lines = [
        (
            "Best checkpoints (by total return; the prior: Soft PPO's best by basic return), "
            "evaluated on the full task."
        ),
        "",
    ]
    sections = (
        ("best", ""),
        (
            "final",
            (
                "Final checkpoints (the prior row: still its best checkpoint), beside the same paper values "
                "(the paper prints one Table II). A customisation's best checkpoint by total return is "
                "often its first one after the critic warm-up, i.e. nearly the prior; the final one shows "
                "where training went."
            ),
        ),
    )
    for env in envs:
        names = ["Total Reward", "Basic Reward", METRIC_NAMES.get(env, "add-on metric"), "Add-on Reward"]
        header = ["Policy"] + [f"{name} {col}" for name in names for col in ("(ours)", "(paper)", "Δ")]
        lines += [f"## {env}", ""]
        for checkpoint, text in sections:
            rows = [
                [ROW_LABELS[v]]
                + [
                    cell
                    for q in QUANTITIES
                    for cell in _triple(
                        summary,
                        paper,
                        env,
                        v,
                        "best" if v == "prior" else checkpoint,
                        q,
                        paper_checkpoint="best",
                    )
                ]
                for v in TABLE2_ROWS
            ]
            lines += ([text, ""] if text else []) + [_markdown(header, rows), ""]
    return lines


def write_csv(frame: pd.DataFrame, path: Path, command: str) -> None:
    """CSV whose first line is a comment naming the command (read back with ``comment="#"``)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(f"# produced by: {command}\n")
        frame.to_csv(handle, index=False)


def write_tables(
    summary: pd.DataFrame, paper: dict[str, Any], out: Path, command: str, budget: str, envs: tuple[str, ...]
) -> list[Path]:
    """Write table1.md, table2.md and table3.md; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    texts = {
        "table1.md": _preamble("Table I: entropy-regularized PPO variants (basic return)", command, budget)
        + basic_return_table(summary, paper, TABLES[1], envs),
        "table2.md": _preamble("Table II: Residual PPO policy customization", command, budget)
        + table2_lines(summary, paper, envs),
        "table3.md": _preamble("Table III: global vs state-dependent std (basic return)", command, budget)
        + basic_return_table(summary, paper, TABLES[3], envs),
    }
    paths = []
    for name, lines in texts.items():
        (out / name).write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
        paths.append(out / name)
    return paths


def write_table2_seeds(
    seeds: pd.DataFrame, out: Path, command: str, budget: str, envs: tuple[str, ...]
) -> Path:
    """``table2_seeds.md``: Table II per seed and paired within seeds (:mod:`benchmarks.report_seeds`)."""
    from benchmarks.report_seeds import table2_seed_lines

    lines = [
        "# Table II seed by seed",
        "",
        f"Produced by: `{command}` (budget `{budget}`).",
        "",
        *table2_seed_lines(seeds, envs),
    ]
    path = out / "table2_seeds.md"
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--budget", default="quick", help="budget sub-folder of --results-dir to report")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RUNS_DIR)
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/<budget>")
    parser.add_argument(
        "--hyperparams",
        type=Path,
        default=None,
        help="the PPO file the runs were trained with (run's --hyperparams)",
    )
    parser.add_argument("--no-figures", action="store_true", help="tables and summaries only")
    parser.add_argument("--bootstrap-reps", type=int, default=2000, help="bootstrap resamples of the IQM CIs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    args = parse_args(argv)
    command = shlex.join(["python", "-m", "benchmarks.report", *(sys.argv[1:] if argv is None else argv)])
    out = args.out or RESULTS_DIR / args.budget
    runs = finished_runs(args.results_dir, args.budget, args.hyperparams)
    episodes, curves = load_runs(args.results_dir, args.budget, runs=runs)
    if episodes.empty:
        print(f"no finished runs under {args.results_dir / args.budget}", file=sys.stderr)
        return 1
    paper = load_yaml(PAPER_RESULTS)
    envs = tuple(env for env in ENVS if env in set(episodes["env"]))
    summary = summarize(episodes, paper)
    written = write_tables(summary, paper, out, command, args.budget, envs)
    write_csv(summary, out / "summary.csv", command)
    records = json.loads(summary.to_json(orient="records"))
    (out / "summary.json").write_text(
        json.dumps({"command": command, "budget": args.budget, "rows": records}, indent=1) + "\n"
    )
    write_csv(run_table(runs), out / "runs.csv", command)
    seeds = seed_table(episodes)
    write_csv(seeds, out / "seeds.csv", command)
    written += [out / "summary.csv", out / "summary.json", out / "runs.csv", out / "seeds.csv"]
    written.append(write_table2_seeds(seeds, out, command, args.budget, envs))
    from benchmarks.report_claims import write_claims
    from benchmarks.report_claims_training import write_claims_training
    from benchmarks.report_selection import write_selection

    written += write_claims(seeds, summary, paper, out, command, args.budget, envs)
    written += write_claims_training(curves, paper, out, command, args.budget, envs)
    written += write_selection(runs, paper, out, command, args.budget, envs)
    if not args.no_figures:
        from benchmarks.report_figures import write_aggregate, write_curves

        written += write_curves(curves, episodes, out, command, envs)
        written += write_aggregate(episodes, paper, out, command, args.bootstrap_reps)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
