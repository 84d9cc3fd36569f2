from sb3_rpg.residual_ppo.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, StateStdMlpPolicy
from sb3_rpg.residual_ppo.residual_ppo import ResidualPPO

__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy", "ResidualPPO", "StateStdMlpPolicy"]
