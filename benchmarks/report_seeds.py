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

#: Rows of the per-seed table, in Table II's order.
ROWS = ("prior", "greedy", "kl", "residual", "full", "residual_tuned")
#: Paired differences of total return, (a, b) meaning "a − b" within a seed: the paper's claims.
PAIRS = (("residual", "greedy"), ("residual", "kl"), ("residual", "prior"), ("kl", "greedy"))


def _checkpoint_rows(seeds: pd.DataFrame, env: str, checkpoint: str) -> pd.DataFrame:
    """Rows of one env at ``checkpoint``, the prior always at its best checkpoint (as in Table II)."""
    frame = seeds[seeds["env"] == env]
    wanted = np.where(frame["variant"] == "prior", "best", checkpoint)
    return frame[frame["checkpoint"] == wanted].set_index(["variant", "seed"])


def per_seed_table(seeds: pd.DataFrame, env: str, checkpoint: str, labels: dict[str, str]) -> list[str]:
    """Markdown rows: policy x seed, cells "total (basic, add-on metric)" at ``checkpoint``."""
    rows = _checkpoint_rows(seeds, env, checkpoint)
    seed_ids = sorted(rows.index.get_level_values("seed").unique())
    lines = [
        "| Policy | " + " | ".join(f"seed {s}" for s in seed_ids) + " |",
        "|---|" + "---|" * len(seed_ids),
    ]
    for variant in ROWS:
        if variant not in rows.index.get_level_values("variant"):
            continue
        cells = []
        for seed in seed_ids:
            if (variant, seed) in rows.index:
                row = rows.loc[(variant, seed)]
                cells.append(f"{row.total_return:.0f} ({row.basic_return:.0f}, {row.addon_metric_mean:.2f})")
            else:
                cells.append("—")
        lines.append(f"| {labels.get(variant, variant)} | " + " | ".join(cells) + " |")
    return lines


def paired_differences(seeds: pd.DataFrame, env: str, checkpoint: str) -> pd.DataFrame:
    """One row per pair of :data:`PAIRS` and seed where both finished: the difference of total, basic and
    add-on return (a − b) at ``checkpoint`` (the prior at its best checkpoint)."""
    rows = _checkpoint_rows(seeds, env, checkpoint)
    records = []
    for a, b in PAIRS:
        for seed in sorted(rows.index.get_level_values("seed").unique()):
            if (a, seed) in rows.index and (b, seed) in rows.index:
                first, second = rows.loc[(a, seed)], rows.loc[(b, seed)]
                records.append(
                    {
                        "pair": f"{a} - {b}",
                        "seed": seed,
                        **{
                            f"delta_{q}": first[q] - second[q]
                            for q in ("total_return", "basic_return", "addon_return")
                        },
                    }
                )
    return pd.DataFrame(
        records, columns=["pair", "seed", "delta_total_return", "delta_basic_return", "delta_addon_return"]
    )


def paired_table(seeds: pd.DataFrame, env: str, checkpoint: str, labels: dict[str, str]) -> list[str]:
    """Markdown rows: pair x seed, cells "Δtotal (Δbasic, Δadd-on)", and how often a is ahead on total."""
    deltas = paired_differences(seeds, env, checkpoint)
    if deltas.empty:
        return ["No seed has both policies of any pair finished yet."]
    seed_ids = sorted(deltas["seed"].unique())
    lines = [
        "| a − b | " + " | ".join(f"seed {s}" for s in seed_ids) + " | a ahead on total | mean Δ total |",
        "|---|" + "---|" * (len(seed_ids) + 2),
    ]
    for pair, group in deltas.groupby("pair", sort=False):
        by_seed = group.set_index("seed")
        cells = [
            (
                f"{by_seed.loc[s, 'delta_total_return']:+.0f} ({by_seed.loc[s, 'delta_basic_return']:+.0f}, "
                f"{by_seed.loc[s, 'delta_addon_return']:+.0f})"
                if s in by_seed.index
                else "—"
            )
            for s in seed_ids
        ]
        ahead = int((group["delta_total_return"] > 0).sum())
        a, b = pair.split(" - ")
        label = f"{labels.get(a, a)} − {labels.get(b, b)}"
        lines.append(
            f"| {label} | "
            + " | ".join(cells)
            + f" | {ahead} of {len(group)} | {group['delta_total_return'].mean():+.0f} |"
        )
    return lines


def table2_seed_lines(
    seeds: pd.DataFrame, envs: tuple[str, ...], labels: dict[str, str], metric_names: dict[str, str]
) -> list[str]:
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
        if not (seeds["env"] == env).any() or not seeds[seeds["env"] == env]["variant"].isin(ROWS[1:]).any():
            continue
        lines += [f"## {env} (add-on metric: {metric_names.get(env, 'add-on metric')})", ""]
        for checkpoint in ("final", "best"):
            lines += [f"### {checkpoint.capitalize()} checkpoints", ""]
            lines += per_seed_table(seeds, env, checkpoint, labels) + [""]
            lines += paired_table(seeds, env, checkpoint, labels) + [""]
    return lines
