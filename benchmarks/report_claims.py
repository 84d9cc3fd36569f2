"""The paper's claims and cells, checked (``claims.md``, ``claims.csv``): does our grid agree with the paper?

The tables put our mean beside the paper's; a reader still has to do the comparisons the paper draws from
them. This module does them, in two parts:

1. **Claims**, seed-matched: each comparison the paper's text makes from its tables ("Soft PPO is at least
   as good as the other entropy variants", "a global std beats a state-dependent one", "Residual PPO
   balances the basic and add-on tasks better than Greedy and KL PPO", measured by the total return), as
   ``a − b`` within each seed where both runs finished (the pooled means of the tables may compare
   different seed sets while a grid is unfinished), beside the paper's own ``a − b``.
2. **Cells**: every cell where the paper prints a return (Tables I and III, basic return, Average and
   Best; Table II's total, basic and add-on return of best checkpoints) with our Δ = ours − paper and
   whether we reach it ("≥ paper"), fall short by at most the paper's std ("within paper std") or by more.
   The add-on *metric* columns (|θ̄|, z̄, v̄_y) have no better direction and are left out.

Written by ``python -m benchmarks.report`` from its ``summary.csv`` and ``seeds.csv`` frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.config import TABLES
from benchmarks.report import ROW_LABELS, _markdown, paper_value, write_csv

#: (table, a, b, quantity): the paper claims a ≥ b on quantity. Table II's prior is not in a claim.
CLAIMS = (
    *((1, "soft", other, "basic_return") for other in TABLES[1] if other != "soft"),
    (2, "residual", "greedy", "total_return"),
    (2, "residual", "kl", "total_return"),
    (3, "soft", "soft_state_std", "basic_return"),
)
#: Table II's cells with a better direction (the add-on metric has none).
TABLE2_RETURNS = ("total_return", "basic_return", "addon_return")
QUANTITY_LABELS = {"total_return": "total", "basic_return": "basic", "addon_return": "add-on"}


CLAIM_COLUMNS = (
    *("table", "env", "checkpoint", "a", "b", "quantity", "seeds", "mean_delta", "delta_se"),
    *("a_ahead", "n_seeds", "paper_delta", "verdict", "as_paper"),
)


def claim_rows(seeds: pd.DataFrame, paper: dict[str, Any], envs: tuple[str, ...]) -> pd.DataFrame:
    """One row per claim x env x checkpoint (final, best) where some seed has both runs finished.

    Columns: ``table``, ``env``, ``checkpoint``, ``a``, ``b``, ``quantity``, ``seeds`` (the paired seeds,
    "0 1 2"), ``mean_delta`` (mean over those seeds of a − b, each seed's mean over its evaluation
    episodes), ``delta_se`` (its standard error over seeds, std with ddof 1 / √n; NaN for one seed),
    ``a_ahead`` (seeds where a − b ≥ 0), ``n_seeds``, ``paper_delta`` (the paper's mean a − b; for
    Table II its best checkpoints at both kinds, the only Table II it prints), ``verdict`` ("holds"
    where ``mean_delta ≥ 0``; "within 2 SE" where a trails b by at most twice the
    standard error, which the seeds cannot tell from a tie; else "fails") and ``as_paper`` (our sign of
    a − b is the paper's)."""
    records = []
    for table, a, b, quantity in CLAIMS:
        for env in envs:
            for checkpoint in ("final", "best"):
                frame = seeds[(seeds["env"] == env) & (seeds["checkpoint"] == checkpoint)]
                by_seed = frame.pivot_table(index="seed", columns="variant", values=quantity)
                if a not in by_seed or b not in by_seed:
                    continue
                delta = (by_seed[a] - by_seed[b]).dropna()
                if delta.empty:
                    continue
                paper_kind = "best" if table == 2 else checkpoint
                ref_a = paper_value(paper, env, a, paper_kind, quantity)
                ref_b = paper_value(paper, env, b, paper_kind, quantity)
                paper_delta = ref_a[0] - ref_b[0] if ref_a and ref_b else np.nan
                mean_delta = float(delta.mean())
                delta_se = float(delta.std(ddof=1) / np.sqrt(len(delta))) if len(delta) > 1 else np.nan
                records.append(
                    {
                        "table": table,
                        "env": env,
                        "checkpoint": checkpoint,
                        "a": a,
                        "b": b,
                        "quantity": quantity,
                        "seeds": " ".join(str(int(s)) for s in delta.index),
                        "mean_delta": mean_delta,
                        "delta_se": delta_se,
                        "a_ahead": int((delta >= 0).sum()),
                        "n_seeds": len(delta),
                        "paper_delta": paper_delta,
                        "verdict": _verdict(mean_delta, delta_se),
                        "as_paper": bool(
                            np.isfinite(paper_delta) and (mean_delta >= 0) == (paper_delta >= 0)
                        ),
                    }
                )
    return pd.DataFrame(records, columns=[*CLAIM_COLUMNS])


def _verdict(mean_delta: float, delta_se: float) -> str:
    """ "holds" (a − b ≥ 0), "within 2 SE" (a trails by at most two standard errors) or "fails"."""
    if mean_delta >= 0:
        return "holds"
    return "within 2 SE" if np.isfinite(delta_se) and -mean_delta <= 2 * delta_se else "fails"


def _table_of(variant: str) -> int:
    """The paper's table a variant's row or column is in (Soft PPO: Table I; see :func:`cell_rows`)."""
    if variant in ("prior", *TABLES[2]):
        return 2
    return 3 if variant == "soft_state_std" else 1


def cell_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The cells of :func:`benchmarks.report.summarize` that the paper prints a return for, with
    ``verdict``: "≥ paper", "within paper std" (short by at most the paper's std) or "below"."""
    tables_1_3 = (summary["quantity"] == "basic_return") & summary["variant"].isin((*TABLES[1], *TABLES[3]))
    table_2 = (
        summary["quantity"].isin(TABLE2_RETURNS)
        & summary["variant"].isin(("prior", *TABLES[2]))
        & (summary["checkpoint"] == "best")
    )
    cells = summary[(tables_1_3 | table_2) & summary["paper_mean"].notna()].copy()
    cells["table"] = cells["variant"].map(_table_of)
    cells["verdict"] = np.select(
        [cells["diff"] >= 0, -cells["diff"] <= cells["paper_std"]], ["≥ paper", "within paper std"], "below"
    )
    # Soft PPO's basic return is a cell of both Table I and Table III: count it in each.
    soft_in_3 = cells[(cells["variant"] == "soft") & (cells["quantity"] == "basic_return")].assign(table=3)
    cells = pd.concat([cells, soft_in_3], ignore_index=True)
    columns = ["table", "env", "variant", "checkpoint", "quantity", "mean", "n_seeds", "paper_mean"]
    return cells[[*columns, "paper_std", "diff", "verdict"]].sort_values(["table", "env"], kind="stable")


def claims_lines(claims: pd.DataFrame, cells: pd.DataFrame) -> list[str]:
    """The body of ``claims.md``: the claims table, the cell tally per table and the cells below the paper."""
    lines = [
        "## The paper's claims, seed by seed",
        "",
        (
            "a − b: mean over the seeds where both finished of each seed's mean evaluation return (basic "
            "return in Tables I and III, total return in Table II) ± its standard error over those seeds; "
            "*a ahead*: seeds with a − b ≥ 0; *paper's a − b*: from the paper's means (Table II: its best "
            "checkpoints, beside both of ours); *claim*: holds (a − b ≥ 0), within 2 SE (a trails by at "
            "most two standard errors: these seeds cannot tell it from a tie) or fails."
        ),
        "",
    ]
    rows = [
        [
            f"{row.table}",
            row.env,
            row.checkpoint,
            f"{ROW_LABELS[row.a]} ≥ {ROW_LABELS[row.b]}",
            f"{row.mean_delta:+.0f}" + (f" ± {row.delta_se:.0f}" if np.isfinite(row.delta_se) else ""),
            f"{row.a_ahead} of {row.n_seeds} ({row.seeds})",
            f"{row.paper_delta:+.0f}" if np.isfinite(row.paper_delta) else "—",
            row.verdict,
            "yes" if row.as_paper else "no",
        ]
        for row in claims.itertuples()
    ]
    header = [
        *("Table", "Env.", "Checkpoints", "Claim (a ≥ b)", "a − b", "a ahead", "paper's a − b"),
        *("claim (ours)", "same sign as paper"),
    ]
    lines += [_markdown(header, rows) if rows else "No claim has a seed with both runs finished yet.", ""]
    lines += [
        "## Cells against the paper",
        "",
        (
            "Every cell where the paper prints a return: Tables I and III basic return (Average = final "
            "checkpoints, Best = best ones; Soft PPO's cells count in both tables), Table II total, basic "
            "and add-on return (best checkpoints). *within paper std*: below the paper's mean by at most "
            "its printed std (over 500 episodes, so it measures episode spread, not uncertainty of the mean)."
        ),
        "",
    ]
    tally = cells.groupby(["table", "verdict"]).size().unstack(fill_value=0)
    verdicts = ("≥ paper", "within paper std", "below")
    rows = [
        [
            f"{table}",
            *(str(int(tally.loc[table].get(v, 0))) for v in verdicts),
            str(int(tally.loc[table].sum())),
        ]
        for table in tally.index
    ]
    lines += [_markdown(["Table", *verdicts, "cells"], rows) if rows else "No cell yet.", ""]
    short = cells[cells["verdict"] != "≥ paper"]
    if len(short):
        lines += ["Cells short of the paper:", ""]
        rows = [
            [
                f"{row.table}",
                row.env,
                ROW_LABELS[row.variant],
                "average" if row.checkpoint == "final" else "best",
                QUANTITY_LABELS[row.quantity],
                f"{row.mean:.1f} ({row.n_seeds})",
                f"{row.paper_mean:.1f} ± {row.paper_std:.1f}",
                f"{row.diff:+.1f}",
                row.verdict,
            ]
            for row in short.itertuples()
        ]
        header = ["Table", "Env.", "Policy", "Kind", "Return", "ours (seeds)", "paper", "Δ", "verdict"]
        lines += [_markdown(header, rows), ""]
    return lines


def write_claims(
    seeds: pd.DataFrame,
    summary: pd.DataFrame,
    paper: dict[str, Any],
    out: Path,
    command: str,
    budget: str,
    envs: tuple[str, ...],
) -> list[Path]:
    """Write ``claims.md`` and ``claims.csv`` (the claim rows only: the cells are ``summary.csv``'s rows
    with a paper value); return their paths."""
    claims = claim_rows(seeds, paper, envs)
    body = claims_lines(claims, cell_rows(summary))
    return write_markdown_and_csv(
        out, "claims", "The paper's claims and cells, checked", command, budget, body, claims
    )


def write_markdown_and_csv(
    out: Path, stem: str, title: str, command: str, budget: str, body: list[str], frame: pd.DataFrame
) -> list[Path]:
    """Write ``<stem>.md`` (the title, the command that produced it, ``body``) and ``<stem>.csv``
    (``frame``); return their paths."""
    lines = ["# " + title, "", f"Produced by: `{command}` (budget `{budget}`).", "", *body]
    (out / f"{stem}.md").write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    write_csv(frame, out / f"{stem}.csv", command)
    return [out / f"{stem}.md", out / f"{stem}.csv"]
