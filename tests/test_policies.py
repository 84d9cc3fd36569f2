"""Global vs. state-dependent std (paper Table III)."""

import numpy as np
import pytest
import torch as th

from sb3_rpg import ResidualPPO, SoftPPO
from sb3_rpg.common.policies import RPGActorCriticPolicy, StateStdActorCriticPolicy


@pytest.mark.parametrize(
    ("policy", "policy_kwargs"), [("StateStdMlpPolicy", None), ("MlpPolicy", {"state_dependent_std": True})]
)
def test_state_dependent_std_selectable(policy, policy_kwargs):
    model = SoftPPO(
        policy, "Pendulum-v1", policy_kwargs=policy_kwargs, n_steps=64, batch_size=32, n_epochs=1, seed=0
    )
    assert model.policy.state_dependent_std
    assert not hasattr(model.policy, "log_std")
    assert any(
        param is model.policy.log_std_net.weight
        for group in model.policy.optimizer.param_groups
        for param in group["params"]
    )
    model.learn(128)
    obs = th.as_tensor(np.random.default_rng(0).normal(size=(4, 3)), dtype=th.float32)
    stds = model.policy.get_distribution(obs).distribution.stddev
    # After training the std head depends on the state: rows differ.
    assert not th.allclose(stds[0], stds[1])


def test_state_std_starts_at_log_std_init():
    model = SoftPPO("StateStdMlpPolicy", "Pendulum-v1", policy_kwargs={"log_std_init": -1.0}, seed=0)
    obs = th.as_tensor(np.random.default_rng(0).normal(size=(4, 3)), dtype=th.float32)
    stds = model.policy.get_distribution(obs).distribution.stddev
    th.testing.assert_close(stds, th.full_like(stds, np.exp(-1.0)))


def test_state_std_logged_as_train_std(tmp_path):
    import pandas as pd
    from stable_baselines3.common.logger import configure

    # learning_rate 0: σ(s) stays e^-1 = 0.36788 everywhere, so its mean and its minimum are that value.
    frozen = SoftPPO(
        "StateStdMlpPolicy", "Pendulum-v1", learning_rate=0.0, policy_kwargs={"log_std_init": -1.0},
        n_steps=64, batch_size=32, n_epochs=1, seed=0,
    )  # fmt: skip
    frozen.set_logger(configure(str(tmp_path / "frozen"), ["csv"]))
    frozen.learn(128)
    log = pd.read_csv(tmp_path / "frozen" / "progress.csv").dropna(subset=["train/std"])
    assert len(log) == 1  # the second rollout's row holds the first update's train/ keys
    np.testing.assert_allclose(log["train/std"], np.exp(-1.0), rtol=1e-6)
    np.testing.assert_allclose(log["train/std_min"], np.exp(-1.0), rtol=1e-6)
    # Trained, σ(s) varies: the values recorded by the (last) update are the mean and minimum over the
    # rollout's states, under the updated policy.
    model = SoftPPO("StateStdMlpPolicy", "Pendulum-v1", n_steps=64, batch_size=32, n_epochs=2, seed=0)
    model.learn(64)
    logged = model.logger.name_to_value  # recorded, not yet dumped
    obs = th.as_tensor(model.rollout_buffer.observations)
    std = model.policy.get_distribution(obs).distribution.stddev
    assert logged["train/std"] == pytest.approx(float(std.mean()), rel=1e-5)
    assert logged["train/std_min"] == pytest.approx(float(std.min()), rel=1e-5)
    assert logged["train/std_min"] < logged["train/std"]
    with pytest.raises(ValueError, match="state_dependent_std=True"):
        SoftPPO("MlpPolicy", "Pendulum-v1").policy.std_stats(obs.numpy(), 32)


def test_global_std_is_sb3_default():
    model = SoftPPO("MlpPolicy", "Pendulum-v1", seed=0)
    assert type(model.policy) is RPGActorCriticPolicy and not model.policy.state_dependent_std
    assert model.policy.log_std.shape == (1,)


def test_residual_with_state_std_prior(tmp_path):
    prior = SoftPPO("StateStdMlpPolicy", "Pendulum-v1", n_steps=64, batch_size=32, n_epochs=1, seed=0).learn(
        64
    )
    model = ResidualPPO(
        "MlpPolicy", "Pendulum-v1", prior=prior, n_steps=64, batch_size=32, n_epochs=1, seed=0
    )
    assert model.policy.state_dependent_std
    model.learn(64)
    model.save(tmp_path / "residual")
    loaded = ResidualPPO.load(tmp_path / "residual")
    assert isinstance(loaded.prior_policy, StateStdActorCriticPolicy)


def test_log_std_floor_bounds_state_std(tmp_path):
    # Head bias −3 with floor −2: every σ(s) is clamped to e^−2 = 0.13534 (the weights start at 0).
    model = SoftPPO(
        "StateStdMlpPolicy", "Pendulum-v1", policy_kwargs={"log_std_init": -2.0, "log_std_min": -2.0}, seed=0
    )
    with th.no_grad():
        model.policy.log_std_net.bias.fill_(-3.0)
    obs = th.as_tensor(np.random.default_rng(0).normal(size=(4, 3)), dtype=th.float32)
    stds = model.policy.get_distribution(obs).distribution.stddev
    th.testing.assert_close(stds, th.full_like(stds, np.exp(-2.0)))
    # Saved with the policy, and inherited by a customization of it.
    model.save(tmp_path / "prior")
    assert SoftPPO.load(tmp_path / "prior").policy.log_std_min == -2.0
    residual = ResidualPPO("MlpPolicy", "Pendulum-v1", prior=tmp_path / "prior.zip", seed=0)
    assert (residual.policy.log_std_min, residual.policy.log_std_max) == (-2.0, 2.0)


@pytest.mark.parametrize(
    ("policy", "policy_kwargs", "match"),
    [
        ("StateStdMlpPolicy", {"log_std_min": 1.0, "log_std_max": 0.0}, "log_std_min < log_std_max"),
        ("StateStdMlpPolicy", {"log_std_min": float("nan")}, "finite"),
        ("StateStdMlpPolicy", {"log_std_min": -1.0, "log_std_init": -2.0}, "outside"),
        ("MlpPolicy", {"log_std_min": -5.0}, "state_dependent_std=True"),
    ],
)
def test_log_std_bounds_checked(policy, policy_kwargs, match):
    with pytest.raises(ValueError, match=match):
        SoftPPO(policy, "Pendulum-v1", policy_kwargs=policy_kwargs)
