"""Shared fixtures: the smoke runs of benchmarks/, trained once for the whole session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# benchmarks/ is a folder of the repository, not an installed package: importable from the repo root
# (python -m pytest does that, and pyproject's pythonpath), and with a bare `pytest` too thanks to this line.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smoke_runs import RESIDUAL, SOFT


@pytest.fixture(scope="session")
def results(tmp_path_factory) -> Path:
    """A results directory holding the finished smoke runs of SOFT and RESIDUAL."""
    from benchmarks import run as run_cli

    results_dir = tmp_path_factory.mktemp("runs")
    failed = run_cli.Scheduler([SOFT, RESIDUAL], results_dir, workers=1, command="pytest").run()
    assert failed == {}
    return results_dir
