"""MuJoCo policy-customization tasks of the Residual Policy Gradient paper (Appendix D.1).

Importing this package registers ``sb3_rpg/HalfCheetah-v5``, ``sb3_rpg/Hopper-v5`` and
``sb3_rpg/Ant-v5`` with Gymnasium. Each takes ``reward="basic" | "addon" | "full"`` (default
``"full"``) and reports ``basic_reward``, ``addon_reward`` and ``addon_metric`` in every step's
``info``. See docs/envs.md.
"""

from sb3_rpg.envs.ant import AntAddonEnv
from sb3_rpg.envs.base import INFO_KEYS, REWARD_MODES, AddonRewardMixin, V3AliveBonusMixin, check_reward_mode
from sb3_rpg.envs.callbacks import StepInfoLogger
from sb3_rpg.envs.evaluation import EVALUATION_COLUMNS, evaluate_episodes
from sb3_rpg.envs.half_cheetah import DEFAULT_HALF_CHEETAH_JOINT, HALF_CHEETAH_JOINTS, HalfCheetahAddonEnv
from sb3_rpg.envs.hopper import HopperAddonEnv
from sb3_rpg.envs.registration import (
    ADDON_METRICS,
    ANT_ID,
    BASE_ENV_IDS,
    ENV_IDS,
    HALF_CHEETAH_ID,
    HOPPER_ID,
    MAX_EPISODE_STEPS,
    NAMESPACE,
    register_envs,
)

register_envs()

__all__ = [
    "ADDON_METRICS",
    "ANT_ID",
    "BASE_ENV_IDS",
    "DEFAULT_HALF_CHEETAH_JOINT",
    "ENV_IDS",
    "EVALUATION_COLUMNS",
    "HALF_CHEETAH_ID",
    "HALF_CHEETAH_JOINTS",
    "HOPPER_ID",
    "INFO_KEYS",
    "MAX_EPISODE_STEPS",
    "NAMESPACE",
    "REWARD_MODES",
    "AddonRewardMixin",
    "AntAddonEnv",
    "HalfCheetahAddonEnv",
    "HopperAddonEnv",
    "StepInfoLogger",
    "V3AliveBonusMixin",
    "check_reward_mode",
    "evaluate_episodes",
    "register_envs",
]
