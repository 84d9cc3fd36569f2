"""The two smoke runs the benchmark tests share, and a way to kill a run mid-training.

Not a test module: ``tests/conftest.py`` trains SOFT and RESIDUAL once per session (the ``results``
fixture); test modules import these names (pytest puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import pytest

from benchmarks import evaluation
from benchmarks.config import make_spec
from benchmarks.training import run_one

# ``--budget smoke``: 4096 steps, 2 short evaluation episodes
SOFT = make_spec("HalfCheetah-v5", "soft", 0, "smoke")  # Table I, and the prior of RESIDUAL
RESIDUAL = make_spec("HalfCheetah-v5", "residual", 0, "smoke")  # Table II


class Killed(Exception):
    """Stands for a kill right after the first resume point was written."""


def kill_after_first_resume_point(spec, results_dir, monkeypatch) -> None:
    """Start the run with command "first" and stop it once it saved its resume point at step 2048."""
    real_save = evaluation.save_resume_point

    def save_then_die(model, directory, state):
        real_save(model, directory, state)
        if state.step > 0:
            raise Killed

    monkeypatch.setattr(evaluation, "save_resume_point", save_then_die)
    with pytest.raises(Killed):
        run_one(spec, results_dir, command="first")
