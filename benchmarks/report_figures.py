"""Figures and the aggregate view of the benchmark report: learning curves and IQM with bootstrap CIs.

The aggregate view is not in the paper: each run's score is normalized per env by the paper's own
reference score (so 1.0 = the paper's number), then the interquartile mean (IQM) over runs and its 95%
stratified-bootstrap confidence interval are computed (Agarwal et al., 2021, rliable).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display on the benchmark machines
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import trim_mean

from benchmarks.config import TABLES, VARIANTS

LABELS = {"prior": "Prior Policy", **{name: variant.label for name, variant in VARIANTS.items()}}
#: Per table: the variants drawn and the quantities (one panel each) of the learning curves.
CURVE_PANELS: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {
    1: (TABLES[1], ("basic_return",)),
    2: (TABLES[2], ("total_return", "basic_return", "addon_return")),
    3: (TABLES[3], ("basic_return",)),
}
#: Aggregate groups: variants, checkpoint, quantity, and the paper's reference score per env.
AGGREGATE_GROUPS: dict[str, dict[str, Any]] = {
    "tables_1_3_final": {
        "title": "Tables I/III, final checkpoints\nbasic return / paper's Soft PPO (Average)",
        "variants": (*TABLES[1], "soft_state_std"),
        "checkpoint": "final",
        "quantity": "basic_return",
        "reference": lambda paper, env: paper["table1"]["average"][env]["soft"][0],
    },
    "tables_1_3_best": {
        "title": "Tables I/III, best checkpoints\nbasic return / paper's Soft PPO (Best)",
        "variants": (*TABLES[1], "soft_state_std"),
        "checkpoint": "best",
        "quantity": "basic_return",
        "reference": lambda paper, env: paper["table1"]["best"][env]["soft"][0],
    },
    "table_2_best": {
        "title": "Table II, best checkpoints\ntotal return / paper's Full Policy",
        "variants": ("prior", *TABLES[2]),
        "checkpoint": "best",
        "quantity": "total_return",
        "reference": lambda paper, env: paper["table2"][env]["full"]["total_return"][0],
    },
}
# Where training went: a customisation's best checkpoint is often its first, i.e. nearly the prior.
AGGREGATE_GROUPS["table_2_final"] = {
    **AGGREGATE_GROUPS["table_2_best"],
    "title": "Table II, final checkpoints (prior: its best)\ntotal return / paper's Full Policy",
    "checkpoint": "final",
}


def _footer(fig: plt.Figure, command: str) -> None:
    fig.text(0.01, 0.005, f"produced by: {command}", fontsize=6, color="gray", va="bottom")


def seed_curves(curves: pd.DataFrame, quantity: str) -> pd.DataFrame:
    """Mean over each evaluation's episodes, then mean/std/count over seeds at each timestep."""
    per_run = curves.groupby(["variant", "run_seed", "timesteps"])[quantity].mean().reset_index()
    return per_run.groupby(["variant", "timesteps"])[quantity].agg(["mean", "std", "count"]).reset_index()


#: Up to this many seeds per variant, the curves also draw every seed.
MAX_SEED_LINES = 5


def write_curves(
    curves: pd.DataFrame, episodes: pd.DataFrame, out: Path, command: str, envs: tuple[str, ...]
) -> list[Path]:
    """One PNG per table x env: mean over seeds with a ±1 std band and, up to :data:`MAX_SEED_LINES`
    seeds, each seed as a thin line; the seed count is in the legend.

    Table II panels also draw the prior's level (its best checkpoint's final evaluation) as a dashed line.
    """
    paths = []
    for table, (variants, quantities) in CURVE_PANELS.items():
        for env in envs:
            frame = curves[(curves["env"] == env) & curves["variant"].isin(variants)]
            if frame.empty:
                continue
            fig, axes = plt.subplots(1, len(quantities), figsize=(5 * len(quantities), 3.8), squeeze=False)
            for ax, quantity in zip(axes[0], quantities, strict=True):
                stats = seed_curves(frame, quantity)
                for variant in variants:
                    line = stats[stats["variant"] == variant]
                    if line.empty:
                        continue
                    runs = frame[frame["variant"] == variant]
                    n_seeds = int(runs["run_seed"].nunique())
                    (mean_line,) = ax.plot(
                        line["timesteps"], line["mean"], label=f"{LABELS[variant]} (n={n_seeds})"
                    )
                    band = line["std"].fillna(0.0)
                    ax.fill_between(line["timesteps"], line["mean"] - band, line["mean"] + band, alpha=0.2)
                    if n_seeds <= MAX_SEED_LINES:
                        # With few seeds a mean ± std band can hide that one seed kept the task and
                        # another lost it: each seed is drawn too, thin.
                        per_seed = runs.groupby(["run_seed", "timesteps"])[quantity].mean()
                        for _, seed_line in per_seed.groupby(level="run_seed"):
                            steps = seed_line.index.get_level_values("timesteps")
                            ax.plot(
                                steps, seed_line.to_numpy(), color=mean_line.get_color(), lw=0.6, alpha=0.5
                            )
                if table == 2:
                    prior = episodes[
                        (episodes["env"] == env)
                        & (episodes["variant"] == "soft")
                        & (episodes["checkpoint"] == "best")
                    ]
                    if not prior.empty:
                        ax.axhline(
                            prior[quantity].mean(),
                            color="black",
                            ls="--",
                            lw=1,
                            label=f"Prior Policy (n={prior['run_seed'].nunique()})",
                        )
                ax.set_xlabel("environment steps")
                ax.set_ylabel(quantity.replace("_", " ") + " (deterministic eval)")
                ax.grid(alpha=0.3)
            axes[0][0].legend(fontsize=7)
            fig.suptitle(f"Table {'I' * table} — {env}: mean ± std over seeds (thin lines: each seed)")
            _footer(fig, command)
            fig.tight_layout(rect=(0, 0.03, 1, 1))
            path = out / f"curves_table{table}_{env}.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            paths.append(path)
    return paths


def score_matrix(
    episodes: pd.DataFrame, paper: dict[str, Any], group: dict[str, Any], variant: str
) -> tuple[np.ndarray, list[str]]:
    """Normalized scores of one variant, shape (runs, envs): one mean per run, seeds present in every env."""
    # The prior of Table II is each seed's best Soft PPO checkpoint, whatever the group's checkpoint.
    source, checkpoint = ("soft", "best") if variant == "prior" else (variant, group["checkpoint"])
    frame = episodes[(episodes["variant"] == source) & (episodes["checkpoint"] == checkpoint)]
    per_run = frame.groupby(["env", "run_seed"])[group["quantity"]].mean().unstack("env").dropna()
    envs = list(per_run.columns)
    if not envs:
        return np.empty((0, 0)), []
    reference = np.array([group["reference"](paper, env) for env in envs])
    return per_run.to_numpy() / reference, envs


def _iqm(scores: np.ndarray) -> float:
    return float(trim_mean(scores, proportiontocut=0.25, axis=None))


def interval_estimates(score_dict: dict[str, np.ndarray], reps: int, seed: int = 0) -> tuple[dict, dict, str]:
    """IQM and mean with 95% CIs: rliable's stratified bootstrap, or the same computed here when rliable
    cannot be imported (rliable 1.2 needs ``arch`` >= 8 with pandas 3)."""

    def aggregates(scores: np.ndarray) -> np.ndarray:
        return np.array([_iqm(scores), float(np.mean(scores))])

    try:
        from rliable import library as rly

        point, interval = rly.get_interval_estimates(
            score_dict, aggregates, reps=reps, random_state=np.random.RandomState(seed)
        )
        return point, interval, "rliable stratified bootstrap (percentile)"
    except (ImportError, TypeError):
        pass
    rng = np.random.default_rng(seed)
    point, interval = {}, {}
    for name, scores in score_dict.items():
        samples = np.empty((reps, 2))
        for rep in range(reps):
            # Stratified: resample runs within each env (column) independently.
            rows = rng.integers(0, scores.shape[0], size=scores.shape)
            samples[rep] = aggregates(np.take_along_axis(scores, rows, axis=0))
        point[name] = aggregates(scores)
        interval[name] = np.percentile(samples, [2.5, 97.5], axis=0)
    return point, interval, "stratified bootstrap (percentile), numpy fallback for rliable"


def aggregate_table(episodes: pd.DataFrame, paper: dict[str, Any], reps: int) -> pd.DataFrame:
    """IQM and mean of normalized scores per group and variant, with 95% bootstrap CIs."""
    rows = []
    for group_name, group in AGGREGATE_GROUPS.items():
        scores, env_lists = {}, {}
        for variant in group["variants"]:
            matrix, envs = score_matrix(episodes, paper, group, variant)
            if matrix.size:
                scores[variant], env_lists[variant] = matrix, envs
        if not scores:
            continue
        point, interval, method = interval_estimates(scores, reps)
        for variant, matrix in scores.items():
            rows.append(
                {
                    "group": group_name,
                    "variant": variant,
                    "label": LABELS[variant],
                    "n_runs": matrix.size,
                    "envs": " ".join(env_lists[variant]),
                    "iqm": point[variant][0],
                    "iqm_low": interval[variant][0][0],
                    "iqm_high": interval[variant][1][0],
                    "mean": point[variant][1],
                    "mean_low": interval[variant][0][1],
                    "mean_high": interval[variant][1][1],
                    "method": method,
                }
            )
    return pd.DataFrame(rows)


def write_aggregate(
    episodes: pd.DataFrame, paper: dict[str, Any], out: Path, command: str, reps: int
) -> list[Path]:
    """aggregate.csv, aggregate.json and aggregate.png (IQM with 95% CI per group and variant)."""
    from benchmarks.report import write_csv

    table = aggregate_table(episodes, paper, reps)
    if table.empty:
        return []
    write_csv(table, out / "aggregate.csv", command)
    payload = {
        "command": command,
        "normalization": {k: g["title"].replace("\n", ": ") for k, g in AGGREGATE_GROUPS.items()},
        "bootstrap_reps": reps,
        "rows": json.loads(table.to_json(orient="records")),
    }
    (out / "aggregate.json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    groups = list(dict.fromkeys(table["group"]))
    ncols = min(2, len(groups))
    nrows = -(-len(groups) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.0 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.flat[len(groups) :]:
        ax.set_visible(False)
    for ax, group in zip(axes.flat, groups, strict=False):
        rows = table[table["group"] == group].reset_index(drop=True)
        y = np.arange(len(rows))
        errors = [rows["iqm"] - rows["iqm_low"], rows["iqm_high"] - rows["iqm"]]
        ax.errorbar(rows["iqm"], y, xerr=errors, fmt="o", capsize=4)
        ax.set_yticks(
            y,
            [
                f"{label} (n={n}, {len(envs.split())} env{'s' * (len(envs.split()) > 1)})"
                for label, n, envs in zip(rows["label"], rows["n_runs"], rows["envs"], strict=True)
            ],
            fontsize=8,
        )
        ax.invert_yaxis()  # first variant on top, as in the tables
        ax.axvline(1.0, color="gray", ls=":", lw=1)
        ax.set_xlabel("IQM of normalized score (1 = paper), 95% CI")
        ax.set_title(AGGREGATE_GROUPS[group]["title"], fontsize=9)
        ax.grid(alpha=0.3, axis="x")
    _footer(fig, command)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(out / "aggregate.png", dpi=110)
    plt.close(fig)
    return [out / "aggregate.csv", out / "aggregate.json", out / "aggregate.png"]
