"""Hopper customization task: hop forward while keeping the torso high."""

from __future__ import annotations

from typing import Any

from gymnasium.envs.mujoco.hopper_v5 import HopperEnv

from sb3_rpg.envs.base import AddonRewardMixin, V3AliveBonusMixin


class HopperAddonEnv(AddonRewardMixin, V3AliveBonusMixin, HopperEnv):
    """Hopper-v5 with the paper's add-on reward r_R = z (torso height).

    Basic reward: r = 1 + dx/dt - 0.001 * ||u||^2 with the usual v5 termination. The alive
    bonus follows gym v3 (the paper's version): with ``terminate_when_unhealthy=True`` it is paid
    on every step, the terminal one included; Gymnasium v5 would skip it on the terminal step.
    Observation 11-dim, action 3-dim.

    :param reward: ``"basic"``, ``"addon"`` or ``"full"``; see :class:`AddonRewardMixin`.
    :param kwargs: any ``HopperEnv`` (v5) constructor argument, e.g. ``render_mode``.
    """

    addon_metric_name = "height"

    def __init__(self, *, reward: str = "full", **kwargs: Any) -> None:
        super().__init__(reward=reward, **kwargs)

    def _addon_reward(self, before: Any) -> tuple[float, float]:
        """r_R = z, the torso height (``qpos[1]``, the rootz slide joint) after the step.

        :param before: unused.
        :return: ``(z, z)``.
        """
        height = float(self.data.qpos[1])
        return height, height
