"""The package's tuned settings for the paper's tasks, shipped as YAML (rl-baselines3-zoo layout).

- ``ppo.yml``: PPO hyperparameters per env (``HalfCheetah-v5``, ``Hopper-v5``, ``Ant-v5``), each value
  with its origin in a comment.
- ``coefficients.yml``: α (``ent_coef``) and ω' (``prior_coef``) per env and variant (paper Tables IV
  and V), and Residual PPO's critic warm-up.

The benchmark grid (``benchmarks/``), the demo (``python -m sb3_rpg.demo``) and the tuner
(``python -m sb3_rpg.tune --hyperparams $(python -c "import sb3_rpg.hyperparams as h; print(h.PPO_FILE)")``)
read these files, so one edit changes all of them::

    from sb3_rpg import ResidualPPO, hyperparams

    kwargs = hyperparams.algorithm_kwargs(hyperparams.ppo_block("HalfCheetah-v5"))
    coefs = hyperparams.coefficients("HalfCheetah-v5", "residual")  # ent_coef, prior_coef, critic_warmup
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sb3_rpg.tune.config import algorithm_kwargs, customization_block

HYPERPARAMS_DIR = Path(__file__).resolve().parent
PPO_FILE = HYPERPARAMS_DIR / "ppo.yml"
COEFFICIENTS_FILE = HYPERPARAMS_DIR / "coefficients.yml"

__all__ = [
    "COEFFICIENTS_FILE",
    "HYPERPARAMS_DIR",
    "PPO_FILE",
    "algorithm_kwargs",
    "coefficients",
    "load_yaml",
    "ppo_block",
]


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or a non-mapping gets a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"hyperparameter file {path} does not exist")
    with open(path, encoding="utf-8") as handle:
        content = yaml.safe_load(handle)
    if not isinstance(content, dict):
        raise TypeError(f"{path}: expected a mapping at the top level")
    return content


def ppo_block(env: str, path: str | Path | None = None, customize: bool = False) -> dict[str, Any]:
    """The env's PPO block, as written (run keys ``n_envs``/``normalize`` included).

    :param env: env key, e.g. ``"HalfCheetah-v5"`` (``sb3_rpg/HalfCheetah-v5`` accepted)
    :param path: another file in ``ppo.yml``'s layout; None for the shipped one
    :param customize: the settings of a ResidualPPO customization: the block's ``customize:`` values
        override its own (without it the ``customize:`` mapping is dropped)
    """
    path = Path(path or PPO_FILE)
    config = load_yaml(path)
    key = env.split("/")[-1]
    if key not in config:
        raise KeyError(f"{key} has no block in {path}; blocks: {', '.join(config)}")
    return customization_block(config[key], customize)


def coefficients(env: str, variant: str, path: str | Path | None = None) -> dict[str, float]:
    """α (``ent_coef``), ω' (``prior_coef``) and, for Residual PPO variants (those with a
    ``prior_coef``), ``critic_warmup`` of one env and variant (e.g. ``"residual"``, ``"soft"``).

    :param env: env key, e.g. ``"HalfCheetah-v5"``
    :param variant: a variant of ``coefficients.yml`` (see ``benchmarks/config.py`` for all of them)
    :param path: another file in ``coefficients.yml``'s layout; None for the shipped one
    """
    path = Path(path or COEFFICIENTS_FILE)
    config = load_yaml(path)
    key = env.split("/")[-1]
    if key not in config or variant not in config[key]:
        known = ", ".join(config.get(key, {})) if key in config else f"no {key} block"
        raise KeyError(f"{path} has no {key}/{variant} coefficients ({known})")
    values = {name: float(value) for name, value in config[key][variant].items()}
    if "prior_coef" in values:
        values["critic_warmup"] = float(config["critic_warmup"])
    return values
