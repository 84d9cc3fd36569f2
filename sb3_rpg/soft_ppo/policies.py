"""Policy aliases of SoftPPO (the same classes serve ResidualPPO)."""

from sb3_rpg.common.policies import (
    RPGActorCriticCnnPolicy,
    RPGActorCriticPolicy,
    RPGMultiInputActorCriticPolicy,
    StateStdActorCriticPolicy,
)

MlpPolicy = RPGActorCriticPolicy
StateStdMlpPolicy = StateStdActorCriticPolicy
CnnPolicy = RPGActorCriticCnnPolicy
MultiInputPolicy = RPGMultiInputActorCriticPolicy
