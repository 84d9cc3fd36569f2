"""Fixtures for the code blocks of README.md and docs/*.md, which `make test` runs as tests.

pytest-markdown-docs turns every ```python fence into a test (``--markdown-docs``, set in pyproject):
a snippet that no longer matches the package fails the suite. A fence's info string may name fixtures
(```python fixture:prior_files```), continue the previous fence (``continuation``) or opt out
(``notest``, for fragments that are not runnable on their own).

Each snippet runs in its own temporary directory, so the files it saves land there. Training is cut to
one rollout and one update per ``learn`` call, which checks that the calls are right, not what they
learn: the figures the docs quote come from the benchmark commands they name.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm


@pytest.fixture(autouse=True)
def _snippet_sandbox(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """For code-fence tests only: run in ``tmp_path`` and cut ``learn`` to one rollout."""
    if request.node.get_closest_marker("markdown-docs") is None:
        return
    monkeypatch.chdir(tmp_path)
    full_learn = OnPolicyAlgorithm.learn

    def one_rollout_learn(
        self: OnPolicyAlgorithm, total_timesteps: int, *args, **kwargs
    ) -> OnPolicyAlgorithm:
        # SB3 collects whole rollouts (n_steps per env) until num_timesteps reaches the total: 1 means one
        return full_learn(self, 1, *args, **kwargs)

    monkeypatch.setattr(OnPolicyAlgorithm, "learn", one_rollout_learn)


def _copy_shipped_prior(env: str, model_path: str, vec_normalize_path: str) -> None:
    from sb3_rpg import priors

    prior = priors.get(env)
    shutil.copy(prior.model, model_path)
    shutil.copy(prior.vec_normalize, vec_normalize_path)


@pytest.fixture
def prior_files(_snippet_sandbox: None) -> None:
    """``prior.zip`` and ``prior_vecnormalize.pkl`` in the snippet's directory: the shipped HalfCheetah prior."""
    _copy_shipped_prior("HalfCheetah-v5", "prior.zip", "prior_vecnormalize.pkl")


@pytest.fixture
def env(_snippet_sandbox: None) -> Iterator[object]:
    """A HalfCheetah add-on env and the files of a finished tuning study (docs/tuning.md): the shipped
    prior as ``best.zip`` / ``best_vecnormalize.pkl`` and a ``best_params.yml`` (that export_study writes
    this file and that it loads into ResidualPPO is tests/test_tune.py's business)."""
    from stable_baselines3.common.env_util import make_vec_env

    _copy_shipped_prior("HalfCheetah-v5", "best.zip", "best_vecnormalize.pkl")
    out_dir = Path("tune_runs/residual-halfcheetah")
    out_dir.mkdir(parents=True)
    (out_dir / "best_params.yml").write_text("ent_coef: 0.13472\nprior_coef: 0.17\n")
    vec_env = make_vec_env("sb3_rpg/HalfCheetah-v5", 2, env_kwargs={"reward": "addon"})
    yield vec_env
    vec_env.close()
