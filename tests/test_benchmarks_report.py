"""benchmarks/report.py and curve_table.py: tables in the paper's layout, from fake rows and smoke runs."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from report_rows import fake_episodes  # tests/report_rows.py
from smoke_runs import RESIDUAL, SOFT  # tests/smoke_runs.py

from benchmarks.config import TABLES
from benchmarks.report import load_runs, summarize, write_tables
from benchmarks.report_figures import aggregate_table, write_aggregate, write_curves


def test_seed_table_means_each_seeds_episodes():
    from benchmarks.report import seed_table

    table = seed_table(fake_episodes()).set_index(["variant", "checkpoint", "seed"])
    index = [*TABLES[1], "soft_state_std", "greedy", "kl", "residual", "full"].index("kl")
    # kl, final, seed 1: 1000·(index + 1) + 100·seed, the episodes' noise (-10, 0, 10) averaging out.
    assert table.loc[("kl", "final", 1), "basic_return"] == pytest.approx(1000.0 * (index + 1) + 100.0)
    # the prior row is soft's best checkpoint: + 500 bonus; seed 0.
    soft = [*TABLES[1]].index("soft")
    assert table.loc[("prior", "best", 0), "basic_return"] == pytest.approx(1000.0 * (soft + 1) + 500.0)
    assert (table["n_episodes"] == 3).all() and len(table) == (9 * 2 + 1) * 2
    assert (table["length"] == 1000).all()  # every fake episode lasts 1000 steps


def test_table2_seeds_pairs_customisations_within_a_seed():
    from benchmarks.report import seed_table
    from benchmarks.report_seeds import paired_differences, table2_seed_lines

    seeds = seed_table(fake_episodes())
    # Drop greedy's seed 1: a pair only counts seeds where both policies finished.
    seeds = seeds[~((seeds["variant"] == "greedy") & (seeds["seed"] == 1))]
    deltas = paired_differences(seeds, "HalfCheetah-v5", "final").set_index(["a", "b", "seed"])
    # fake basic = 1000·(index + 1) + 100·seed (+ 500 at best), total = basic − 400; the variant order is
    # no_entropy, end_entropy, repeat_entropy, soft, soft_state_std, greedy, kl, residual, full.
    # residual − greedy, final, seed 0: (8000 − 400) − (6000 − 400) = 2000; the add-on returns cancel.
    assert deltas.loc[("residual", "greedy", 0), "delta_total_return"] == pytest.approx(2000.0)
    assert deltas.loc[("residual", "greedy", 0), "delta_addon_return"] == pytest.approx(0.0)
    assert ("residual", "greedy", 1) not in deltas.index
    # The prior is soft's *best* checkpoint even beside final ones: 8000 + 100 − (4000 + 500 + 100) = 3500.
    assert deltas.loc[("residual", "prior", 1), "delta_basic_return"] == pytest.approx(3500.0)
    assert deltas.loc[("kl", "greedy", 0), "delta_total_return"] == pytest.approx(1000.0)

    text = "\n".join(table2_seed_lines(seeds, ("HalfCheetah-v5", "Hopper-v5")))
    assert "## Hopper" not in text  # no runs there
    # Residual PPO, final, seeds 0 and 1: total (basic, metric) = 7600 (8000, 0.40) and 7700 (8100, 0.40).
    assert "| Residual PPO | 7600 (8000, 0.40) | 7700 (8100, 0.40) |" in text
    assert "| Greedy PPO | 5600 (6000, 0.40) | — |" in text
    assert "| Residual PPO − Greedy PPO | +2000 (+2000, +0) | — | 1 of 1 | +2000 |" in text
    # residual − prior at best checkpoints: (8500 + 100·seed) − (4500 + 100·seed) = 4000 on both seeds.
    assert "| Residual PPO − Prior Policy | +4000 (+4000, +0) | +4000 (+4000, +0) | 2 of 2 | +4000 |" in text


def test_report_builds_tables_from_fake_rows(tmp_path):
    from benchmarks.config import PAPER_RESULTS, load_yaml

    paper = load_yaml(PAPER_RESULTS)
    summary = summarize(fake_episodes(), paper)
    soft = summary[
        (summary["variant"] == "soft")
        & (summary["checkpoint"] == "final")
        & (summary["quantity"] == "basic_return")
    ].iloc[0]
    # soft is Table I's 4th variant: 4000 + mean(0, 100) over seeds; pooled over 6 episodes.
    assert soft["mean"] == pytest.approx(4050.0) and soft["n_seeds"] == 2 and soft["n_episodes"] == 6
    assert soft["paper_mean"] == 4993.7 and soft["diff"] == pytest.approx(4050.0 - 4993.7)
    prior = summary[(summary["variant"] == "prior") & (summary["quantity"] == "total_return")].iloc[0]
    assert (
        prior["mean"] == pytest.approx(4550.0 - 400.0) and prior["paper_mean"] == 5357.0
    )  # soft's best ckpt

    paths = write_tables(summary, paper, tmp_path, "cmd", "fake", ("HalfCheetah-v5",))
    table1 = (tmp_path / "table1.md").read_text()
    assert "Produced by: `cmd`" in table1 and "| HalfCheetah-v5 |" in table1
    assert "4050.0 ± " in table1 and "4993.7 ± 1262.3" in table1 and "-943.7" in table1
    table2 = (tmp_path / "table2.md").read_text()
    assert "| Prior Policy | 4150.0 ± " in table2 and "5357.0 ± 377.8" in table2
    assert "| Hopper" not in table2 and len(paths) == 3
    # Best then final checkpoints, each beside the paper's one Table II (Residual PPO total: 5488.3).
    assert table2.count("| Prior Policy | 4150.0 ± ") == 2 and table2.count("5488.3 ± 75.6") == 2
    assert table2.index("Final checkpoints") > table2.index("| Greedy PPO")

    aggregate = aggregate_table(fake_episodes(), paper, reps=200)
    row = aggregate[(aggregate["group"] == "tables_1_3_final") & (aggregate["variant"] == "soft")].iloc[0]
    assert row["iqm"] == pytest.approx(4050.0 / 4993.7) and row["iqm_low"] <= row["iqm"] <= row["iqm_high"]
    assert set(aggregate[aggregate["group"] == "table_2_best"]["variant"]) == {
        "prior",
        "greedy",
        "kl",
        "residual",
        "full",
    }
    final = aggregate[aggregate["group"] == "table_2_final"].set_index("variant")
    # Normalised by the paper's HalfCheetah Full Policy total (5556.2). The prior stays soft's best
    # checkpoint: 4000 + 500 + mean(0, 100) − 400; residual (8th variant) final: 8000 + 50 − 400.
    assert final.loc["prior", "iqm"] == pytest.approx(4150.0 / 5556.2)
    assert final.loc["residual", "iqm"] == pytest.approx(7650.0 / 5556.2)
    assert [p.name for p in write_aggregate(fake_episodes(), paper, tmp_path, "cmd", 50)][
        -1
    ] == "aggregate.png"
    assert (tmp_path / "aggregate.csv").read_text().startswith("# produced by: cmd")


def test_report_from_smoke_runs(results, tmp_path):
    episodes, curves = load_runs(results, "smoke")
    assert set(episodes["variant"]) == {"soft", "residual"} and set(episodes["checkpoint"]) == {
        "final",
        "best",
    }
    paths = write_curves(curves, episodes, tmp_path, "cmd", ("HalfCheetah-v5",))
    assert {path.name for path in paths} == {f"curves_table{t}_HalfCheetah-v5.png" for t in (1, 2, 3)}
    from benchmarks import report

    assert (
        report.main(
            [
                "--budget",
                "smoke",
                "--results-dir",
                str(results),
                "--out",
                str(tmp_path / "r"),
                "--bootstrap-reps",
                "50",
            ]
        )
        == 0
    )
    assert "Residual PPO" in (tmp_path / "r" / "table2.md").read_text()
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["command"].startswith(
        "python -m benchmarks.report"
    )
    runs = pd.read_csv(tmp_path / "r" / "runs.csv", comment="#")
    assert sorted(runs["variant"]) == ["residual", "soft"] and (runs["timesteps"] == 4096).all()
    assert (runs["steps_per_second"] > 0).all() and runs["resumed_from"].isna().all()
    seeds = pd.read_csv(tmp_path / "r" / "seeds.csv", comment="#")
    # Table II's prior row is the Soft PPO run's best checkpoint, so the two must agree seed by seed.
    prior = seeds[seeds["variant"] == "prior"].set_index("seed")
    soft_best = seeds[(seeds["variant"] == "soft") & (seeds["checkpoint"] == "best")].set_index("seed")
    assert len(prior) == 1 and prior["basic_return"].equals(soft_best["basic_return"])
    assert (
        len(seeds) == 5 and (seeds["n_episodes"] == 2).all()
    )  # soft x2, residual x2, prior: smoke's 2 episodes


def test_curve_table_of_a_smoke_run(results, tmp_path):
    from benchmarks.curve_table import curve_table, main

    run_dir = SOFT.run_dir(results)
    table = curve_table([run_dir])
    evaluations = pd.read_csv(run_dir / "evaluations.csv")
    assert list(table.index) == sorted(evaluations["timesteps"].unique())
    first = evaluations[evaluations["timesteps"] == table.index[0]]["basic_return"].mean()
    assert table.iloc[0]["HalfCheetah-v5/soft/seed0 basic"] == round(first)
    assert "HalfCheetah-v5/soft/seed0 approx_kl" in table.columns
    assert "HalfCheetah-v5/soft/seed0 kl_to_prior" not in table.columns  # no prior
    customization = curve_table([RESIDUAL.run_dir(results)])
    assert customization["HalfCheetah-v5/residual/seed0 kl_to_prior"].notna().any()
    assert main([str(run_dir), "--out", str(tmp_path / "c.md")]) == 0
    assert (tmp_path / "c.md").read_text().startswith("# Periodic evaluations")
    with pytest.raises(SystemExit, match="no evaluations.csv"):
        curve_table([tmp_path])
