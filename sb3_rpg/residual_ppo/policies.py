"""Policy aliases of ResidualPPO: SoftPPO's, so that a prior trained by either is copied one to one."""

from sb3_rpg.soft_ppo.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, StateStdMlpPolicy

__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy", "StateStdMlpPolicy"]
