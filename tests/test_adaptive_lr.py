"""rsl-rl's adaptive learning rate (``desired_kl``): the rule, the KL estimate, and the algorithms' use of it."""

import copy
import math

import pytest
import torch as th

from sb3_rpg import ResidualPPO, SoftPPO
from sb3_rpg.common.adaptive_lr import adapt_learning_rate, check_desired_kl, minibatch_kl, rollout_kl
from sb3_rpg.soft_ppo import soft_ppo as soft_ppo_module

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


def test_rule_with_other_bounds():
    bounds = (1.25e-6, 1e-3)
    assert adapt_learning_rate(1.2e-5, 1.0, 0.01, bounds) == pytest.approx(8e-6)  # below rsl-rl's floor
    assert adapt_learning_rate(1.5e-6, 1.0, 0.01, bounds) == pytest.approx(1.25e-6)  # 1e-6, floored
    assert adapt_learning_rate(8e-4, 0.001, 0.01, bounds) == pytest.approx(1e-3)  # 1.2e-3, capped


def test_adaptive_lr_bounds_used_and_saved(tmp_path):
    # lr 1e-3 against a tiny target: two updates divide it by 1.5 twice, 1e-3 -> 6.67e-4 -> 4.44e-4,
    # stopped at the floor 5e-4.
    model = SoftPPO(
        "MlpPolicy", "Pendulum-v1", learning_rate=1e-3, desired_kl=1e-6, adaptive_lr_bounds=(5e-4, 1e-2),
        seed=0, **FAST,
    )  # fmt: skip
    model.learn(128)
    assert model.adaptive_learning_rate == pytest.approx(5e-4)
    model.save(tmp_path / "m.zip")
    assert SoftPPO.load(tmp_path / "m.zip", device="cpu").adaptive_lr_bounds == (5e-4, 1e-2)


@pytest.mark.parametrize("bounds", [(1e-2, 1e-5), (0.0, 1e-2), (1e-5, math.inf), (1e-5,), "1e-5"])
def test_bad_adaptive_lr_bounds(bounds):
    with pytest.raises(ValueError, match="adaptive_lr_bounds"):
        SoftPPO("MlpPolicy", "Pendulum-v1", desired_kl=0.01, adaptive_lr_bounds=bounds, **FAST)


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


def half_warm_residual(**kwargs) -> ResidualPPO:
    """ResidualPPO (lr 1e-3) on a briefly trained prior, warming its critic up for half of its learn()."""
    prior = SoftPPO("MlpPolicy", "Pendulum-v1", seed=0, **FAST).learn(64)
    return ResidualPPO(
        "MlpPolicy",
        "Pendulum-v1",
        prior=prior,
        learning_rate=1e-3,
        critic_warmup=0.5,
        seed=0,
        **FAST,
        **kwargs,
    )


def test_residual_ppo_adapts_only_once_the_actor_trains():
    model = half_warm_residual(desired_kl=1e-6)
    model.learn(
        128
    )  # 2 updates: the first one warms the critic up (actor frozen), the second moves the actor
    assert model.adaptive_learning_rate == pytest.approx(1e-3 / 1.5)


# rsl-rl's schedule: the rule applied before every optimizer step, on that step's minibatch.


def test_bad_kl_adaptation():
    with pytest.raises(ValueError, match="kl_adaptation"):
        SoftPPO("MlpPolicy", "Pendulum-v1", desired_kl=0.01, kl_adaptation="epoch", **FAST)


def test_minibatch_kl_of_the_whole_rollout_is_the_rollout_kl():
    model = collected(SoftPPO("MlpPolicy", "Pendulum-v1", n_steps=4096, batch_size=512, seed=0, device="cpu"))
    with th.no_grad():
        model.policy.log_std -= 0.3  # KL 0.11106, as in test_rollout_kl_of_a_narrowed_gaussian
    whole = next(model.rollout_buffer.get(None))
    assert minibatch_kl(model.policy, whole) == pytest.approx(
        rollout_kl(model.policy, model.rollout_buffer, 512)
    )
    assert minibatch_kl(model.policy, whole) == pytest.approx(0.11106, rel=0.05)


def record_step_lrs(model: SoftPPO) -> list[float]:
    """The learning rate of every optimizer step from now on, as the step sees it (after the adaptation,
    whose pre-hook was registered first)."""
    lrs: list[float] = []
    model.policy.optimizer.register_step_pre_hook(
        lambda opt, args, kwargs: lrs.append(opt.param_groups[0]["lr"])
    )
    return lrs


def scripted_kls(monkeypatch, kls: list[float]) -> list[int]:
    """Make the per-minibatch KL return ``kls`` in turn; return the sizes of the minibatches it was given."""
    sizes: list[int] = []

    def fake(policy, batch):
        sizes.append(len(batch.actions))
        return kls[len(sizes) - 1]

    monkeypatch.setattr(soft_ppo_module, "minibatch_kl", fake)
    return sizes


def test_minibatch_schedule_adapts_before_every_step(monkeypatch, tmp_path):
    # FAST: 64 samples, minibatches of 32, 2 epochs -> 4 steps per update.
    model = SoftPPO(
        "MlpPolicy",
        "Pendulum-v1",
        learning_rate=1e-3,
        desired_kl=0.01,
        kl_adaptation="minibatch",
        seed=0,
        **FAST,
    )
    sizes = scripted_kls(monkeypatch, [0.05, 0.05, 0.001, 0.01] * 2)
    lrs = record_step_lrs(model)
    model.learn(64)
    # 0.05 > 0.02: 1e-3 / 1.5 = 6.667e-4, again: 4.444e-4; 0.001 < 0.005: x1.5 = 6.667e-4; 0.01: unchanged.
    assert lrs == pytest.approx([6.667e-4, 4.444e-4, 6.667e-4, 6.667e-4], rel=1e-3)
    assert sizes == [32, 32, 32, 32]
    assert model.adaptive_learning_rate == pytest.approx(6.667e-4, rel=1e-3)
    assert model.logger.name_to_value["train/learning_rate"] == pytest.approx(6.667e-4, rel=1e-3)
    # Saved and loaded: the schedule and its learning rate go on (the hook is registered again).
    model.save(tmp_path / "m.zip")
    loaded = SoftPPO.load(tmp_path / "m.zip", env=model.env, device="cpu")
    assert loaded.kl_adaptation == "minibatch"
    lrs = record_step_lrs(loaded)
    loaded.learn(64, reset_num_timesteps=False)
    assert lrs == pytest.approx([4.444e-4, 2.963e-4, 4.444e-4, 4.444e-4], rel=1e-3)


def test_minibatch_schedule_measures_the_policy_before_each_step():
    model = SoftPPO(
        "MlpPolicy",
        "Pendulum-v1",
        learning_rate=1e-3,
        desired_kl=1e-6,
        kl_adaptation="minibatch",
        seed=0,
        **FAST,
    )
    kls: list[float] = []
    model.policy.optimizer.register_step_pre_hook(
        lambda opt, args, kwargs: kls.append(minibatch_kl(model.policy, model.rollout_buffer.current_batch))
    )
    model.learn(64)
    assert kls[0] == pytest.approx(0.0, abs=1e-7)  # the first step: the policy is still the rollout's
    assert all(kl > 2e-6 for kl in kls[1:])  # then each step has moved it past the tiny target
    assert model.adaptive_learning_rate < 1e-3 / 1.5**2
    copy.deepcopy(model.policy)  # the hook holds the model weakly: the policy copies on its own


def test_residual_ppo_minibatch_schedule_waits_for_the_actor(monkeypatch):
    model = half_warm_residual(desired_kl=0.01, kl_adaptation="minibatch")
    sizes = scripted_kls(monkeypatch, [0.05] * 4)
    lrs = record_step_lrs(model)
    model.learn(128)  # the first update warms the critic up: 4 steps at 1e-3, no KL measured
    assert len(sizes) == 4
    assert lrs == pytest.approx([1e-3] * 4 + [1e-3 / 1.5**k for k in (1, 2, 3, 4)])
