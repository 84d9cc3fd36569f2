"""The objective of a study: train one SoftPPO/ResidualPPO with the trial's coefficients, evaluate it.

Intermediate evaluations are reported to the pruner (single-objective mode only: Optuna cannot prune
multi-objective trials). A run whose log-probs, losses, weights or returns turn NaN/inf, or that dies
on a NaN inside torch, ends as a *pruned* trial whose user attributes ``prune_reason``/``prune_detail``
say why, so that one unstable corner of the search space does not crash the whole study.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import optuna
import pandas as pd
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from sb3_rpg.envs import evaluate_episodes
from sb3_rpg.residual_ppo import ResidualPPO
from sb3_rpg.soft_ppo import SoftPPO
from sb3_rpg.tune.config import TuneConfig, algorithm_kwargs
from sb3_rpg.tune.samplers import sample_params

logger = logging.getLogger(__name__)

ALGO_CLASSES: dict[str, type[SoftPPO]] = {"soft_ppo": SoftPPO, "residual_ppo": ResidualPPO}

#: Prune reasons (the trial's ``prune_reason`` user attribute).
PRUNED_BY_PRUNER = "pruner"
PRUNED_NON_FINITE = "non_finite"

# torch.distributions' "found invalid values: tensor([nan, ...])", "probability tensor contains inf/nan",
# SB3's and our own "non-finite" messages.
_NON_FINITE_MESSAGE = re.compile(r"\bnan\b|\binf\b|non-finite|invalid values", re.IGNORECASE)


def non_finite_error(error: BaseException) -> bool:
    """Whether an exception raised during training or evaluation means the run went NaN/inf.

    :param error: the exception (``NonFiniteLogProbError`` is a ``FloatingPointError``)
    :return: True for floating-point errors and for value/runtime/assertion errors that mention NaN/inf
    """
    if isinstance(error, FloatingPointError):
        return True
    return isinstance(error, (ValueError, RuntimeError, AssertionError)) and bool(
        _NON_FINITE_MESSAGE.search(str(error))
    )


def non_finite_state(model: BaseAlgorithm) -> str | None:
    """Describe the first non-finite weight or logged training loss of ``model``, if any.

    Checked at every rollout start: a NaN loss turns the weights NaN through the optimizer step, and the
    next rollout would otherwise fail deep inside torch with a less telling message.

    :param model: the model being trained
    :return: a description, or None if everything is finite
    """
    for key, value in model.logger.name_to_value.items():
        if (
            key.startswith("train/")
            and isinstance(value, (float, int, np.floating))
            and not math.isfinite(value)
        ):
            return f"{key} = {value} at timestep {model.num_timesteps}"
    with th.no_grad():
        for name, param in model.policy.named_parameters():
            if not th.isfinite(param).all():
                return f"policy weight {name} is non-finite at timestep {model.num_timesteps}"
    return None


class TrialEvalCallback(BaseCallback):
    """Evaluates at evenly spaced timesteps, reports to the trial, and stops training when the trial should
    be pruned or the run has gone non-finite.

    Evaluations happen at rollout starts, i.e. right after a ``train()``, never in the middle of a rollout.
    Evaluation ``k`` (1-based, the Optuna step, so that trials with different ``n_steps`` are compared
    at the same points) is due once ``num_timesteps >= k * eval_freq``; evaluations skipped by a rollout
    longer than ``eval_freq`` get the same value.

    :param trial: the trial to report to
    :param evaluate: maps the model to its mean evaluation return
    :param eval_freq: timesteps (over all envs) between evaluations
    :param n_evaluations: evaluations of the trial; the last one is done after training, not here
    :param report: report and prune (False: only the non-finite checks, as in pareto mode)
    """

    def __init__(
        self,
        trial: optuna.Trial,
        evaluate: Callable[[BaseAlgorithm], float],
        eval_freq: int,
        n_evaluations: int,
        report: bool = True,
    ):
        super().__init__()
        self.trial = trial
        self.evaluate = evaluate
        self.eval_freq = max(1, eval_freq)
        self.n_evaluations = n_evaluations
        self.report = report
        self.next_evaluation = 1
        self.stop_reason: str | None = None
        self.stop_detail = ""

    def _stop(self, reason: str, detail: str) -> None:
        self.stop_reason, self.stop_detail = reason, detail

    def _on_rollout_start(self) -> None:
        if self.stop_reason is not None:
            return
        state = non_finite_state(self.model)
        if state is not None:
            self._stop(PRUNED_NON_FINITE, state)
            return
        due = []
        while (
            self.next_evaluation < self.n_evaluations
            and self.num_timesteps >= self.next_evaluation * self.eval_freq
        ):
            due.append(self.next_evaluation)
            self.next_evaluation += 1
        if not (self.report and due):
            return
        value = self.evaluate(self.model)
        if not math.isfinite(value):
            self._stop(PRUNED_NON_FINITE, f"evaluation return {value} at timestep {self.num_timesteps}")
            return
        for step in due:
            self.trial.report(value, step)
        if self.trial.should_prune():
            self._stop(
                PRUNED_BY_PRUNER, f"evaluation {due[-1]} (timestep {self.num_timesteps}): return {value:.4g}"
            )

    def _on_step(self) -> bool:
        return self.stop_reason is None


def make_train_env(config: TuneConfig, seed: int, gamma: float | None = None) -> VecEnv:
    """The training envs of a trial: ``n_envs`` copies in a DummyVecEnv, under VecNormalize if asked
    (for ResidualPPO, rewards only: observations are normalised with the prior's statistics).

    :param config: the study's configuration
    :param seed: seed of the envs
    :param gamma: the algorithm's discount, for VecNormalize's return normalisation
    :return: the vectorised env
    """
    env = make_vec_env(config.env_id, n_envs=config.n_envs, seed=seed, env_kwargs=config.env_kwargs)
    normalize = config.normalize_kwargs
    if normalize is not None and config.algo == "residual_ppo":
        # ResidualPPO normalises observations with its prior's frozen statistics (--prior-vec-normalize),
        # as the benchmarks do; learning new ones would change what the copied actor sees.
        normalize["norm_obs"] = False
        if not normalize.get("norm_reward", True):
            normalize = None
    if normalize is not None:
        if gamma is not None:
            normalize.setdefault("gamma", gamma)
        env = VecNormalize(env, **normalize)
    return env


def check_pareto_env(config: TuneConfig) -> None:
    """Fail early unless the evaluation env reports ``info["basic_reward"]`` and ``info["addon_reward"]``.

    :param config: the study's configuration (pareto mode)
    """
    message = (
        f"--objective pareto needs an env that takes reward='full' and whose info reports basic_reward and "
        f"addon_reward (the sb3_rpg/ add-on tasks); {config.env_id}"
    )
    try:
        env = gym.make(config.env_id, **config.eval_kwargs)
    except TypeError as error:
        raise ValueError(f"{message} fails: {error}") from error
    try:
        env.reset(seed=0)
        info = env.step(env.action_space.sample())[-1]
    finally:
        env.close()
    missing = [key for key in ("basic_reward", "addon_reward") if key not in info]
    if missing:
        raise ValueError(f"{message} lacks {missing}")


class Objective:
    """Callable objective of a study: one trial = sample, train, evaluate.

    :param config: the study's configuration
    """

    def __init__(self, config: TuneConfig):
        self.config = config
        self.algo_class = ALGO_CLASSES[config.algo]
        self.fixed_kwargs = algorithm_kwargs(config.hyperparams)
        if config.prior is not None:
            self.fixed_kwargs["prior"] = config.prior
        if config.prior_vec_normalize is not None:
            self.fixed_kwargs["prior_vec_normalize"] = config.prior_vec_normalize
        if config.algo == "residual_ppo" and self.fixed_kwargs.pop("policy_kwargs", None):
            # The actor is a copy of the prior's, so its architecture must be the prior's (ResidualPPO
            # takes it from the prior when policy_kwargs is None), whatever the shared YAML block says.
            logger.info("ResidualPPO: the YAML's policy_kwargs are ignored, the prior's architecture is used")
        self.pareto = config.objective == "pareto"
        self.eval_freq = config.n_timesteps // config.n_evaluations
        if self.pareto:
            check_pareto_env(config)

    def evaluate(self, model: BaseAlgorithm) -> pd.DataFrame:
        """Evaluate ``model`` deterministically on the study's fixed evaluation episodes.

        :param model: the trained model (its VecNormalize statistics, if any, are used frozen)
        :return: one row per episode (see :func:`sb3_rpg.envs.evaluate_episodes`)
        """
        return evaluate_episodes(
            model,
            self.config.env_id,
            n_episodes=self.config.n_eval_episodes,
            deterministic=True,
            seed=self.config.eval_seed,
            env_kwargs=self.config.eval_kwargs,
        )

    def mean_return(self, model: BaseAlgorithm) -> float:
        """Mean evaluation return of the env reward (the single objective).

        :param model: the model
        :return: the mean of ``total_return``
        """
        return float(self.evaluate(model)["total_return"].mean())

    def build_model(self, tuned: dict[str, Any], seed: int) -> SoftPPO:
        """Construct the algorithm with the fixed and the tuned keyword arguments.

        :param tuned: the trial's sampled keyword arguments (they override the fixed ones)
        :param seed: seed of the model and its envs
        :return: the model, its envs attached
        """
        kwargs = {**self.fixed_kwargs, **tuned}
        env = make_train_env(self.config, seed, kwargs.get("gamma"))
        kwargs.update(seed=seed, device=self.config.device, verbose=self.config.verbose)
        try:
            return self.algo_class(self.config.policy, env, **kwargs)
        except BaseException:
            env.close()
            raise

    def _prune(self, trial: optuna.Trial, reason: str, detail: str) -> optuna.TrialPruned:
        trial.set_user_attr("prune_reason", reason)
        trial.set_user_attr("prune_detail", detail[:500])
        return optuna.TrialPruned(f"{reason}: {detail}")

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        tuned = sample_params(trial, self.config)
        seed = trial.number
        trial.set_user_attr("kwargs", tuned)
        trial.set_user_attr("seed", seed)
        model = self.build_model(tuned, seed)
        callback = TrialEvalCallback(
            trial, self.mean_return, self.eval_freq, self.config.n_evaluations, report=not self.pareto
        )
        try:
            model.learn(self.config.n_timesteps, callback=callback)
            if callback.stop_reason is not None:
                raise self._prune(trial, callback.stop_reason, callback.stop_detail)
            state = non_finite_state(model)
            if state is not None:
                raise self._prune(trial, PRUNED_NON_FINITE, state)
            episodes = self.evaluate(model)
        except optuna.TrialPruned:
            raise
        except Exception as error:
            if not non_finite_error(error):
                raise
            message = " ".join(str(error).split())[:300]  # torch appends the whole NaN tensor
            raise self._prune(trial, PRUNED_NON_FINITE, f"{type(error).__name__}: {message}") from error
        finally:
            trial.set_user_attr("timesteps", int(model.num_timesteps))
            if model.env is not None:
                model.env.close()
        means = episodes.mean(numeric_only=True)
        trial.set_user_attr("total_return", float(means["total_return"]))
        if self.pareto:
            values = (float(means["basic_return"]), float(means["addon_return"]))
        else:
            values = (float(means["total_return"]),)
        if not all(math.isfinite(value) for value in values):
            raise self._prune(trial, PRUNED_NON_FINITE, f"final evaluation returned {values}")
        if self.pareto:
            return values
        trial.report(values[0], self.config.n_evaluations)
        return values[0]
