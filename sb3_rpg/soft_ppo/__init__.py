from sb3_rpg.soft_ppo.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, StateStdMlpPolicy
from sb3_rpg.soft_ppo.soft_ppo import ENTROPY_MODES, SoftPPO

__all__ = ["ENTROPY_MODES", "CnnPolicy", "MlpPolicy", "MultiInputPolicy", "SoftPPO", "StateStdMlpPolicy"]
