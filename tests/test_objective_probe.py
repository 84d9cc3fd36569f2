"""benchmarks/objective_probe.py: a customization's objective J scored on its kept checkpoints."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from smoke_runs import RESIDUAL, SOFT  # tests/smoke_runs.py


def test_objective_probe_scores_checkpoints_under_their_prior(results, tmp_path):
    from benchmarks.objective_probe import main
    from benchmarks.training import run_one

    shutil.copytree(SOFT.run_dir(results), SOFT.run_dir(tmp_path))
    run_one(RESIDUAL, tmp_path, command="pytest", keep_checkpoints=True)
    out = tmp_path / "probe"
    main(
        [
            "--run",
            str(RESIDUAL.run_dir(tmp_path)),
            "--priors",
            str(SOFT.run_dir(tmp_path).parent),
            "--episodes",
            "1",
            "--out",
            str(out),
        ]
    )
    table = pd.read_csv(out / "objective_probe.csv")
    # One row per policy (the prior, then each kept checkpoint) and prior; HalfCheetah never ends early.
    steps = sorted(
        int(p.stem.split("-")[1]) for p in (RESIDUAL.run_dir(tmp_path) / "checkpoints/periodic").glob("*.zip")
    )
    assert list(table["policy"]) == ["prior seed0"] + [f"residual seed0 @ {step}" for step in steps]
    assert (table["prior"] == "prior seed0").all() and (table["length"] == 1000).all()
    # J per step = mean r_R + ω'·mean log π_prior − α̂·mean log πθ, with Residual PPO's HalfCheetah
    # coefficients (α̂ 0.13472, ω' 0.17).
    expected = (
        table["addon_return"] / 1000 + 0.17 * table["prior_log_prob_mean"] - 0.13472 * table["log_prob_mean"]
    )
    assert table["objective_per_step"].tolist() == pytest.approx(expected.tolist(), abs=1e-9)
    # The prior scored under itself, and the customization's step-0 policy (a copy of the prior's actor
    # acting on the prior's observation statistics), are at KL 0 from it.
    at_start = table[table["policy"].isin(["prior seed0", f"residual seed0 @ {steps[0]}"])]
    assert steps[0] == 0
    assert at_start["kl_to_prior"].tolist() == pytest.approx([0.0, 0.0], abs=1e-9)
    assert "| prior seed0 |" in (out / "objective_probe.md").read_text()


def test_smoke_runs_log_the_basic_task_per_rollout(results):
    from benchmarks.curve_table import read_updates

    # The customization trains on r_R alone; its log still shows the basic reward per step (StepInfoLogger).
    log = read_updates(RESIDUAL.run_dir(results))
    for key in ("rollout/basic_reward", "rollout/addon_reward", "rollout/addon_metric"):
        assert log[key].notna().any(), key
    # HalfCheetah's r_R = -|θ|: the logged add-on reward is minus the logged add-on metric.
    rows = log.dropna(subset=["rollout/addon_reward"])
    assert rows["rollout/addon_reward"].tolist() == pytest.approx((-rows["rollout/addon_metric"]).tolist())
