"""SoftPPO: entropy modes, equivalence with PPO where the paper says so, policies, determinism."""

import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

from sb3_rpg import SoftPPO
from sb3_rpg.common.buffers import SoftRolloutBuffer

FAST = {"n_steps": 64, "batch_size": 32, "n_epochs": 2, "seed": 3}
ALPHA = 0.2


def params(model) -> dict[str, th.Tensor]:
    return {key: value.clone() for key, value in model.policy.state_dict().items()}


def same_params(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(th.equal(a[key], b[key]) for key in a)


class RecordRollout(BaseCallback):
    """Copies the buffer's reward fields at each rollout end (before PPO's train flattens the buffer)."""

    def __init__(self):
        super().__init__()
        self.rollouts: list[dict[str, np.ndarray]] = []

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        self.rollouts.append(
            {
                key: getattr(buffer, key).copy()
                for key in ("rewards", "env_rewards", "log_probs", "entropy_rewards")
                if hasattr(buffer, key)  # plain PPO's buffer has no reward terms
            }
        )

    def _on_step(self) -> bool:
        return True


def run(cls, steps=128, **kwargs):
    recorder = RecordRollout()
    model = cls("MlpPolicy", "Pendulum-v1", **FAST, **kwargs)
    model.learn(steps, callback=recorder)
    return model, recorder.rollouts


@pytest.mark.parametrize(
    ("mode", "reward_coef", "loss_coef"),
    [("soft", ALPHA, 0.0), ("end", 0.0, ALPHA), ("repeat", ALPHA, ALPHA)],
)
def test_entropy_mode_places_alpha(mode, reward_coef, loss_coef):
    model, rollouts = run(SoftPPO, steps=64, ent_coef=ALPHA, entropy_mode=mode)
    assert model.reward_ent_coef == reward_coef and model.ent_coef == loss_coef
    rollout = rollouts[0]
    np.testing.assert_allclose(
        rollout["rewards"], rollout["env_rewards"] - reward_coef * rollout["log_probs"], rtol=1e-6
    )
    assert isinstance(model.rollout_buffer, SoftRolloutBuffer)


def test_no_entropy_soft_ppo_is_ppo():
    soft, _ = run(SoftPPO, ent_coef=0.0)
    ppo, _ = run(PPO, ent_coef=0.0)
    assert same_params(params(soft), params(ppo))


def test_end_entropy_is_ppo_with_entropy_bonus():
    end, _ = run(SoftPPO, ent_coef=ALPHA, entropy_mode="end")
    ppo, _ = run(PPO, ent_coef=ALPHA)
    assert same_params(params(end), params(ppo))


def test_modes_differ_from_each_other():
    results = {
        mode: params(run(SoftPPO, ent_coef=ALPHA, entropy_mode=mode)[0]) for mode in ("soft", "end", "repeat")
    }
    assert not same_params(results["soft"], results["end"])
    assert not same_params(results["soft"], results["repeat"])
    assert not same_params(results["end"], results["repeat"])


def test_seeded_runs_are_deterministic():
    first, rollouts_a = run(SoftPPO, ent_coef=ALPHA)
    second, rollouts_b = run(SoftPPO, ent_coef=ALPHA)
    assert same_params(params(first), params(second))
    np.testing.assert_array_equal(rollouts_a[-1]["rewards"], rollouts_b[-1]["rewards"])


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_bad_ent_coef(bad):
    with pytest.raises(ValueError, match="ent_coef"):
        SoftPPO("MlpPolicy", "Pendulum-v1", ent_coef=bad)


def test_bad_entropy_mode():
    with pytest.raises(ValueError, match="entropy_mode must be one of"):
        SoftPPO("MlpPolicy", "Pendulum-v1", entropy_mode="sometimes")


def test_reward_terms_are_logged(tmp_path):
    from stable_baselines3.common.logger import configure

    model = SoftPPO("MlpPolicy", "Pendulum-v1", ent_coef=ALPHA, **FAST)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(128)
    import pandas as pd

    log = pd.read_csv(tmp_path / "progress.csv")
    for key in ("rewards/env", "rewards/entropy_term", "rewards/prior_term", "rewards/total"):
        assert key in log.columns and log[key].notna().all()
    np.testing.assert_allclose(
        log["rewards/total"], log["rewards/env"] + log["rewards/entropy_term"], rtol=1e-5
    )


def test_save_load_roundtrip(tmp_path):
    model, _ = run(SoftPPO, ent_coef=ALPHA, entropy_mode="repeat")
    model.save(tmp_path / "soft")
    loaded = SoftPPO.load(tmp_path / "soft")
    assert (loaded.entropy_mode, loaded.reward_ent_coef, loaded.ent_coef) == ("repeat", ALPHA, ALPHA)
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_array_equal(
        model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0]
    )


@pytest.mark.parametrize(
    ("mode", "in_reward", "in_loss"), [("soft", True, False), ("end", False, True), ("repeat", True, True)]
)
def test_alpha_goes_where_entropy_mode_says(tmp_path, mode, in_reward, in_loss):
    model = SoftPPO("MlpPolicy", "Pendulum-v1", ent_coef=ALPHA, entropy_mode=mode, **FAST)
    assert model.alpha == ALPHA
    model.alpha = np.float32(0.5)  # NumPy scalars are numbers too
    assert (model.reward_ent_coef, model.ent_coef) == (0.5 if in_reward else 0.0, 0.5 if in_loss else 0.0)
    model.save(tmp_path / "soft")
    # SB3 would set the loss's share only: Soft PPO would silently become Repeat-Entropy PPO.
    loaded = SoftPPO.load(tmp_path / "soft", ent_coef=0.05)
    assert (loaded.reward_ent_coef, loaded.ent_coef) == (0.05 if in_reward else 0.0, 0.05 if in_loss else 0.0)
    with pytest.raises(ValueError, match="alpha"):
        model.alpha = -1.0


def test_coefficients_accept_numpy_scalars_not_booleans():
    model = SoftPPO("MlpPolicy", "Pendulum-v1", ent_coef=np.float64(0.1), **FAST)
    assert model.reward_ent_coef == 0.1 and isinstance(model.reward_ent_coef, float)
    assert SoftPPO("MlpPolicy", "Pendulum-v1", ent_coef=np.int64(0), **FAST).reward_ent_coef == 0.0
    for flag in (True, np.bool_(True)):
        with pytest.raises(TypeError, match="ent_coef"):
            SoftPPO("MlpPolicy", "Pendulum-v1", ent_coef=flag)
