"""The shipped priors load with one call and customise as they are."""

import pytest
from stable_baselines3.common.env_util import make_vec_env

from sb3_rpg import ResidualPPO, SoftPPO, priors
from sb3_rpg.common.prior import FrozenObsNormalize


def test_unknown_prior_lists_shipped():
    with pytest.raises(FileNotFoundError, match="no shipped prior for 'Walker2d-v5'; shipped:"):
        priors.get("Walker2d-v5")


@pytest.mark.parametrize("name", priors.available())
def test_shipped_prior_customises(name):
    prior = priors.get(f"sb3_rpg/{name}")
    assert prior.vec_normalize is not None and prior.info["source_run"]
    SoftPPO.load(prior.model)  # a plain SB3 load works too
    env = make_vec_env(f"sb3_rpg/{name}", n_envs=1, env_kwargs={"reward": "addon"})
    model = ResidualPPO(
        "MlpPolicy",
        env,
        prior=prior.model,
        prior_vec_normalize=prior.vec_normalize,
        n_steps=64,
        batch_size=32,
    )
    assert isinstance(model.get_env(), FrozenObsNormalize)
    model.learn(64)
