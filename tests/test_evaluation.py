"""evaluate_episodes: row sums, exact episode counts, seeding, SB3 models and VecNormalize."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from sb3_rpg.envs import EVALUATION_COLUMNS, HALF_CHEETAH_ID, HOPPER_ID, evaluate_episodes

# Short horizon keeps the file fast; with this policy Hopper falls after 15-30 steps, so the
# episodes mix terminations and truncations and have different lengths.
HORIZON = 25
SHORT = {"max_episode_steps": HORIZON}


def falling_policy(obs: np.ndarray) -> np.ndarray:
    """Deterministic batch policy that makes Hopper fall at seed-dependent times."""
    return -np.tanh(5.0 * obs[:, 5:8])


class Recorder:
    """Zero-action batch policy that records every observation batch it receives."""

    def __init__(self, act_dim: int) -> None:
        self.act_dim = act_dim
        self.inputs: list[np.ndarray] = []

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        self.inputs.append(np.array(obs, copy=True))
        return np.zeros((len(obs), self.act_dim))


def _stats_vec_normalize(env_id: str) -> VecNormalize:
    """A VecNormalize with distinctive, hand-set observation statistics.

    :param env_id: env for the spaces.
    :return: the normalizer.
    """
    vec = VecNormalize(DummyVecEnv([lambda: gym.make(env_id)]), clip_obs=3.0)
    dim = vec.observation_space.shape[0]
    vec.obs_rms.mean = np.linspace(-1.0, 1.0, dim)
    vec.obs_rms.var = np.linspace(0.5, 4.0, dim)
    return vec


def _expected_normalized(raw: np.ndarray, vec: VecNormalize) -> np.ndarray:
    return np.clip((raw - vec.obs_rms.mean) / np.sqrt(vec.obs_rms.var + vec.epsilon), -3.0, 3.0)


def test_rows_add_up_and_match_a_hand_loop() -> None:
    frame = evaluate_episodes(falling_policy, HOPPER_ID, n_episodes=3, seed=5, env_kwargs=SHORT)
    assert list(frame.columns) == list(EVALUATION_COLUMNS)
    np.testing.assert_allclose(frame.total_return, frame.basic_return + frame.addon_return, rtol=1e-12)

    env = gym.make(HOPPER_ID, **SHORT)
    for row in frame.itertuples():
        obs, _ = env.reset(seed=5 + row.episode)
        total, heights, done = 0.0, [], False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(falling_policy(obs[None])[0])
            total += reward
            heights.append(float(env.unwrapped.data.qpos[1]))  # z straight from MuJoCo
            done = terminated or truncated
        assert row.seed == 5 + row.episode
        assert row.length == len(heights)
        assert row.total_return == pytest.approx(total, rel=1e-12)
        assert row.addon_metric_mean == pytest.approx(np.mean(heights), rel=1e-12)
        assert row.addon_return == pytest.approx(np.sum(heights), rel=1e-12)


def test_exact_episode_count_with_several_envs() -> None:
    frame = evaluate_episodes(falling_policy, HOPPER_ID, n_episodes=7, n_envs=3, env_kwargs=SHORT)
    assert len(frame) == 7
    assert frame.episode.tolist() == list(range(7))
    assert frame.seed.tolist() == list(range(7))
    assert frame.length.nunique() > 1 and frame.length.max() <= HORIZON
    # Each episode's seed fixes it, so a deterministic policy gives the same rows for any n_envs.
    single = evaluate_episodes(falling_policy, HOPPER_ID, n_episodes=7, n_envs=1, env_kwargs=SHORT)
    pd.testing.assert_frame_equal(frame, single)


def test_more_envs_than_episodes() -> None:
    frame = evaluate_episodes(falling_policy, HOPPER_ID, n_episodes=2, n_envs=4, env_kwargs=SHORT)
    assert frame.episode.tolist() == [0, 1]


def test_reward_mode_of_env_kwargs_is_respected() -> None:
    basic_mode = {**SHORT, "reward": "basic"}
    frame = evaluate_episodes(falling_policy, HOPPER_ID, n_episodes=2, env_kwargs=basic_mode)
    np.testing.assert_array_equal(frame.total_return, frame.basic_return)
    assert (frame.addon_return > 0).all()  # still reported from info


def test_sb3_model_seeded_and_stochastic() -> None:
    env = gym.make(HALF_CHEETAH_ID, **SHORT)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=64, device="cpu", seed=0)
    kwargs = {"n_episodes": 3, "env_kwargs": SHORT, "n_envs": 2}
    first = evaluate_episodes(model, HALF_CHEETAH_ID, deterministic=False, seed=1, **kwargs)
    again = evaluate_episodes(model, HALF_CHEETAH_ID, deterministic=False, seed=1, **kwargs)
    other = evaluate_episodes(model, HALF_CHEETAH_ID, deterministic=False, seed=2, **kwargs)
    pd.testing.assert_frame_equal(first, again)
    # The caller's torch RNG stream is left untouched.
    state = torch.random.get_rng_state()
    evaluate_episodes(model, HALF_CHEETAH_ID, deterministic=False, seed=1, **kwargs)
    assert torch.equal(state, torch.random.get_rng_state())
    assert not np.allclose(first.total_return, other.total_return)
    mean_1 = evaluate_episodes(model, HALF_CHEETAH_ID, deterministic=True, seed=1, **kwargs)
    assert not np.allclose(first.total_return, mean_1.total_return)
    assert (first.length == HORIZON).all()
    np.testing.assert_allclose(first.total_return, first.basic_return + first.addon_return, rtol=1e-12)
    assert (first.addon_metric_mean > 0).all()


def _raw_observations(env_id: str, act_dim: int) -> np.ndarray:
    recorder = Recorder(act_dim)
    evaluate_episodes(recorder, env_id, n_episodes=2, env_kwargs=SHORT)
    return np.concatenate(recorder.inputs)


def test_explicit_vec_normalize_instance_and_path(tmp_path) -> None:
    raw = _raw_observations(HOPPER_ID, 3)
    vec = _stats_vec_normalize(HOPPER_ID)
    path = tmp_path / "vecnormalize.pkl"
    vec.save(str(path))
    for source in (vec, str(path), path):
        recorder = Recorder(3)
        evaluate_episodes(recorder, HOPPER_ID, n_episodes=2, env_kwargs=SHORT, vec_normalize=source)
        seen = np.concatenate(recorder.inputs)
        np.testing.assert_allclose(seen, _expected_normalized(raw, vec), rtol=1e-5, atol=1e-6)
    # Statistics are only read.
    np.testing.assert_array_equal(vec.obs_rms.mean, np.linspace(-1.0, 1.0, 11))
    assert vec.training


def test_vec_normalize_attached_to_model(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _raw_observations(HOPPER_ID, 3)
    vec = _stats_vec_normalize(HOPPER_ID)
    model = PPO("MlpPolicy", vec, n_steps=64, batch_size=64, device="cpu")
    assert model.get_vec_normalize_env() is vec
    seen: list[np.ndarray] = []

    def predict(obs, state=None, episode_start=None, deterministic=False):
        seen.append(np.array(obs, copy=True))
        return np.zeros((len(obs), 3)), None

    monkeypatch.setattr(model, "predict", predict)
    frame = evaluate_episodes(model, HOPPER_ID, n_episodes=2, env_kwargs=SHORT)
    np.testing.assert_allclose(np.concatenate(seen), _expected_normalized(raw, vec), rtol=1e-5, atol=1e-6)
    # Returns are the raw rewards: same as without normalization, since the actions are the same.
    plain = evaluate_episodes(Recorder(3), HOPPER_ID, n_episodes=2, env_kwargs=SHORT)
    pd.testing.assert_frame_equal(frame, plain)


def test_env_without_addon_terms_gives_nan_columns() -> None:
    frame = evaluate_episodes(
        lambda obs: np.zeros((len(obs), 1)), "Pendulum-v1", n_episodes=2, env_kwargs={"max_episode_steps": 5}
    )
    assert frame.basic_return.isna().all() and frame.addon_metric_mean.isna().all()
    assert (frame.length == 5).all()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        evaluate_episodes(falling_policy, HOPPER_ID, n_episodes=0)
    with pytest.raises(ValueError, match="shape"):
        cheetah_stats = _stats_vec_normalize(HALF_CHEETAH_ID)
        evaluate_episodes(falling_policy, HOPPER_ID, n_episodes=1, vec_normalize=cheetah_stats)
    with pytest.raises(TypeError):
        evaluate_episodes(object(), HOPPER_ID, n_episodes=1)  # type: ignore[arg-type]
