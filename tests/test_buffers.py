"""The reward rewrite and the GAE after it, against arithmetic written out by hand."""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces

from sb3_rpg.common.buffers import NonFiniteLogProbError, SoftRolloutBuffer

GAMMA, LAMBDA = 0.5, 0.5
ALPHA, PRIOR_COEF = 0.5, 2.0

# Two envs, three steps. Observations carry (step, env) so that the fake prior can look its value up.
ENV_REWARDS = np.array(
    [
        # env 0: the episode ends at t=1 (episode_starts[2] = 1); env 1: a time limit cuts it at t=1, where
        # SB3 has already added γ·V(s_T) = 0.5·4 to the raw reward 1, giving 3.
        [1.0, 0.0],
        [3.0, 3.0],
        [3.0, 0.0],
    ],
    dtype=np.float32,
)
EPISODE_STARTS = np.array([[1, 0], [0, 0], [1, 1]], dtype=np.float32)
VALUES = np.array([[0.5, 2.0], [1.0, 2.0], [1.0, 2.0]], dtype=np.float32)
LOG_PROBS = np.array([[-1.0, 0.0], [-2.0, -1.0], [-1.0, -3.0]], dtype=np.float32)
PRIOR_LOG_PROBS = np.array([[-0.5, 0.0], [-1.0, 0.0], [-2.0, -1.0]], dtype=np.float32)
LAST_VALUES = np.array([2.0, 1.0], dtype=np.float32)
LAST_DONES = np.array([0, 1])


def fake_prior(observations: np.ndarray, actions: np.ndarray) -> np.ndarray:
    step, env = observations[:, 0].astype(int), observations[:, 1].astype(int)
    assert actions.shape == (6, 1)
    return PRIOR_LOG_PROBS[step, env]


def filled_buffer(prior_coef: float = PRIOR_COEF, prior=fake_prior) -> SoftRolloutBuffer:
    buffer = SoftRolloutBuffer(
        3,
        spaces.Box(-10, 10, (2,)),
        spaces.Box(-1, 1, (1,)),
        gamma=GAMMA,
        gae_lambda=LAMBDA,
        n_envs=2,
    )
    for step in range(3):
        obs = np.array([[step, 0], [step, 1]], dtype=np.float32)
        buffer.add(
            obs,
            np.zeros((2, 1), dtype=np.float32),
            ENV_REWARDS[step],
            EPISODE_STARTS[step],
            th.tensor(VALUES[step]),
            th.tensor(LOG_PROBS[step]),
        )
    buffer.set_reward_terms(ALPHA, prior_coef, prior, first_timestep=100)
    buffer.compute_returns_and_advantage(th.tensor(LAST_VALUES), LAST_DONES)
    return buffer


def test_rewritten_reward_and_gae_by_hand():
    buffer = filled_buffer()
    # r' = r - α·log πθ + ω'·log π_prior, with α = 0.5, ω' = 2:
    #   env 0: t0 1 + 0.5 - 1 = 0.5 | t1 3 + 1 - 2 = 2   | t2 3 + 0.5 - 4 = -0.5
    #   env 1: t0 0 + 0   + 0 = 0   | t1 3 + 0.5 + 0 = 3.5 | t2 0 + 1.5 - 2 = -0.5
    np.testing.assert_allclose(buffer.rewards, [[0.5, 0.0], [2.0, 3.5], [-0.5, -0.5]])
    np.testing.assert_allclose(buffer.env_rewards, ENV_REWARDS)
    np.testing.assert_allclose(buffer.entropy_rewards, [[0.5, 0.0], [1.0, 0.5], [0.5, 1.5]])
    np.testing.assert_allclose(buffer.prior_rewards, [[-1.0, 0.0], [-2.0, 0.0], [-4.0, -2.0]])
    # GAE with γ = λ = 0.5, δ_t = r'_t + γ·V_{t+1}·(1 - start_{t+1}) - V_t, A_t = δ_t + γλ·(1 - start_{t+1})·A_{t+1}
    #   env 0: t2 (last, not done): δ = -0.5 + 0.5·2 - 1 = -0.5                 A2 = -0.5
    #          t1 (episode ends):   δ = 2 - 1 = 1                                A1 = 1
    #          t0:                  δ = 0.5 + 0.5·1 - 0.5 = 0.5                  A0 = 0.5 + 0.25·1 = 0.75
    #   env 1: t2 (last, done):     δ = -0.5 - 2 = -2.5                          A2 = -2.5
    #          t1 (time limit; the bootstrap is inside r'): δ = 3.5 - 2 = 1.5    A1 = 1.5
    #          t0:                  δ = 0 + 0.5·2 - 2 = -1                       A0 = -1 + 0.25·1.5 = -0.625
    np.testing.assert_allclose(buffer.advantages, [[0.75, -0.625], [1.0, 1.5], [-0.5, -2.5]])
    np.testing.assert_allclose(buffer.returns, buffer.advantages + VALUES)
    means = buffer.reward_term_means()
    assert means["rewards/total"] == pytest.approx((0.5 + 0 + 2 + 3.5 - 0.5 - 0.5) / 6)
    assert means["rewards/prior_term"] == pytest.approx(-9 / 6)


def test_without_prior_only_entropy_term():
    buffer = filled_buffer(prior_coef=0.0, prior=None)
    np.testing.assert_allclose(buffer.rewards, ENV_REWARDS - ALPHA * LOG_PROBS)
    assert not buffer.prior_rewards.any()
    assert buffer.kl_to_prior() is None


def test_kl_to_prior_by_hand():
    # mean of log πθ - log π_prior over the 6 samples:
    #   env 0: -1 + 0.5 = -0.5 | -2 + 1 = -1 | -1 + 2 = 1;  env 1: 0 - 0 = 0 | -1 + 0 = -1 | -3 + 1 = -2
    #   (-0.5 - 1 + 1 + 0 - 1 - 2) / 6 = -3.5 / 6 (below 0: made-up log-probs, not samples of πθ)
    assert filled_buffer().kl_to_prior() == pytest.approx(-3.5 / 6)


def test_greedy_prior_measured_not_rewarded():
    # ω' = 0 with a prior (Greedy PPO): the prior's log-probs are computed for kl_to_prior, not rewarded,
    # and a non-finite one is no error (it is no term of the reward).
    buffer = filled_buffer(prior_coef=0.0)
    np.testing.assert_allclose(buffer.rewards, ENV_REWARDS - ALPHA * LOG_PROBS)
    np.testing.assert_allclose(buffer.prior_log_probs, PRIOR_LOG_PROBS)
    assert buffer.kl_to_prior() == pytest.approx(-3.5 / 6)

    def unbounded_prior(observations, actions):
        return np.full(len(actions), -np.inf)

    assert filled_buffer(prior_coef=0.0, prior=unbounded_prior).kl_to_prior() == np.inf


def test_non_finite_prior_log_prob_names_term_and_step():
    def bad_prior(observations, actions):
        values = fake_prior(observations, actions).copy()
        values[3] = -np.inf  # flattened index 3 = step 1, env 1
        return values

    with pytest.raises(NonFiniteLogProbError, match=r"log π_prior.*rollout step 1, env 1 \(timestep 104\)"):
        filled_buffer(prior=bad_prior)


def test_returns_computed_twice_rewrite_once():
    buffer = filled_buffer()
    first_rewards, first_advantages = buffer.rewards.copy(), buffer.advantages.copy()
    buffer.compute_returns_and_advantage(th.tensor(LAST_VALUES), LAST_DONES)
    np.testing.assert_array_equal(buffer.rewards, first_rewards)  # not r - 2α·log πθ + 2ω'·log π_prior
    np.testing.assert_array_equal(buffer.advantages, first_advantages)
    np.testing.assert_allclose(buffer.env_rewards, ENV_REWARDS)
    buffer.reset()  # a new rollout starts from the env's rewards again
    assert not buffer._rewritten


def test_non_finite_env_reward_named():
    buffer = filled_buffer()
    buffer.reset()
    for step in range(3):
        rewards = ENV_REWARDS[step].copy()
        if step == 2:
            rewards[0] = np.nan
        buffer.add(
            np.zeros((2, 2), dtype=np.float32),
            np.zeros((2, 1), dtype=np.float32),
            rewards,
            EPISODE_STARTS[step],
            th.tensor(VALUES[step]),
            th.tensor(LOG_PROBS[step]),
        )
    with pytest.raises(NonFiniteLogProbError, match=r"env reward.*rollout step 2, env 0"):
        buffer.compute_returns_and_advantage(th.tensor(LAST_VALUES), LAST_DONES)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"reward_ent_coef": float("nan")}, ValueError),
        ({"reward_ent_coef": 0.1, "prior_coef": -1.0}, ValueError),
        ({"reward_ent_coef": "0.1"}, TypeError),
    ],
)
def test_set_reward_terms_checks_coefficients(kwargs, error):
    buffer = filled_buffer()
    with pytest.raises(error):
        buffer.set_reward_terms(**kwargs, prior_log_prob_fn=fake_prior)
