"""rsl-rl's adaptive learning rate (``desired_kl``): the rule, the KL estimate, and the algorithms' use of it."""

import math

import pytest
import torch as th

from sb3_rpg import ResidualPPO, SoftPPO
from sb3_rpg.common.adaptive_lr import adapt_learning_rate, check_desired_kl, rollout_kl

FAST = {"n_steps": 64, "batch_size": 32, "n_epochs": 2, "device": "cpu"}


@pytest.mark.parametrize(
    "lr, kl, expected",
    [
        (3e-4, 0.03, 2e-4),  # 0.03 > 2 x 0.01: 3e-4 / 1.5
        (3e-4, 0.004, 4.5e-4),  # 0 < 0.004 < 0.01 / 2: 3e-4 x 1.5
        (3e-4, 0.01, 3e-4),  # in [0.005, 0.02]: unchanged
        (3e-4, 0.02, 3e-4),  # the bounds themselves do not trigger
        (3e-4, 0.005, 3e-4),
        (3e-4, 0.0, 3e-4),  # kl 0 (nothing moved, e.g. a frozen actor): unchanged, as rsl-rl's `kl > 0`
        (3e-4, math.nan, 3e-4),
        (1.2e-5, 1.0, 1e-5),  # 1.2e-5 / 1.5 = 8e-6, floored at 1e-5
        (8e-3, 0.001, 1e-2),  # 8e-3 x 1.5 = 1.2e-2, capped at 1e-2
    ],
)
def test_rule(lr, kl, expected):
    assert adapt_learning_rate(lr, kl, desired_kl=0.01) == pytest.approx(expected)


@pytest.mark.parametrize(
    "value, error", [(0.0, ValueError), (-0.01, ValueError), (math.inf, ValueError), ("0.01", TypeError)]
)
def test_bad_desired_kl(value, error):
    with pytest.raises(error, match="desired_kl"):
        check_desired_kl(value)
    with pytest.raises(error, match="desired_kl"):
        SoftPPO("MlpPolicy", "Pendulum-v1", desired_kl=value, **FAST)


def collected(model: SoftPPO) -> SoftPPO:
    """The model with one rollout in its buffer and no update."""
    _, callback = model._setup_learn(model.n_steps)
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    return model


def test_rollout_kl_of_a_narrowed_gaussian():
    model = collected(SoftPPO("MlpPolicy", "Pendulum-v1", n_steps=4096, batch_size=512, seed=0, device="cpu"))
    assert rollout_kl(model.policy, model.rollout_buffer, 512) == pytest.approx(0.0, abs=1e-6)
    with th.no_grad():
        # Same mean, σ_new = σ_old·e^δ with δ = -0.3 (Pendulum: one action). Narrowed, not widened: the
        # ratio π_new/π_old is then bounded and the sample estimate has a finite variance.
        model.policy.log_std -= 0.3
    # KL(N(μ, σ) ‖ N(μ, σ·e^δ)) = δ + e^(-2δ)/2 - 1/2 = -0.3 + 1.82212/2 - 0.5 = 0.11106
    assert rollout_kl(model.policy, model.rollout_buffer, 512) == pytest.approx(0.11106, rel=0.05)


def test_soft_ppo_adapts_after_each_update_and_saves_it(tmp_path):
    model = SoftPPO("MlpPolicy", "Pendulum-v1", learning_rate=1e-3, desired_kl=1e-6, seed=0, **FAST)
    model.learn(64)
    kl = model.logger.name_to_value["train/update_kl"]
    assert kl > 2e-6  # an update of lr 1e-3 moves the policy by far more than the tiny target
    assert model.adaptive_learning_rate == pytest.approx(1e-3 / 1.5)
    model.learn(64, reset_num_timesteps=False)
    assert model.policy.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 / 1.5)  # the update used it
    assert model.adaptive_learning_rate == pytest.approx(1e-3 / 1.5**2)
    model.save(tmp_path / "m.zip")
    loaded = SoftPPO.load(tmp_path / "m.zip", env=model.env, device="cpu")
    assert loaded.desired_kl == 1e-6 and loaded.adaptive_learning_rate == pytest.approx(1e-3 / 1.5**2)


def test_default_keeps_sb3_schedule():
    model = SoftPPO("MlpPolicy", "Pendulum-v1", learning_rate=1e-3, seed=0, **FAST).learn(64)
    assert model.adaptive_learning_rate is None and "train/update_kl" not in model.logger.name_to_value
    assert model.policy.optimizer.param_groups[0]["lr"] == 1e-3


def test_residual_ppo_adapts_only_once_the_actor_trains():
    prior = SoftPPO("MlpPolicy", "Pendulum-v1", seed=0, **FAST).learn(64)
    model = ResidualPPO(
        "MlpPolicy",
        "Pendulum-v1",
        prior=prior,
        learning_rate=1e-3,
        desired_kl=1e-6,
        critic_warmup=0.5,
        seed=0,
        **FAST,
    )
    model.learn(
        128
    )  # 2 updates: the first one warms the critic up (actor frozen), the second moves the actor
    assert model.adaptive_learning_rate == pytest.approx(1e-3 / 1.5)
