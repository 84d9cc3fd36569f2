"""benchmarks/: a finished run is skipped, a stale one flagged, a killed one restarts or resumes, and a
failed prior stops the runs that need it.

The smoke runs (``--budget smoke``: HalfCheetah's Soft PPO and the Residual PPO customizing it) train once
per session: the ``results`` fixture of ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil

import pandas as pd
import pytest
import yaml
from smoke_runs import RESIDUAL, SOFT, Killed, kill_after_first_resume_point  # tests/smoke_runs.py

from benchmarks import report, training
from benchmarks import run as run_cli
from benchmarks.config import (
    BUDGETS,
)
from benchmarks.report import load_runs
from benchmarks.training import is_finished, run_one


def test_finished_run_is_skipped(results, monkeypatch):
    result = SOFT.run_dir(results) / "result.json"
    before = result.stat().st_mtime_ns
    assert run_one(SOFT, results)["run"] == SOFT.name  # returns the stored result, trains nothing
    assert result.stat().st_mtime_ns == before
    monkeypatch.setattr(run_cli, "_run_in_worker", lambda *args: pytest.fail("a finished run was started"))
    assert run_cli.Scheduler([SOFT, RESIDUAL], results, workers=1, command="x").run() == {}
    assert run_cli.run_state(SOFT, results) == "finished"


def test_runs_trained_with_other_settings_are_stale(results, tmp_path, capsys):
    # Copies of the finished smoke runs; the copy of the prior gets other PPO hyperparameters on record.
    shutil.copytree(results / "smoke", tmp_path / "smoke")
    assert (
        run_cli.run_state(SOFT, tmp_path) == "finished"
        and run_cli.run_state(RESIDUAL, tmp_path) == "finished"
    )
    config_path = SOFT.run_dir(tmp_path) / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["ppo"]["learning_rate"] = 1.0  # not ppo.yml's value
    config_path.write_text(yaml.safe_dump(config))
    assert training.stale_reason(SOFT, tmp_path) == "trained with other PPO hyperparameters"
    assert run_cli.run_state(SOFT, tmp_path) == "stale"
    # A Table II run built on a stale prior is stale too (the prior's settings are not the grid's).
    assert training.stale_reason(RESIDUAL, tmp_path) == (
        f"its prior {SOFT.name} is stale (trained with other PPO hyperparameters)"
    )
    config["ppo"] = SOFT.ppo()
    config_path.write_text(yaml.safe_dump(config))
    assert training.stale_reason(RESIDUAL, tmp_path) is None
    # File times do not matter (a git clone gives every file the same age)...
    os.utime(RESIDUAL.run_dir(tmp_path) / "result.json", (1_000_000, 1_000_000))
    assert training.stale_reason(RESIDUAL, tmp_path) is None
    # ...the prior's content does: a Table II run is stale once its prior checkpoint was retrained.
    best = SOFT.run_dir(tmp_path) / "checkpoints" / "best.zip"
    best.write_bytes(best.read_bytes() + b"retrained")
    assert training.stale_reason(RESIDUAL, tmp_path) == f"its prior {SOFT.name} was retrained after it"
    config["ppo"]["learning_rate"] = 1.0
    config_path.write_text(yaml.safe_dump(config))

    # The runner refuses to skip stale runs, and with --rerun-stale moves them out of the report's way.
    argv = ["--budget", "smoke", "--envs", "HalfCheetah", "--variants", "soft", "residual", "--tables", "2"]
    argv += ["--seeds", "0", "--results-dir", str(tmp_path)]
    assert run_cli.main(argv) == 2
    assert "trained with other PPO hyperparameters" in capsys.readouterr().err
    assert is_finished(SOFT.run_dir(tmp_path))  # nothing moved, nothing trained
    moved = run_cli.move_stale([SOFT, RESIDUAL], tmp_path, move=True)
    assert len(moved) == 2 and not SOFT.run_dir(tmp_path).exists() and not RESIDUAL.run_dir(tmp_path).exists()
    (stamp,) = (tmp_path / "stale").iterdir()
    assert (stamp / "smoke" / "HalfCheetah-v5" / "soft" / "seed0" / "result.json").is_file()
    assert load_runs(tmp_path, "smoke")[0].empty  # the report no longer sees them


def test_killed_run_restarts_cleanly(results, tmp_path):
    # A copy of the finished prior, "killed" before its result.json, with a stale file of the dead process.
    killed_dir = SOFT.run_dir(tmp_path)
    shutil.copytree(SOFT.run_dir(results), killed_dir)
    (killed_dir / "result.json").unlink()
    (killed_dir / "stale.txt").write_text("from the killed process")
    assert run_cli.run_state(SOFT, tmp_path) == "partial"
    run_one(SOFT, tmp_path, command="restart")
    assert is_finished(killed_dir) and not (killed_dir / "stale.txt").exists()
    assert yaml.safe_load((killed_dir / "config.yaml").read_text())["command"] == "restart"
    # Deterministic training and evaluation: the restarted run reproduces the original one.
    pd.testing.assert_frame_equal(
        pd.read_csv(killed_dir / "eval_final.csv"), pd.read_csv(SOFT.run_dir(results) / "eval_final.csv")
    )


def test_run_killed_during_final_evaluations_does_not_train_again(results, tmp_path, monkeypatch):
    def die(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(training, "evaluate", die)  # the final/best evaluations, after training
    with pytest.raises(Killed):
        run_one(SOFT, tmp_path, command="first")
    run_dir = SOFT.run_dir(tmp_path)
    resume = json.loads((run_dir / "checkpoints" / "resume.json").read_text())
    assert resume["step"] == BUDGETS["smoke"].timesteps  # the end of training is a resume point
    assert run_cli.run_state(SOFT, tmp_path) == "partial"

    monkeypatch.undo()
    result = run_one(SOFT, tmp_path, command="second")
    assert result["resumed_from"] == [BUDGETS["smoke"].timesteps]
    assert result["best_step"] == resume["best_step"]
    # Nothing retrained: the same (deterministic) run as the uninterrupted one, evaluated the same way.
    for name in ("eval_final.csv", "eval_best.csv", "evaluations.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(run_dir / name), pd.read_csv(SOFT.run_dir(results) / name))


@pytest.mark.parametrize("spec", [SOFT, RESIDUAL], ids=["soft", "residual"])
def test_killed_run_resumes_from_its_last_periodic_evaluation(spec, results, tmp_path, monkeypatch):
    if spec is RESIDUAL:  # its prior, finished
        shutil.copytree(SOFT.run_dir(results), SOFT.run_dir(tmp_path))
    kill_after_first_resume_point(spec, tmp_path, monkeypatch)
    run_dir = spec.run_dir(tmp_path)
    # Smoke budget: 4096 steps in rollouts of 2048 (512 x 4 envs), evaluations every 2048 steps.
    assert run_cli.run_state(spec, tmp_path) == "partial"
    assert json.loads((run_dir / "checkpoints" / "resume.json").read_text())["step"] == 2048
    (run_dir / "evaluations.csv").write_text(  # an evaluation past the resume point, lost with the kill
        (run_dir / "evaluations.csv").read_text() + "4096,0,0,1,1,1,1,1\n"
    )

    monkeypatch.undo()
    result = run_one(spec, tmp_path, command="second")
    assert result["resumed_from"] == [2048] and result["timesteps"] == BUDGETS["smoke"].timesteps
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["command"] == "first"  # the folder was continued, not wiped
    evaluations = pd.read_csv(run_dir / "evaluations.csv")
    assert sorted(set(evaluations["timesteps"])) == [0, 2048, 4096]
    assert len(evaluations) == 3 * BUDGETS["smoke"].eval_episodes  # the stray row is gone
    assert (run_dir / "logs-resumed-2048").is_dir() and (run_dir / "monitor-resumed-2048").is_dir()
    assert not list((run_dir / "checkpoints").glob("resume*"))  # cleared once finished
    algorithm = training.ALGORITHMS[training.VARIANTS[spec.variant].algorithm]
    last = algorithm.load(run_dir / "checkpoints" / "last.zip")
    assert last.num_timesteps == BUDGETS["smoke"].timesteps
    if spec is RESIDUAL:  # the warm-up (5% of 4096 steps) was over at 2048: the saved model keeps 0.05
        assert last.critic_warmup == 0.05


def test_resumed_run_records_the_machine_of_each_segment(results, tmp_path, monkeypatch):
    """A run started on one machine and resumed on another (a lent 16-core machine, then this one) says
    so: config.yaml keeps the first segment's machine, result.json lists each resumed segment's."""
    kill_after_first_resume_point(SOFT, tmp_path, monkeypatch)
    run_dir = SOFT.run_dir(tmp_path)
    first = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert first["versions"]["python"] == platform.python_version() and first["cpu_count"] == os.cpu_count()
    # A resume point written before `resumed_on` existed, by a run already resumed once (at 1024).
    resume_path = run_dir / "checkpoints" / "resume.json"
    state = json.loads(resume_path.read_text())
    assert state["resumed_on"] == []
    del state["resumed_on"]
    resume_path.write_text(json.dumps({**state, "resumed_from": [1024]}))
    monkeypatch.undo()
    elsewhere = {"host": "lent", "cpu": "x", "cpu_count": 16, "versions": {"python": "3.12.3"}}
    monkeypatch.setattr("benchmarks.evaluation.machine", lambda: elsewhere)
    result = run_one(SOFT, tmp_path, command="second")
    assert result["resumed_from"] == [1024, 2048]
    assert result["resumed_on"] == [None, elsewhere]  # the unknown earlier segment stays unknown
    assert yaml.safe_load((run_dir / "config.yaml").read_text()) == first
    table = report.run_table([(run_dir, result)])
    assert table["machines"].tolist() == [
        f"{os.cpu_count()}cpu-py{platform.python_version()} ? 16cpu-py3.12.3"
    ]
    config = {**first}
    del config["cpu_count"]  # written before cpu_count was recorded
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    assert report.run_table([(run_dir, result)])["machines"][0].startswith(
        f"?cpu-py{platform.python_version()} "
    )


def test_partial_run_with_other_settings_restarts(results, tmp_path, monkeypatch):
    kill_after_first_resume_point(SOFT, tmp_path, monkeypatch)
    config_path = SOFT.run_dir(tmp_path) / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["coefficients"]["ent_coef"] = 0.5
    config_path.write_text(yaml.safe_dump(config))
    monkeypatch.undo()
    result = run_one(SOFT, tmp_path, command="second")
    assert result["resumed_from"] == []
    assert yaml.safe_load(config_path.read_text())["command"] == "second"


def test_dependents_of_a_failed_prior_are_skipped(tmp_path, monkeypatch):
    def crash(spec, results_dir, command, keep_checkpoints=False):
        return "failed: boom"

    monkeypatch.setattr(run_cli, "_run_in_worker", crash)
    failed = run_cli.Scheduler([SOFT, RESIDUAL], tmp_path, workers=1, command="x").run()
    assert failed == {SOFT: "failed: boom", RESIDUAL: "skipped: its prior failed"}


def test_dependents_of_a_prior_failed_in_another_shard_do_not_wait_forever(tmp_path, monkeypatch):
    # The prior belongs to another runner (shard), which failed it: error.txt, no lock, no result.json.
    prior_dir = SOFT.run_dir(tmp_path)
    prior_dir.mkdir(parents=True)
    (prior_dir / "error.txt").write_text("boom")
    monkeypatch.setattr(run_cli, "_run_in_worker", lambda *args: pytest.fail("nothing can start"))
    scheduler = run_cli.Scheduler([RESIDUAL], tmp_path, workers=1, command="x")
    assert scheduler._ready(RESIDUAL) is None
    assert scheduler.run() == {RESIDUAL: "skipped: its prior failed"}
