"""benchmarks/: grid and filters, shards, skip/restart, Table II's prior, and the report on fake rows.

Two real runs (``--budget smoke``: 4096 steps, 2 short evaluation episodes) train once for the module:
HalfCheetah's Soft PPO (Table I, the prior) and the Residual PPO customizing it (Table II).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

# benchmarks/ is a folder of the repository, not an installed package: importable from the repo root
# (python -m pytest does that), and with a bare `pytest` too thanks to this line.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import run as run_cli
from benchmarks import evaluation, training
from benchmarks.config import (
    BUDGETS,
    TABLES,
    build_grid,
    coefficients,
    make_spec,
    parse_shard,
    resolve_env,
    shard,
)
from benchmarks.report import load_runs, summarize, write_tables
from benchmarks.report_figures import aggregate_table, write_aggregate, write_curves
from benchmarks.runlock import lock_path
from benchmarks.evaluation import FINAL_EVAL_SEED, evaluate
from benchmarks.training import is_finished, prior_paths, run_one

SOFT = make_spec("HalfCheetah-v5", "soft", 0, "smoke")
RESIDUAL = make_spec("HalfCheetah-v5", "residual", 0, "smoke")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """A results directory holding the finished smoke runs of SOFT and RESIDUAL."""
    results_dir = tmp_path_factory.mktemp("runs")
    failed = run_cli.Scheduler([SOFT, RESIDUAL], results_dir, workers=1, command="pytest").run()
    assert failed == {}
    return results_dir


def test_grid_tables_envs_variants_seeds():
    grid = build_grid("quick", envs=("HalfCheetah",))
    # The paper's 9 variants (soft shared by Tables I-III) plus residual_tuned, which coefficients.yml
    # configures for HalfCheetah only; 2 seeds.
    assert len(grid) == 2 * 10
    assert {spec.env for spec in grid} == {"HalfCheetah-v5"}
    assert {spec.seed for spec in grid} == set(BUDGETS["quick"].seeds)
    assert len(build_grid("quick", envs=("Hopper",))) == 2 * 9
    assert len(build_grid("paper")) == 3 * 9 * 5 + 5
    table1 = build_grid("quick", tables=(1,), seeds=(3,))
    assert {spec.variant for spec in table1} == set(TABLES[1]) and {spec.seed for spec in table1} == {3}
    # Table II pulls in its priors even when only one variant is asked for.
    only = build_grid("quick", tables=(2,), envs=("hopper-v5",), variants=("residual",), seeds=(0,))
    assert [(spec.variant, spec.env) for spec in only] == [("soft", "Hopper-v5"), ("residual", "Hopper-v5")]
    assert build_grid("quick", tables=(1,), variants=("residual",)) == []  # residual is not in Table I
    # Priors come before everything, runs needing a prior after everything.
    stages = [spec.stage for spec in build_grid("quick")]
    assert stages == sorted(stages) and grid[0].variant == "soft"


def test_bad_filters_and_env_names():
    assert resolve_env("sb3_rpg/Ant-v5") == resolve_env("ant") == "Ant-v5"
    with pytest.raises(ValueError, match="unknown env"):
        resolve_env("Walker2d")
    with pytest.raises(ValueError, match="unknown variants"):
        build_grid("quick", variants=("sac",))
    with pytest.raises(ValueError, match="unknown budget"):
        build_grid("huge")
    with pytest.raises(ValueError, match="i/N"):
        parse_shard("3/3")


CANDIDATE_FILES = sorted((Path(__file__).parents[1] / "benchmarks" / "hyperparams").rglob("*.yml"))


@pytest.mark.parametrize("path", CANDIDATE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_candidate_hyperparameter_files_build_models(path):
    # The probe files' commands (--hyperparams) must not fail after setup; each block must give SoftPPO
    # constructor arguments it accepts.
    from benchmarks.config import algorithm_kwargs, load_yaml, ppo_config
    from sb3_rpg import SoftPPO

    envs = [key for key in load_yaml(path) if key.endswith("-v5")]
    assert envs, f"{path}: no env block"
    for env in envs:
        block = ppo_config(env, path)
        kwargs = algorithm_kwargs(block)
        SoftPPO("MlpPolicy", env, **kwargs)


def test_coefficients_follow_tables_iv_and_v():
    assert coefficients("HalfCheetah-v5", "soft") == {"ent_coef": 0.13472}
    assert coefficients("Hopper-v5", "end_entropy") == {"ent_coef": 0.0005}
    kl = coefficients("Ant-v5", "kl")
    assert kl["prior_coef"] == kl["ent_coef"] == 0.0001 and kl["critic_warmup"] == 0.05
    assert coefficients("HalfCheetah-v5", "residual")["prior_coef"] == 0.17
    assert coefficients("Hopper-v5", "greedy")["prior_coef"] == 0.0


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_partition_the_grid(count):
    grid = build_grid("paper")
    parts = [shard(grid, index, count) for index in range(count)]
    assert sorted(spec for part in parts for spec in part) == sorted(grid)  # every run exactly once
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert parts == [shard(list(reversed(grid)), index, count) for index in range(count)]  # order-proof


def test_dry_run_lists_the_grid(capsys, tmp_path):
    assert (
        run_cli.main(
            [
                "--budget",
                "quick",
                "--envs",
                "Hopper",
                "--shard",
                "1/2",
                "--dry-run",
                "--results-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "9 runs x 400,000 steps" in out and "todo" in out and not (tmp_path / "quick").exists()


def test_smoke_runs_write_their_folders(results):
    for spec in (SOFT, RESIDUAL):
        run_dir = spec.run_dir(results)
        assert is_finished(run_dir) and not lock_path(run_dir).exists()
        for name in (
            "config.yaml",
            "evaluations.csv",
            "eval_final.csv",
            "eval_best.csv",
            "logs/progress.csv",
            "checkpoints/best.zip",
            "checkpoints/best_vecnormalize.pkl",
            "checkpoints/last.zip",
        ):
            assert (run_dir / name).is_file(), name
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert config["command"] == "pytest" and config["ppo"]["n_envs"] == 4
        result = json.loads((run_dir / "result.json").read_text())
        assert result["timesteps"] >= BUDGETS["smoke"].timesteps
        final = pd.read_csv(run_dir / "eval_final.csv")
        assert len(final) == BUDGETS["smoke"].final_episodes
        np.testing.assert_allclose(
            final["total_return"], final["basic_return"] + final["addon_return"], rtol=1e-6
        )
        periodic = pd.read_csv(run_dir / "evaluations.csv")
        assert periodic["timesteps"].iloc[0] == 0 and periodic["timesteps"].iloc[-1] == result["timesteps"]


def test_table2_run_uses_its_prior(results):
    model, stats = prior_paths(RESIDUAL, results)
    assert (
        model == SOFT.run_dir(results) / "checkpoints" / "best.zip" and stats.name == "best_vecnormalize.pkl"
    )
    config = yaml.safe_load((RESIDUAL.run_dir(results) / "config.yaml").read_text())
    assert config["prior"]["model"] == "smoke/HalfCheetah-v5/soft/seed0/checkpoints/best.zip"
    assert config["prior"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert config["coefficients"]["prior_coef"] == 0.17
    # Before the warm-up has ended the actor is the prior: step 0 (the prior itself) is never "best".
    assert json.loads((RESIDUAL.run_dir(results) / "result.json").read_text())["best_step"] > 0
    # The saved checkpoint + statistics reproduce the in-memory final evaluation (so "best" checkpoints,
    # evaluated after loading, are evaluated as they were trained).
    from sb3_rpg import ResidualPPO

    checkpoints = RESIDUAL.run_dir(results) / "checkpoints"
    loaded = ResidualPPO.load(checkpoints / "last.zip", device="cpu")
    again = evaluate(
        loaded,
        RESIDUAL,
        BUDGETS["smoke"].final_episodes,
        FINAL_EVAL_SEED,
        checkpoints / "last_vecnormalize.pkl",
    )
    final = pd.read_csv(RESIDUAL.run_dir(results) / "eval_final.csv")
    np.testing.assert_allclose(again["total_return"], final["total_return"], rtol=1e-6)
    with pytest.raises(RuntimeError, match="has not finished"):
        run_one(make_spec("HalfCheetah-v5", "kl", 0, "smoke"), results.parent / "empty")


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


def test_hyperparams_file_replaces_ppo_yml(tmp_path):
    block = yaml.safe_load((Path(__file__).resolve().parents[1] / "sb3_rpg/hyperparams/ppo.yml").read_text())
    block = block["Hopper-v5"]
    block["learning_rate"] = 1.234e-4
    ppo_file = tmp_path / "hopper.yml"
    ppo_file.write_text(yaml.safe_dump({"Hopper-v5": block}))
    grid = build_grid(
        "smoke", tables=(2,), envs=("Hopper",), variants=("residual",), seeds=(0,), ppo_file=ppo_file
    )
    assert [spec.variant for spec in grid] == ["soft", "residual"]  # the prior inherits the file too
    assert all(spec.ppo()["learning_rate"] == 1.234e-4 for spec in grid)
    assert make_spec("Hopper-v5", "soft", 0, "smoke").ppo()["learning_rate"] != 1.234e-4
    with pytest.raises(KeyError, match="HalfCheetah-v5 has no block"):
        build_grid("smoke", envs=("HalfCheetah",), ppo_file=ppo_file)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_grid("smoke", envs=("Hopper",), ppo_file=tmp_path / "missing.yml")


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


class Killed(Exception):
    """Stands for a kill right after the first resume point was written."""


def kill_after_first_resume_point(spec, results_dir, monkeypatch) -> None:
    """Start the run with command "first" and stop it once it saved its resume point at step 2048."""
    real_save = evaluation.save_resume_point

    def save_then_die(model, directory, state):
        real_save(model, directory, state)
        if state.step > 0:
            raise Killed

    monkeypatch.setattr(evaluation, "save_resume_point", save_then_die)
    with pytest.raises(Killed):
        run_one(spec, results_dir, command="first")


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
    def crash(spec, results_dir, command):
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


def fake_episodes() -> pd.DataFrame:
    """Final-evaluation rows of two seeds x 3 episodes for HalfCheetah: basic = 1000·(variant index + 1)."""
    rows = []
    variants = [*TABLES[1], "soft_state_std", "greedy", "kl", "residual", "full"]
    for index, variant in enumerate(variants):
        for checkpoint, bonus in (("final", 0.0), ("best", 500.0)):
            for seed in (0, 1):
                for episode, noise in enumerate((-10.0, 0.0, 10.0)):
                    basic = 1000.0 * (index + 1) + bonus + noise + 100.0 * seed
                    rows.append(
                        {
                            "env": "HalfCheetah-v5",
                            "variant": variant,
                            "run_seed": seed,
                            "checkpoint": checkpoint,
                            "episode": episode,
                            "seed": episode,
                            "total_return": basic - 400.0,
                            "basic_return": basic,
                            "addon_return": -400.0,
                            "addon_metric_mean": 0.4,
                            "length": 1000,
                        }
                    )
    return pd.DataFrame(rows)


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


def test_lock_keeps_a_second_runner_off_a_live_run(results, tmp_path, monkeypatch):
    import os

    from benchmarks import runlock as training

    run_dir = SOFT.run_dir(tmp_path)
    lock = training.acquire_lock(run_dir)  # held by this (live) process
    assert training.is_locked(run_dir) and run_cli.run_state(SOFT, tmp_path) == "running"
    with pytest.raises(training.RunLocked):
        run_one(SOFT, tmp_path)
    monkeypatch.setattr(run_cli, "_run_in_worker", lambda *args: pytest.fail("a locked run was started"))
    scheduler = run_cli.Scheduler([SOFT], tmp_path, workers=1, command="x")
    assert scheduler.run() == {} and scheduler.elsewhere == [SOFT]
    # A lock whose process died (same host, dead pid) or whose heartbeat is old is stale.
    lock.write_text(json.dumps({"host": training.platform.node(), "pid": 2**22 + 12345}))
    assert not training.is_locked(run_dir)
    lock.write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    assert training.is_locked(run_dir)
    old = lock.stat().st_mtime - training.STALE_LOCK_SECONDS - 1
    os.utime(lock, (old, old))
    assert not training.is_locked(run_dir)
    assert training.acquire_lock(run_dir) == lock  # replaces the stale lock


def test_two_runners_taking_over_one_stale_lock_do_not_both_get_it(tmp_path, monkeypatch):
    import os

    from benchmarks import runlock

    run_dir = SOFT.run_dir(tmp_path)
    lock = runlock.acquire_lock(run_dir)
    lock.write_text(json.dumps({"host": "another-machine", "pid": 1}))  # runner A's fresh lock
    # Runner B looked while the lock was still stale (first is_locked: False); A has replaced it since.
    answers = iter([False])
    real_is_locked = runlock.is_locked
    monkeypatch.setattr(runlock, "is_locked", lambda d: next(answers, None) or real_is_locked(d))
    with pytest.raises(runlock.RunLocked):
        runlock.acquire_lock(run_dir)
    assert json.loads(lock.read_text())["host"] == "another-machine"  # A's lock survives
    monkeypatch.setattr(runlock, "is_locked", real_is_locked)
    # While a takeover marker is held, a stale lock is left to the runner holding it...
    old = lock.stat().st_mtime - runlock.STALE_LOCK_SECONDS - 1
    os.utime(lock, (old, old))
    marker = lock.with_name(lock.name + ".takeover")
    marker.touch()
    with pytest.raises(runlock.RunLocked, match="taken over"):
        runlock.acquire_lock(run_dir)
    assert lock.exists() and marker.exists()
    # ...and a marker left by a process that died mid-takeover is cleared, so the next attempt wins.
    older = marker.stat().st_mtime - runlock.STALE_TAKEOVER_SECONDS - 1
    os.utime(marker, (older, older))
    with pytest.raises(runlock.RunLocked):
        runlock.acquire_lock(run_dir)
    assert not marker.exists()
    assert runlock.acquire_lock(run_dir) == lock and not marker.exists()
    assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_run_of_a_dead_process_is_taken_back(tmp_path, monkeypatch):
    from benchmarks.runlock import acquire_lock

    lock = acquire_lock(SOFT.run_dir(tmp_path))
    lock.write_text(json.dumps({"host": "another-machine", "pid": 1}))  # live for now: fresh heartbeat
    started = []

    def fake_run(spec, results_dir, command):
        started.append(spec)
        spec.run_dir(results_dir).mkdir(parents=True, exist_ok=True)
        (spec.run_dir(results_dir) / "result.json").write_text("{}")
        return "finished"

    monkeypatch.setattr(run_cli, "_run_in_worker", fake_run)
    # While this runner waits for the prior, the other process dies and its lock disappears.
    monkeypatch.setattr(run_cli.time, "sleep", lambda seconds: lock.unlink())
    scheduler = run_cli.Scheduler([SOFT, RESIDUAL], tmp_path, workers=1, command="x")
    assert scheduler.run() == {} and started == [SOFT, RESIDUAL] and scheduler.elsewhere == []


def test_curve_table_of_a_smoke_run(results, tmp_path):
    from benchmarks.curve_table import curve_table, main

    run_dir = SOFT.run_dir(results)
    table = curve_table([run_dir])
    evaluations = pd.read_csv(run_dir / "evaluations.csv")
    assert list(table.index) == sorted(evaluations["timesteps"].unique())
    first = evaluations[evaluations["timesteps"] == table.index[0]]["basic_return"].mean()
    assert table.iloc[0]["HalfCheetah-v5/soft/seed0 basic"] == round(first)
    assert "HalfCheetah-v5/soft/seed0 approx_kl" in table.columns
    assert main([str(run_dir), "--out", str(tmp_path / "c.md")]) == 0
    assert (tmp_path / "c.md").read_text().startswith("# Periodic evaluations")
    with pytest.raises(SystemExit, match="no evaluations.csv"):
        curve_table([tmp_path])


def test_customize_block_reaches_the_customizations_only(results, tmp_path):
    from sb3_rpg import hyperparams

    block = hyperparams.ppo_block("HalfCheetah-v5")
    path = tmp_path / "ppo.yml"
    path.write_text(yaml.safe_dump({"HalfCheetah-v5": {**block, "customize": {"desired_kl": 0.02}}}))
    soft = make_spec("HalfCheetah-v5", "soft", 0, "smoke", str(path))
    residual = make_spec("HalfCheetah-v5", "residual", 0, "smoke", str(path))
    assert soft.ppo() == block  # what the finished smoke prior was trained with: it stays valid
    assert residual.ppo() == {**block, "desired_kl": 0.02}
    # the finished residual run was trained without it: stale under this file
    assert training.stale_reason(residual, results) == "trained with other PPO hyperparameters"
    assert training.stale_reason(soft, results) is None
    model = training.build_model(residual, tmp_path / "run", results)
    assert model.desired_kl == 0.02 and model.prior_coef == 0.17


def test_records_commit_what_the_report_and_the_next_machine_need(results, tmp_path):
    from benchmarks import records

    repo = tmp_path / "repo"
    shutil.copytree(results / "smoke", repo / "runs" / "smoke")
    git = lambda *args: subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True)  # noqa: E731
    git("init", "-q")
    (repo / ".gitignore").write_text("runs/\n")  # as benchmarks/runs/ is: records are added with -f
    runs = repo / "runs"
    soft, residual = SOFT.run_dir(runs), RESIDUAL.run_dir(runs)
    record = {"config.yaml", "evaluations.csv", "eval_final.csv", "eval_best.csv", "result.json"}
    record |= {"logs/progress.csv"}
    # A finished prior keeps its best checkpoint (Table II starts from it); a customization does not.
    assert {p.relative_to(soft).as_posix() for p in records.record_files(soft)} == record | {
        "checkpoints/best.zip",
        "checkpoints/best_vecnormalize.pkl",
    }
    assert {p.relative_to(residual).as_posix() for p in records.record_files(residual)} == record
    added, dropped = records.stage(runs, "smoke")
    assert len(added) == 2 * len(record) + 2 and dropped == []
    tracked = set(git("ls-files").stdout.split())
    assert "runs/smoke/HalfCheetah-v5/soft/seed0/checkpoints/best.zip" in tracked
    assert not any("tfevents" in path or "/monitor/" in path or "last" in path for path in tracked)

    # An unfinished run commits its resume point and its best checkpoint so far...
    (residual / "result.json").unlink()
    for name in ("last.zip", "last_vecnormalize.pkl"):
        shutil.copyfile(residual / "checkpoints" / name, residual / "checkpoints" / name.replace("last", "resume-4096"))
    state = {"step": 4096, "next_eval": 6144, "best_value": 1.0, "best_step": 2048, "train_seconds": 1.0}
    (residual / "checkpoints" / "resume.json").write_text(json.dumps(state))
    # (with keep_resume_points, the frequent commits leave unfinished runs' checkpoints alone)
    added, dropped = records.stage(runs, "smoke", keep_resume_points=True)
    in_progress = ("residual/seed0/checkpoints", "residual/seed0/logs")
    assert not [p for p in added if any(part in p.as_posix() for part in in_progress)]
    assert [p.name for p in dropped] == ["result.json"]  # deleted here: untracked, not re-added
    assert "runs/smoke/HalfCheetah-v5/residual/seed0/logs/progress.csv" in git("ls-files").stdout
    added, dropped = records.stage(runs, "smoke")
    names = {p.name for p in records.record_files(residual)}
    assert {"resume.json", "resume-4096.zip", "resume-4096_vecnormalize.pkl", "best.zip"} <= names
    assert dropped == [] and set(records.record_files(residual)) <= set(added)
    # A newer resume point replaces the old one on disk; keep_resume_points leaves git's consistent one.
    ckpt = residual / "checkpoints"
    for suffix in (".zip", "_vecnormalize.pkl"):
        (ckpt / f"resume-4096{suffix}").rename(ckpt / f"resume-6144{suffix}")
    (ckpt / "resume.json").write_text(json.dumps(state | {"step": 6144}))
    added, dropped = records.stage(runs, "smoke", keep_resume_points=True)
    assert dropped == [] and not [p for p in added if "checkpoints" in p.as_posix() and "residual" in p.as_posix()]
    assert "runs/smoke/HalfCheetah-v5/residual/seed0/checkpoints/resume-4096.zip" in git("ls-files").stdout
    for suffix in (".zip", "_vecnormalize.pkl"):
        (ckpt / f"resume-6144{suffix}").rename(ckpt / f"resume-4096{suffix}")
    (ckpt / "resume.json").write_text(json.dumps(state))
    # ...and once it finishes, its resume point and best checkpoint leave git (they stay on disk).
    (residual / "result.json").write_text("{}")
    added, dropped = records.stage(runs, "smoke")
    assert {p.name for p in dropped} == {
        "resume.json", "resume-4096.zip", "resume-4096_vecnormalize.pkl", "best.zip", "best_vecnormalize.pkl"
    }
    assert (residual / "checkpoints" / "best.zip").is_file()
    assert not [path for path in git("ls-files").stdout.split() if "residual/seed0/checkpoints" in path]
    # A results folder outside git, or none at all: a clear error, nothing staged.
    outside = tmp_path / "outside"
    outside.mkdir()
    assert records.main(["--budget", "smoke", "--results-dir", str(outside)]) == 2
    assert records.main(["--budget", "smoke", "--results-dir", str(tmp_path / "missing")]) == 2


def test_a_killed_run_continues_from_its_committed_record_in_a_fresh_clone(results, tmp_path, monkeypatch):
    from benchmarks import records

    repo = tmp_path / "repo"
    runs = repo / "runs"
    shutil.copytree(SOFT.run_dir(results), SOFT.run_dir(runs))  # the finished prior
    kill_after_first_resume_point(RESIDUAL, runs, monkeypatch)
    monkeypatch.undo()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("runs/\n")
    records.stage(runs, "smoke")
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "records"], check=True)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    clone_runs = clone / "runs"
    # Only the record travelled: of the logs, the progress CSV, not tensorboard's events nor Monitor files.
    cloned_dir = RESIDUAL.run_dir(clone_runs)
    cloned = {path.relative_to(cloned_dir).as_posix() for path in cloned_dir.rglob("*")}
    assert "logs/progress.csv" in cloned and not [name for name in cloned if "tfevents" in name or "monitor" in name]
    # Every file of the clone has the clone's age: the prior is compared by content, so not stale.
    assert run_cli.run_state(SOFT, clone_runs) == "finished"
    assert run_cli.run_state(RESIDUAL, clone_runs) == "partial"
    result = run_one(RESIDUAL, clone_runs, command="second")
    assert result["resumed_from"] == [2048] and result["timesteps"] == BUDGETS["smoke"].timesteps
    assert yaml.safe_load((RESIDUAL.run_dir(clone_runs) / "config.yaml").read_text())["command"] == "first"
    assert training.stale_reason(RESIDUAL, clone_runs) is None


def test_records_commit_commits_the_records_and_nothing_else(results, tmp_path, monkeypatch, capsys):
    from benchmarks import records

    for variable in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(variable, "t@t")
    repo = tmp_path / "repo"
    shutil.copytree(results / "smoke", repo / "runs" / "smoke")
    git = lambda *args: subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True)  # noqa: E731
    git("init", "-q")
    (repo / ".gitignore").write_text("runs/\n")
    (repo / "notes.md").write_text("someone's work in progress")
    git("add", "notes.md")
    argv = ["--budget", "smoke", "--results-dir", str(repo / "runs"), "--commit"]
    assert records.main(argv) == 2  # other changes staged: no commit
    assert "other changes are staged" in capsys.readouterr().err
    git("commit", "-qm", "notes")
    assert records.main(argv) == 0
    assert capsys.readouterr().out.strip() == "Records: runs/smoke, 2 runs finished, 0 in progress"
    committed = git("show", "--name-only", "--format=", "HEAD").stdout.split()
    assert "runs/smoke/HalfCheetah-v5/residual/seed0/result.json" in committed and "notes.md" not in committed
    assert records.main(argv) == 0
    assert capsys.readouterr().out.strip() == "records unchanged: nothing to commit"


def test_throughput_block_uses_the_grid_settings():
    from stable_baselines3.common.vec_env import VecNormalize

    from benchmarks import throughput

    hyperparams, n_envs, normalize = throughput.settings("Hopper-v5")
    block = make_spec("Hopper-v5", "soft", 0, "quick").ppo()
    assert (n_envs, hyperparams["batch_size"], hyperparams["n_epochs"]) == (
        block["n_envs"],
        block["batch_size"],
        block["n_epochs"],
    )
    assert normalize == block["normalize"] and throughput.settings(None)[1:] == (8, {})
    for name in ("PPO", "SoftPPO", "ResidualPPO"):
        model = throughput.build(name, "sb3_rpg/Hopper-v5", 0, hyperparams, n_envs, normalize)
        assert model.batch_size == block["batch_size"] and model.n_envs == n_envs
        assert isinstance(model.get_vec_normalize_env(), VecNormalize)  # ResidualPPO: the prior's, frozen
