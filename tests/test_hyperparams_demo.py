"""sb3_rpg.hyperparams (the shipped YAML files) and the demo that reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from torch import nn

from sb3_rpg import ResidualPPO, demo, hyperparams


def test_shipped_blocks_and_coefficients():
    for env in ("HalfCheetah-v5", "Hopper-v5", "sb3_rpg/Ant-v5"):
        kwargs = hyperparams.algorithm_kwargs(hyperparams.ppo_block(env))
        assert "n_envs" not in kwargs and kwargs["policy_kwargs"]["activation_fn"] is nn.ReLU
    # Table V HalfCheetah Residual PPO: ω' = 0.17 with Table IV's α = 0.13472, 5% critic warm-up.
    assert hyperparams.coefficients("HalfCheetah-v5", "residual") == {
        "ent_coef": 0.13472,
        "prior_coef": 0.17,
        "critic_warmup": 0.05,
    }
    assert hyperparams.coefficients("Ant-v5", "soft") == {"ent_coef": 0.0001}  # no warm-up without prior


def test_bad_files_and_keys(tmp_path: Path):
    with pytest.raises(KeyError, match="Walker2d-v5 has no block"):
        hyperparams.ppo_block("Walker2d-v5")
    with pytest.raises(KeyError, match="no HalfCheetah-v5/sac coefficients"):
        hyperparams.coefficients("HalfCheetah-v5", "sac")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        hyperparams.ppo_block("Hopper-v5", tmp_path / "missing.yml")
    listed = tmp_path / "list.yml"
    listed.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(TypeError, match="mapping"):
        hyperparams.ppo_block("Hopper-v5", listed)


def test_customize_overrides_apply_to_residual_ppo_only(tmp_path: Path):
    path = tmp_path / "ppo.yml"
    path.write_text(
        yaml.safe_dump({"Hopper-v5": {"n_envs": 4, "learning_rate": 3e-4, "customize": {"desired_kl": 0.01}}})
    )
    assert hyperparams.ppo_block("Hopper-v5", path) == {"n_envs": 4, "learning_rate": 3e-4}
    assert hyperparams.ppo_block("Hopper-v5", path, customize=True) == {
        "n_envs": 4,
        "learning_rate": 3e-4,
        "desired_kl": 0.01,
    }
    path.write_text(yaml.safe_dump({"Hopper-v5": {"customize": [0.01]}}))
    with pytest.raises(TypeError, match="customize"):
        hyperparams.ppo_block("Hopper-v5", path)


def test_demo_customises_the_shipped_prior(tmp_path: Path, capsys):
    table = demo.main(["--steps", "512", "--episodes", "1", "--out", str(tmp_path)])
    assert list(table.index) == ["prior", "residual_ppo"]
    assert {"basic r", "add-on r_R", "total (r + r_R)"} <= set(table.columns)
    model = ResidualPPO.load(tmp_path / "residual_ppo.zip")
    assert (model.prior_coef, model.reward_ent_coef) == (0.17, 0.13472)  # α in the reward (soft mode)
    out = capsys.readouterr().out
    assert (tmp_path / "demo_results.csv").is_file() and "Residual PPO" in out
    # 512 steps are one rollout, collected by the actor as copied from the prior: 0 nats from it.
    assert "KL(customised ‖ prior) over the last rollout: 0.000 nats per step" in out
