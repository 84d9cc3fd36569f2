"""ResidualPPO as SB3 users drive it: chunked learn(), save/load mid-warm-up, EvalCallback, acting on raw
envs, and priors given as files (statistics beside the zip, or inside a saved ResidualPPO)."""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from sb3_rpg import ResidualPPO, SoftPPO
from sb3_rpg.common.prior import FrozenObsNormalize, load_prior_policy
from sb3_rpg.envs.evaluation import _resolve_normalizer

FAST = {"n_steps": 32, "batch_size": 32, "n_epochs": 1}


class WarmupLog(BaseCallback):
    """``train/critic_warmup`` of every update: read when the next rollout starts (the logger dumps after
    the rollout, before train) and at the end of training."""

    def __init__(self):
        super().__init__()
        self.values: list[float] = []

    def _record(self) -> None:
        value = self.model.logger.name_to_value.get("train/critic_warmup")
        if value is not None:
            self.values.append(value)
            del self.model.logger.name_to_value["train/critic_warmup"]

    def _on_rollout_start(self) -> None:
        self._record()

    def _on_training_end(self) -> None:
        self._record()

    def _on_step(self) -> bool:
        return True


class StopAt(BaseCallback):
    """Stops training at a given timestep (as a kill would, but in-process)."""

    def __init__(self, timestep: int):
        super().__init__()
        self.timestep = timestep

    def _on_step(self) -> bool:
        return self.num_timesteps < self.timestep


@pytest.fixture(scope="module")
def normalized_prior(tmp_path_factory):
    """A PPO prior trained under VecNormalize, saved as ``prior.zip`` + ``prior_vecnormalize.pkl``."""
    folder = tmp_path_factory.mktemp("prior")
    env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=1, seed=0))
    model = PPO("MlpPolicy", env, seed=0, n_steps=64, batch_size=32, n_epochs=1).learn(128)
    model.save(folder / "prior.zip")
    env.save(folder / "prior_vecnormalize.pkl")
    assert np.abs(env.obs_rms.mean).max() > 0.05  # statistics that matter
    return folder / "prior.zip", env


def test_warmup_happens_once_across_learn_calls():
    prior = SoftPPO("MlpPolicy", "Pendulum-v1", seed=0, **FAST)
    model = ResidualPPO("MlpPolicy", "Pendulum-v1", prior=prior, critic_warmup=0.5, seed=0, **FAST)
    log = WarmupLog()
    # First call, 2 rollouts of 32 steps: the warm-up is 0.5 x 64 = 32 steps, i.e. the first update.
    model.learn(64, callback=log)
    assert log.values == [1.0, 0.0]
    # A second call continues training: no second warm-up (it used to freeze the actor for its first update).
    log.values.clear()
    model.learn(64, callback=log, reset_num_timesteps=False)
    assert log.values == [0.0, 0.0]


def test_warmup_resumes_after_save_load(tmp_path):
    prior = SoftPPO("MlpPolicy", "Pendulum-v1", seed=0, **FAST)
    model = ResidualPPO("MlpPolicy", "Pendulum-v1", prior=prior, critic_warmup=0.5, seed=0, **FAST)
    log = WarmupLog()
    # A 128-step run: warm-up 0.5 x 128 = 64 steps = updates 1 and 2. Killed after update 1.
    model.learn(128, callback=[log, StopAt(33)])
    assert log.values == [1.0] and model.num_timesteps == 33
    model.save(tmp_path / "mid_warmup")
    loaded = ResidualPPO.load(tmp_path / "mid_warmup", env=make_vec_env("Pendulum-v1"))
    log.values.clear()
    loaded.learn(96, callback=log, reset_num_timesteps=False)
    assert log.values == [1.0, 0.0, 0.0]  # the rest of the warm-up (update 2), then the actor trains


def test_eval_callback_with_raw_eval_env(normalized_prior, tmp_path):
    path, _ = normalized_prior
    model = ResidualPPO("MlpPolicy", "Pendulum-v1", prior=path, seed=0, **FAST)
    assert isinstance(model.get_env(), FrozenObsNormalize)  # statistics found beside the zip
    eval_env = gym.make("Pendulum-v1")
    callback = EvalCallback(eval_env, eval_freq=32, n_eval_episodes=1, log_path=str(tmp_path), verbose=0)
    model.learn(64, callback=[callback])  # SB3 asserted "eval env not wrapped" here
    assert isinstance(callback.eval_env, FrozenObsNormalize)
    assert len(callback.evaluations_results) == 2


def test_acting_on_raw_observations(normalized_prior, tmp_path):
    path, prior_env = normalized_prior
    model = ResidualPPO("MlpPolicy", "Pendulum-v1", prior=path, seed=0, **FAST)
    raw = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    normalized = prior_env.normalize_obs(raw)
    expected = model.predict(normalized, deterministic=True)[0]

    wrapped = model.wrap_env(gym.make("Pendulum-v1"))
    assert isinstance(wrapped, FrozenObsNormalize)
    np.testing.assert_allclose(wrapped.normalize_obs(raw), normalized, rtol=1e-6)

    # A model loaded without env keeps its prior's statistics for evaluation.
    model.save(tmp_path / "residual")
    loaded = ResidualPPO.load(tmp_path / "residual")
    assert loaded.get_vec_normalize_env() is None
    normalizer = _resolve_normalizer(loaded, None, gym.make("Pendulum-v1").observation_space)
    assert isinstance(normalizer, VecNormalize) and not normalizer.training
    np.testing.assert_allclose(normalizer.normalize_obs(raw), normalized, rtol=1e-6)
    np.testing.assert_allclose(
        loaded.predict(normalizer.normalize_obs(raw), deterministic=True)[0], expected, rtol=1e-6
    )


def test_prior_statistics_from_files(normalized_prior, tmp_path):
    path, prior_env = normalized_prior
    # Beside the zip: <stem>_vecnormalize.pkl.
    _, found = load_prior_policy(path)
    assert found is not None
    np.testing.assert_array_equal(found.obs_rms.mean, prior_env.obs_rms.mean)
    # None beside a copy of the zip elsewhere: raw observations.
    (tmp_path / "bare.zip").write_bytes(path.read_bytes())
    assert load_prior_policy(tmp_path / "bare.zip")[1] is None
    # A saved ResidualPPO as a prior: its actor acts under its own prior's statistics, kept in its zip.
    residual = ResidualPPO("MlpPolicy", "Pendulum-v1", prior=path, seed=0, **FAST)
    residual.save(tmp_path / "residual.zip")
    _, inside = load_prior_policy(tmp_path / "residual.zip")
    assert inside is not None
    np.testing.assert_array_equal(inside.obs_rms.mean, prior_env.obs_rms.mean)
    second = ResidualPPO(
        "MlpPolicy", DummyVecEnv([lambda: gym.make("Pendulum-v1")]), prior=tmp_path / "residual.zip", **FAST
    )
    assert isinstance(second.get_env(), FrozenObsNormalize)


def test_zip_of_earlier_versions_keeps_its_warmup(tmp_path):
    # Earlier versions saved the warm-up's end as an absolute timestep, `_critic_warmup_end`.
    prior = SoftPPO("MlpPolicy", "Pendulum-v1", seed=0, **FAST)
    model = ResidualPPO("MlpPolicy", "Pendulum-v1", prior=prior, seed=0, **FAST).learn(32)
    model.save(tmp_path / "model")
    old = ResidualPPO.load(
        tmp_path / "model", env=make_vec_env("Pendulum-v1"), _critic_warmup_end=96.0, _critic_warmup_left=None
    )
    assert old._critic_warmup_left == 96.0 - 32 and not hasattr(old, "_critic_warmup_end")
    log = WarmupLog()
    old.learn(96, callback=log, reset_num_timesteps=False)
    assert log.values == [1.0, 1.0, 0.0]  # updates at 64 and 96 are within the saved warm-up
