"""Soft PPO priors shipped with the package (best Table I checkpoints of the benchmark, see docs/benchmarks.md).

Each prior is a model ``<Env>-v5.zip`` with the observation statistics it was trained under,
``<Env>-v5_vecnormalize.pkl``, and ``<Env>-v5.json`` telling how it was produced.

    >>> from sb3_rpg import ResidualPPO, priors
    >>> prior = priors.get("HalfCheetah-v5")
    >>> model = ResidualPPO("MlpPolicy", env, prior=prior.model, prior_vec_normalize=prior.vec_normalize)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRIORS_DIR = Path(__file__).parent


@dataclass(frozen=True)
class ShippedPrior:
    """Paths of one shipped prior.

    :param env: the base env name, e.g. ``"HalfCheetah-v5"``
    :param model: the saved SoftPPO model (``.zip``)
    :param vec_normalize: its VecNormalize statistics (``.pkl``), or None if it saw raw observations
    :param info: how it was produced (command, seed, evaluation), from its ``.json``
    """

    env: str
    model: Path
    vec_normalize: Path | None
    info: dict[str, Any] = field(default_factory=dict)


def available() -> list[str]:
    """Names of the envs that have a shipped prior."""
    return sorted(path.stem for path in PRIORS_DIR.glob("*-v5.zip"))


def get(env: str) -> ShippedPrior:
    """The shipped prior of ``env`` (``"HalfCheetah-v5"`` or ``"sb3_rpg/HalfCheetah-v5"``).

    :param env: env name, with or without the ``sb3_rpg/`` namespace
    :raises FileNotFoundError: if no prior is shipped for it (the message lists those that are)
    """
    name = env.split("/")[-1]
    model = PRIORS_DIR / f"{name}.zip"
    if not model.is_file():
        raise FileNotFoundError(f"no shipped prior for {env!r}; shipped: {available() or 'none'}")
    vec_normalize = PRIORS_DIR / f"{name}_vecnormalize.pkl"
    info_path = PRIORS_DIR / f"{name}.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    return ShippedPrior(name, model, vec_normalize if vec_normalize.is_file() else None, info)
