"""benchmarks/: grid and filters, shards, hyperparameter files, Table II's prior, evaluation mappings.

The smoke runs (``--budget smoke``: HalfCheetah's Soft PPO and the Residual PPO customizing it) train once
per session: the ``results`` fixture of ``tests/conftest.py``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from smoke_runs import RESIDUAL, SOFT  # tests/smoke_runs.py

from benchmarks import run as run_cli
from benchmarks import training
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
from benchmarks.evaluation import FINAL_EVAL_SEED, evaluate
from benchmarks.runlock import lock_path
from benchmarks.training import is_finished, prior_paths, run_one


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
        # Bounds of a state-dependent std: a file for Table III's soft_state_std variant only.
        state_std_only = {"log_std_min", "log_std_max"} & set(kwargs.get("policy_kwargs") or {})
        SoftPPO("StateStdMlpPolicy" if state_std_only else "MlpPolicy", env, **kwargs)


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
    assert "9 runs x 400,000 steps, Hopper-v5: 1,000,000" in out and "todo" in out
    assert not (tmp_path / "quick").exists()


def test_a_budget_gives_an_env_its_own_steps():
    # quick: 400k steps, but Hopper's block needs ~0.9M to hop, so Hopper runs get 1M.
    quick = BUDGETS["quick"]
    assert quick.timesteps_for("HalfCheetah-v5") == 400_000 and quick.timesteps_for("Hopper-v5") == 1_000_000
    hopper = make_spec("Hopper-v5", "residual", 0, "quick").settings()
    cheetah = make_spec("HalfCheetah-v5", "residual", 0, "quick").settings()
    assert (hopper.timesteps, cheetah.timesteps) == (1_000_000, 400_000)
    # Hopper's block evaluates 40 times per run (its `evaluation:`): every 1M / 40 = 25,000 steps.
    assert hopper.eval_freq == 25_000 and cheetah.eval_freq == 400_000 // 20
    assert BUDGETS["paper"].timesteps_for("Hopper-v5") == 5_000_000


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


def test_hyperparams_file_replaces_ppo_yml(tmp_path):
    block = yaml.safe_load((Path(__file__).resolve().parents[1] / "sb3_rpg/hyperparams/ppo.yml").read_text())
    block = block["Hopper-v5"]
    block["learning_rate"] = 1.234e-4
    block["customize"] = {"learning_rate": 2.5e-5}
    ppo_file = tmp_path / "hopper.yml"
    ppo_file.write_text(yaml.safe_dump({"Hopper-v5": block}))
    grid = build_grid(
        "smoke", tables=(2,), envs=("Hopper",), variants=("residual",), seeds=(0,), ppo_file=ppo_file
    )
    assert [spec.variant for spec in grid] == ["soft", "residual"]  # the prior inherits the file too
    # The prior takes the file's block, the customization its `customize:` overrides too.
    assert [spec.ppo()["learning_rate"] for spec in grid] == [1.234e-4, 2.5e-5]
    assert make_spec("Hopper-v5", "soft", 0, "smoke").ppo()["learning_rate"] != 1.234e-4
    with pytest.raises(KeyError, match="HalfCheetah-v5 has no block"):
        build_grid("smoke", envs=("HalfCheetah",), ppo_file=ppo_file)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_grid("smoke", envs=("Hopper",), ppo_file=tmp_path / "missing.yml")


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


def _ppo_yml() -> dict:
    """sb3_rpg/hyperparams/ppo.yml, parsed: the base of the hyperparameter files the tests write."""
    return yaml.safe_load((Path(__file__).resolve().parents[1] / "sb3_rpg/hyperparams/ppo.yml").read_text())


def test_evaluation_mapping_sets_the_periodic_evaluation(tmp_path):
    from benchmarks.config import algorithm_kwargs

    block = {key: value for key, value in _ppo_yml()["Hopper-v5"].items() if key != "evaluation"}
    ppo_file = tmp_path / "hopper.yml"
    ppo_file.write_text(
        yaml.safe_dump({"Hopper-v5": {**block, "evaluation": {"episodes": 12, "points": 25}}})
    )
    soft, residual = build_grid(
        "paper", tables=(2,), envs=("Hopper",), variants=("residual",), seeds=(0,), ppo_file=ppo_file
    )
    for spec in (soft, residual):  # the customizations inherit it (`customize:` overrides only its own keys)
        settings = spec.settings()
        assert (settings.eval_episodes, settings.eval_points) == (12, 25)
        assert settings.eval_freq == 5_000_000 // 25 == 200_000
        assert settings.final_episodes == BUDGETS["paper"].final_episodes == 100  # the paper's protocol
        assert "evaluation" not in algorithm_kwargs(spec.ppo())  # not a PPO argument
    # Without the mapping, the budget's own settings.
    plain_file = tmp_path / "plain.yml"
    plain_file.write_text(yaml.safe_dump({"Hopper-v5": block}))
    default = make_spec("Hopper-v5", "soft", 0, "paper", str(plain_file)).settings()
    assert (default.eval_episodes, default.eval_points) == (5, 20) and default == BUDGETS["paper"]
    # The shipped blocks: Hopper's picks its best checkpoints on 40 evaluations of 20 episodes, the
    # other envs keep the budget's.
    assert make_spec("Hopper-v5", "soft", 0, "paper").settings().eval_points == 40
    assert make_spec("Ant-v5", "soft", 0, "paper").settings() == BUDGETS["paper"]


@pytest.mark.parametrize(
    ("mapping", "error", "match"),
    [
        ({"episodes": 0}, ValueError, "positive integer"),
        ({"points": 2.5}, ValueError, "positive integer"),
        ({"episods": 20}, ValueError, "unknown evaluation keys"),
        ([20, 40], TypeError, "must be a mapping"),
    ],
)
def test_bad_evaluation_mapping_fails_before_training(tmp_path, mapping, error, match):
    ppo_file = tmp_path / "hopper.yml"
    block = _ppo_yml()
    ppo_file.write_text(yaml.safe_dump({"Hopper-v5": {**block["Hopper-v5"], "evaluation": mapping}}))
    with pytest.raises(error, match=match):
        build_grid("smoke", envs=("Hopper",), variants=("soft",), ppo_file=ppo_file)


def test_evaluation_mapping_changes_the_selection_not_the_training(results, tmp_path):
    # SOFT again, under a copy of ppo.yml whose HalfCheetah block evaluates 3 episodes at 4 points.
    block = _ppo_yml()
    ppo_file = tmp_path / "ppo.yml"
    evaluation = {"episodes": 3, "points": 4}
    ppo_file.write_text(
        yaml.safe_dump({"HalfCheetah-v5": {**block["HalfCheetah-v5"], "evaluation": evaluation}})
    )
    (spec,) = build_grid("smoke", envs=("HalfCheetah",), variants=("soft",), seeds=(0,), ppo_file=ppo_file)
    run_one(spec, tmp_path / "runs", command="evaluation")
    run_dir = spec.run_dir(tmp_path / "runs")
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert (config["budget"]["eval_episodes"], config["budget"]["eval_points"]) == (3, 4)
    periodic = pd.read_csv(run_dir / "evaluations.csv")
    # 4096 steps / 4 points: every 1024 steps, i.e. at each rollout start (2048 steps apart) and the end.
    assert periodic.groupby("timesteps").size().to_dict() == {0: 3, 2048: 3, 4096: 3}
    assert len(pd.read_csv(run_dir / "eval_final.csv")) == BUDGETS["smoke"].final_episodes  # unchanged
    # Same seed, same updates as the budget's own evaluation (2 episodes): evaluations leave training alone.
    train = [column for column in pd.read_csv(run_dir / "logs/progress.csv") if column.startswith("train/")]
    ours = pd.read_csv(run_dir / "logs/progress.csv")[train]
    reference = pd.read_csv(SOFT.run_dir(results) / "logs/progress.csv")[train]
    pd.testing.assert_frame_equal(ours.reset_index(drop=True), reference.reset_index(drop=True))
