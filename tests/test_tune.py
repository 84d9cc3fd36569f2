"""Tests of sb3_rpg.tune with tiny budgets on Pendulum (no MuJoCo): resume, workers, pruning, NaN, outputs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import optuna
import pytest
import torch as th
import yaml
from optuna.trial import TrialState
from stable_baselines3 import PPO

from sb3_rpg import ResidualPPO, SoftPPO
from sb3_rpg.common.buffers import NonFiniteLogProbError, SoftRewardMixin
from sb3_rpg.tune import TuneConfig, algorithm_kwargs, export_study, load_hyperparams, parse_kwargs, run_study
from sb3_rpg.tune.cli import main
from sb3_rpg.tune.objective import PRUNED_BY_PRUNER, PRUNED_NON_FINITE, non_finite_error
from sb3_rpg.tune.samplers import PRIOR_COEF_LOG10, greedy_floor, sample_params
from sb3_rpg.tune.study import SurplusTrial, TargetGuard

th.set_num_threads(1)
optuna.logging.set_verbosity(optuna.logging.WARNING)

EPISODE_STEPS = 20
TINY = {"n_steps": 64, "batch_size": 32, "n_epochs": 1}
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class NanRewardWrapper(gym.Wrapper):
    """Pendulum whose reward turns NaN after a few steps: the run's losses and weights go NaN."""

    def __init__(self, env: gym.Env, nan_after: int = 10):
        super().__init__(env)
        self.nan_after = nan_after
        self.steps = 0

    def step(self, action: Any) -> tuple[Any, ...]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        return obs, (math.nan if self.steps > self.nan_after else reward), terminated, truncated, info


class AddonPendulum(gym.Wrapper):
    """Pendulum as a stand-in add-on task: basic = Pendulum's reward, add-on = -|action|."""

    def __init__(self, env: gym.Env, reward: str = "full"):
        super().__init__(env)
        self.reward_mode = reward

    def step(self, action: Any) -> tuple[Any, ...]:
        obs, basic, terminated, truncated, info = self.env.step(action)
        addon = -float(np.abs(action).sum())
        info = {**info, "basic_reward": float(basic), "addon_reward": addon, "addon_metric": addon}
        reward = {"basic": basic, "addon": addon, "full": basic + addon}[self.reward_mode]
        return obs, reward, terminated, truncated, info


def _pendulum(wrapper: type[gym.Wrapper], **kwargs: Any) -> gym.Env:
    return wrapper(gym.make("Pendulum-v1", max_episode_steps=EPISODE_STEPS).unwrapped, **kwargs)


gym.register(
    "TestNanPendulum-v0",
    entry_point=lambda **kw: _pendulum(NanRewardWrapper, **kw),
    max_episode_steps=EPISODE_STEPS,
)
gym.register(
    "TestAddonPendulum-v0",
    entry_point=lambda **kw: _pendulum(AddonPendulum, **kw),
    max_episode_steps=EPISODE_STEPS,
)


def tiny_config(tmp_path: Path, **overrides: Any) -> TuneConfig:
    """A SoftPPO study on 20-step Pendulum episodes: 128 timesteps, 2 evaluations of 1 episode."""
    kwargs: dict[str, Any] = {
        "algo": "soft_ppo",
        "env_id": "Pendulum-v1",
        "env_kwargs": {"max_episode_steps": EPISODE_STEPS},
        "n_trials": 2,
        "n_timesteps": 128,
        "hyperparams": {**TINY, "policy_kwargs": {"net_arch": [16], "activation_fn": "nn.Tanh"}},
        "n_evaluations": 2,
        "n_eval_episodes": 1,
        "out_dir": str(tmp_path / "out"),
        "study_name": "test",
        "seed": 0,
        "heartbeat_interval": 0,
    }
    kwargs.update(overrides)
    return TuneConfig(**kwargs)


def _numbers_and_states(study: optuna.Study) -> tuple[list[int], list[TrialState]]:
    trials = study.get_trials(deepcopy=False)
    return [trial.number for trial in trials], [trial.state for trial in trials]


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


@pytest.fixture(scope="module")
def prior_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PPO prior trained for 64 steps on Pendulum and saved."""
    env = gym.make("Pendulum-v1", max_episode_steps=EPISODE_STEPS)
    prior = PPO(
        "MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, policy_kwargs={"net_arch": [16]}, seed=0
    )
    prior.learn(64)
    path = tmp_path_factory.mktemp("prior") / "prior.zip"
    prior.save(path)
    return path


@pytest.mark.parametrize("storage", ["sqlite", "journal"])
def test_study_runs_and_resumes(tmp_path: Path, storage: str) -> None:
    url = None if storage == "sqlite" else str(tmp_path / "out" / "test.journal")
    study = run_study(tiny_config(tmp_path, n_trials=2, storage=url))
    assert len(study.get_trials(states=FINISHED)) == 2
    study = run_study(tiny_config(tmp_path, n_trials=4, storage=url))  # a fresh process would do the same
    numbers, states = _numbers_and_states(study)
    assert numbers == [0, 1, 2, 3] and all(state in FINISHED for state in states)
    assert len(run_study(tiny_config(tmp_path, n_trials=3, storage=url)).trials) == 4  # target already met
    if storage == "sqlite":
        assert (tmp_path / "out" / "test.db").is_file()


def test_cli_resumes_and_writes_outputs(tmp_path: Path) -> None:
    hyperparams = tmp_path / "hyper.yml"
    block = {**TINY, "n_timesteps": 128, "policy_kwargs": {"net_arch": [16], "activation_fn": "relu"}}
    hyperparams.write_text(yaml.safe_dump({"Pendulum-v1": block}))
    out = tmp_path / "cli"
    args = [
        "--algo",
        "SoftPPO",
        "--env",
        "Pendulum-v1",
        "--env-kwargs",
        f"max_episode_steps={EPISODE_STEPS}",
        "--hyperparams",
        str(hyperparams),
        "--n-evaluations",
        "2",
        "--n-eval-episodes",
        "1",
        "--out-dir",
        str(out),
        "--study-name",
        "cli",
        "--seed",
        "1",
        "--heartbeat",
        "0",
    ]
    assert main([*args, "--n-trials", "1"]) == 0
    assert main([*args, "--n-trials", "2"]) == 0
    study = optuna.load_study(study_name="cli", storage=f"sqlite:///{out / 'cli.db'}")
    assert [trial.number for trial in study.get_trials(states=FINISHED)] == [0, 1]
    for name in ("best_params.yml", "trials.csv", "optimization_history.png", "intermediate_values.png"):
        assert (out / name).stat().st_size > 0, name
    best = yaml.safe_load((out / "best_params.yml").read_text())
    assert set(best) == {"ent_coef"} and 1e-5 <= best["ent_coef"] <= 0.5


def test_two_workers_share_one_storage(tmp_path: Path) -> None:
    config = tiny_config(tmp_path, n_trials=4, workers=2, heartbeat_interval=60)
    study = run_study(config)
    numbers, states = _numbers_and_states(study)
    assert numbers == list(range(len(numbers)))  # no number missing
    assert all(state.is_finished() for state in states)
    assert len(study.get_trials(states=FINISHED)) == 4
    surplus = [t for t in study.trials if t.state == TrialState.FAIL]
    assert all(t.user_attrs.get("fail_reason", "").startswith("surplus") for t in surplus)
    assert len({t.user_attrs["seed"] for t in study.get_trials(states=FINISHED)}) == 4


def test_pruner_prunes_from_intermediate_evaluations(tmp_path: Path) -> None:
    study = run_study(tiny_config(tmp_path, n_trials=2), pruner=AlwaysPrune())
    trials = study.get_trials()
    assert [trial.state for trial in trials] == [TrialState.PRUNED] * 2
    assert all(trial.user_attrs["prune_reason"] == PRUNED_BY_PRUNER for trial in trials)
    assert all(trial.intermediate_values and trial.user_attrs["timesteps"] < 128 for trial in trials)
    export_study(study, tmp_path / "out")  # no complete trial: CSV only, no crash
    assert not (tmp_path / "out" / "best_params.yml").exists()


def test_nan_run_becomes_pruned_trial(tmp_path: Path) -> None:
    study = run_study(tiny_config(tmp_path, env_id="TestNanPendulum-v0", env_kwargs={}, n_trials=2))
    trials = study.get_trials()
    assert [trial.state for trial in trials] == [TrialState.PRUNED] * 2
    assert all(trial.user_attrs["prune_reason"] == PRUNED_NON_FINITE for trial in trials)
    assert all("nan" in trial.user_attrs["prune_detail"].lower() for trial in trials)


def test_non_finite_log_prob_becomes_pruned_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: SoftRewardMixin) -> None:
        raise NonFiniteLogProbError("non-finite log πθ(a|s) (the policy's log-prob) (nan) at rollout step 3")

    monkeypatch.setattr(SoftRewardMixin, "rewrite_rewards", fail)
    study = run_study(tiny_config(tmp_path, n_trials=1))
    (trial,) = study.trials
    assert trial.state == TrialState.PRUNED and trial.user_attrs["prune_reason"] == PRUNED_NON_FINITE
    assert trial.user_attrs["prune_detail"].startswith("NonFiniteLogProbError")


def test_non_finite_error_classification() -> None:
    with pytest.raises(ValueError) as torch_error:
        th.distributions.Normal(th.tensor([math.nan]), th.tensor([1.0]), validate_args=True)
    assert non_finite_error(torch_error.value)
    assert non_finite_error(NonFiniteLogProbError("non-finite log πθ(a|s)"))
    assert not non_finite_error(ValueError("prior_coef must be finite and >= 0, got -1"))
    assert not non_finite_error(TypeError("nan"))


def test_best_params_yaml_loads_into_residual_ppo(tmp_path: Path, prior_zip: Path) -> None:
    # The SoftPPO block of a benchmark config: ResidualPPO keeps the prior's architecture and statistics.
    hyperparams = {
        **TINY,
        "normalize": {"norm_obs": True, "norm_reward": False},
        "policy_kwargs": {"net_arch": [32]},
    }
    # The block normalises observations, the prior saw raw ones: right here, but said out loud.
    with pytest.warns(UserWarning, match="no statistics were given for the prior"):
        config = tiny_config(
            tmp_path, algo="residual_ppo", prior=str(prior_zip), hyperparams=hyperparams, greedy_fraction=0.5
        )
    study = run_study(config)
    assert len(study.get_trials(states=FINISHED)) == 2
    written = export_study(study, config.out_dir)
    params = yaml.safe_load(written["best_params.yml"].read_text())
    assert set(params) == {"ent_coef", "prior_coef"}
    assert params == study.best_trial.user_attrs["kwargs"]
    env = gym.make("Pendulum-v1", max_episode_steps=EPISODE_STEPS)
    model = ResidualPPO("MlpPolicy", env, prior=str(prior_zip), **TINY, **params)
    assert model.prior_coef == params["prior_coef"] and model.reward_ent_coef == params["ent_coef"]


def test_greedy_floor_maps_to_zero() -> None:
    config = tiny_config(Path("unused"), algo="residual_ppo", prior="prior.zip", tune_ppo=True)
    floor = greedy_floor(1e-4, 1.0, 0.2)
    assert floor == pytest.approx(-5.0)
    base = {
        "ent_coef": 0.01,
        "n_steps_pow": 6,
        "batch_size_pow": 10,
        "one_minus_gamma": 0.01,
        "one_minus_gae_lambda": 0.05,
        "learning_rate": 3e-4,
        "n_epochs": 5,
        "clip_range": 0.2,
        "max_grad_norm": 0.5,
    }
    greedy = sample_params(optuna.trial.FixedTrial({**base, PRIOR_COEF_LOG10: -4.5}), config)
    residual = sample_params(optuna.trial.FixedTrial({**base, PRIOR_COEF_LOG10: math.log10(0.17)}), config)
    assert greedy["prior_coef"] == 0.0 and residual["prior_coef"] == 0.17
    assert greedy["gamma"] == 0.99 and greedy["n_steps"] == 64 and greedy["batch_size"] == 64  # <= n_steps


def test_pareto_mode_returns_front(tmp_path: Path) -> None:
    config = tiny_config(
        tmp_path, env_id="TestAddonPendulum-v0", env_kwargs={"reward": "addon"}, objective="pareto"
    )
    study = run_study(config)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MAXIMIZE"]
    assert all(not trial.intermediate_values for trial in study.trials)  # never reported: no pruning
    written = export_study(study, config.out_dir)
    front = yaml.safe_load(written["pareto_front.yml"].read_text())
    assert {f"trial_{trial.number}" for trial in study.best_trials} == set(front)
    assert (Path(config.out_dir) / "pareto_front.png").is_file()
    with pytest.raises(ValueError, match="basic_reward"):
        run_study(tiny_config(tmp_path, objective="pareto", study_name="plain", n_trials=1))


def test_target_guard_fails_surplus_trial() -> None:
    study = optuna.create_study()
    for value in (1.0, 2.0):
        study.add_trial(optuna.trial.create_trial(value=value))
    study.optimize(TargetGuard(lambda trial: 0.0, target=2), n_trials=3, catch=(SurplusTrial,))
    surplus = study.trials[2:]
    assert len(surplus) == 1 and surplus[0].state == TrialState.FAIL  # failed at once, and the worker stopped
    assert surplus[0].user_attrs["fail_reason"].startswith("surplus")
    study.optimize(TargetGuard(lambda trial: 3.0, target=4), n_trials=1)
    assert study.trials[-1].value == 3.0


def test_hyperparams_yaml_and_kwargs(tmp_path: Path) -> None:
    path = tmp_path / "h.yml"
    path.write_text(
        "HalfCheetah-v5:\n  n_envs: 2\n  normalize: true\n  learning_rate: lin_3e-4\n  ent_coef: 1e-3\n"
        "  policy_kwargs: {net_arch: [64, 64], activation_fn: nn.ReLU}\n"
    )
    block = load_hyperparams(path, env_id="sb3_rpg/HalfCheetah-v5")
    kwargs = algorithm_kwargs(block)
    assert block["n_envs"] == 2 and "n_envs" not in kwargs and "normalize" not in kwargs
    assert kwargs["policy_kwargs"]["activation_fn"] is th.nn.ReLU
    assert kwargs["learning_rate"](1.0) == pytest.approx(3e-4) and kwargs["learning_rate"](0.0) == 0.0
    assert kwargs["ent_coef"] == 1e-3
    assert parse_kwargs(["reward=addon", "max_episode_steps:50"]) == {
        "reward": "addon",
        "max_episode_steps": 50,
    }
    assert parse_kwargs(['{"reward": "full"}']) == {"reward": "full"}


def test_cli_applies_customize_overrides_to_residual_ppo_only(tmp_path: Path) -> None:
    from sb3_rpg.tune.cli import build_parser, config_from_args

    path = tmp_path / "h.yml"
    path.write_text(
        "Pendulum-v1:\n  learning_rate: 3.0e-4\n"
        "  customize: {learning_rate: 1.0e-4, desired_kl: 0.01, n_envs: 4}\n"
    )
    prior_path = tmp_path / "prior.zip"
    SoftPPO("MlpPolicy", "Pendulum-v1", device="cpu").save(prior_path)
    for algo, expected in (
        ("soft_ppo", {"learning_rate": 3e-4, "n_envs": 2}),
        # --n-envs 2 beats the customize: mapping's n_envs 4
        ("ResidualPPO", {"learning_rate": 1e-4, "desired_kl": 0.01, "n_envs": 2}),
    ):
        prior = ["--prior", str(prior_path)] if algo == "ResidualPPO" else []
        args = build_parser().parse_args(
            [
                "--algo",
                algo,
                "--env",
                "Pendulum-v1",
                "--hyperparams",
                str(path),
                "--n-timesteps",
                "64",
                "--n-envs",
                "2",
                *prior,
            ]
        )
        assert config_from_args(args).hyperparams == expected


def test_prior_statistics_beside_the_zip_silence_the_warning(tmp_path: Path, prior_zip: Path) -> None:
    import warnings

    prior = tmp_path / "best.zip"
    prior.write_bytes(prior_zip.read_bytes())
    (tmp_path / "best_vecnormalize.pkl").write_bytes(b"found by name only here")
    hyperparams = {**TINY, "normalize": True}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiny_config(tmp_path, algo="residual_ppo", prior=str(prior), hyperparams=hyperparams)
        tiny_config(
            tmp_path,
            algo="residual_ppo",
            prior=str(prior_zip),
            hyperparams={**TINY, "normalize": {"norm_obs": False}},
        )


def test_resumed_seeded_study_proposes_new_points(tmp_path: Path) -> None:
    config = tiny_config(tmp_path, n_trials=2, sampler="random", seed=0)
    first = [trial.params for trial in run_study(config).trials]
    resumed = run_study(tiny_config(tmp_path, n_trials=4, sampler="random", seed=0)).trials
    assert [trial.params for trial in resumed[:2]] == first
    assert all(trial.params not in first for trial in resumed[2:])  # not the same two points again


def test_resuming_with_other_settings_is_refused(tmp_path: Path) -> None:
    run_study(tiny_config(tmp_path, n_trials=1))
    with pytest.raises(ValueError, match="n_timesteps=128, not 256"):
        run_study(tiny_config(tmp_path, n_trials=2, n_timesteps=256))
    with pytest.raises(ValueError, match="eval_env_kwargs"):
        run_study(tiny_config(tmp_path, n_trials=2, eval_env_kwargs={"max_episode_steps": 5}))


def test_residual_ppo_on_an_addon_task_trains_on_the_addon_reward() -> None:
    with pytest.warns(UserWarning, match="trains on the add-on reward"):
        config = tiny_config(
            Path("unused"), algo="residual_ppo", env_id="sb3_rpg/Hopper-v5", env_kwargs={}, prior="prior.zip"
        )
    assert config.env_kwargs == {"reward": "addon"} and config.eval_kwargs["reward"] == "full"
    explicit = tiny_config(
        Path("unused"),
        algo="residual_ppo",
        env_id="sb3_rpg/Hopper-v5",
        env_kwargs={"reward": "full"},
        prior="p.zip",
    )
    assert explicit.env_kwargs == {"reward": "full"}
