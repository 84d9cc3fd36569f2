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
