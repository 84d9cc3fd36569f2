"""Ant customization task: walk forward while also moving along the y-axis."""

from __future__ import annotations

from typing import Any

from gymnasium.envs.mujoco.ant_v5 import AntEnv

from sb3_rpg.envs.base import AddonRewardMixin, V3AliveBonusMixin


class AntAddonEnv(AddonRewardMixin, V3AliveBonusMixin, AntEnv):
    """Ant-v5 with the paper's add-on reward r_R = dy/dt (torso y velocity).

    Basic reward: r = 1 + dx/dt - 0.5 * ||u||^2, no contact cost, alive bonus as in gym v3 (see
    :class:`~sb3_rpg.envs.base.V3AliveBonusMixin`). Observation 27-dim (positions without x/y and
    velocities; no contact forces), action 8-dim.

    :param reward: ``"basic"``, ``"addon"`` or ``"full"``; see :class:`AddonRewardMixin`.
    :param kwargs: any ``AntEnv`` (v5) constructor argument, e.g. ``render_mode``. The defaults of
        ``include_cfrc_ext_in_observation`` (False) and ``contact_cost_weight`` (0.0) are changed to
        match the paper's 27-dim observation and reward, but can still be overridden.
    """

    addon_metric_name = "y_velocity"

    def __init__(self, *, reward: str = "full", **kwargs: Any) -> None:
        kwargs.setdefault("include_cfrc_ext_in_observation", False)
        kwargs.setdefault("contact_cost_weight", 0.0)
        super().__init__(reward=reward, **kwargs)

    def _state_before_step(self) -> float:
        """Torso y position before the step.

        :return: y of the main body.
        """
        # Same position source (body xpos) as v5's own x velocity, so dx/dt and dy/dt are
        # measured consistently (and as gym v3 did with get_body_com).
        return float(self.data.body(self._main_body).xpos[1])

    def _addon_reward(self, before: float) -> tuple[float, float]:
        """r_R = dy/dt of the main body (torso) over the step.

        :param before: torso y before the step.
        :return: ``(v_y, v_y)``.
        """
        y_velocity = (float(self.data.body(self._main_body).xpos[1]) - before) / self.dt
        return y_velocity, y_velocity
