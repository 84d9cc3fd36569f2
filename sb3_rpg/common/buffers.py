"""Rollout buffers that rewrite the reward once per rollout, right before GAE.

The whole of Soft/Residual PPO's difference from PPO lives in :meth:`SoftRewardMixin.rewrite_rewards`:

    r_t  <-  r_t  -  α · log πθ(a_t|s_t)  +  ω' · log π_prior(a_t|s_t)          (paper Eq. 6 and 8)

applied to the whole rollout in one vectorised step (one batched forward pass of the prior), after SB3's
``collect_rollouts`` has filled the buffer and before it calls ``compute_returns_and_advantage``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer

from sb3_rpg.common.checks import check_coef

# Maps the buffer's (flattened) observations and actions to log π_prior(a|s), shape (n_samples,).
PriorLogProbFn = Callable[[np.ndarray | dict[str, np.ndarray], np.ndarray], np.ndarray]


class NonFiniteLogProbError(FloatingPointError):
    """A term of the rewritten reward (a log-probability, or the env's reward) is NaN or infinite."""


class SoftRewardMixin:
    """Reward rewrite shared by :class:`SoftRolloutBuffer` and :class:`SoftDictRolloutBuffer`.

    Storage fields, each of shape ``(n_steps, n_envs)``, valid after ``compute_returns_and_advantage``:

    - ``env_rewards``: the reward SB3 collected: the env's reward (normalised if the env is a
      ``VecNormalize`` with ``norm_reward=True``) plus ``γ·V(s_T)`` on steps cut by a time limit.
    - ``log_probs`` (SB3's field): ``log πθ(a|s)`` of the sampled, unclipped action, at collection time.
    - ``entropy_rewards``: ``-α · log πθ(a|s)``.
    - ``prior_log_probs``: ``log π_prior(a|s)`` (zeros when there is no prior; computed with ``ω' = 0`` too,
      for :meth:`kl_to_prior`).
    - ``prior_rewards``: ``ω' · log π_prior(a|s)`` (zeros when ``ω' = 0``).
    - ``rewards`` (SB3's field): the rewritten reward that GAE sees, ``env + entropy + prior``.

    And ``current_batch``: the minibatch that :meth:`get` yielded last (None before), the one an update
    is stepping on, for the per-minibatch adaptive learning rate (``kl_adaptation="minibatch"``).

    The coefficients are set by the algorithm before each rollout through :meth:`set_reward_terms`, so
    that a coefficient changed between rollouts (by a callback, say) takes effect at once. The rewrite
    always starts from ``env_rewards``: computing the returns twice on one rollout does not apply it twice.
    """

    rewards: np.ndarray
    log_probs: np.ndarray
    observations: np.ndarray | dict[str, np.ndarray]
    actions: np.ndarray
    buffer_size: int
    n_envs: int

    reward_ent_coef: float = 0.0
    prior_coef: float = 0.0
    prior_log_prob_fn: PriorLogProbFn | None = None
    first_timestep: int = 0
    _rewritten: bool = False
    current_batch: Any = None

    def reset(self) -> None:
        super().reset()  # type: ignore[misc]
        self._rewritten = False
        self.current_batch = None

    def get(self, batch_size: int | None = None) -> Generator[Any, None, None]:
        for batch in super().get(batch_size):  # type: ignore[misc]
            self.current_batch = batch
            yield batch

    def set_reward_terms(
        self,
        reward_ent_coef: float,
        prior_coef: float = 0.0,
        prior_log_prob_fn: PriorLogProbFn | None = None,
        first_timestep: int = 0,
    ) -> None:
        """Set the coefficients of the next rewrite.

        :param reward_ent_coef: α (α̂ for Residual PPO), the weight of ``-log πθ`` in the reward
        :param prior_coef: ω', the weight of ``log π_prior`` in the reward
        :param prior_log_prob_fn: batched ``log π_prior(a|s)``; required when ``prior_coef > 0``, and used
            with ``prior_coef == 0`` too, for :meth:`kl_to_prior`
        :param first_timestep: the model's ``num_timesteps`` when the rollout starts, to name the
            global step in error messages
        """
        reward_ent_coef = check_coef("reward_ent_coef", reward_ent_coef)
        prior_coef = check_coef("prior_coef", prior_coef)
        if prior_coef > 0 and prior_log_prob_fn is None:
            raise ValueError("prior_coef > 0 needs a prior_log_prob_fn")
        self.reward_ent_coef = reward_ent_coef
        self.prior_coef = prior_coef
        self.prior_log_prob_fn = prior_log_prob_fn
        self.first_timestep = int(first_timestep)

    def _check_finite(self, values: np.ndarray, term: str) -> None:
        bad = ~np.isfinite(values)
        if bad.any():
            step, env = (int(i) for i in np.argwhere(bad)[0])
            timestep = self.first_timestep + step * self.n_envs + env + 1
            raise NonFiniteLogProbError(
                f"non-finite {term} ({values[step, env]}) at rollout step {step}, env {env} "
                f"(timestep {timestep}); {int(bad.sum())} of {bad.size} values are non-finite"
            )

    def _flat(self, array: np.ndarray) -> np.ndarray:
        return array.reshape(self.buffer_size * self.n_envs, *array.shape[2:])

    def rewrite_rewards(self) -> None:
        """Replace ``rewards`` by ``r - α·log πθ(a|s) + ω'·log π_prior(a|s)``, all steps at once."""
        if not self._rewritten:
            self.env_rewards = self.rewards.copy()
            self._rewritten = True
        self._check_finite(self.env_rewards, "env reward (plus γ·V(s_T) on steps cut by a time limit)")
        self._check_finite(self.log_probs, "log πθ(a|s) (the policy's log-prob)")
        self.entropy_rewards = -self.reward_ent_coef * self.log_probs
        self.prior_log_probs = np.zeros_like(self.rewards)
        self.prior_rewards = np.zeros_like(self.rewards)
        if self.prior_log_prob_fn is not None:  # with ω' = 0 too (Greedy PPO): kl_to_prior needs it
            if isinstance(self.observations, dict):
                observations = {key: self._flat(obs) for key, obs in self.observations.items()}
            else:
                observations = self._flat(self.observations)
            flat = self.prior_log_prob_fn(observations, self._flat(self.actions))
            self.prior_log_probs = np.asarray(flat, dtype=np.float32).reshape(self.buffer_size, self.n_envs)
            if self.prior_coef > 0:  # only a term of the reward must be finite
                self._check_finite(self.prior_log_probs, "log π_prior(a|s) (the prior's log-prob)")
                self.prior_rewards = self.prior_coef * self.prior_log_probs
        self.rewards = (self.env_rewards + self.entropy_rewards + self.prior_rewards).astype(np.float32)

    def compute_returns_and_advantage(self, last_values: th.Tensor, dones: np.ndarray) -> None:
        self.rewrite_rewards()
        super().compute_returns_and_advantage(last_values, dones)  # type: ignore[misc]

    def reward_term_means(self) -> dict[str, float]:
        """Per-rollout means of the reward terms, keyed by their logger names."""
        return {
            "rewards/env": float(np.mean(self.env_rewards)),
            "rewards/entropy_term": float(np.mean(self.entropy_rewards)),
            "rewards/prior_term": float(np.mean(self.prior_rewards)),
            "rewards/total": float(np.mean(self.rewards)),
        }

    def kl_to_prior(self) -> float | None:
        """KL(πθ ‖ π_prior) at the rollout's states, estimated as the mean of ``log πθ(a|s) - log π_prior(a|s)``
        over its samples (a ~ πθ, the policy that collected them); None without a prior.

        The plain (k1) estimator: unbiased, but one rollout's value can be below 0 when the two are close.
        """
        if self.prior_log_prob_fn is None:
            return None
        # Means taken apart: SB3's get() flattens log_probs in place (env-major) once an update has started.
        return float(np.mean(self.log_probs) - np.mean(self.prior_log_probs))


class SoftRolloutBuffer(SoftRewardMixin, RolloutBuffer):
    """SB3's :class:`RolloutBuffer` with the soft/residual reward rewrite (see :class:`SoftRewardMixin`)."""


class SoftDictRolloutBuffer(SoftRewardMixin, DictRolloutBuffer):
    """SB3's :class:`DictRolloutBuffer` with the soft/residual reward rewrite (see :class:`SoftRewardMixin`)."""
