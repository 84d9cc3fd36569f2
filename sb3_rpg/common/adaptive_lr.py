"""rsl-rl's adaptive learning rate: shrink the step when an update moved the policy too far, grow it when
it barely moved, so that each update's KL divergence stays near a target.

The paper trained with rsl-rl's PPO, whose learning rate follows this rule (``desired_kl`` 0.01). SB3's
``target_kl`` only stops an update's epochs early; here the learning rate itself adapts, on one of two
schedules (``kl_adaptation``):

- ``"update"``: once per update, from the KL divergence between the policy that collected the rollout
  and the updated one, over the whole rollout (:func:`rollout_kl`);
- ``"minibatch"``: rsl-rl's schedule, before every optimizer step, from the KL divergence between the
  rollout's policy and the current one on that step's minibatch (:func:`minibatch_kl`), so that the
  learning rate can move ``n_epochs × n_minibatches`` times per update. It runs as an optimizer step
  pre-hook, SB3's ``PPO.train`` loop untouched.

Both use the rule of rsl-rl (factor 1.5, bounds, thresholds); the KL is Schulman's k3 sample estimate on
the rollout's actions where rsl-rl computes the Gaussians' KL analytically (an SB3 rollout keeps the
actions' log-probabilities, not the distributions).
"""

from __future__ import annotations

import math

import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import DictRolloutBufferSamples, RolloutBufferSamples

#: rsl-rl's factor and bounds (rsl_rl/algorithms/ppo.py, ``schedule == "adaptive"``).
LR_FACTOR = 1.5
MIN_LR = 1e-5
MAX_LR = 1e-2
#: When the learning rate adapts: once per update, or before each minibatch step (rsl-rl's).
KL_ADAPTATIONS = ("update", "minibatch")


def check_desired_kl(desired_kl: float | None) -> float | None:
    """Return ``desired_kl`` as a float (or None), or raise a ValueError unless it is finite and > 0."""
    if desired_kl is None:
        return None
    if isinstance(desired_kl, bool) or not isinstance(desired_kl, (int, float)):
        raise TypeError(f"desired_kl must be a number or None, got {type(desired_kl).__name__}")
    if not math.isfinite(desired_kl) or desired_kl <= 0:
        raise ValueError(f"desired_kl must be finite and > 0 (rsl-rl uses 0.01), got {desired_kl}")
    return float(desired_kl)


def check_kl_adaptation(kl_adaptation: str) -> str:
    """Return ``kl_adaptation``, or raise a ValueError unless it is one of :data:`KL_ADAPTATIONS`."""
    if kl_adaptation not in KL_ADAPTATIONS:
        raise ValueError(f"kl_adaptation must be one of {KL_ADAPTATIONS}, got {kl_adaptation!r}")
    return kl_adaptation


def check_lr_bounds(bounds: tuple[float, float] | list[float]) -> tuple[float, float]:
    """Return ``bounds`` as ``(lowest, highest)`` floats, or raise a ValueError unless
    ``0 < lowest < highest`` and both are finite."""
    try:
        lowest, highest = (float(value) for value in bounds)
    except (TypeError, ValueError):
        raise ValueError(
            f"adaptive_lr_bounds must be two numbers (lowest, highest), got {bounds!r}"
        ) from None
    if not (math.isfinite(lowest) and math.isfinite(highest) and 0 < lowest < highest):
        raise ValueError(
            f"adaptive_lr_bounds must be finite with 0 < lowest < highest (rsl-rl: {MIN_LR}, {MAX_LR}), got {bounds!r}"
        )
    return lowest, highest


def adapt_learning_rate(
    learning_rate: float, kl: float, desired_kl: float, bounds: tuple[float, float] = (MIN_LR, MAX_LR)
) -> float:
    """The next learning rate after an update whose KL divergence was ``kl``.

    ``kl > 2·desired_kl``: divide by 1.5 (not below ``bounds[0]``, rsl-rl's 1e-5); ``0 < kl < desired_kl / 2``:
    multiply by 1.5 (not above ``bounds[1]``, rsl-rl's 1e-2); otherwise (or a NaN KL) unchanged.
    """
    if kl > 2.0 * desired_kl:
        return max(bounds[0], learning_rate / LR_FACTOR)
    if 0.0 < kl < 0.5 * desired_kl:
        return min(bounds[1], learning_rate * LR_FACTOR)
    return learning_rate


Samples = RolloutBufferSamples | DictRolloutBufferSamples


def _k3_sum(policy: ActorCriticPolicy, batch: Samples) -> tuple[float, int]:
    """Sum of ``(r - 1) - log r`` over the batch's samples (r = π_new/π_old), and their number."""
    actions = batch.actions
    if isinstance(policy.action_space, spaces.Discrete):  # as in PPO.train
        actions = actions.long().flatten()
    log_prob = policy.get_distribution(batch.observations).log_prob(actions)
    log_ratio = log_prob - batch.old_log_prob
    return float(((th.exp(log_ratio) - 1) - log_ratio).sum()), log_ratio.numel()


@th.no_grad()
def rollout_kl(policy: ActorCriticPolicy, buffer: RolloutBuffer, batch_size: int) -> float:
    """KL(π_old ‖ π_new) over the rollout's samples, estimated as SB3's ``approx_kl``
    (``E[(r - 1) - log r]``, r = π_new/π_old, Schulman's k3 estimator) after the update.

    :param policy: the updated policy
    :param buffer: the rollout the update was computed on (its ``log_probs`` are π_old's)
    :param batch_size: samples per forward pass
    """
    total, count = 0.0, 0
    for batch in buffer.get(batch_size):
        batch_total, batch_count = _k3_sum(policy, batch)
        total += batch_total
        count += batch_count
    return total / max(count, 1)


@th.no_grad()
def minibatch_kl(policy: ActorCriticPolicy, batch: Samples) -> float:
    """KL(π_old ‖ π) on one minibatch, estimated as :func:`rollout_kl` does, for the current policy."""
    total, count = _k3_sum(policy, batch)
    return total / max(count, 1)
