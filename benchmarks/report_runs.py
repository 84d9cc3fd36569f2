"""Which runs the report reads (finished and not stale), their episodes and curves, and what each run cost
(``runs.csv``): the part of :mod:`benchmarks.report` that touches run folders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import yaml

from benchmarks.config import make_spec
from benchmarks.training import stale_reason

QUANTITIES = ("total_return", "basic_return", "addon_metric_mean", "addon_return")


#: Columns of runs.csv, from each run's result.json: what a run cost and where its best checkpoint is.
RUN_COLUMNS = (
    "env",
    "variant",
    "seed",
    "timesteps",
    "train_seconds",
    "steps_per_second",
    "best_step",
    "resumed_from",
    "machines",
)


def finished_runs(results_dir: Path, budget: str, ppo_file: Path | None = None) -> list[tuple[Path, dict]]:
    """The budget's finished runs as ``(run folder, result.json content)``, stale runs (trained with
    other hyperparameters or coefficients than the current files, or before their prior was retrained:
    ``benchmarks.training.stale_reason``) left out with a warning."""
    runs = []
    for result in sorted((Path(results_dir) / budget).glob("*/*/seed*/result.json")):
        info = json.loads(result.read_text())
        spec = make_spec(
            info["env"], info["variant"], info["seed"], budget, str(ppo_file) if ppo_file else None
        )
        reason = stale_reason(spec, results_dir)
        if reason is not None:
            print(
                f"left out {spec.name}: {reason} (re-run it with benchmarks.run --rerun-stale)",
                file=sys.stderr,
            )
            continue
        runs.append((result.parent, info))
    return runs


def load_runs(
    results_dir: Path, budget: str, ppo_file: Path | None = None, runs: list[tuple[Path, dict]] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Final-evaluation episodes and periodic evaluations of the budget's finished, not stale runs
    (``runs``: the :func:`finished_runs` already listed).

    :return: ``episodes`` (eval_final.csv and eval_best.csv rows: env, variant, run_seed, checkpoint,
        episode, total_return, ...) and ``curves`` (evaluations.csv rows with env, variant, run_seed).
    """
    episodes, curves = [], []
    for run_dir, info in finished_runs(results_dir, budget, ppo_file) if runs is None else runs:
        for name in ("eval_final.csv", "eval_best.csv"):
            episodes.append(pd.read_csv(run_dir / name))
        frame = pd.read_csv(run_dir / "evaluations.csv")
        curves.append(frame.assign(env=info["env"], variant=info["variant"], run_seed=info["seed"]))
    empty = pd.DataFrame(columns=["env", "variant", "run_seed", "checkpoint", *QUANTITIES])
    return (pd.concat(episodes, ignore_index=True) if episodes else empty), (
        pd.concat(curves, ignore_index=True) if curves else empty.drop(columns="checkpoint")
    )


def _machine_label(machine: dict | None) -> str:
    """A segment's machine in a few characters: its CPU count and Python version ("16cpu-py3.12.3")."""
    if not machine:
        return "?"
    cpus, python = machine.get("cpu_count") or "?", (machine.get("versions") or {}).get("python") or "?"
    return f"{cpus}cpu-py{python}"


def run_table(runs: list[tuple[Path, dict]]) -> pd.DataFrame:
    """One row per run of :func:`finished_runs`: :data:`RUN_COLUMNS` (``resumed_from`` as "2048 4096";
    ``machines``: each training segment's, first from ``config.yaml``, so that the throughput of a run
    trained partly elsewhere is not read as this machine's)."""
    rows = []
    for run_dir, info in runs:
        config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
        # config.yaml holds the first segment's machine() keys (cpu_count from 2026-12 on).
        segments = [config, *(info.get("resumed_on") or [None] * len(info.get("resumed_from") or []))]
        rows.append(
            {key: info.get(key) for key in RUN_COLUMNS}
            | {"resumed_from": " ".join(str(step) for step in info.get("resumed_from") or [])}
            | {"machines": " ".join(_machine_label(segment) for segment in segments)}
        )
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))
