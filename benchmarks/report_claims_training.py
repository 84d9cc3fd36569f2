"""The paper's claims along training (``claims_training.md``, ``claims_training.csv``): from what budget on
does each comparison of :mod:`benchmarks.report_claims` show?

``claims.md`` checks the claims at the end of training. Where a shorter budget (the quick one) disagrees
with the paper, the question is whether the trend is absent or not there *yet*: the periodic evaluations
of the same runs answer it. At each evaluation step every claim is checked as ``claims.md`` does (a − b
within each seed where both runs were evaluated at that step, ± its standard error over those seeds),
on the periodic evaluations' episodes (fewer than the final evaluation's: each block's ``evaluation:``)
of the deterministic policy on the full task.

Written by ``python -m benchmarks.report`` from the ``evaluations.csv`` of its finished runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.report import ROW_LABELS, _markdown
from benchmarks.report_claims import CLAIM_COLUMNS, CLAIMS, claim_rows, write_markdown_and_csv
from benchmarks.report_runs import QUANTITIES

#: Rows of the markdown table per env (the CSV keeps every evaluation step).
STEPS_SHOWN = 10


def claims_along_training(curves: pd.DataFrame, paper: dict[str, Any], envs: tuple[str, ...]) -> pd.DataFrame:
    """:func:`benchmarks.report_claims.claim_rows` at every evaluation step (column ``timesteps``; step 0,
    the untrained or uncustomised policy, left out), ``checkpoint`` "periodic"."""
    empty = pd.DataFrame(columns=[*CLAIM_COLUMNS, "timesteps"])
    if curves.empty:
        return empty
    per_seed = (
        curves[curves["timesteps"] > 0]
        .groupby(["env", "variant", "run_seed", "timesteps"])[list(QUANTITIES)]
        .mean()
        .reset_index()
        .rename(columns={"run_seed": "seed"})
    )
    frames = []
    for step, at_step in per_seed.groupby("timesteps"):
        rows = claim_rows(at_step.assign(checkpoint="final"), paper, envs)
        frames.append(rows.assign(timesteps=step, checkpoint="periodic"))
    return pd.concat(frames, ignore_index=True) if frames else empty


def shown_steps(steps: np.ndarray, count: int = STEPS_SHOWN) -> list[int]:
    """About ``count`` of ``steps`` spread evenly up to the last one: for each of ``last·k/count``
    (k = 1..count) the nearest step, without repeats, and always the last step."""
    steps = np.unique(steps)
    targets = steps[-1] * np.arange(1, count + 1) / count
    chosen = {int(steps[np.abs(steps - target).argmin()]) for target in targets}
    return sorted(chosen | {int(steps[-1])})


def _cell(row: Any) -> str:
    """``+116 ± 120 (3/5)``, in bold where the claim fails (a trails b by more than two standard errors)."""
    text = f"{row.mean_delta:+.0f}" + (f" ± {row.delta_se:.0f}" if np.isfinite(row.delta_se) else "")
    text += f" ({row.a_ahead}/{row.n_seeds})"
    return f"**{text}**" if row.verdict == "fails" else text


def claims_training_lines(along: pd.DataFrame, envs: tuple[str, ...]) -> list[str]:
    """One markdown table per env: a row per shown evaluation step, a column per claim."""
    lines = [
        (
            "Each cell: a − b at that evaluation step, mean over the seeds where both runs were evaluated "
            "there ± its standard error, (seeds with a − b ≥ 0 / seeds); **bold**: the claim fails there "
            "(a trails b by more than two standard errors). Basic return for Tables I and III, total "
            "return for Table II; each run's mean over its periodic evaluation's episodes (deterministic "
            "policy). Table II's steps count the customisation's own training, from its prior."
        ),
        "",
    ]
    labels = {(a, b): f"{ROW_LABELS[a]} ≥ {ROW_LABELS[b]}" for _, a, b, _ in CLAIMS}
    for env in envs:
        frame = along[along["env"] == env]
        if frame.empty:
            continue
        steps = shown_steps(frame["timesteps"].to_numpy())
        claims = [pair for pair in labels if ((frame["a"] == pair[0]) & (frame["b"] == pair[1])).any()]
        rows = []
        for step in steps:
            at_step = frame[frame["timesteps"] == step].set_index(["a", "b"])
            cells = [_cell(at_step.loc[pair]) if pair in at_step.index else "—" for pair in claims]
            rows.append([f"{step:,}", *cells])
        lines += [f"## {env}", "", _markdown(["Step", *(labels[pair] for pair in claims)], rows), ""]
    return lines


def write_claims_training(
    curves: pd.DataFrame, paper: dict[str, Any], out: Path, command: str, budget: str, envs: tuple[str, ...]
) -> list[Path]:
    """Write ``claims_training.md`` and ``claims_training.csv`` (every evaluation step); return their paths."""
    along = claims_along_training(curves, paper, envs)
    body = claims_training_lines(along, envs)
    title = "The paper's claims along training"
    return write_markdown_and_csv(out, "claims_training", title, command, budget, body, along)
