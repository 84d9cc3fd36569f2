"""sb3_rpg: Residual Policy Gradient (Soft PPO and Residual PPO) for Stable-Baselines3."""

# Importing the envs registers sb3_rpg/HalfCheetah-v5, sb3_rpg/Hopper-v5 and sb3_rpg/Ant-v5.
from sb3_rpg import envs, priors
from sb3_rpg.residual_ppo import ResidualPPO
from sb3_rpg.soft_ppo import SoftPPO
from sb3_rpg.version import __version__

__all__ = ["ResidualPPO", "SoftPPO", "__version__", "envs", "priors"]
