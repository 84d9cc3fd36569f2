"""StepInfoLogger: per-rollout means of step infos, checked against hand-worked values."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_rpg.envs import StepInfoLogger


class CountingEnv(gym.Env):
    """Step t of env k (t = 1, 2, ...) reports basic_reward = t + 10·k, and addon_reward only on even t."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, offset: float):
        self.offset, self.t = offset, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        info = {"basic_reward": self.t + self.offset}
        if self.t % 2 == 0:
            info["addon_reward"] = -1.0 * self.t
        return np.zeros(2, np.float32), 0.0, False, False, info


def test_rollout_means_of_step_infos(tmp_path):
    env = DummyVecEnv([lambda: CountingEnv(0.0), lambda: CountingEnv(10.0)])
    model = PPO("MlpPolicy", env, n_steps=4, batch_size=8, n_epochs=1, seed=0)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(16, callback=StepInfoLogger())  # two rollouts of 4 steps x 2 envs
    log = pd.read_csv(tmp_path / "progress.csv")
    # Rollout 1: basic 1..4 (env 0) and 11..14 (env 1): (10 + 50) / 8 = 7.5; add-on at t = 2, 4 only:
    # (-2 - 4 - 2 - 4) / 4 = -3. Rollout 2: t = 5..8: (26 + 66) / 8 = 11.5; add-on (-6 - 8) x 2 / 4 = -7.
    assert log["rollout/basic_reward"].tolist() == pytest.approx([7.5, 11.5])
    assert log["rollout/addon_reward"].tolist() == pytest.approx([-3.0, -7.0])
    assert "rollout/addon_metric" not in log.columns  # never reported: not logged


def test_rejects_a_bare_string_or_no_keys():
    with pytest.raises(ValueError, match="non-empty sequence"):
        StepInfoLogger("basic_reward")
    with pytest.raises(ValueError, match="non-empty sequence"):
        StepInfoLogger(())
