"""Two reports side by side, cell by cell and claim by claim: does a candidate block stand level?

A ``ppo.yml`` block serves all of an env's variants, so a candidate block (``benchmarks/hyperparams/*_search``)
replaces the one in use only if, over all its runs, its cells and claims stand at least level with the
current grid's. This command reads two reports written by ``python -m benchmarks.report`` (their
``summary.csv`` and ``claims.csv``), keeps the envs asked for, and writes one markdown file:

1. **Cells**: every cell where the paper prints a return (:func:`benchmarks.report_claims.cell_rows`),
   each report's mean (seeds) and verdict against the paper, and the candidate's change;
2. **Tally** of the verdicts over the cells both reports have (a cell missing from one is listed, not
   counted), so an unfinished candidate is compared only where it has results;
3. **Claims**: each seed-matched claim of ``claims.csv`` (a − b ± standard error, seeds ahead, verdict),
   the base's beside the candidate's.

Example (the Ant candidate against the official tables)::

    python -m benchmarks.compare_reports benchmarks/results/paper benchmarks/results/ant_search/rslrl_update \\
        --envs Ant --out benchmarks/results/ant_search/rslrl_update/vs_paper.md
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.config import resolve_env
from benchmarks.report import ROW_LABELS, _markdown
from benchmarks.report_claims import QUANTITY_LABELS, cell_rows

VERDICTS = ("≥ paper", "within paper std", "below")
CELL_KEYS = ["table", "env", "variant", "checkpoint", "quantity"]
CLAIM_KEYS = ["table", "env", "checkpoint", "a", "b"]


def read_report(folder: Path, name: str) -> pd.DataFrame:
    """One of a report's CSV files (their first line is a ``# produced by`` comment)."""
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: is {folder} a report written by `python -m benchmarks.report`?"
        )
    return pd.read_csv(path, comment="#")


def compare_cells(base: pd.DataFrame, candidate: pd.DataFrame) -> pd.DataFrame:
    """Both reports' cells, outer-joined on table x env x variant x checkpoint x quantity; columns
    ``mean_base``, ``n_seeds_base``, ``verdict_base``, the same with ``_candidate``, the paper's mean and
    std, and ``change`` (candidate − base mean; NaN where one report lacks the cell)."""
    columns = [*CELL_KEYS, "mean", "n_seeds", "verdict", "paper_mean", "paper_std"]
    merged = pd.merge(
        base[columns], candidate[columns], on=CELL_KEYS, how="outer", suffixes=("_base", "_candidate")
    )
    for paper in ("paper_mean", "paper_std"):
        merged[paper] = merged[f"{paper}_candidate"].fillna(merged[f"{paper}_base"])
    merged["change"] = merged["mean_candidate"] - merged["mean_base"]
    return merged.sort_values(CELL_KEYS, kind="stable").reset_index(drop=True)


def tally(cells: pd.DataFrame) -> pd.DataFrame:
    """Verdict counts of each report over the cells both have (rows: base, candidate; columns: verdicts)."""
    shared = cells.dropna(subset=["mean_base", "mean_candidate"])
    counts = {
        side: [int((shared[f"verdict_{side}"] == verdict).sum()) for verdict in VERDICTS]
        for side in ("base", "candidate")
    }
    return pd.DataFrame.from_dict(counts, orient="index", columns=list(VERDICTS))


def compare_claims(base: pd.DataFrame, candidate: pd.DataFrame) -> pd.DataFrame:
    """Both reports' claim rows outer-joined on table x env x checkpoint x a x b."""
    columns = [*CLAIM_KEYS, "mean_delta", "delta_se", "a_ahead", "n_seeds", "verdict"]
    return pd.merge(
        base[columns], candidate[columns], on=CLAIM_KEYS, how="outer", suffixes=("_base", "_candidate")
    ).sort_values(CLAIM_KEYS, kind="stable")


def _mean_cell(mean: float, n_seeds: float, verdict: object) -> str:
    if not np.isfinite(mean):
        return "—"
    return f"{mean:.0f} ({int(n_seeds)}), {verdict}"


def _claim_cell(row: pd.Series, side: str) -> str:
    mean, se = row[f"mean_delta_{side}"], row[f"delta_se_{side}"]
    if not np.isfinite(mean):
        return "—"
    spread = f" ± {se:.0f}" if np.isfinite(se) else ""
    ahead = f"{int(row[f'a_ahead_{side}'])} of {int(row[f'n_seeds_{side}'])}"
    return f"{mean:+.0f}{spread} ({ahead}), {row[f'verdict_{side}']}"


def comparison_lines(cells: pd.DataFrame, claims: pd.DataFrame, base: Path, candidate: Path) -> list[str]:
    """The markdown body: cell tally, cells, claims."""
    counts = tally(cells)
    shared = int(counts.loc["base"].sum())
    lines = [
        (
            f"*base*: `{base}`; *candidate*: `{candidate}`. Cells: each report's mean over its seeds' evaluation "
            "episodes (seeds in parentheses) and its verdict against the paper (*within paper std*: short of "
            "the paper's mean by at most its printed std; `claims.md` of each report). Change: candidate − base."
        ),
        "",
        f"## Cells both reports have ({shared})",
        "",
        _markdown(
            ["Report", *VERDICTS],
            [[side, *(str(value) for value in counts.loc[side])] for side in counts.index],
        ),
        "",
        "## Cells",
        "",
    ]
    rows = [
        [
            str(int(row.table)),
            row.env,
            ROW_LABELS.get(row.variant, row.variant),
            "average" if row.checkpoint == "final" else "best",
            QUANTITY_LABELS[row.quantity],
            f"{row.paper_mean:.0f} ± {row.paper_std:.0f}" if np.isfinite(row.paper_mean) else "—",
            _mean_cell(row.mean_base, row.n_seeds_base, row.verdict_base),
            _mean_cell(row.mean_candidate, row.n_seeds_candidate, row.verdict_candidate),
            f"{row.change:+.0f}" if np.isfinite(row.change) else "—",
        ]
        for row in cells.itertuples()
    ]
    header = ["Table", "Env.", "Policy", "Kind", "Return", "paper", "base", "candidate", "change"]
    lines += [_markdown(header, rows) if rows else "No cell.", "", "## Claims (a ≥ b), seed by seed", ""]
    rows = [
        [
            str(int(row["table"])),
            row["env"],
            row["checkpoint"],
            f"{ROW_LABELS.get(row['a'], row['a'])} ≥ {ROW_LABELS.get(row['b'], row['b'])}",
            _claim_cell(row, "base"),
            _claim_cell(row, "candidate"),
        ]
        for _, row in claims.iterrows()
    ]
    header = ["Table", "Env.", "Checkpoints", "Claim", "base: a − b (seeds ahead)", "candidate"]
    lines += [_markdown(header, rows) if rows else "No claim.", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.compare_reports",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "base", type=Path, help="report folder of the block in use (e.g. benchmarks/results/paper)"
    )
    parser.add_argument("candidate", type=Path, help="report folder of the candidate block")
    parser.add_argument("--envs", nargs="+", default=None, help="envs to compare (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="markdown file (default: print only)")
    args = parser.parse_args(argv)
    envs = [resolve_env(env) for env in args.envs] if args.envs else None
    frames = {}
    for side, folder in (("base", args.base), ("candidate", args.candidate)):
        summary, claims = read_report(folder, "summary.csv"), read_report(folder, "claims.csv")
        cells = cell_rows(summary)
        if envs is not None:
            cells, claims = cells[cells["env"].isin(envs)], claims[claims["env"].isin(envs)]
        frames[side] = (cells, claims)
    cells = compare_cells(frames["base"][0], frames["candidate"][0])
    claims = compare_claims(frames["base"][1], frames["candidate"][1])
    command = shlex.join(
        ["python", "-m", "benchmarks.compare_reports", *(sys.argv[1:] if argv is None else argv)]
    )
    lines = [
        "# Two reports, cell by cell and claim by claim",
        "",
        f"Produced by: `{command}`.",
        "",
        *comparison_lines(cells, claims, args.base, args.candidate),
    ]
    text = "\n".join(lines).rstrip() + "\n"
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
