"""HalfCheetah customization task: run forward while keeping a back-leg joint near zero angle."""

from __future__ import annotations

from typing import Any

from gymnasium import utils
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv

from sb3_rpg.envs.base import AddonRewardMixin

#: Back-leg hinge joints of the HalfCheetah model, hip to foot. The paper penalizes "the hind
#: leg" angle without naming the joint, so the choice is a parameter.
HALF_CHEETAH_JOINTS: tuple[str, ...] = ("bthigh", "bshin", "bfoot")

#: Default joint for r_R; see docs/envs.md for how the choice relates to the paper's numbers.
DEFAULT_HALF_CHEETAH_JOINT = "bthigh"


class HalfCheetahAddonEnv(AddonRewardMixin, HalfCheetahEnv):
    """HalfCheetah-v5 with the paper's add-on reward r_R = -|theta_joint|.

    Basic reward (v5 defaults, identical to v3): r = dx/dt - 0.1 * ||u||^2.
    Observation 17-dim, action 6-dim.

    :param joint: the back-leg hinge joint whose angle is penalized; one of
        :data:`HALF_CHEETAH_JOINTS`.
    :param reward: ``"basic"``, ``"addon"`` or ``"full"``; see :class:`AddonRewardMixin`.
    :param kwargs: any ``HalfCheetahEnv`` (v5) constructor argument, e.g. ``render_mode``.
    """

    addon_metric_name = "abs_angle"

    def __init__(
        self, *, joint: str = DEFAULT_HALF_CHEETAH_JOINT, reward: str = "full", **kwargs: Any
    ) -> None:
        if joint not in HALF_CHEETAH_JOINTS:
            valid = ", ".join(repr(name) for name in HALF_CHEETAH_JOINTS)
            raise ValueError(f"Unknown HalfCheetah joint {joint!r}; valid back-leg joints are {valid}.")
        super().__init__(reward=reward, **kwargs)
        self.joint = joint
        # Looked up by name so a custom xml_file with a different joint order still works.
        self._joint_qposadr = int(self.model.joint(joint).qposadr[0])
        utils.EzPickle.__init__(self, joint=joint, reward=reward, **kwargs)

    def _addon_reward(self, before: Any) -> tuple[float, float]:
        """r_R = -|theta| of the chosen joint after the step; metric |theta|.

        :param before: unused.
        :return: ``(-|theta|, |theta|)``.
        """
        abs_angle = abs(float(self.data.qpos[self._joint_qposadr]))
        return -abs_angle, abs_angle
