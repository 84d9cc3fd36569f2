"""Shared machinery for policy-customization tasks: a basic reward r plus an add-on reward r_R.

A customization task is a MuJoCo environment whose own reward is the *basic* task reward r, to
which the paper adds a task-specific *add-on* reward r_R. :class:`AddonRewardMixin` wraps the
``step`` of a Gymnasium MuJoCo environment so that

* the returned reward follows the configured mode (``"basic"`` -> r, ``"addon"`` -> r_R,
  ``"full"`` -> r + r_R), and
* every step's ``info`` carries ``basic_reward``, ``addon_reward`` and ``addon_metric`` whatever
  the mode, so that Residual PPO (which needs r_R alone) and evaluation (which reports both) can
  read the terms they need from any configuration.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar, SupportsFloat

import mujoco
import numpy as np
from gymnasium import utils

#: Valid values of the ``reward`` constructor argument.
REWARD_MODES: tuple[str, ...] = ("basic", "addon", "full")

#: Keys every step's ``info`` carries, whatever the reward mode.
INFO_KEYS: tuple[str, ...] = ("basic_reward", "addon_reward", "addon_metric")


#: MuJoCo warnings about Gymnasium's own model files, not actionable by our users: MuJoCo 4 deprecates
#: the ``settotalmass`` compiler attribute that half_cheetah.xml and others still set.
KNOWN_MODEL_WARNINGS: tuple[str, ...] = ("compiler attribute 'settotalmass' is deprecated",)


@contextlib.contextmanager
def quiet_known_model_warnings() -> Iterator[None]:
    """While loading a model: drop :data:`KNOWN_MODEL_WARNINGS`, turn any other MuJoCo warning into a
    Python ``RuntimeWarning`` (MuJoCo would print it), then restore the previous handler."""
    previous = mujoco.get_mju_user_warning()

    def handle(message: str) -> None:
        if any(known in message for known in KNOWN_MODEL_WARNINGS):
            return
        if previous is not None:
            previous(message)
        else:
            warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)

    mujoco.set_mju_user_warning(handle)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)


def check_reward_mode(reward: str) -> str:
    """Validate a reward mode.

    :param reward: the requested mode.
    :return: ``reward`` unchanged.
    :raises ValueError: if ``reward`` is not one of :data:`REWARD_MODES`.
    """
    if reward not in REWARD_MODES:
        valid = ", ".join(repr(mode) for mode in REWARD_MODES)
        raise ValueError(f"Unknown reward mode {reward!r}; valid modes are {valid}.")
    return reward


class AddonRewardMixin:
    """Adds a reward mode and an add-on reward to a Gymnasium MuJoCo environment.

    Put it *before* the environment class in the bases
    (``class MyEnv(AddonRewardMixin, HopperEnv)``) and implement :meth:`_addon_reward`; override
    :meth:`_state_before_step` when r_R needs the state from before ``do_simulation``
    (e.g. a velocity computed from positions).

    The basic reward is the wrapped environment's own reward, unchanged.

    :param reward: ``"basic"`` (r), ``"addon"`` (r_R) or ``"full"`` (r + r_R): which reward
        ``step`` returns. ``info`` holds all terms regardless.
    :param kwargs: passed on to the wrapped environment's constructor.
    """

    #: Name of the quantity reported as ``info["addon_metric"]`` (e.g. ``"height"``).
    addon_metric_name: ClassVar[str] = "addon_metric"

    def __init__(self, *, reward: str = "full", **kwargs: Any) -> None:
        # Validated before the (slow) MuJoCo model load so bad input fails fast.
        self.reward_mode = check_reward_mode(reward)
        with quiet_known_model_warnings():
            super().__init__(**kwargs)
        # The base class recorded only its own arguments; without this, pickling or deep-copying
        # the env (e.g. in subprocess vector envs) would silently drop the reward mode.
        utils.EzPickle.__init__(self, reward=reward, **kwargs)

    def _state_before_step(self) -> Any:
        """Snapshot what :meth:`_addon_reward` needs from the state before the step.

        :return: anything; passed back to :meth:`_addon_reward`. Default: ``None``.
        """
        return None

    def _addon_reward(self, before: Any) -> tuple[float, float]:
        """Compute the add-on reward from the simulator state after the step.

        :param before: what :meth:`_state_before_step` returned before this step.
        :return: ``(addon_reward, addon_metric)``, where the metric is the raw quantity behind
            the reward (reported in ``info`` and averaged by the evaluation).
        """
        raise NotImplementedError

    def _select_reward(self, basic: float, addon: float) -> float:
        """Return the reward for the configured mode.

        :param basic: the basic reward r.
        :param addon: the add-on reward r_R.
        :return: r, r_R or r + r_R.
        """
        if self.reward_mode == "basic":
            return basic
        if self.reward_mode == "addon":
            return addon
        return basic + addon

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the wrapped environment and apply the reward mode.

        :param action: the action.
        :return: ``(obs, reward, terminated, truncated, info)`` with ``info`` extended by
            ``basic_reward``, ``addon_reward`` and ``addon_metric``.
        """
        before = self._state_before_step()
        obs, basic, terminated, truncated, info = super().step(action)  # type: ignore[misc]
        addon, metric = self._addon_reward(before)
        basic, addon, metric = float(basic), float(addon), float(metric)
        info["basic_reward"] = basic
        info["addon_reward"] = addon
        info["addon_metric"] = metric
        return obs, self._select_reward(basic, addon), terminated, truncated, info


class V3AliveBonusMixin:
    """Pays the alive bonus as gym ``v3`` (the paper's version) did, not as Gymnasium ``v5`` does.

    gym v3 paid ``float(is_healthy or terminate_when_unhealthy) * healthy_reward``: with
    termination on (the default) the bonus is paid on *every* step, the terminal unhealthy step
    included. Gymnasium v5 pays it only while healthy, so each episode ending in a fall would
    collect 1 less than in the paper. The v5 ``_get_rew`` reads this property, so overriding it
    is enough (``info["reward_survive"]`` follows too).
    """

    _healthy_reward: float
    _terminate_when_unhealthy: bool
    is_healthy: bool

    @property
    def healthy_reward(self) -> float:
        """The alive bonus for the current state, v3 semantics."""
        return float(self.is_healthy or self._terminate_when_unhealthy) * self._healthy_reward
