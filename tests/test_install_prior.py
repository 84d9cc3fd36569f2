"""benchmarks/install_prior.py: a saved policy installed as the Soft PPO prior of some seeds."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from smoke_runs import SOFT  # tests/smoke_runs.py

from benchmarks.config import make_spec


def test_installed_prior_is_scored_as_a_trained_one_and_customized(results, tmp_path):
    from benchmarks.install_prior import main
    from benchmarks.report_runs import finished_runs
    from benchmarks.training import run_one, stale_reason

    best = SOFT.run_dir(results) / "checkpoints" / "best.zip"
    args = ["--prior", str(best), "--env", "HalfCheetah", "--seeds", "0", "1", "--budget", "smoke"]
    assert main([*args, "--results-dir", str(tmp_path)]) == 0

    # Seed 0: the same checkpoint on the same seed's final-evaluation episodes as the trained run's own
    # best-checkpoint evaluation, so the rows must agree (deterministic policy, same statistics).
    installed = make_spec("HalfCheetah-v5", "soft", 0, "smoke").run_dir(tmp_path)
    ours, theirs = (
        pd.read_csv(installed / "eval_best.csv"),
        pd.read_csv(SOFT.run_dir(results) / "eval_best.csv"),
    )
    columns = ["episode", "seed", "total_return", "basic_return", "addon_return", "length"]
    pd.testing.assert_frame_equal(ours[columns], theirs[columns])
    assert (pd.read_csv(installed / "eval_final.csv")["checkpoint"] == "final").all()

    result = json.loads((installed / "result.json").read_text())
    config = yaml.safe_load((installed / "config.yaml").read_text())
    assert result["seed"] == 0 and result["is_prior_of_table2"]
    assert result["best"]["basic_return_mean"] == pytest.approx(theirs["basic_return"].mean())
    assert config["installed_prior"]["sha256"] == result["installed_prior"]["sha256"]
    assert config["installed_prior"]["model"] == str(best)

    # The runner and the report take both folders as the seeds' priors, and a customization trains on it.
    assert [info["seed"] for _, info in finished_runs(tmp_path, "smoke")] == [0, 1]
    greedy = make_spec("HalfCheetah-v5", "greedy", 1, "smoke")
    run_one(greedy, tmp_path, command="pytest")
    assert stale_reason(greedy, tmp_path) is None
    saved = yaml.safe_load((greedy.run_dir(tmp_path) / "config.yaml").read_text())
    assert saved["prior"]["sha256"] == config["installed_prior"]["sha256"]

    # An existing prior folder is kept unless --force.
    assert main([*args, "--results-dir", str(tmp_path)]) == 2
    assert main([*args, "--results-dir", str(tmp_path), "--force"]) == 0
    assert stale_reason(greedy, tmp_path) is None  # the same file again: same sha256


def test_install_prior_refuses_bad_input_before_writing(results, tmp_path, capsys):
    from benchmarks.install_prior import main

    best = SOFT.run_dir(results) / "checkpoints" / "best.zip"
    out = tmp_path / "runs"
    # A HalfCheetah policy (17 observations, 6 actions) is not a Hopper prior.
    assert main(["--prior", str(best), "--env", "Hopper", "--seeds", "0", "--results-dir", str(out)]) == 2
    assert "observation space" in capsys.readouterr().err
    assert main(["--prior", str(tmp_path / "none.zip"), "--env", "HalfCheetah", "--seeds", "0"]) == 2
    assert "no saved model" in capsys.readouterr().err
    lone = tmp_path / "lone.zip"
    lone.write_bytes(best.read_bytes())  # no statistics beside it
    assert (
        main(["--prior", str(lone), "--env", "HalfCheetah", "--seeds", "0", "--results-dir", str(out)]) == 2
    )
    assert "observation statistics" in capsys.readouterr().err
    assert not out.exists()
