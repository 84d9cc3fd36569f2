"""A short learn() of each algorithm on a MuJoCo customisation task, VecNormalize prior included."""

import numpy as np
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

from sb3_rpg import ResidualPPO, SoftPPO
from sb3_rpg.envs import HALF_CHEETAH_ID, evaluate_episodes

FAST = {"n_steps": 128, "batch_size": 64, "n_epochs": 2, "seed": 0}


def test_soft_then_residual_on_half_cheetah(tmp_path):
    basic = VecNormalize(
        make_vec_env(HALF_CHEETAH_ID, n_envs=2, env_kwargs={"reward": "basic"}), norm_reward=False
    )
    prior = SoftPPO("MlpPolicy", basic, ent_coef=0.13472, **FAST).learn(512)
    addon = make_vec_env(HALF_CHEETAH_ID, n_envs=2, env_kwargs={"reward": "addon"})
    model = ResidualPPO("MlpPolicy", addon, prior=prior, prior_coef=0.17, ent_coef=0.13472, **FAST)
    model.learn(512)
    buffer = model.rollout_buffer
    assert np.isfinite(buffer.prior_log_probs).all() and buffer.prior_rewards.any()
    # The add-on reward of HalfCheetah is -|θ| <= 0.
    assert (buffer.env_rewards <= 0).all()
    frame = evaluate_episodes(model, HALF_CHEETAH_ID, n_episodes=1)
    np.testing.assert_allclose(frame.total_return, frame.basic_return + frame.addon_return, rtol=1e-6)
    model.save(tmp_path / "residual")
    ResidualPPO.load(tmp_path / "residual", env=addon).learn(256)
