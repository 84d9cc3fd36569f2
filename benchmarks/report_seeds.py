"""Table II seed by seed (``table2_seeds.md``): each customisation beside its own prior, and paired differences.

The paper prints Table II as mean ± std pooled over 5 seeds. Here every seed has its own prior (that seed's
best Soft PPO checkpoint), and Greedy, KL and Residual PPO of one seed all customise that same prior, so the
comparison the paper's claim is about — Residual PPO balances the basic and add-on tasks better than Greedy
and KL PPO — is sharpest within a seed: same prior, same env, only the objective differs. Pooled means mix
that with how good each seed's prior is; the per-seed table and the paired differences keep them apart.

Written by ``python -m benchmarks.report`` from ``seeds.csv``'s frame (:func:`benchmarks.report.seed_table`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.report import METRIC_NAMES, MISSING, ROW_LABELS, TABLE2_ROWS, _markdown

#: Paired differences, (a, b) meaning "a − b" within a seed: the paper's claims.
PAIRS = (("residual", "greedy"), ("residual", "kl"), ("residual", "prior"), ("kl", "greedy"))
DELTAS = ("total_return", "basic_return", "addon_return")


def _checkpoint_rows(seeds: pd.DataFrame, env: str, checkpoint: str) -> pd.DataFrame:
    """Rows of one env at ``checkpoint``, the prior always at its best checkpoint (as in Table II)."""
    frame = seeds[seeds["env"] == env]
    wanted = np.where(frame["variant"] == "prior", "best", checkpoint)
    return frame[frame["checkpoint"] == wanted].set_index(["variant", "seed"])


def per_seed_table(seeds: pd.DataFrame, env: str, checkpoint: str) -> str:
    """Markdown table: policy x seed, cells "total (basic, add-on metric)" at ``checkpoint``."""
    rows = _checkpoint_rows(seeds, env, checkpoint)
    seed_ids = sorted(rows.index.get_level_values("seed").unique())
    variants = [v for v in TABLE2_ROWS if v in rows.index.get_level_values("variant")]
    cells = [
        [ROW_LABELS[v]]
        + [
            (
                f"{rows.loc[(v, s), 'total_return']:.0f} ({rows.loc[(v, s), 'basic_return']:.0f}, "
                f"{rows.loc[(v, s), 'addon_metric_mean']:.2f})"
                if (v, s) in rows.index
                else MISSING
            )
            for s in seed_ids
        ]
        for v in variants
    ]
    return _markdown(["Policy", *(f"seed {s}" for s in seed_ids)], cells)


def paired_differences(seeds: pd.DataFrame, env: str, checkpoint: str) -> pd.DataFrame:
    """One row per pair of :data:`PAIRS` and seed where both finished: columns ``a``, ``b``, ``seed`` and
    ``delta_<q>`` = a − b for each quantity of :data:`DELTAS` at ``checkpoint`` (the prior at its best)."""
    rows = _checkpoint_rows(seeds, env, checkpoint)
    records = [
        {
            "a": a,
            "b": b,
            "seed": seed,
            **{f"delta_{q}": rows.loc[(a, seed), q] - rows.loc[(b, seed), q] for q in DELTAS},
        }
        for a, b in PAIRS
        for seed in sorted(rows.index.get_level_values("seed").unique())
        if (a, seed) in rows.index and (b, seed) in rows.index
    ]
    return pd.DataFrame(records, columns=["a", "b", "seed", *(f"delta_{q}" for q in DELTAS)])


def paired_table(seeds: pd.DataFrame, env: str, checkpoint: str) -> str:
    """Markdown table: pair x seed, cells "Δtotal (Δbasic, Δadd-on)", and how often a is ahead on total."""
    deltas = paired_differences(seeds, env, checkpoint)
    if deltas.empty:
        return "No seed has both policies of any pair finished yet."
    seed_ids = sorted(deltas["seed"].unique())
    cells = []
    for (a, b), group in deltas.groupby(["a", "b"], sort=False):
        by_seed = group.set_index("seed")
        cells.append(
            [f"{ROW_LABELS[a]} − {ROW_LABELS[b]}"]
            + [
                (
                    "{:+.0f} ({:+.0f}, {:+.0f})".format(*(by_seed.loc[s, f"delta_{q}"] for q in DELTAS))
                    if s in by_seed.index
                    else MISSING
                )
                for s in seed_ids
            ]
            + [
                f"{int((group['delta_total_return'] > 0).sum())} of {len(group)}",
                f"{group['delta_total_return'].mean():+.0f}",
            ]
        )
    header = ["a − b", *(f"seed {s}" for s in seed_ids), "a ahead on total", "mean Δ total"]
    return _markdown(header, cells)


def table2_seed_lines(seeds: pd.DataFrame, envs: tuple[str, ...]) -> list[str]:
    """The whole ``table2_seeds.md`` body (after the preamble): per env, per checkpoint kind, both tables."""
    lines = [
        (
            "Each cell: total return (basic return, add-on metric), mean over that seed's evaluation episodes. "
            "The prior is always that seed's best Soft PPO checkpoint; the customisations of a seed all start "
            'from it. Paired rows: a − b within one seed, total (basic, add-on return); "a ahead" counts the '
            "seeds where a's total return is higher."
        ),
        "",
    ]
    for env in envs:
        if not seeds[seeds["env"] == env]["variant"].isin(TABLE2_ROWS[1:]).any():
            continue
        # Pipes need no escaping outside a table: "|θ̄|" in a heading.
        metric = METRIC_NAMES.get(env, "add-on metric").replace("\\", "")
        lines += [f"## {env} (add-on metric: {metric})", ""]
        for checkpoint in ("final", "best"):
            lines += [f"### {checkpoint.capitalize()} checkpoints", ""]
            lines += [per_seed_table(seeds, env, checkpoint), "", paired_table(seeds, env, checkpoint), ""]
    return lines
