"""The benchmark grid: budgets, variants of the paper's Tables I-III, YAML configs, filters, shards.

A run is one (env, variant, seed) under one budget. Variants are named once across tables (Table I's
``soft`` is also Table III's "Global Std." and Table II's prior), so each run is trained once whatever
tables ask for it. Table II's greedy/kl/residual runs depend on the ``soft`` run of the same env and
seed: :func:`build_grid` adds such dependencies to the grid even when filtered out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sb3_rpg import hyperparams
from sb3_rpg.tune.config import algorithm_kwargs as tune_algorithm_kwargs

HERE = Path(__file__).resolve().parent
PAPER_RESULTS = HERE / "paper_results.yml"
DEFAULT_RUNS_DIR = HERE / "runs"  # git-ignored raw run folders
RESULTS_DIR = HERE / "results"  # committed reports

#: Env keys of the YAML files, in the paper's Table II order; training uses ``sb3_rpg/<key>``.
ENVS: tuple[str, ...] = ("HalfCheetah-v5", "Hopper-v5", "Ant-v5")


@dataclass(frozen=True)
class Budget:
    """How long each run trains and how it is evaluated.

    :param name: budget name, also the sub-folder of the results directory.
    :param timesteps: environment steps per run.
    :param seeds: seeds run by default (``--seeds`` overrides).
    :param final_episodes: episodes of the final evaluation of the final and of the best checkpoint.
    :param eval_points: periodic evaluations per run (every ``timesteps / eval_points`` steps).
    :param eval_episodes: episodes of each periodic evaluation.
    :param eval_max_episode_steps: episode horizon of evaluations; None keeps the env's (1000).
    :param env_timesteps: ``(env, steps)`` pairs that replace ``timesteps`` for those envs (a run's
        steps: :meth:`timesteps_for`).
    """

    name: str
    timesteps: int
    seeds: tuple[int, ...]
    final_episodes: int
    eval_points: int = 20
    eval_episodes: int = 5
    eval_max_episode_steps: int | None = None
    env_timesteps: tuple[tuple[str, int], ...] = ()

    def timesteps_for(self, env: str) -> int:
        """Environment steps of a run on ``env`` (e.g. ``"Hopper-v5"``)."""
        return dict(self.env_timesteps).get(env, self.timesteps)

    @property
    def eval_freq(self) -> int:
        """Steps between periodic evaluations."""
        return max(1, self.timesteps // self.eval_points)


BUDGETS: dict[str, Budget] = {
    # The paper's protocol: 5M steps (Appendix D.2), 5 seeds x 100 episodes = 500 episodes per cell.
    "paper": Budget("paper", 5_000_000, (0, 1, 2, 3, 4), final_episodes=100),
    # A sanity check of the trends within a CPU-day for one env. Hopper's block (the paper budget's) starts
    # hopping after 0.25-1.0M steps (benchmarks/runs/paper/Hopper-v5/soft/seed{0..4}/evaluations.csv: basic
    # return 2947, 247, 515, 2628, 3141 at 381k steps; seed 2 646 at 889k, 1498 at 1.02M), so its quick runs get 1M.
    "quick": Budget("quick", 400_000, (0, 1), final_episodes=20, env_timesteps=(("Hopper-v5", 1_000_000),)),
    # Proves the pipeline only (two rollouts of 2048 steps, short evaluation episodes): numbers mean nothing.
    "smoke": Budget(
        "smoke", 4096, (0,), final_episodes=2, eval_points=2, eval_episodes=2, eval_max_episode_steps=200
    ),
}


@dataclass(frozen=True)
class Variant:
    """One algorithm setting of the paper's tables.

    :param name: key in coefficients.yml and folder name.
    :param label: the paper's row/column label.
    :param algorithm: ``"SoftPPO"`` or ``"ResidualPPO"``.
    :param reward: training reward of the env (``basic``, ``addon`` or ``full``).
    :param entropy_mode: SoftPPO's ``entropy_mode``.
    :param policy: policy alias.
    :param objective: evaluation column that picks the best checkpoint.
    :param needs_prior: trained from the Table I ``soft`` run of the same env and seed.
    """

    name: str
    label: str
    algorithm: str
    reward: str
    entropy_mode: str = "soft"
    policy: str = "MlpPolicy"
    objective: str = "basic_return"
    needs_prior: bool = False


VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in (
        Variant("no_entropy", "No-Entropy PPO", "SoftPPO", "basic"),
        Variant("end_entropy", "End-Entropy PPO", "SoftPPO", "basic", entropy_mode="end"),
        Variant("repeat_entropy", "Repeat-Entropy PPO", "SoftPPO", "basic", entropy_mode="repeat"),
        Variant("soft", "Soft PPO", "SoftPPO", "basic"),
        Variant("soft_state_std", "Soft PPO, State Std.", "SoftPPO", "basic", policy="StateStdMlpPolicy"),
        # Table II's objective is the full task: the best checkpoint maximizes the total return.
        Variant("greedy", "Greedy PPO", "ResidualPPO", "addon", objective="total_return", needs_prior=True),
        Variant("kl", "KL PPO", "ResidualPPO", "addon", objective="total_return", needs_prior=True),
        Variant(
            "residual", "Residual PPO", "ResidualPPO", "addon", objective="total_return", needs_prior=True
        ),
        Variant("full", "Full Policy", "SoftPPO", "full", objective="total_return"),
        # Not in the paper: Residual PPO with ω', α̂ found by `python -m sb3_rpg.tune` (docs/tuning.md);
        # run only on the envs whose coefficients.yml block has it.
        Variant(
            "residual_tuned",
            "Residual PPO (tuned)",
            "ResidualPPO",
            "addon",
            objective="total_return",
            needs_prior=True,
        ),
    )
}

#: The run whose best checkpoint is the prior of Table II (and its "Prior Policy" row).
PRIOR_VARIANT = "soft"

#: Variants trained for each table (Table II's "Prior Policy" row is the prior's evaluation, no run).
TABLES: dict[int, tuple[str, ...]] = {
    1: ("no_entropy", "end_entropy", "repeat_entropy", "soft"),
    2: ("greedy", "kl", "residual", "full", "residual_tuned"),
    3: ("soft", "soft_state_std"),
}


@dataclass(frozen=True, order=True)
class RunSpec:
    """One training run of the grid; the field order is the grid's (dependency-first) order.

    :param stage: 0 for the priors (Soft PPO), 1 for the other runs without prior, 2 for runs that need
        one: priors first, since they are on the critical path of the grid.
    :param env: env key (e.g. ``"HalfCheetah-v5"``).
    :param seed: training seed.
    :param variant: variant name.
    :param budget: budget name.
    :param ppo_file: the PPO hyperparameter file (``ppo.yml`` layout) the run trains with; None for the
        default ``hyperparams/ppo.yml``. Not part of the run's identity: one results directory holds
        one set of hyperparameters, and :func:`benchmarks.training.stale_reason` flags runs trained
        with other values.
    """

    stage: int
    env: str
    seed: int
    variant: str
    budget: str = field(compare=False)
    ppo_file: str | None = field(default=None, compare=False)

    @property
    def env_id(self) -> str:
        """The registered Gymnasium id trained on."""
        return f"sb3_rpg/{self.env}"

    @property
    def name(self) -> str:
        """Readable id, e.g. ``quick/HalfCheetah-v5/soft/seed0``."""
        return f"{self.budget}/{self.env}/{self.variant}/seed{self.seed}"

    def run_dir(self, results_dir: Path) -> Path:
        """The run's folder under the common results directory."""
        return Path(results_dir) / self.budget / self.env / self.variant / f"seed{self.seed}"

    def dependencies(self) -> tuple[RunSpec, ...]:
        """Runs that must finish first: the prior for greedy/kl/residual."""
        if not VARIANTS[self.variant].needs_prior:
            return ()
        return (make_spec(self.env, PRIOR_VARIANT, self.seed, self.budget, self.ppo_file),)

    def settings(self) -> Budget:
        """The run's budget: its env's steps, and the periodic evaluation of its hyperparameter block's
        ``evaluation:`` mapping, if any (see :func:`evaluation_overrides`)."""
        budget = BUDGETS[self.budget]
        steps = budget.timesteps_for(self.env)
        return replace(budget, timesteps=steps, env_timesteps=(), **evaluation_overrides(self.ppo()))

    def ppo(self) -> dict[str, Any]:
        """The run's block of its PPO hyperparameter file (for ResidualPPO, with its ``customize:``
        overrides)."""
        customize = VARIANTS[self.variant].algorithm == "ResidualPPO"
        return ppo_config(self.env, Path(self.ppo_file) if self.ppo_file else None, customize)


#: Keys of a block's optional ``evaluation:`` mapping, and the :class:`Budget` fields they set.
EVALUATION_KEYS = {"episodes": "eval_episodes", "points": "eval_points"}


def evaluation_overrides(block: dict[str, Any]) -> dict[str, int]:
    """The :class:`Budget` fields that a hyperparameter block's ``evaluation:`` mapping sets.

    ``evaluation: {episodes: 20, points: 40}`` evaluates 40 times per run (instead of the budget's 20),
    each time for 20 episodes (instead of 5): more candidates for the best checkpoint, each judged on more
    episodes. It changes which checkpoint is "best", not the training (evaluations use their own envs and
    a deterministic policy). The final evaluations keep the budget's ``final_episodes``.

    :param block: a block of a ``ppo.yml``-layout file.
    :raises TypeError: if ``evaluation`` is not a mapping.
    :raises ValueError: for unknown keys or values that are not positive integers.
    """
    mapping = block.get("evaluation") or {}
    if not isinstance(mapping, dict):
        raise TypeError(f"evaluation must be a mapping of {sorted(EVALUATION_KEYS)}, got {mapping!r}")
    unknown = sorted(set(mapping) - set(EVALUATION_KEYS))
    if unknown:
        raise ValueError(f"unknown evaluation keys {unknown}; choose from {sorted(EVALUATION_KEYS)}")
    for key, value in mapping.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"evaluation {key} must be a positive integer, got {value!r}")
    return {EVALUATION_KEYS[key]: value for key, value in mapping.items()}


def make_spec(env: str, variant: str, seed: int, budget: str, ppo_file: str | None = None) -> RunSpec:
    """Build a :class:`RunSpec` with its stage filled in."""
    stage = 2 if VARIANTS[variant].needs_prior else 0 if variant == PRIOR_VARIANT else 1
    return RunSpec(stage, env, seed, variant, budget, ppo_file)


def resolve_env(name: str) -> str:
    """Map ``HalfCheetah``, ``halfcheetah-v5`` or ``sb3_rpg/HalfCheetah-v5`` to ``HalfCheetah-v5``."""
    short = name.split("/")[-1].lower()
    short = re.sub(r"-v\d+$", "", short)
    for env in ENVS:
        if env.lower().startswith(short + "-v"):
            return env
    raise ValueError(f"unknown env {name!r}; choose from {', '.join(ENVS)}")


def build_grid(
    budget: str,
    tables: tuple[int, ...] = (1, 2, 3),
    envs: tuple[str, ...] | None = None,
    variants: tuple[str, ...] | None = None,
    seeds: tuple[int, ...] | None = None,
    ppo_file: str | Path | None = None,
) -> list[RunSpec]:
    """All runs of the selected tables x envs x variants x seeds, plus their dependencies, sorted.

    :param budget: budget name (its seeds are the default).
    :param tables: table numbers (1, 2, 3).
    :param envs: env names (any spelling :func:`resolve_env` accepts); None for all.
    :param variants: keep only these variants of the selected tables; None for all.
    :param seeds: seeds; None for the budget's.
    :param ppo_file: PPO hyperparameter file replacing ``hyperparams/ppo.yml`` (checked to have a block
        for every selected env).
    :return: the sorted, duplicate-free list (priors before the runs that need them).
    """
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; choose from {', '.join(BUDGETS)}")
    unknown = [table for table in tables if table not in TABLES]
    if unknown:
        raise ValueError(f"unknown tables {unknown}; choose from {sorted(TABLES)}")
    bad = [variant for variant in variants or () if variant not in VARIANTS]
    if bad:
        raise ValueError(f"unknown variants {bad}; choose from {', '.join(VARIANTS)}")
    env_keys = tuple(resolve_env(env) for env in envs) if envs else ENVS
    seed_list = tuple(seeds) if seeds is not None else BUDGETS[budget].seeds
    wanted = {variant for table in tables for variant in TABLES[table]}
    if variants:
        wanted &= set(variants)
    configured = {env: set(hyperparams.load_yaml(hyperparams.COEFFICIENTS_FILE)[env]) for env in env_keys}
    if ppo_file is not None:
        ppo_file = str(Path(ppo_file).resolve())
        for env in env_keys:
            ppo_config(env, Path(ppo_file))  # a missing file or block fails here, before any training
    grid = {
        make_spec(env, variant, seed, budget, ppo_file)
        for env in env_keys
        for variant in wanted & configured[env]
        for seed in seed_list
    }
    grid |= {dep for spec in grid for dep in spec.dependencies()}
    for spec in grid:
        spec.settings()  # a bad `evaluation:` mapping fails here, before any training
    return sorted(grid)


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``"i/N"`` (0 <= i < N) into ``(i, N)``."""
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not match or not 0 <= int(match[1]) < int(match[2]):
        raise ValueError(f"--shard must be i/N with 0 <= i < N, got {text!r}")
    return int(match[1]), int(match[2])


def shard(grid: list[RunSpec], index: int, count: int) -> list[RunSpec]:
    """The runs of shard ``index`` of ``count``: every ``count``-th run of the sorted grid.

    Round-robin over the dependency-ordered grid gives each shard a share of the priors first, so
    that shards rarely wait on each other; a run whose prior is in another shard waits for that
    prior's ``result.json`` in the common results directory.
    """
    return [spec for position, spec in enumerate(sorted(grid)) if position % count == index]


load_yaml = hyperparams.load_yaml


def ppo_config(env: str, path: Path | None = None, customize: bool = False) -> dict[str, Any]:
    """The env's block of ppo.yml (or of ``path``), as written (plain YAML types); ``customize``: with
    the block's ``customize:`` overrides applied (the Table II customizations)."""
    return hyperparams.ppo_block(env, path, customize)


def coefficients(env: str, variant: str, path: Path | None = None) -> dict[str, float]:
    """α (``ent_coef``), ω' (``prior_coef``) and, for ResidualPPO, ``critic_warmup`` of one run."""
    values = hyperparams.coefficients(env, variant, path)
    if (VARIANTS[variant].algorithm == "ResidualPPO") != ("critic_warmup" in values):
        raise ValueError(f"{env}/{variant}: a ResidualPPO variant needs a prior_coef, and only it")
    return values


def algorithm_kwargs(ppo: dict[str, Any]) -> dict[str, Any]:
    """Turn a ppo.yml block into constructor kwargs (without ``n_envs``/``normalize``), with the same
    conversion the tuner applies to these files (``activation_fn`` names become torch modules)."""
    return tune_algorithm_kwargs(ppo)
