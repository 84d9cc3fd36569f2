"""Actor-critic policies with a global or a state-dependent standard deviation (paper Table III).

With ``state_dependent_std=False`` (the default) the policy is SB3's ``ActorCriticPolicy`` unchanged: one
learned log-std vector shared by all states. With ``state_dependent_std=True`` a linear head on the actor's
latent features outputs the log-std, so that ``σ = exp(W·z(s) + b)``; it starts at ``W = 0`` and
``b = log_std_init`` so that both variants start from the same distribution. Its log-std is clamped to
``[log_std_min, log_std_max]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import DiagGaussianDistribution, Distribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import CombinedExtractor, NatureCNN
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.common.utils import obs_as_tensor
from torch import nn

# Default bounds of a state-dependent log-std, as SB3's SAC: exp(-20) .. exp(2) only keeps log-probs finite.
# A higher floor (CleanRL's SAC uses -5) also bounds how sharp the policy can get in any one state.
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


class RPGActorCriticPolicy(ActorCriticPolicy):
    """SB3's ``ActorCriticPolicy`` with an optional state-dependent standard deviation.

    :param observation_space: Observation space
    :param action_space: Action space (a ``Box`` for ``state_dependent_std=True``)
    :param lr_schedule: Learning rate schedule
    :param state_dependent_std: Output the log-std from a linear head on the actor's latent features
        instead of one global learned vector
    :param log_std_min: Lower bound of a state-dependent log-std (``state_dependent_std=True`` only): the
        smallest σ(s) is ``exp(log_std_min)``
    :param log_std_max: Upper bound of a state-dependent log-std (``state_dependent_std=True`` only)
    :param kwargs: Every other argument of SB3's ``ActorCriticPolicy`` (``net_arch``, ``activation_fn``,
        ``log_std_init``, ``ortho_init``, ...)
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        *args: Any,
        state_dependent_std: bool = False,
        log_std_min: float = LOG_STD_MIN,
        log_std_max: float = LOG_STD_MAX,
        **kwargs: Any,
    ):
        log_std_min, log_std_max = float(log_std_min), float(log_std_max)
        if not (np.isfinite(log_std_min) and np.isfinite(log_std_max) and log_std_min < log_std_max):
            raise ValueError(
                f"log_std_min and log_std_max must be finite with log_std_min < log_std_max; "
                f"got {log_std_min} and {log_std_max}"
            )
        if not state_dependent_std and (log_std_min, log_std_max) != (LOG_STD_MIN, LOG_STD_MAX):
            raise ValueError(
                "log_std_min/log_std_max bound a state-dependent std: pass state_dependent_std=True "
                "(policy 'StateStdMlpPolicy'); the global std is SB3's unbounded log_std vector"
            )
        log_std_init = kwargs.get("log_std_init", 0.0)
        if state_dependent_std and not log_std_min <= log_std_init <= log_std_max:
            raise ValueError(
                f"log_std_init={log_std_init} lies outside [log_std_min, log_std_max] = [{log_std_min}, {log_std_max}]"
            )
        self.state_dependent_std = state_dependent_std
        self.log_std_min, self.log_std_max = log_std_min, log_std_max
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        if not self.state_dependent_std:
            return
        if not isinstance(self.action_dist, DiagGaussianDistribution):
            raise ValueError(  # noqa: TRY004 -- a wrong action space is a bad value, as in SB3
                "state_dependent_std=True needs a diagonal Gaussian policy (a Box action space, use_sde=False); "
                f"got {type(self.action_dist).__name__}"
            )
        action_dim = self.action_dist.action_dim
        # The global log-std is removed (not just unused) so nothing, e.g. PPO's "train/std", reads it.
        del self.log_std
        self.log_std_net = nn.Linear(self.mlp_extractor.latent_dim_pi, action_dim)
        nn.init.zeros_(self.log_std_net.weight)
        nn.init.constant_(self.log_std_net.bias, self.log_std_init)
        # super()._build made the optimizer before log_std_net existed.
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_action_dist_from_latent(self, latent_pi: th.Tensor) -> Distribution:
        if not self.state_dependent_std:
            return super()._get_action_dist_from_latent(latent_pi)
        mean_actions = self.action_net(latent_pi)
        log_std = self.log_std_net(latent_pi).clamp(self.log_std_min, self.log_std_max)
        return self.action_dist.proba_distribution(mean_actions, log_std)

    @th.no_grad()
    def std_stats(
        self, observations: np.ndarray | dict[str, np.ndarray], batch_size: int
    ) -> tuple[float, float]:
        """Mean and smallest σ of a state-dependent std over ``observations`` (all action dimensions),
        in batches of ``batch_size``: what SB3's ``train/std`` reports for a global std, for this one."""
        if not self.state_dependent_std:
            raise ValueError("std_stats is for state_dependent_std=True; a global std is exp(policy.log_std)")
        first = next(iter(observations.values())) if isinstance(observations, dict) else observations
        total, count, smallest = 0.0, 0, float("inf")
        for start in range(0, len(first), batch_size):
            if isinstance(observations, dict):
                batch = {key: value[start : start + batch_size] for key, value in observations.items()}
            else:
                batch = observations[start : start + batch_size]
            std = self.get_distribution(obs_as_tensor(batch, self.device)).distribution.stddev
            total, count = total + float(std.sum()), count + std.numel()
            smallest = min(smallest, float(std.min()))
        return total / max(count, 1), smallest

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        # SB3 leaves share_features_extractor out; a prior rebuilt from these parameters needs it.
        data.update(
            state_dependent_std=self.state_dependent_std,
            share_features_extractor=self.share_features_extractor,
        )
        if self.state_dependent_std:
            data.update(log_std_min=self.log_std_min, log_std_max=self.log_std_max)
        return data


class StateStdActorCriticPolicy(RPGActorCriticPolicy):
    """:class:`RPGActorCriticPolicy` with ``state_dependent_std=True`` by default (alias ``"StateStdMlpPolicy"``).

    :param observation_space: Observation space
    :param action_space: Action space
    :param lr_schedule: Learning rate schedule
    :param state_dependent_std: Output the log-std from a head on the actor's features (default True)
    :param kwargs: Every other argument of SB3's ``ActorCriticPolicy``
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        *args: Any,
        state_dependent_std: bool = True,
        **kwargs: Any,
    ):
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            *args,
            state_dependent_std=state_dependent_std,
            **kwargs,
        )


class RPGActorCriticCnnPolicy(RPGActorCriticPolicy):
    """:class:`RPGActorCriticPolicy` with SB3's ``NatureCNN`` features (alias ``"CnnPolicy"``).

    :param observation_space: Observation space (images)
    :param action_space: Action space
    :param lr_schedule: Learning rate schedule
    :param kwargs: Every other argument of :class:`RPGActorCriticPolicy`
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        **kwargs: Any,
    ):
        kwargs.setdefault("features_extractor_class", NatureCNN)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


class RPGMultiInputActorCriticPolicy(RPGActorCriticPolicy):
    """:class:`RPGActorCriticPolicy` for dict observations (alias ``"MultiInputPolicy"``).

    :param observation_space: Observation space (a ``Dict``)
    :param action_space: Action space
    :param lr_schedule: Learning rate schedule
    :param kwargs: Every other argument of :class:`RPGActorCriticPolicy`
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        **kwargs: Any,
    ):
        kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


POLICY_ALIASES: dict[str, type[ActorCriticPolicy]] = {
    "MlpPolicy": RPGActorCriticPolicy,
    "StateStdMlpPolicy": StateStdActorCriticPolicy,
    "CnnPolicy": RPGActorCriticCnnPolicy,
    "MultiInputPolicy": RPGMultiInputActorCriticPolicy,
}
