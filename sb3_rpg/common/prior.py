"""The frozen prior policy of Residual PPO: loading, checks, observation normalisation, actor copy.

A prior is kept as a bare SB3 ``ActorCriticPolicy`` (never the whole model): it is rebuilt from its class and
constructor parameters, so that a saved ResidualPPO restores it without the prior's original file.
"""

from __future__ import annotations

import copy
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.distributions import StateDependentNoiseDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

PriorLike = BaseAlgorithm | ActorCriticPolicy | str | os.PathLike
VecNormalizeLike = VecNormalize | str | os.PathLike


@dataclass
class ObsNormalization:
    """The observation statistics a prior was trained under (the obs half of a ``VecNormalize``).

    :param obs_rms: running mean/variance of the observations (a dict of them for dict observations)
    :param clip_obs: clipping of the normalised observations
    :param epsilon: added to the variance before the square root
    :param norm_obs_keys: normalised keys of a dict observation space (None for a Box)
    """

    obs_rms: RunningMeanStd | dict[str, RunningMeanStd]
    clip_obs: float
    epsilon: float
    norm_obs_keys: list[str] | None = None

    @classmethod
    def from_vec_normalize(cls, vec_normalize: VecNormalizeLike) -> ObsNormalization | None:
        """Take the observation statistics of a ``VecNormalize`` or of its saved ``.pkl`` file.

        :param vec_normalize: a ``VecNormalize`` instance or the path of one saved with ``.save()``
        :return: the statistics, or None if that ``VecNormalize`` does not normalise observations
        """
        if not isinstance(vec_normalize, VecNormalize):
            path = Path(vec_normalize)
            if not path.is_file():
                raise FileNotFoundError(f"prior_vec_normalize: no VecNormalize file at '{path}'")
            # VecNormalize.load needs a venv only to re-attach it; the statistics alone unpickle without one.
            with path.open("rb") as file:
                vec_normalize = pickle.load(file)
            if not isinstance(vec_normalize, VecNormalize):
                raise TypeError(
                    f"prior_vec_normalize: '{path}' holds a {type(vec_normalize).__name__}, not a VecNormalize"
                )
        if not vec_normalize.norm_obs:
            return None
        return cls(
            obs_rms=copy.deepcopy(vec_normalize.obs_rms),
            clip_obs=float(vec_normalize.clip_obs),
            epsilon=float(vec_normalize.epsilon),
            norm_obs_keys=list(vec_normalize.norm_obs_keys) if vec_normalize.norm_obs_keys else None,
        )

    def to_vec_normalize(self) -> VecNormalize:
        """A frozen ``VecNormalize`` holding these statistics and no venv, as one unpickled from a ``.pkl``
        (SB3's ``__setstate__``): its ``normalize_obs`` normalises raw observations exactly as training did,
        e.g. to act with a ResidualPPO loaded without an env.

        :return: a ``VecNormalize`` with ``training=False`` and ``norm_reward=False``, to call
            ``normalize_obs`` on (``set_venv`` would make it a wrapper again)
        """
        vec_normalize = VecNormalize.__new__(VecNormalize)
        vec_normalize.__setstate__(
            {
                "observation_space": None,
                "obs_rms": copy.deepcopy(self.obs_rms),
                "norm_obs": True,
                "norm_reward": False,
                "training": False,
                "clip_obs": self.clip_obs,
                "epsilon": self.epsilon,
                "norm_obs_keys": self.norm_obs_keys,
            }
        )
        return vec_normalize


class FrozenObsNormalize(VecNormalize):
    """A ``VecNormalize`` that normalises observations with a prior's statistics and never updates them.

    Residual PPO copies the prior's actor, so the customised policy must see observations exactly as the
    prior did in its own training: both policies, and the prior's log-probs in the reward, share these
    statistics. Rewards pass through unchanged (``norm_reward=False``).

    :param venv: the environment to wrap
    :param normalization: the prior's observation statistics
    """

    def __init__(self, venv: VecEnv, normalization: ObsNormalization):
        super().__init__(
            venv,
            training=False,
            norm_obs=True,
            norm_reward=False,
            clip_obs=normalization.clip_obs,
            epsilon=normalization.epsilon,
            norm_obs_keys=normalization.norm_obs_keys,
        )
        self.obs_rms = copy.deepcopy(normalization.obs_rms)


#: Where a prior's observation statistics are looked for beside its ``.zip`` (``best.zip`` ->
#: ``best_vecnormalize.pkl``), the layout the benchmarks, the shipped priors and ``sb3_rpg.tune`` save.
VEC_NORMALIZE_SUFFIX = "_vecnormalize.pkl"


def sibling_vec_normalize(path: str | os.PathLike) -> Path | None:
    """The ``<stem>_vecnormalize.pkl`` beside a saved model, if there is one."""
    path = Path(path)
    candidate = path.with_name(path.with_suffix("").name + VEC_NORMALIZE_SUFFIX)
    return candidate if candidate.is_file() else None


def _policy_from_zip(path: Path) -> tuple[ActorCriticPolicy, ObsNormalization | None]:
    """The policy of a saved model and, for a saved ResidualPPO, the statistics its actor acts under."""
    data, params, _ = load_from_zip_file(path, device="cpu")
    if data is None or "policy_class" not in data or "policy" not in params:
        raise ValueError(f"prior: '{path}' is not a saved SB3 model (no policy_class or policy weights)")
    policy_kwargs = dict(data.get("policy_kwargs") or {})
    if data.get("use_sde"):
        policy_kwargs["use_sde"] = True
    policy = data["policy_class"](
        data["observation_space"], data["action_space"], lambda _: 0.0, **policy_kwargs
    )
    policy.load_state_dict(params["policy"])
    normalization = data.get("prior_normalization")
    return policy, normalization if isinstance(normalization, ObsNormalization) else None


def load_prior_policy(prior: PriorLike) -> tuple[ActorCriticPolicy, ObsNormalization | None]:
    """Turn a prior given as a model, a policy or a ``.zip`` path into a private copy of its policy.

    :param prior: an SB3 on-policy model (PPO, A2C, SoftPPO, ResidualPPO, ...), its policy, or the path of
        its saved ``.zip``
    :return: the policy (a deep copy, on the CPU) and the observation statistics it acts under, if any
        are known: a live model's ``VecNormalize``; a saved or live ResidualPPO's own (its prior's); for a
        path, a ``<stem>_vecnormalize.pkl`` beside the ``.zip`` (as the benchmarks save checkpoints).
        An explicit ``prior_vec_normalize`` overrides them.
    """
    normalization = None
    if isinstance(prior, BaseAlgorithm):
        vec_normalize = prior.get_vec_normalize_env()
        if vec_normalize is not None:
            normalization = ObsNormalization.from_vec_normalize(vec_normalize)
        elif isinstance(getattr(prior, "prior_normalization", None), ObsNormalization):
            normalization = prior.prior_normalization  # type: ignore[attr-defined]  # loaded without env
        policy = prior.policy
    elif isinstance(prior, th.nn.Module):
        policy = prior
    elif isinstance(prior, (str, os.PathLike)):
        path = Path(prior)
        if not path.is_file() and path.with_suffix(".zip").is_file():
            path = path.with_suffix(".zip")
        if not path.is_file():
            raise FileNotFoundError(f"prior: no saved model at '{prior}'")
        policy, normalization = _policy_from_zip(path)
        sibling = sibling_vec_normalize(path)
        if normalization is None and sibling is not None:
            normalization = ObsNormalization.from_vec_normalize(sibling)
        return check_prior_policy(policy), normalization
    else:
        raise TypeError(
            f"prior must be an SB3 model, its policy or a path to its .zip, got {type(prior).__name__}"
        )
    check_prior_policy(policy)
    return clone_policy(policy), normalization


def policy_constructor_data(policy: ActorCriticPolicy) -> dict[str, Any]:
    """The arguments that rebuild ``policy`` (SB3's ``_get_constructor_parameters`` less one omission)."""
    data = policy._get_constructor_parameters()
    data["share_features_extractor"] = policy.share_features_extractor
    return data


def clone_policy(policy: ActorCriticPolicy) -> ActorCriticPolicy:
    """A private CPU copy of a policy, rebuilt from its constructor arguments and weights.

    (``copy.deepcopy`` fails on a policy that has sampled: its distribution holds non-leaf tensors.)
    """
    clone = type(policy)(**policy_constructor_data(policy))
    clone.load_state_dict({key: value.detach().cpu() for key, value in policy.state_dict().items()})
    return clone


def check_prior_policy(policy: Any) -> ActorCriticPolicy:
    """Raise unless ``policy`` is an on-policy actor-critic whose action distribution gives ``log π(a|s)`` of
    a stored action: SB3's diagonal Gaussian (Box), categorical (Discrete, MultiDiscrete) or Bernoulli
    (MultiBinary) distributions. Refused: recurrent priors (their log-prob needs the LSTM state along the
    episode) and gSDE priors (``use_sde=True``: no test here checks their log-probs, with squashed outputs
    and learned features, against a hand-worked value)."""
    if not isinstance(policy, ActorCriticPolicy):
        raise TypeError(
            "prior must be an on-policy SB3 model (PPO, A2C, SoftPPO, ResidualPPO) with an ActorCriticPolicy; "
            f"got a {type(policy).__name__}"
        )
    if isinstance(policy, RecurrentActorCriticPolicy):
        raise TypeError(
            "prior must be a feed-forward policy: a recurrent prior (RecurrentPPO) is not supported, since "
            "log π_prior(a|s) would need its LSTM state along each episode"
        )
    if isinstance(policy.action_dist, StateDependentNoiseDistribution):
        raise TypeError(
            "prior must not use gSDE (use_sde=True is not supported for priors); its distribution is "
            f"{type(policy.action_dist).__name__}"
        )
    return policy


def check_prior_spaces(
    policy: ActorCriticPolicy, observation_space: spaces.Space, action_space: spaces.Space
) -> None:
    """Raise a ValueError naming both spaces if the prior's spaces differ from the environment's."""
    for kind, prior_space, env_space in (
        ("observation", policy.observation_space, observation_space),
        ("action", policy.action_space, action_space),
    ):
        if prior_space != env_space:
            raise ValueError(
                f"the prior's {kind} space {prior_space} differs from the environment's {kind} space {env_space}"
            )


def freeze(policy: ActorCriticPolicy) -> ActorCriticPolicy:
    """Eval mode and no gradients: the prior is a constant of the reward."""
    policy.set_training_mode(False)
    policy.requires_grad_(False)
    return policy


def prior_log_prob(
    policy: ActorCriticPolicy, observations: np.ndarray | dict[str, np.ndarray], actions: np.ndarray
) -> np.ndarray:
    """``log π_prior(a|s)`` for a whole batch in one forward pass.

    :param policy: the frozen prior
    :param observations: a batch of observations, normalised as the prior expects
    :param actions: the batch of sampled actions (unclipped, for a Box)
    :return: log-probs, shape ``(batch,)``
    """
    with th.no_grad():
        obs_tensor = obs_as_tensor(observations, policy.device)  # type: ignore[arg-type]
        distribution = policy.get_distribution(obs_tensor)
        # The rollout buffer stores actions in the action space's dtype (int8 for MultiBinary, which the
        # Bernoulli's log-prob cannot take) and a Discrete one with shape (batch, 1), where the categorical
        # wants indices of shape (batch,), as PPO.train gives it.
        action_tensor = th.as_tensor(actions, device=policy.device, dtype=th.float32)
        if isinstance(policy.action_space, spaces.Discrete):
            action_tensor = action_tensor.long().flatten()
        log_prob = distribution.log_prob(action_tensor)
    return log_prob.cpu().numpy()


def actor_state_dict(policy: ActorCriticPolicy) -> dict[str, th.Tensor]:
    """The actor's entries of a policy's state dict: features (if shared), policy net, mean head and std."""
    prefixes = [
        "pi_features_extractor.",
        "mlp_extractor.policy_net.",
        "action_net.",
        "log_std",
        "log_std_net.",
    ]
    if policy.share_features_extractor:
        prefixes.append("features_extractor.")
    return {key: value for key, value in policy.state_dict().items() if key.startswith(tuple(prefixes))}


def copy_actor(source: ActorCriticPolicy, target: ActorCriticPolicy) -> None:
    """Load the source's actor into the target, leaving the target's value function as it is."""
    source_actor, target_actor = actor_state_dict(source), actor_state_dict(target)
    missing = sorted(set(target_actor) - set(source_actor))
    unexpected = sorted(set(source_actor) - set(target_actor))
    mismatched = sorted(
        key
        for key in set(source_actor) & set(target_actor)
        if source_actor[key].shape != target_actor[key].shape
    )
    if missing or unexpected or mismatched:
        raise ValueError(
            "init_from_prior: the actor's architecture differs from the prior's "
            f"(missing in prior: {missing}, only in prior: {unexpected}, shape mismatch: {mismatched}). "
            "Leave policy_kwargs unset to take the prior's, or pass matching net_arch/state_dependent_std."
        )
    target.load_state_dict(source_actor, strict=False)
