"""Checkpoint files of a run, and its resume point: a killed run continues from its last periodic
evaluation instead of starting over (a paper-budget run is an hour or more of CPU).

Files in ``<run>/checkpoints/``::

    best.zip, best_vecnormalize.pkl     the best periodic policy so far (see PeriodicEvaluation)
    last.zip, last_vecnormalize.pkl     the final policy (written when training ends)
    resume-<step>.zip (+ _vecnormalize.pkl)   the policy at the last periodic evaluation
    resume.json                          what else a resume needs; written last and atomically, so it
                                         always names complete files

The resumed segment is not bit-identical to an uninterrupted run (new env episodes, fresh rollout
state; the optimizer state is restored with the model), so ``result.json`` lists the steps it
resumed from.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import stable_baselines3
import torch
from stable_baselines3.common.base_class import BaseAlgorithm

import sb3_rpg
from sb3_rpg.common.prior import VEC_NORMALIZE_SUFFIX

RESUME_FILE = "resume.json"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace``: a reader (or a kill) never
    sees a partial file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine() -> dict[str, Any]:
    """Where a training segment runs: host, CPU and library versions. ``config.yaml`` holds the first
    segment's; a run killed and resumed elsewhere (another machine sharing the results folder) adds one
    per segment to its resume point and ``result.json``, so mixed-machine runs and their throughput
    can be told apart."""
    return {
        "host": platform.node(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "versions": {
            "python": platform.python_version(),
            "torch": str(torch.__version__),
            "stable_baselines3": stable_baselines3.__version__,
            "sb3_rpg": sb3_rpg.__version__,
        },
    }


def checkpoint_files(directory: Path, name: str) -> tuple[Path, Path]:
    """The model zip and observation-statistics pickle of checkpoint ``name``."""
    return directory / f"{name}.zip", directory / f"{name}{VEC_NORMALIZE_SUFFIX}"


def save_checkpoint(model: BaseAlgorithm, directory: Path, name: str) -> None:
    """Save the model zip and, if any, its observation statistics beside it; each file appears whole
    (written under a temporary name, then renamed)."""
    directory.mkdir(parents=True, exist_ok=True)
    zip_path, stats_path = checkpoint_files(directory, name)
    tmp = directory / f".{name}.{os.getpid()}.tmp.zip"
    model.save(tmp)
    os.replace(tmp, zip_path)
    vec_normalize = model.get_vec_normalize_env()
    if vec_normalize is not None:
        tmp = directory / f".{name}.{os.getpid()}.tmp.pkl"
        vec_normalize.save(str(tmp))
        os.replace(tmp, stats_path)


@dataclass
class ResumeState:
    """Where a run stands at its last resume point.

    :param step: the model's ``num_timesteps`` at the resume point.
    :param next_eval: step of the next periodic evaluation.
    :param best_value: best periodic value of the objective so far (-inf before the first).
    :param best_step: step of the best checkpoint (None before the first).
    :param train_seconds: training wall time up to ``step``, over all segments.
    :param resumed_from: steps this run was resumed from, oldest first.
    :param resumed_on: the :func:`machine` of each resumed segment, aligned with ``resumed_from`` (None
        for a segment resumed before this field existed): a run may continue on another machine.
    """

    step: int
    next_eval: int
    best_value: float
    best_step: int | None
    train_seconds: float
    resumed_from: list[int] = field(default_factory=list)
    resumed_on: list[dict[str, Any] | None] = field(default_factory=list)

    @property
    def name(self) -> str:
        """Checkpoint name of the resume point."""
        return f"resume-{self.step}"


def save_resume_point(model: BaseAlgorithm, directory: Path, state: ResumeState) -> None:
    """Save the model (and statistics) as ``resume-<step>``, then ``resume.json``, then delete older
    resume checkpoints."""
    save_checkpoint(model, directory, state.name)
    write_atomic(directory / RESUME_FILE, json.dumps(asdict(state), indent=2) + "\n")
    keep = {path.name for path in checkpoint_files(directory, state.name)}
    for old in directory.glob("resume-*"):
        if old.name not in keep:
            old.unlink(missing_ok=True)


def load_resume_state(directory: Path) -> ResumeState | None:
    """The run's resume point, or None if it has none (or its files are incomplete)."""
    path = directory / RESUME_FILE
    if not path.is_file():
        return None
    try:
        content: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        state = ResumeState(**content)
    except (ValueError, TypeError):
        return None
    return state if checkpoint_files(directory, state.name)[0].is_file() else None


def clear_resume_point(directory: Path) -> None:
    """Delete the resume files once the run is finished."""
    (directory / RESUME_FILE).unlink(missing_ok=True)
    for old in directory.glob("resume-*"):
        old.unlink(missing_ok=True)
