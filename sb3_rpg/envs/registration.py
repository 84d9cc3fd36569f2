"""Gymnasium registration of the paper's three customization tasks."""

from __future__ import annotations

import gymnasium

#: Namespace of the registered ids (``sb3_rpg/<Name>-v5``).
NAMESPACE = "sb3_rpg"

HALF_CHEETAH_ID = f"{NAMESPACE}/HalfCheetah-v5"
HOPPER_ID = f"{NAMESPACE}/Hopper-v5"
ANT_ID = f"{NAMESPACE}/Ant-v5"

#: All registered ids, in the paper's Table II order.
ENV_IDS: tuple[str, ...] = (HALF_CHEETAH_ID, HOPPER_ID, ANT_ID)

#: Env id -> name of the quantity in ``info["addon_metric"]``: |theta| of the penalized joint,
#: torso height z, torso y velocity v_y (the columns |theta|, z, v_y of the paper's Table II).
ADDON_METRICS: dict[str, str] = {
    HALF_CHEETAH_ID: "abs_angle",
    HOPPER_ID: "height",
    ANT_ID: "y_velocity",
}

#: Env id -> the Gymnasium environment it is built on.
BASE_ENV_IDS: dict[str, str] = {
    HALF_CHEETAH_ID: "HalfCheetah-v5",
    HOPPER_ID: "Hopper-v5",
    ANT_ID: "Ant-v5",
}

#: Same horizon as the Gymnasium v5 originals (and gym v3, used by the paper).
MAX_EPISODE_STEPS = 1000

_ENTRY_POINTS: dict[str, str] = {
    HALF_CHEETAH_ID: "sb3_rpg.envs.half_cheetah:HalfCheetahAddonEnv",
    HOPPER_ID: "sb3_rpg.envs.hopper:HopperAddonEnv",
    ANT_ID: "sb3_rpg.envs.ant:AntAddonEnv",
}


def register_envs() -> None:
    """Register the three tasks with Gymnasium; calling it again is a no-op.

    Ids already present are skipped, because re-registering makes Gymnasium warn about
    overriding an environment (e.g. when the module is reloaded).
    """
    for env_id, entry_point in _ENTRY_POINTS.items():
        if env_id in gymnasium.registry:
            continue
        gymnasium.register(id=env_id, entry_point=entry_point, max_episode_steps=MAX_EPISODE_STEPS)
