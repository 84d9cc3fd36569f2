"""Train and evaluate one run of the grid; its folder is complete once ``result.json`` exists.

Folder of a run (``RunSpec.run_dir``)::

    config.yaml              spec, hyperparameters, coefficients, command line, versions
    logs/                    SB3 logger: progress.csv and tensorboard events
    monitor/                 training episodes (SB3 Monitor)
    evaluations.csv          periodic evaluations, one row per episode, with ``timesteps``
    checkpoints/{best,last}.zip and {best,last}_vecnormalize.pkl
    eval_final.csv, eval_best.csv   final evaluation of the last and of the best checkpoint
    result.json              summary, written last and atomically: the run is finished
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import VecNormalize

from benchmarks.checkpoints import (
    ResumeState,
    checkpoint_files,
    clear_resume_point,
    load_resume_state,
    machine,
    save_checkpoint,
    write_atomic,
)
from benchmarks.config import (
    PRIOR_VARIANT,
    VARIANTS,
    RunSpec,
    algorithm_kwargs,
    coefficients,
)
from benchmarks.evaluation import (
    FINAL_EVAL_SEED,
    PeriodicEvaluation,
    evaluate,
    summary,
    write_final_evaluation,
)
from benchmarks.runlock import acquire_lock
from sb3_rpg import ResidualPPO, SoftPPO
from sb3_rpg.envs import StepInfoLogger

RESULT_FILE = "result.json"
ALGORITHMS = {"SoftPPO": SoftPPO, "ResidualPPO": ResidualPPO}
# A resumed segment's envs and RNG are seeded seed + stride * (number of resumes): new episodes.
RESUME_SEED_STRIDE = 10_000


def is_finished(run_dir: Path) -> bool:
    """A run is finished exactly when its ``result.json`` exists (it is written last)."""
    return (Path(run_dir) / RESULT_FILE).is_file()


def stale_reason(spec: RunSpec, results_dir: Path) -> str | None:
    """Why a finished run no longer matches what the grid would train now, or None.

    A finished run is skipped on re-runs, so a run trained before ``ppo.yml`` or ``coefficients.yml``
    changed (or under another ``--hyperparams`` file) must not pass for a result of the new values;
    nor may a Table II run whose prior was retrained after it.
    """
    run_dir = spec.run_dir(results_dir)
    if not is_finished(run_dir):
        return None
    return settings_mismatch(spec, results_dir)


def settings_mismatch(spec: RunSpec, results_dir: Path) -> str | None:
    """Why the run folder's ``config.yaml`` does not match what the grid would train now, or None.

    The prior of a Table II run is compared by content (``prior_digest``), not by file times: run
    folders are committed (``benchmarks/records.py``), and a clone gives every file the same age.
    """
    run_dir = spec.run_dir(results_dir)
    saved_path = run_dir / "config.yaml"
    saved = yaml.safe_load(saved_path.read_text(encoding="utf-8")) if saved_path.is_file() else None
    if not isinstance(saved, dict):
        return "its config.yaml is missing or unreadable"
    if saved.get("ppo") != spec.ppo():
        return "trained with other PPO hyperparameters"
    if saved.get("coefficients") != coefficients(spec.env, spec.variant):
        return "trained with other coefficients"
    if (saved.get("budget") or {}).get("timesteps") != spec.settings().timesteps:
        return "trained for another number of steps"
    for dep in spec.dependencies():
        dep_result = dep.run_dir(results_dir) / RESULT_FILE
        if not dep_result.is_file():
            return f"its prior {dep.name} is gone (moved to stale/ or deleted)"
        dep_reason = stale_reason(dep, results_dir)
        if dep_reason is not None:
            return f"its prior {dep.name} is stale ({dep_reason})"
        digest = prior_digest(spec, results_dir)
        if digest is None:
            return f"its prior {dep.name} has no best checkpoint"
        if (saved.get("prior") or {}).get("sha256") != digest:
            return f"its prior {dep.name} was retrained after it"
    return None


def prior_paths(spec: RunSpec, results_dir: Path) -> tuple[Path, Path]:
    """The prior of a Table II run: best checkpoint and VecNormalize of the ``soft`` run, same env/seed."""
    prior_dir = spec.dependencies()[0].run_dir(results_dir) if spec.dependencies() else None
    if prior_dir is None:
        raise ValueError(f"{spec.name} has no prior")
    return prior_dir / "checkpoints" / "best.zip", prior_dir / "checkpoints" / "best_vecnormalize.pkl"


def prior_digest(spec: RunSpec, results_dir: Path) -> str | None:
    """SHA-256 of the prior checkpoint (``best.zip``) of a Table II run, None if it is missing: saved in
    the run's config.yaml, so that a retrained prior makes the run stale."""
    model, _ = prior_paths(spec, results_dir)
    return hashlib.sha256(model.read_bytes()).hexdigest() if model.is_file() else None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def run_config(spec: RunSpec, results_dir: Path, command: str) -> dict[str, Any]:
    """Everything that defines the run, as saved to ``config.yaml``."""
    budget = spec.settings()
    variant = VARIANTS[spec.variant]
    config: dict[str, Any] = {
        "run": spec.name,
        "env": spec.env,
        "env_id": spec.env_id,
        "variant": spec.variant,
        "label": variant.label,
        "seed": spec.seed,
        "algorithm": variant.algorithm,
        "policy": variant.policy,
        "train_reward": variant.reward,
        "entropy_mode": variant.entropy_mode,
        "best_objective": variant.objective,
        # The run's own settings: its env's steps are `timesteps`, so no per-env table.
        "budget": {
            key: getattr(budget, key) for key in budget.__dataclass_fields__ if key != "env_timesteps"
        },
        "ppo": spec.ppo(),
        "coefficients": coefficients(spec.env, spec.variant),
        "command": command,
        "git_commit": _git_commit(),
    }
    config.update(machine())  # the first training segment's; resumed ones are in result.json's resumed_on
    if variant.needs_prior:
        model, stats = prior_paths(spec, results_dir)
        config["prior"] = {
            # relative to the results folder: run folders are committed and cloned elsewhere
            "model": str(model.relative_to(Path(results_dir))),
            "vec_normalize": str(stats.relative_to(Path(results_dir))),
            "sha256": prior_digest(spec, results_dir),
        }
    config["budget"]["seeds"] = list(budget.seeds)
    return config


def make_env(spec: RunSpec, run_dir: Path, resumes: int = 0, suffix: str = "") -> Any:
    """The run's training envs (raw: VecNormalize is added by the caller), with Monitor files in
    ``monitor<suffix>/``."""
    return make_vec_env(
        spec.env_id,
        n_envs=int(spec.ppo()["n_envs"]),
        seed=spec.seed + RESUME_SEED_STRIDE * resumes,
        env_kwargs={"reward": VARIANTS[spec.variant].reward},
        monitor_dir=str(run_dir / f"monitor{suffix}"),
    )


def build_model(spec: RunSpec, run_dir: Path, results_dir: Path) -> SoftPPO:
    """Create the env(s) and the algorithm of a run, as its config says."""
    variant = VARIANTS[spec.variant]
    ppo = spec.ppo()
    kwargs = algorithm_kwargs(ppo)
    coefs = coefficients(spec.env, spec.variant)
    env = make_env(spec, run_dir)
    common = {
        "seed": spec.seed,
        "verbose": 0,
        "device": "cpu",
        "ent_coef": coefs["ent_coef"],
        "entropy_mode": variant.entropy_mode,
    }
    if variant.algorithm == "ResidualPPO":
        prior_model, prior_stats = prior_paths(spec, results_dir)
        # Raw env: ResidualPPO normalizes with the prior's frozen statistics; the actor's architecture is
        # copied from the prior (policy_kwargs left to it).
        kwargs.pop("policy_kwargs", None)
        return ResidualPPO(
            variant.policy,
            env,
            prior=prior_model,
            prior_vec_normalize=prior_stats,
            prior_coef=coefs["prior_coef"],
            critic_warmup=coefs["critic_warmup"],
            **common,
            **kwargs,
        )
    normalize = dict(ppo.get("normalize") or {})
    if normalize:
        env = VecNormalize(env, **normalize)
    return SoftPPO(variant.policy, env, **common, **kwargs)


def resume_model(spec: RunSpec, run_dir: Path, state: ResumeState) -> SoftPPO:
    """Load the run's resume point onto fresh envs (its VecNormalize statistics, still updating)."""
    resumes = len(state.resumed_from) + 1
    env = make_env(spec, run_dir, resumes, suffix=f"-resumed-{state.step}")
    model_path, stats_path = checkpoint_files(run_dir / "checkpoints", state.name)
    if stats_path.is_file():
        env = VecNormalize.load(str(stats_path), env)
    model = ALGORITHMS[VARIANTS[spec.variant].algorithm].load(model_path, env=env, device="cpu")
    model.set_random_seed(spec.seed + RESUME_SEED_STRIDE * resumes)
    return model


def run_one(
    spec: RunSpec, results_dir: Path, command: str = "", keep_checkpoints: bool = False
) -> dict[str, Any]:
    """Train, checkpoint and evaluate one run; return the content of its ``result.json``.

    ``keep_checkpoints``: also keep every periodic evaluation's policy
    (:class:`benchmarks.evaluation.PeriodicEvaluation`).

    A finished run is returned as is. An unfinished folder (a killed run) continues from its resume
    point (the last periodic evaluation, see ``benchmarks/checkpoints.py``) if its settings still match
    the grid's; otherwise, or without a resume point, it is wiped and the run restarts from scratch. A
    run that a live process holds the lock of raises :class:`RunLocked`.
    """
    torch.set_num_threads(1)  # several runs share few cores; more threads only contend
    results_dir = Path(results_dir)
    run_dir = spec.run_dir(results_dir)
    if is_finished(run_dir):
        return json.loads((run_dir / RESULT_FILE).read_text())
    for dep in spec.dependencies():
        if not is_finished(dep.run_dir(results_dir)):
            raise RuntimeError(f"{spec.name} needs {dep.name}, which has not finished")
    lock = acquire_lock(run_dir)
    try:
        if is_finished(run_dir):  # finished by another runner between the check above and the lock
            return json.loads((run_dir / RESULT_FILE).read_text())
        return _train_and_evaluate(spec, results_dir, run_dir, command, keep_checkpoints)
    finally:
        lock.unlink(missing_ok=True)


def _train_and_evaluate(
    spec: RunSpec, results_dir: Path, run_dir: Path, command: str, keep_checkpoints: bool = False
) -> dict[str, Any]:
    """The body of :func:`run_one`, under the run's lock."""
    budget = spec.settings()
    checkpoints = run_dir / "checkpoints"
    resume = load_resume_state(checkpoints)
    if resume is not None and settings_mismatch(spec, results_dir) is not None:
        resume = None  # trained with other settings (or before its prior was retrained): start over
    warmup_steps = coefficients(spec.env, spec.variant).get("critic_warmup", 0.0) * budget.timesteps
    start = time.time()
    if resume is None:
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        config = run_config(spec, results_dir, command)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        model = build_model(spec, run_dir, results_dir)
        model.set_logger(configure(str(run_dir / "logs"), ["csv", "tensorboard"]))
    else:
        config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
        model = resume_model(spec, run_dir, resume)
        if resume.best_step == resume.step:  # killed between the resume point and the best checkpoint
            save_checkpoint(model, checkpoints, "best")
        model.set_logger(configure(str(run_dir / f"logs-resumed-{resume.step}"), ["csv", "tensorboard"]))
    callback = PeriodicEvaluation(spec, run_dir, warmup_steps, resume, keep_checkpoints)
    done = resume.step if resume is not None else 0
    if done < budget.timesteps:
        # rollout/basic_reward etc.: the basic task in the log of runs that do not train on it
        callbacks = [callback, StepInfoLogger()]
        model.learn(budget.timesteps - done, callback=callbacks, reset_num_timesteps=resume is None)
        train_seconds = callback.train_seconds
        # The final policy is a periodic point (and a best candidate) too, and a resume point: a kill
        # during the final evaluations below resumes here, with best.zip and resume.json agreeing.
        callback.evaluate(dump=True, resume_point=True)
    else:  # killed during the final evaluations: training and its last periodic evaluation are done
        assert resume is not None
        train_seconds = resume.train_seconds
    save_checkpoint(model, checkpoints, "last")
    if callback.best_step is None:  # no evaluation after the first actor update (tiny budgets)
        save_checkpoint(model, checkpoints, "best")
        callback.best_step, callback.best_value = model.num_timesteps, float("nan")

    final = evaluate(model, spec, budget.final_episodes, FINAL_EVAL_SEED)
    if callback.best_step == model.num_timesteps:
        best = final.copy()  # the best checkpoint is the final one: same deterministic episodes
    else:
        algorithm = ALGORITHMS[VARIANTS[spec.variant].algorithm]
        best_model = algorithm.load(checkpoints / "best.zip", device="cpu")
        stats = checkpoints / "best_vecnormalize.pkl"
        best = evaluate(
            best_model, spec, budget.final_episodes, FINAL_EVAL_SEED, stats if stats.exists() else None
        )
    for name, frame in (("final", final), ("best", best)):
        write_final_evaluation(run_dir, spec, name, frame)

    result = {
        "status": "finished",
        "run": spec.name,
        "env": spec.env,
        "variant": spec.variant,
        "seed": spec.seed,
        "budget": spec.budget,
        "timesteps": int(model.num_timesteps),
        "train_seconds": train_seconds,
        "total_seconds": callback.seconds_before + time.time() - start,
        "steps_per_second": model.num_timesteps / train_seconds,
        "best_objective": VARIANTS[spec.variant].objective,
        "best_step": int(callback.best_step),
        "best_periodic_value": callback.best_value,
        "final": summary(final),
        "best": summary(best),
        "prior": config.get("prior"),
        "is_prior_of_table2": spec.variant == PRIOR_VARIANT,
        "resumed_from": callback.resumed_from,
        "resumed_on": callback.resumed_on,
    }
    write_atomic(run_dir / RESULT_FILE, json.dumps(result, indent=2) + "\n")
    clear_resume_point(checkpoints)
    return result
