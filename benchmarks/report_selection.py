"""Table II under other checkpoint rules (``selection.md``, ``selection.csv``): which checkpoint of a
customization is its "best"?

The paper's Table II reports "best-performing checkpoints" without saying on what they are best. The
grid keeps, per run, the periodic checkpoint with the highest *total* return after the critic warm-up
(:class:`benchmarks.evaluation.PeriodicEvaluation`), the paper's metric for the customization task; on
every env that is often the first checkpoint after the warm-up, i.e. nearly the prior. The paper's
customizations' best rows instead look like trained policies (on Hopper, e.g., each is far below its
prior's total return). This report applies three rules to the *periodic* evaluations that every run
records (``evaluations.csv``), the only record of checkpoints other than the best and the last:

* ``total``: the highest mean total return after the warm-up (the grid's rule; ``reproduces grid`` says
  whether it picks the run's recorded best step, a check of this report against the runner);
* ``add-on``: the highest mean add-on return after the warm-up (the customization's own task);
* ``last``: the last evaluation (the final policy).

Caveats, in the tables too: the periodic evaluations have each block's ``evaluation: episodes`` (5 on
HalfCheetah and Ant, 20 on Hopper), not the final evaluation's 100, and a rule that selects on a quantity
is scored on the same episodes, so its selected quantity is biased upwards. These are not Table II's
cells (``claims.md`` grades those); they show how much the paper's cells depend on the rule.

Written by ``python -m benchmarks.report`` from its finished runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from benchmarks.config import TABLES
from benchmarks.report import ROW_LABELS, _markdown, paper_value
from benchmarks.report_claims import claim_rows, write_markdown_and_csv
from benchmarks.report_runs import QUANTITIES

#: Rule name -> the periodic evaluation quantity it maximises (None: the last evaluation).
RULES: dict[str, str | None] = {"total": "total_return", "add-on": "addon_return", "last": None}
#: Table II's returns graded against the paper (as ``claims.md`` does at best checkpoints).
GRADED = ("total_return", "basic_return", "addon_return")
VERDICTS = ("≥ paper", "within paper std", "below")


def warmup_steps(run_dir: Path) -> float:
    """Steps of the run's critic warm-up, from its ``config.yaml`` as the runner computed it
    (``critic_warmup`` × the budget's steps; 0 for runs without a warm-up)."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    fraction = float((config.get("coefficients") or {}).get("critic_warmup", 0.0) or 0.0)
    return fraction * float((config.get("budget") or {}).get("timesteps", 0))


def pick_steps(run_dir: Path) -> dict[str, tuple[int, pd.Series]] | None:
    """Each rule's periodic evaluation of a run: ``{rule: (step, its mean quantities and ``episodes``)}``,
    or None where no evaluation follows the warm-up."""
    grouped = pd.read_csv(run_dir / "evaluations.csv").groupby("timesteps")
    means = grouped[list(QUANTITIES)].mean().assign(episodes=grouped.size())
    eligible = means[(means.index > warmup_steps(run_dir)) & (means.index > 0)]
    if eligible.empty:
        return None
    picks = {}
    for rule, quantity in RULES.items():
        step = int(eligible.index.max() if quantity is None else eligible[quantity].idxmax())
        picks[rule] = (step, means.loc[step])
    return picks


def select_checkpoints(runs: list[tuple[Path, dict]]) -> pd.DataFrame:
    """One row per Table II customization run (Greedy, KL, Residual PPO, the Full Policy) and rule: the
    selected periodic evaluation's step and its mean total, basic and add-on return and add-on metric.

    :param runs: ``(run folder, result.json content)`` pairs (:func:`benchmarks.report_runs.finished_runs`).
    """
    rows = []
    for run_dir, info in runs:
        if info["variant"] not in TABLES[2]:
            continue
        picks = pick_steps(run_dir)
        if picks is None:
            continue
        for rule, (step, means) in picks.items():
            row = {"env": info["env"], "variant": info["variant"], "seed": info["seed"], "rule": rule}
            row |= {"timesteps": step, **means.to_dict(), "episodes": int(means["episodes"])}
            row["reproduces_grid"] = step == info.get("best_step") if rule == "total" else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def selection_summary(selected: pd.DataFrame, paper: dict[str, Any]) -> pd.DataFrame:
    """One row per env × variant × rule × quantity: the mean over seeds of the selected evaluations'
    means, their std over seeds, the median selected step, and (for Table II's returns) the paper's best
    cell, the difference and a verdict graded as ``claims.md`` grades cells."""
    rows = []
    for (env, variant, rule), group in selected.groupby(["env", "variant", "rule"], sort=False):
        for quantity in QUANTITIES:
            values = group[quantity].astype(float)
            ref = paper_value(paper, env, variant, "best", quantity)
            paper_mean, paper_std = (float(ref[0]), float(ref[1])) if ref is not None else (np.nan, np.nan)
            diff = float(values.mean()) - paper_mean
            verdict = ""
            if quantity in GRADED and np.isfinite(paper_mean):
                verdict = VERDICTS[0] if diff >= 0 else VERDICTS[1] if -diff <= paper_std else VERDICTS[2]
            rows.append(
                {
                    "env": env,
                    "variant": variant,
                    "rule": rule,
                    "quantity": quantity,
                    "mean": float(values.mean()),
                    "seed_std": float(values.std(ddof=1)) if len(values) > 1 else np.nan,
                    "n_seeds": len(values),
                    "median_step": float(group["timesteps"].median()),
                    "episodes": int(group["episodes"].min()),
                    "paper_mean": paper_mean,
                    "paper_std": paper_std,
                    "diff": diff,
                    "verdict": verdict,
                }
            )
    return pd.DataFrame(rows)


def _pm(mean: float, spread: float, digits: int, sign: str = "") -> str:
    """``mean ± spread``; the spread left out where it is undefined (one seed)."""
    text = f"{mean:{sign}.{digits}f}"
    return text + (f" ± {spread:.{digits}f}" if np.isfinite(spread) else "")


def _cell(summary: pd.DataFrame, quantity: str, digits: int) -> str:
    row = summary[summary["quantity"] == quantity].iloc[0]
    text = _pm(row["mean"], row["seed_std"], digits)
    if np.isfinite(row["paper_mean"]):
        text += f" ({row['paper_mean']:.{digits}f})"
    return text


def claims_per_rule(selected: pd.DataFrame, paper: dict[str, Any], envs: tuple[str, ...]) -> pd.DataFrame:
    """Table II's claims (Residual PPO ≥ Greedy PPO, ≥ KL PPO on total return) at each rule's checkpoints,
    seed by seed as ``claims.md`` checks them (:func:`benchmarks.report_claims.claim_rows`), with ``rule``."""
    frames = []
    for rule, at_rule in selected.groupby("rule", sort=False):
        rows = claim_rows(at_rule.assign(checkpoint="best"), paper, envs)
        frames.append(rows[rows["table"] == 2].assign(rule=rule))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


#: The final evaluation (100 new episodes) of each rule's checkpoint: the grid's own files for *total*
#: (its best checkpoint) and *last*, :mod:`benchmarks.reselect`'s for *add-on*.
RULE_FILES = {"total": "eval_best.csv", "add-on": "eval_best_addon.csv", "last": "eval_final.csv"}


def final_evaluations(runs: list[tuple[Path, dict]], selected: pd.DataFrame) -> pd.DataFrame:
    """:func:`select_checkpoints`' rows again, each quantity now the mean over the final evaluation of the
    rule's checkpoint (:data:`RULE_FILES`), for the runs that have all three (those of a grid trained with
    ``--keep-checkpoints`` and re-evaluated by :mod:`benchmarks.reselect`); ``reproduces_grid`` must hold
    for *total*, whose file is the runner's best checkpoint."""
    rows = []
    for run_dir, info in runs:
        if info["variant"] not in TABLES[2] or not all(
            (run_dir / name).is_file() for name in RULE_FILES.values()
        ):
            continue
        at_run = selected[(selected["env"] == info["env"]) & (selected["variant"] == info["variant"])]
        at_run = at_run[at_run["seed"] == info["seed"]].set_index("rule")
        for rule, name in RULE_FILES.items():
            frame = pd.read_csv(run_dir / name)
            if "timesteps" in frame and int(frame["timesteps"].iloc[0]) != at_run.loc[rule, "timesteps"]:
                raise ValueError(
                    f"{run_dir / name} evaluates another step than rule {rule!r} picks: rerun reselect"
                )
            row = {"env": info["env"], "variant": info["variant"], "seed": info["seed"], "rule": rule}
            row |= {
                "timesteps": int(at_run.loc[rule, "timesteps"]),
                **frame[list(QUANTITIES)].mean().to_dict(),
            }
            row |= {"episodes": len(frame), "reproduces_grid": at_run.loc[rule, "reproduces_grid"]}
            rows.append(row)
    return pd.DataFrame(rows)


def rule_tables(summary: pd.DataFrame, envs: tuple[str, ...], level: str) -> list[str]:
    """Per env, a table of Table II's customizations × rules (``level``: the markdown heading level)."""
    lines = []
    header = [
        "Policy",
        "Rule",
        "median step",
        "Total return",
        "Basic return",
        "Add-on return",
        "add-on metric",
    ]
    for env in envs:
        at_env = summary[summary["env"] == env]
        if at_env.empty:
            continue
        rows = []
        for variant in TABLES[2]:
            for rule in RULES:
                cell = at_env[(at_env["variant"] == variant) & (at_env["rule"] == rule)]
                if cell.empty:
                    continue
                rows.append(
                    [
                        ROW_LABELS.get(variant, variant),
                        rule,
                        f"{cell.iloc[0]['median_step'] / 1e6:.2f}M",
                        *(_cell(cell, quantity, 0) for quantity in GRADED),
                        _cell(cell, "addon_metric_mean", 2),
                    ]
                )
        lines += [f"{level} {env}", "", _markdown(header, rows), ""]
    return lines


def claims_table(claims: pd.DataFrame, envs: tuple[str, ...]) -> list[str]:
    """Residual PPO − Greedy / KL PPO per env and rule (:func:`claims_per_rule`) as a markdown table."""
    rows = []
    for env in envs:
        for rule in RULES:
            cells = []
            for b in ("greedy", "kl"):
                row = claims[(claims["env"] == env) & (claims["rule"] == rule) & (claims["b"] == b)]
                if row.empty:
                    cells.append("—")
                    continue
                r = row.iloc[0]
                cells.append(
                    f"{_pm(r['mean_delta'], r['delta_se'], 0, '+')} ({r['a_ahead']} of {r['n_seeds']}), "
                    f"{r['verdict']} ({r['paper_delta']:+.0f})"
                )
            if cells != ["—", "—"]:
                rows.append([env, rule, *cells])
    return (
        [_markdown(["Env.", "Rule", "Residual − Greedy PPO", "Residual − KL PPO"], rows), ""] if rows else []
    )


def tally_table(summary: pd.DataFrame) -> list[str]:
    """The verdicts of Table II's graded cells per rule, as a markdown table."""
    graded = summary[summary["verdict"] != ""]
    if graded.empty:
        return []
    tally = graded.groupby("rule")["verdict"].value_counts().unstack(fill_value=0)
    rows = [
        [rule, *(str(int(tally.loc[rule].get(v, 0))) for v in VERDICTS)]
        for rule in RULES
        if rule in tally.index
    ]
    return [_markdown(["Rule", *VERDICTS], rows), ""]


INTRO = (
    "One checkpoint per customization run picked by each rule, on the run's periodic evaluations (each "
    "block's `evaluation: episodes` per evaluation: 5 on HalfCheetah and Ant, 20 on Hopper): *total*, the "
    "highest mean total return after the critic warm-up (the grid's rule, whose checkpoints Table II evaluates "
    "on 100 new episodes); *add-on*, the highest mean add-on return after the warm-up; *last*, the final "
    "policy. A cell: mean over seeds of each seed's mean ± its std over seeds (the paper's best-checkpoint "
    "mean in brackets). Not Table II's cells (`claims.md` grades those): how much the paper's Table II depends "
    "on which checkpoint is *best*."
)
PERIODIC_NOTE = (
    "Scored on the periodic evaluations themselves: a rule is scored on the episodes it selected on, so its "
    "own quantity is biased upwards, most with 5 episodes."
)
FINAL_NOTE = (
    "The same picks, each scored on the final evaluation of its checkpoint (new episodes, 100 at the paper "
    "budget: `eval_best.csv`, "
    "`eval_best_addon.csv` from `python -m benchmarks.reselect`, `eval_final.csv`), for the runs trained with "
    "`--keep-checkpoints`, which keeps the policy of every periodic evaluation."
)


def selection_lines(
    selected: pd.DataFrame, paper: dict[str, Any], envs: tuple[str, ...], final: pd.DataFrame | None = None
) -> list[str]:
    """The body of ``selection.md``: the rule check, then for the periodic evaluations (and, where
    ``final`` has rows, for the final evaluations of the same picks) per env a table of variants × rules,
    the paper's Table II claims per rule and the verdict tally per rule."""
    checks = selected[selected["rule"] == "total"]["reproduces_grid"].astype(bool)
    lines = [
        INTRO,
        "",
        (
            f"Rule *total* picks the run's recorded best checkpoint (`result.json` `best_step`) in "
            f"{int(checks.sum())} of {len(checks)} runs."
        ),
        "",
    ]
    parts = [("Periodic evaluations", PERIODIC_NOTE, selected)]
    if final is not None and not final.empty:
        parts.append(("Final evaluations of the picked checkpoints", FINAL_NOTE, final))
    for title, note, frame in parts:
        summary = selection_summary(frame, paper)
        lines += [f"## {title}", "", note, "", *rule_tables(summary, envs, "###")]
        claims = claims_table(claims_per_rule(frame, paper, envs), envs)
        if claims:
            lines += [
                "### The paper's Table II claims per rule",
                "",
                (
                    "Residual PPO − Greedy / KL PPO, total return: mean over the paired seeds ± its standard error, "
                    "seeds with Residual PPO ahead, verdict as in `claims.md` (the paper's own difference in "
                    "brackets)."
                ),
                "",
                *claims,
            ]
        tally = tally_table(summary)
        if tally:
            lines += [
                "### Verdicts per rule",
                "",
                (
                    "Table II's total, basic and add-on return of Greedy, KL, Residual PPO and the Full Policy "
                    "against the paper's best checkpoints, graded as `claims.md` grades cells."
                ),
                "",
                *tally,
            ]
    return lines


def write_selection(
    runs: list[tuple[Path, dict]],
    paper: dict[str, Any],
    out: Path,
    command: str,
    budget: str,
    envs: tuple[str, ...],
) -> list[Path]:
    """Write ``selection.md`` and ``selection.csv`` (the per-run picks, column ``evaluation`` "periodic" or
    "final"); return their paths, or nothing where no Table II customization has finished."""
    selected = select_checkpoints(runs)
    if selected.empty:
        return []
    final = final_evaluations(runs, selected)
    body = selection_lines(selected, paper, envs, final)
    frame = pd.concat(
        [selected.assign(evaluation="periodic"), final.assign(evaluation="final")], ignore_index=True
    )
    title = "Table II under other checkpoint rules"
    return write_markdown_and_csv(out, "selection", title, command, budget, body, frame)
