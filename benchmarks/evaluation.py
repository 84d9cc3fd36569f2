"""Evaluation of the benchmark runs: periodic evaluations during training (curves, best checkpoint,
resume points) and the final evaluations of the last and best checkpoints, all deterministic and on
the full task so that total, basic and add-on returns are all recorded."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from stable_baselines3.common.callbacks import BaseCallback

from benchmarks.checkpoints import ResumeState, machine, save_checkpoint, save_resume_point, write_atomic
from benchmarks.config import BUDGETS, VARIANTS, RunSpec
from benchmarks.runlock import HEARTBEAT_SECONDS, lock_path
from sb3_rpg import SoftPPO
from sb3_rpg.envs import evaluate_episodes

# Episode seeds of evaluations, far from the training seeds (seed .. seed + n_envs - 1). The same for
# every variant of a seed, so variants are compared on the same episodes (common random numbers).
PERIODIC_EVAL_SEED = 1_000_000
FINAL_EVAL_SEED = 2_000_000
#: Sub-folder of ``checkpoints/`` with every periodic evaluation's policy (``--keep-checkpoints``).
PERIODIC_DIR = "periodic"


class PeriodicEvaluation(BaseCallback):
    """Evaluate every ``eval_freq`` steps (at rollout starts, i.e. right after a policy update), log the
    episodes, and keep the checkpoint with the highest mean ``objective`` as ``best``.

    Evaluations taken before the actor is first updated (step 0 and, for ResidualPPO, the critic
    warm-up, during which the actor is the prior) are recorded for the curves but cannot be "best":
    otherwise a customization that only degrades the prior would report the prior itself.
    """

    def __init__(
        self,
        spec: RunSpec,
        run_dir: Path,
        warmup_steps: float = 0.0,
        resume: ResumeState | None = None,
        keep_checkpoints: bool = False,
    ) -> None:
        """:param warmup_steps: steps of Residual PPO's critic warm-up (no "best" before).
        :param resume: the resume point this segment continues from (None: a fresh run).
        :param keep_checkpoints: also keep the policy of every periodic evaluation, as
            ``checkpoints/periodic/step-<step>.zip`` (+ statistics), so that a checkpoint picked later by
            another rule than the objective can be evaluated (:mod:`benchmarks.reselect`). Not part of
            the run's identity: it changes no update and no evaluation."""
        super().__init__(verbose=0)
        self.spec = spec
        self.budget = spec.settings()
        self.objective = VARIANTS[spec.variant].objective
        self.run_dir = run_dir
        self.warmup_steps = warmup_steps
        self.keep_checkpoints = keep_checkpoints
        self.next_eval = 0
        self.frames: list[pd.DataFrame] = []
        self.best_value = -np.inf
        self.best_step: int | None = None
        self.seconds_before = 0.0  # training time of earlier segments
        self.resumed_from: list[int] = []
        self.resumed_on: list[dict[str, Any] | None] = []  # the machine of each resumed segment
        if resume is not None:
            self.next_eval, self.best_value, self.best_step = (
                resume.next_eval,
                resume.best_value,
                resume.best_step,
            )
            self.seconds_before, self.resumed_from = resume.train_seconds, [*resume.resumed_from, resume.step]
            # Resume points written before `resumed_on` existed leave their segments' machines unknown.
            known = resume.resumed_on + [None] * (len(resume.resumed_from) - len(resume.resumed_on))
            self.resumed_on = [*known[: len(resume.resumed_from)], machine()]
            earlier = pd.read_csv(run_dir / "evaluations.csv")  # may hold evaluations after the resume point
            self.frames = [earlier[earlier["timesteps"] <= resume.step]]
        self.segment_start = time.time()
        self.lock = lock_path(run_dir)
        self.last_heartbeat = time.time()

    @property
    def train_seconds(self) -> float:
        """Training wall time over all segments (periodic evaluations included)."""
        return self.seconds_before + time.time() - self.segment_start

    def _on_step(self) -> bool:
        if time.time() - self.last_heartbeat > HEARTBEAT_SECONDS:  # the run's lock stays fresh
            self.last_heartbeat = time.time()
            if self.lock.exists():
                os.utime(self.lock)
        return True

    def _on_rollout_start(self) -> None:
        if self.model.num_timesteps >= self.next_eval:
            self.next_eval = self.model.num_timesteps + self.budget.eval_freq
            self.evaluate(resume_point=True)

    def evaluate(self, dump: bool = False, resume_point: bool = False) -> None:
        """Evaluate the current policy, append to evaluations.csv, update the best checkpoint.

        :param dump: write the logger now (after ``learn``); during training the values go out with
            SB3's next regular dump, so progress.csv keeps one row per iteration.
        :param resume_point: also save a resume point (before the best checkpoint, so that a kill in
            between leaves a resume point that knows the new best and re-saves it).
        """
        steps = self.model.num_timesteps
        frame = evaluate(self.model, self.spec, self.budget.eval_episodes, PERIODIC_EVAL_SEED)
        frame.insert(0, "timesteps", steps)
        self.frames.append(frame)
        # Rewritten whole each time, and read back on resume: atomically, so a kill cannot truncate it.
        history = pd.concat(self.frames, ignore_index=True).to_csv(index=False)
        write_atomic(self.run_dir / "evaluations.csv", history)
        for column in ("total_return", "basic_return", "addon_return", "addon_metric_mean", "length"):
            self.logger.record(f"eval/{column}", float(frame[column].mean()))
        value = float(frame[self.objective].mean())
        improved = steps > self.warmup_steps and value > self.best_value
        if improved:
            self.best_value, self.best_step = value, steps
        if resume_point:
            state = ResumeState(
                steps,
                self.next_eval,
                self.best_value,
                self.best_step,
                self.train_seconds,
                self.resumed_from,
                self.resumed_on,
            )
            save_resume_point(self.model, self.run_dir / "checkpoints", state)
        if improved:
            save_checkpoint(self.model, self.run_dir / "checkpoints", "best")
        if self.keep_checkpoints:
            save_checkpoint(self.model, self.run_dir / "checkpoints" / PERIODIC_DIR, f"step-{steps}")
        self.logger.record("eval/best_" + self.objective, self.best_value)
        if dump:
            self.logger.dump(steps)


def evaluate(
    model: SoftPPO, spec: RunSpec, episodes: int, base_seed: int, vec_normalize: Path | None = None
) -> pd.DataFrame:
    """Deterministic evaluation on the full task (so total, basic and add-on returns are all recorded).

    :param model: the policy to evaluate (its own VecNormalize is used unless ``vec_normalize`` is given).
    :param spec: the run (env, seed, budget).
    :param episodes: number of episodes.
    :param base_seed: episode ``k`` resets with ``base_seed + 1000 * seed + k``.
    :param vec_normalize: saved observation statistics of a loaded checkpoint.
    :return: one row per episode (see ``sb3_rpg.envs.evaluate_episodes``).
    """
    budget = BUDGETS[spec.budget]  # the horizon only, which no block overrides: no YAML read per evaluation
    env_kwargs: dict[str, Any] = {"reward": "full"}
    if budget.eval_max_episode_steps is not None:
        env_kwargs["max_episode_steps"] = budget.eval_max_episode_steps
    return evaluate_episodes(
        model,
        spec.env_id,
        n_episodes=episodes,
        deterministic=True,
        seed=base_seed + 1000 * spec.seed,
        env_kwargs=env_kwargs,
        vec_normalize=vec_normalize,
        n_envs=min(episodes, 10),  # batched policy calls; rows do not depend on n_envs
    )


def write_final_evaluation(run_dir: Path, spec: RunSpec, checkpoint: str, episodes: pd.DataFrame) -> None:
    """Write a checkpoint's final-evaluation episodes as ``eval_<checkpoint>.csv``, labelled with the run
    (``env``, ``variant``, ``run_seed``) and the checkpoint (``final``, ``best``) as the report reads them."""
    frame = episodes.copy()
    for position, (column, value) in enumerate(
        (("env", spec.env), ("variant", spec.variant), ("run_seed", spec.seed), ("checkpoint", checkpoint))
    ):
        frame.insert(position, column, value)
    frame.to_csv(Path(run_dir) / f"eval_{checkpoint}.csv", index=False)


def summary(frame: pd.DataFrame) -> dict[str, float]:
    columns = ("total_return", "basic_return", "addon_return", "addon_metric_mean", "length")
    return {f"{column}_mean": float(frame[column].mean()) for column in columns} | {
        f"{column}_std": float(frame[column].std(ddof=0)) for column in columns
    }
