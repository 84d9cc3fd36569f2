"""Customization tasks: reward terms checked against the MuJoCo state, spaces, modes, bad input."""

from __future__ import annotations

import importlib
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest

import sb3_rpg.envs as rpg_envs
from sb3_rpg.envs import ADDON_METRICS, ANT_ID, ENV_IDS, HALF_CHEETAH_ID, HOPPER_ID

# Hard-coded from half_cheetah.xml (qpos = rootx, rootz, rooty, bthigh, bshin, bfoot, ...) so the
# test does not reuse the env's own name lookup.
CHEETAH_QPOS_INDEX = {"bthigh": 3, "bshin": 4, "bfoot": 5}

N_STEPS = 60


def _positions(env: gym.Env, env_id: str) -> tuple[float, float]:
    """(x, y) used for the velocities: qpos for the planar robots, torso xpos for Ant (as v3/v5 do).

    :param env: the wrapped env.
    :param env_id: its id.
    :return: x and y (y is 0 for planar robots).
    """
    data = env.unwrapped.data
    if env_id == ANT_ID:
        xpos = data.body("torso").xpos
        return float(xpos[0]), float(xpos[1])
    return float(data.qpos[0]), 0.0


def _expected_terms(env_id: str, env: gym.Env, before: tuple[float, float], action: np.ndarray, **kw):
    """Basic reward, add-on reward and metric computed straight from the MuJoCo state after a step.

    :param env_id: the id.
    :param env: the env, just stepped.
    :param before: (x, y) before the step.
    :param action: the action taken.
    :param kw: ``joint`` for HalfCheetah.
    :return: (basic, addon, metric).
    """
    data, dt = env.unwrapped.data, env.unwrapped.dt
    x_after, y_after = _positions(env, env_id)
    x_velocity = (x_after - before[0]) / dt
    squared = float(np.sum(np.square(action)))
    if env_id == HALF_CHEETAH_ID:
        angle = abs(float(data.qpos[CHEETAH_QPOS_INDEX[kw.get("joint", "bthigh")]]))
        return x_velocity - 0.1 * squared, -angle, angle
    if env_id == HOPPER_ID:
        # v3 alive bonus: paid on every step, the terminal one included.
        z = float(data.qpos[1])
        return 1.0 + x_velocity - 1e-3 * squared, z, z
    y_velocity = (y_after - before[1]) / dt
    return 1.0 + x_velocity - 0.5 * squared, y_velocity, y_velocity


def _random_rollout(env_id: str, n_steps: int = N_STEPS, scale: float = 1.0, **kwargs):
    """Yield (env, before, action, step result) over random steps, resetting on episode end.

    :param env_id: id.
    :param n_steps: steps.
    :param scale: action scale (large values make Hopper fall quickly).
    :param kwargs: make kwargs.
    """
    env = gym.make(env_id, **kwargs)
    env.reset(seed=1)
    rng = np.random.default_rng(2)
    low, high = env.action_space.low, env.action_space.high
    for _ in range(n_steps):
        action = np.clip(rng.normal(scale=scale, size=env.action_space.shape), low, high)
        before = _positions(env, env_id)
        result = env.step(action)
        yield env, before, action, result
        if result[2] or result[3]:
            env.reset()
    env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_reward_terms_match_mujoco_state(env_id: str) -> None:
    terminations = 0
    for env, before, action, (_, reward, terminated, _, info) in _random_rollout(env_id, scale=2.0):
        basic, addon, metric = _expected_terms(env_id, env, before, action)
        assert info["basic_reward"] == pytest.approx(basic, rel=1e-9, abs=1e-9)
        assert info["addon_reward"] == pytest.approx(addon, rel=1e-9, abs=1e-9)
        assert info["addon_metric"] == pytest.approx(metric, rel=1e-9, abs=1e-9)
        assert reward == info["basic_reward"] + info["addon_reward"]  # default mode is "full"
        terminations += bool(terminated)
    if env_id == HOPPER_ID:
        # The terminal steps are where v3 and v5 differ; make sure some were checked.
        assert terminations > 0


@pytest.mark.parametrize("joint", sorted(CHEETAH_QPOS_INDEX))
def test_half_cheetah_joint_choice(joint: str) -> None:
    for env, before, action, (_, _, _, _, info) in _random_rollout(HALF_CHEETAH_ID, n_steps=15, joint=joint):
        _basic, addon, metric = _expected_terms(HALF_CHEETAH_ID, env, before, action, joint=joint)
        assert info["addon_reward"] == pytest.approx(addon, rel=1e-12, abs=1e-12)
        assert info["addon_metric"] == pytest.approx(metric, rel=1e-12, abs=1e-12)
        assert info["addon_metric"] >= 0.0


def test_ant_y_velocity_matches_v5_info() -> None:
    # v5 reports the torso y velocity itself; ours must be the same quantity.
    for _, _, _, (_, _, _, _, info) in _random_rollout(ANT_ID, n_steps=10):
        assert info["addon_reward"] == pytest.approx(info["y_velocity"], rel=1e-12, abs=1e-12)


def test_hopper_alive_bonus_without_termination_is_paid_only_when_healthy() -> None:
    # v3 semantics: float(is_healthy or terminate_when_unhealthy) * 1.
    for env, before, action, (_, _, terminated, _, info) in _random_rollout(
        HOPPER_ID, n_steps=N_STEPS, scale=2.0, terminate_when_unhealthy=False
    ):
        assert not terminated
        data, dt = env.unwrapped.data, env.unwrapped.dt
        z, angle = float(data.qpos[1]), float(data.qpos[2])
        state = np.concatenate([data.qpos, data.qvel])[2:]
        healthy = z > 0.7 and -0.2 < angle < 0.2 and bool(np.all(np.abs(state) < 100.0))
        expected = float(healthy) + (float(data.qpos[0]) - before[0]) / dt - 1e-3 * np.sum(np.square(action))
        assert info["basic_reward"] == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_reward_modes(env_id: str) -> None:
    rewards = {}
    for mode in ("basic", "addon", "full"):
        steps = _random_rollout(env_id, n_steps=20, reward=mode)
        rewards[mode] = [(reward, info) for _, _, _, (_, reward, _, _, info) in steps]
    for (basic, basic_info), (addon, addon_info), (full, full_info) in zip(
        rewards["basic"], rewards["addon"], rewards["full"], strict=True
    ):
        # Same seeds and actions: the trajectories, hence the info terms, are identical.
        assert basic_info["basic_reward"] == full_info["basic_reward"] == addon_info["basic_reward"]
        assert basic == basic_info["basic_reward"]
        assert addon == addon_info["addon_reward"]
        assert full == full_info["basic_reward"] + full_info["addon_reward"]
        for info in (basic_info, addon_info, full_info):
            assert set(rpg_envs.INFO_KEYS) <= set(info)


@pytest.mark.parametrize(
    ("env_id", "obs_dim", "act_dim"), [(HALF_CHEETAH_ID, 17, 6), (HOPPER_ID, 11, 3), (ANT_ID, 27, 8)]
)
def test_spaces_and_registration(env_id: str, obs_dim: int, act_dim: int) -> None:
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.shape == (obs_dim,)
    assert obs.shape == (obs_dim,)
    assert env.action_space.shape == (act_dim,)
    assert env.spec is not None and env.spec.max_episode_steps == 1000
    assert env.unwrapped.reward_mode == "full"
    assert env.unwrapped.addon_metric_name == ADDON_METRICS[env_id]
    env.close()


def test_registration_is_idempotent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(rpg_envs)
        rpg_envs.register_envs()
    for env_id in ENV_IDS:
        assert env_id in gym.registry


def test_other_v5_kwargs_pass_through() -> None:
    env = gym.make(HALF_CHEETAH_ID, ctrl_cost_weight=0.0, reward="basic")
    assert env.unwrapped._ctrl_cost_weight == 0.0
    ant = gym.make(ANT_ID, include_cfrc_ext_in_observation=True)
    assert ant.observation_space.shape == (27 + 78,)


def test_pickle_keeps_configuration() -> None:
    env = gym.make(HALF_CHEETAH_ID, reward="addon", joint="bfoot").unwrapped
    copy = pickle.loads(pickle.dumps(env))
    assert copy.reward_mode == "addon" and copy.joint == "bfoot"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_bad_reward_mode_lists_valid_ones(env_id: str) -> None:
    with pytest.raises(ValueError, match="'basic', 'addon', 'full'"):
        gym.make(env_id, reward="total")


def test_bad_joint_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match="'bthigh', 'bshin', 'bfoot'"):
        gym.make(HALF_CHEETAH_ID, joint="fthigh")


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_known_model_warning_is_silent(env_id: str, capfd: pytest.CaptureFixture[str]) -> None:
    # MuJoCo 4 prints a deprecation of Gymnasium's own XML when the model compiles; users can't act on it.
    gym.make(env_id).close()
    out, err = capfd.readouterr()
    assert "settotalmass" not in out + err


def test_other_model_warnings_become_python_warnings() -> None:
    import mujoco

    from sb3_rpg.envs.base import quiet_known_model_warnings

    before = mujoco.get_mju_user_warning()
    with quiet_known_model_warnings():
        handler = mujoco.get_mju_user_warning()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            handler("compiler attribute 'settotalmass' is deprecated and will be removed")
            handler("Nan, Inf or huge value in QACC at DOF 0")
    assert [str(w.message) for w in caught] == ["MuJoCo: Nan, Inf or huge value in QACC at DOF 0"]
    assert caught[0].category is RuntimeWarning
    assert mujoco.get_mju_user_warning() is before
