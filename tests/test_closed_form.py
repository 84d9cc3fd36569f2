"""End to end against the equations: on a one-step bandit whose optimal policies have a closed form,
SoftPPO and ResidualPPO must train their Gaussian policy to it, and ResidualPPO a categorical one from a
categorical prior (end of the file).

The bandit: one constant observation, one action a in R, reward r(a) = -k·(a - c)², episode over.
A maximum-entropy policy maximises E_π[r'(a)] + α·H(π), whose optimum is π*(a) ∝ exp(r'(a)/α):

* Soft PPO (Eq. 4-6), r' = r: π* = N(c, α/(2k)).
  k=1, c=1, α=0.5  ->  mean 1, σ² = 0.25, σ = 0.5.
* Residual PPO (Eq. 7-8), r' = r_R + ω'·log π_prior with π_prior = N(μp, σp²), entropy weight α̂:
  log π* = -(k/α̂)(a-c)² - (ω'/(2α̂σp²))(a-μp)² + const, a Gaussian with
  precision 1/σ² = 2k/α̂ + ω'/(α̂σp²) and mean σ²·(2k·c/α̂ + ω'·μp/(α̂σp²)).
  k=1, c=1, α̂=0.25, ω'=0.5, μp=-1, σp=0.5  ->  1/σ² = 8 + 8 = 16, σ = 0.25, mean (8 - 8)/16 = 0.
  The customised policy sits halfway between the prior's action and the add-on's, narrower than both.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_rpg import ResidualPPO, SoftPPO

TARGET, CURVATURE = 1.0, 1.0  # c, k
STEPS = 15_000
# Small, fast learner: the mean and log-std are all it has to find (the observation never changes). The
# learning rate decays to 0 so that the last iterate sits at the optimum instead of jittering around it,
# as PPO's iterates do at a constant learning rate.
TRAIN = {
    "n_steps": 256,
    "batch_size": 64,
    "n_epochs": 10,
    "learning_rate": LinearSchedule(3e-3, 0.0, 1.0),
    "gamma": 0.0,
    "gae_lambda": 0.0,
    "policy_kwargs": {"net_arch": [16]},
    "seed": 0,
}


class QuadraticBandit(gym.Env):
    """One step per episode: reward -k·(a - c)² (wide action bounds, so clipping never matters)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Box(-10.0, 10.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        reward = -CURVATURE * float((action[0] - TARGET) ** 2)
        return np.zeros(1, np.float32), reward, True, False, {}


def bandit_env() -> DummyVecEnv:
    return DummyVecEnv([QuadraticBandit])


def mean_and_std(model) -> tuple[float, float]:
    obs = th.zeros((1, 1))
    with th.no_grad():
        dist = model.policy.get_distribution(obs).distribution
    return float(dist.mean[0, 0]), float(dist.stddev[0, 0])


def test_soft_ppo_reaches_the_max_entropy_optimum():
    model = SoftPPO("MlpPolicy", bandit_env(), ent_coef=0.5, **TRAIN).learn(STEPS)
    mean, std = mean_and_std(model)
    # Optimum (module docstring): mean c = 1, σ = sqrt(α/(2k)) = 0.5. Started at σ = 1.
    assert mean == pytest.approx(1.0, abs=0.05)
    assert std == pytest.approx(0.5, rel=0.05)


def gaussian_prior(mean: float, std: float) -> PPO:
    """A PPO policy that is exactly N(mean, std²) on the bandit's observation."""
    prior = PPO("MlpPolicy", bandit_env(), policy_kwargs={"net_arch": [16]}, seed=0)
    with th.no_grad():
        prior.policy.action_net.weight.zero_()
        prior.policy.action_net.bias.fill_(mean)
        prior.policy.log_std.fill_(np.log(std))
    return prior


def test_residual_ppo_reaches_the_closed_form_customisation():
    prior = gaussian_prior(mean=-1.0, std=0.5)
    assert mean_and_std(prior) == pytest.approx((-1.0, 0.5))
    model = ResidualPPO(
        "MlpPolicy", bandit_env(), prior=prior, prior_coef=0.5, ent_coef=0.25, critic_warmup=0.02, **TRAIN
    )
    assert mean_and_std(model) == pytest.approx((-1.0, 0.5))  # starts as the prior
    model.learn(STEPS)
    mean, std = mean_and_std(model)
    # Optimum (module docstring): mean 0, σ = 0.25. Without the prior term (Greedy PPO) it would be
    # mean 1, σ = sqrt(α̂/(2k)) = 0.35; with the prior's log-prob at ω' = 1 instead, mean -1/3, σ = 0.20.
    assert mean == pytest.approx(0.0, abs=0.05)
    assert std == pytest.approx(0.25, rel=0.05)


# ---- a discrete prior ----------------------------------------------------------------------------------
# Three arms, add-on reward r_R = (0, 0, 1), prior π_prior = (0.6, 0.3, 0.1). The optimum of Eq. 7 is
# π*(a) ∝ exp((r_R(a) + ω'·log π_prior(a))/α̂) = π_prior(a)^(ω'/α̂) · exp(r_R(a)/α̂).
# α̂ = 0.5, ω' = 0.25: π_prior^0.5 = (0.7746, 0.5477, 0.3162), exp(r_R/0.5) = (1, 1, e² = 7.389)
#   -> (0.7746, 0.5477, 2.3366) / 3.6589 = (0.2117, 0.1497, 0.6386).
# Greedy PPO (ω' = 0) would reach (1, 1, 7.389) / 9.389 = (0.1065, 0.1065, 0.7870); the prior keeps arm 0
# ahead of arm 1 and holds arm 2 back.
ARM_REWARDS = (0.0, 0.0, 1.0)


class ArmsBandit(gym.Env):
    """One step per episode: reward ARM_REWARDS[a]."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), ARM_REWARDS[int(action)], True, False, {}


def arm_probs(model) -> np.ndarray:
    with th.no_grad():
        dist = model.policy.get_distribution(th.zeros((1, 1))).distribution
    return dist.probs[0].numpy()


def test_residual_ppo_reaches_the_closed_form_with_a_categorical_prior():
    env = DummyVecEnv([ArmsBandit])
    prior = PPO("MlpPolicy", env, policy_kwargs={"net_arch": [16]}, seed=0)
    with th.no_grad():
        prior.policy.action_net.weight.zero_()
        prior.policy.action_net.bias.copy_(th.log(th.tensor([0.6, 0.3, 0.1])))
    assert arm_probs(prior) == pytest.approx([0.6, 0.3, 0.1], abs=1e-6)
    model = ResidualPPO(
        "MlpPolicy", env, prior=prior, prior_coef=0.25, ent_coef=0.5, critic_warmup=0.02, **TRAIN
    )
    assert arm_probs(model) == pytest.approx([0.6, 0.3, 0.1], abs=1e-6)  # starts as the prior
    model.learn(STEPS)
    # Optimum (comment above): (0.2117, 0.1497, 0.6386).
    assert arm_probs(model) == pytest.approx([0.2117, 0.1497, 0.6386], abs=0.01)


def test_soft_ppo_reaches_the_softmax_of_the_rewards_on_arms():
    # Soft PPO's optimum on the arms: π*(a) ∝ exp(r(a)/α); α = 0.5: (1, 1, e²) / 9.389 = (0.1065, 0.1065, 0.7870).
    model = SoftPPO("MlpPolicy", DummyVecEnv([ArmsBandit]), ent_coef=0.5, **TRAIN).learn(STEPS)
    assert arm_probs(model) == pytest.approx([0.1065, 0.1065, 0.7870], abs=0.01)
