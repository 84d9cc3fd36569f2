"""Search spaces, rl-baselines3-zoo style: each sampler suggests values in a space where a uniform (or
log-uniform) prior makes sense, then maps them to ready-to-pass algorithm keyword arguments.

The trial's parameters (``trial.params``) are the transformed values (``one_minus_gamma``,
``n_steps_pow``, ``prior_coef_log10``); the keyword arguments they give are stored in the trial's user
attribute ``kwargs``, which is what ``best_params.yml`` is written from.

Floats are rounded to :data:`SIGNIFICANT_DIGITS` significant digits *before* training, so that the
YAML written from a trial reproduces that trial exactly while staying readable.
"""

from __future__ import annotations

import math
from typing import Any

import optuna

from sb3_rpg.tune.config import TuneConfig

SIGNIFICANT_DIGITS = 4

#: Name of ResidualPPO's ω' parameter in the trial, in log10 space with a floor that means 0.
PRIOR_COEF_LOG10 = "prior_coef_log10"


def round_sig(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """Round to ``digits`` significant digits (0 stays 0).

    :param value: the value
    :param digits: significant digits kept
    :return: the rounded value
    """
    if value == 0 or not math.isfinite(value):
        return float(value)
    return float(f"{value:.{digits - 1}e}")


def greedy_floor(low: float, high: float, greedy_fraction: float) -> float:
    """Lower bound of the log10(ω') interval such that ``greedy_fraction`` of it lies below log10(low).

    :param low: smallest non-zero ω'
    :param high: largest ω'
    :param greedy_fraction: prior probability of ω' = 0, in [0, 1)
    :return: the lower bound of the uniform log10(ω') interval
    """
    span = math.log10(high) - math.log10(low)
    return math.log10(low) - greedy_fraction / (1.0 - greedy_fraction) * span


def sample_prior_coef(trial: optuna.Trial, low: float, high: float, greedy_fraction: float) -> dict[str, Any]:
    """ω' (``prior_coef``), log-uniform on [low, high], with probability ``greedy_fraction`` of 0.

    One continuous parameter, ``prior_coef_log10``, is uniform on ``[floor, log10(high)]``; values below
    ``log10(low)`` mean ω' = 0 (Greedy PPO). Below ``low`` the prior term is negligible anyway, so the
    floor joins the greedy end of the space continuously, and the space stays static (no conditional
    parameter), which suits multivariate TPE and the slice/contour plots. With ``greedy_fraction=0`` it is
    a plain log-uniform ``prior_coef``.

    :param trial: the trial
    :param low: smallest non-zero ω'
    :param high: largest ω'
    :param greedy_fraction: prior probability of ω' = 0
    :return: ``{"prior_coef": ω'}``
    """
    if greedy_fraction == 0:
        return {"prior_coef": round_sig(trial.suggest_float("prior_coef", low, high, log=True))}
    log10_value = trial.suggest_float(
        PRIOR_COEF_LOG10, greedy_floor(low, high, greedy_fraction), math.log10(high)
    )
    greedy = log10_value < math.log10(low)
    return {"prior_coef": 0.0 if greedy else round_sig(10.0**log10_value)}


def sample_ent_coef(trial: optuna.Trial, low: float, high: float) -> dict[str, Any]:
    """α (SoftPPO) or α̂ (ResidualPPO), log-uniform.

    :param trial: the trial
    :param low: lower bound
    :param high: upper bound
    :return: ``{"ent_coef": α}``
    """
    return {"ent_coef": round_sig(trial.suggest_float("ent_coef", low, high, log=True))}


def sample_ppo_params(trial: optuna.Trial, n_envs: int = 1) -> dict[str, Any]:
    """PPO's own hyperparameters, in the zoo's transformed spaces.

    ``gamma`` and ``gae_lambda`` are sampled as ``1 - x`` with x log-uniform (the effective horizon
    1/(1-γ) matters, not γ), ``n_steps`` and ``batch_size`` as powers of two.

    :param trial: the trial
    :param n_envs: number of training envs (the minibatch is at most ``n_steps * n_envs``)
    :return: learning_rate, n_steps, batch_size, n_epochs, gamma, gae_lambda, clip_range, max_grad_norm
    """
    n_steps = 2 ** trial.suggest_int("n_steps_pow", 5, 12)
    batch_size = 2 ** trial.suggest_int("batch_size_pow", 5, 10)
    one_minus_gamma = trial.suggest_float("one_minus_gamma", 1e-4, 0.03, log=True)
    one_minus_gae_lambda = trial.suggest_float("one_minus_gae_lambda", 1e-3, 0.2, log=True)
    return {
        "learning_rate": round_sig(trial.suggest_float("learning_rate", 1e-5, 3e-3, log=True)),
        "n_steps": n_steps,
        "batch_size": min(batch_size, n_steps * n_envs),
        "n_epochs": trial.suggest_categorical("n_epochs", [1, 5, 10, 20]),
        "gamma": round(1.0 - round_sig(one_minus_gamma), 12),
        "gae_lambda": round(1.0 - round_sig(one_minus_gae_lambda), 12),
        "clip_range": round_sig(trial.suggest_float("clip_range", 0.1, 0.4)),
        "max_grad_norm": round_sig(trial.suggest_float("max_grad_norm", 0.3, 5.0, log=True)),
    }


def sample_params(trial: optuna.Trial, config: TuneConfig) -> dict[str, Any]:
    """The tuned keyword arguments of one trial, for the study's algorithm.

    SoftPPO: α; ResidualPPO: ω' and α̂; with ``config.tune_ppo`` the PPO hyperparameters as well.

    :param trial: the trial (an ``optuna.trial.FixedTrial`` replays given parameters)
    :param config: the study's configuration (ranges, algorithm, n_envs)
    :return: keyword arguments of :class:`~sb3_rpg.SoftPPO` or :class:`~sb3_rpg.ResidualPPO`
    """
    kwargs: dict[str, Any] = {}
    if config.algo == "residual_ppo":
        kwargs.update(sample_prior_coef(trial, *config.prior_coef_range, config.greedy_fraction))
    kwargs.update(sample_ent_coef(trial, *config.ent_coef_range))
    if config.tune_ppo:
        kwargs.update(sample_ppo_params(trial, config.n_envs))
    return kwargs
