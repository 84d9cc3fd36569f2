"""What a tuning study needs to know: the :class:`TuneConfig`, and the fixed hyperparameters read from YAML.

The YAML file follows rl-baselines3-zoo's layout: one top-level key per env (``HalfCheetah-v5:``), holding
the algorithm's keyword arguments plus a few keys that are not algorithm arguments (:data:`RUN_KEYS`:
``n_envs``, ``normalize``, ``n_timesteps``, ``policy``, and ``evaluation``, the benchmark runner's
periodic evaluation). ``policy_kwargs`` is a mapping whose
``activation_fn`` may be a string (``"nn.ReLU"``, ``"relu"``); ``learning_rate`` and ``clip_range`` may be
zoo-style linear schedules (``"lin_3e-4"``).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml
from stable_baselines3.common.utils import LinearSchedule
from torch import nn

from sb3_rpg.common.prior import sibling_vec_normalize

ALGOS = ("soft_ppo", "residual_ppo")
OBJECTIVES = ("return", "pareto")
PRUNERS = ("median", "none")
SAMPLERS = ("tpe", "random")

#: Keys of a hyperparameter block that set up the run rather than the algorithm.
RUN_KEYS = ("n_envs", "normalize", "n_timesteps", "policy", "evaluation")

_ALGO_ALIASES = {
    "soft_ppo": "soft_ppo",
    "softppo": "soft_ppo",
    "soft-ppo": "soft_ppo",
    "residual_ppo": "residual_ppo",
    "residualppo": "residual_ppo",
    "residual-ppo": "residual_ppo",
}


def canonical_algo(name: str) -> str:
    """Map ``SoftPPO``/``soft-ppo``/... to ``soft_ppo`` and the like.

    :param name: an algorithm name, any case
    :return: one of :data:`ALGOS`
    """
    try:
        return _ALGO_ALIASES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; choose one of {ALGOS}") from None


@dataclass
class TuneConfig:
    """Everything that defines a study and its trials; picklable so that worker processes get a copy.

    :param algo: ``"soft_ppo"`` or ``"residual_ppo"``
    :param env_id: any registered Gymnasium id (``"Pendulum-v1"``, ``"sb3_rpg/HalfCheetah-v5"``)
    :param n_trials: total number of finished (complete or pruned) trials the study should reach, counted
        over every worker and every earlier run against the same storage
    :param n_timesteps: training budget of one trial (None: the YAML's ``n_timesteps``)
    :param env_kwargs: keyword arguments of ``gymnasium.make`` for training (e.g. ``{"reward": "addon"}``)
    :param eval_env_kwargs: overrides of ``env_kwargs`` for the evaluation env
    :param hyperparams: fixed algorithm keyword arguments (the YAML block, run keys included);
        tuned values override them
    :param prior: ResidualPPO's prior (path of a saved SB3 ``.zip``); overrides a ``prior`` in ``hyperparams``
    :param prior_vec_normalize: path of the ``VecNormalize`` ``.pkl`` the prior was trained under
    :param objective: ``"return"`` (mean evaluation return of the env reward) or ``"pareto"`` (basic and
        add-on returns on ``reward="full"``, two objectives)
    :param tune_ppo: also tune the PPO hyperparameters (learning rate, n_steps, batch size, ...)
    :param ent_coef_range: log-uniform range of α (α̂)
    :param prior_coef_range: log-uniform range of the non-zero ω'
    :param greedy_fraction: prior probability of ω' = 0 (Greedy PPO) in ResidualPPO's search space
    :param n_evaluations: evaluations per trial (the last one, after training, is the trial's value)
    :param n_eval_episodes: episodes per evaluation
    :param eval_seed: seed of the evaluation episodes (the same for every trial, so trials are compared on
        the same episodes)
    :param pruner: ``"median"`` or ``"none"`` (always ``"none"`` in pareto mode)
    :param n_startup_trials: trials sampled at random before TPE starts, and before the pruner prunes
    :param n_warmup_evaluations: evaluations of a trial before the pruner may prune it (None: a third)
    :param sampler: ``"tpe"`` or ``"random"``
    :param study_name: name of the study in the storage (None: ``<algo>-<env>``)
    :param storage: Optuna storage URL, or a path (no ``://``) for a journal file (None: SQLite in out_dir)
    :param out_dir: where the database (by default), the YAML, CSV and plots go (None:
        ``tune_runs/<study_name>``)
    :param workers: worker processes on this machine, each running trials against the storage
    :param seed: sampler seed (worker ``i`` uses ``seed + i``); None: unseeded
    :param timeout: seconds after which a worker starts no new trial (None: no limit)
    :param heartbeat_interval: seconds between a running trial's heartbeats in an RDB storage, so that
        trials of killed workers are failed and retried (0: off)
    :param device: torch device of the models
    :param torch_threads: ``torch.set_num_threads`` of each worker
    :param gym_packages: modules to import before making envs (they register extra env ids)
    :param verbose: SB3 verbosity of the trained models
    """

    algo: str
    env_id: str
    n_trials: int
    n_timesteps: int | None = None
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    eval_env_kwargs: dict[str, Any] = field(default_factory=dict)
    hyperparams: dict[str, Any] = field(default_factory=dict)
    prior: str | None = None
    prior_vec_normalize: str | None = None
    objective: str = "return"
    tune_ppo: bool = False
    ent_coef_range: tuple[float, float] = (1e-5, 0.5)
    prior_coef_range: tuple[float, float] = (1e-4, 1.0)
    greedy_fraction: float = 0.2
    n_evaluations: int = 10
    n_eval_episodes: int = 5
    eval_seed: int = 0
    pruner: str = "median"
    n_startup_trials: int = 5
    n_warmup_evaluations: int | None = None
    sampler: str = "tpe"
    study_name: str | None = None
    storage: str | None = None
    out_dir: str | None = None
    workers: int = 1
    seed: int | None = None
    timeout: float | None = None
    heartbeat_interval: int = 60
    device: str = "cpu"
    torch_threads: int = 1
    gym_packages: list[str] = field(default_factory=list)
    verbose: int = 0

    def __post_init__(self) -> None:
        self.algo = canonical_algo(self.algo)
        # A ppo.yml block's `customize:` overrides apply to ResidualPPO only (the CLI and the API alike).
        self.hyperparams = customization_block(self.hyperparams, self.algo == "residual_ppo")
        for name, value, choices in (
            ("objective", self.objective, OBJECTIVES),
            ("pruner", self.pruner, PRUNERS),
            ("sampler", self.sampler, SAMPLERS),
        ):
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        if self.n_timesteps is None and "n_timesteps" in self.hyperparams:
            self.n_timesteps = int(float(self.hyperparams["n_timesteps"]))  # zoo files write 1e6
        if self.n_timesteps is None or self.n_timesteps < 1:
            raise ValueError("n_timesteps must be given (argument or the YAML's n_timesteps) and >= 1")
        if self.n_trials < 0 or self.workers < 1 or self.n_evaluations < 1 or self.n_eval_episodes < 1:
            raise ValueError("n_trials must be >= 0 and workers, n_evaluations, n_eval_episodes >= 1")
        if not 0 <= self.greedy_fraction < 1:
            raise ValueError(f"greedy_fraction must be in [0, 1), got {self.greedy_fraction}")
        for name in ("ent_coef_range", "prior_coef_range"):
            low, high = (float(v) for v in getattr(self, name))
            if not 0 < low < high or not math.isfinite(high):
                raise ValueError(f"{name} must be 0 < low < high, got ({low}, {high})")
            setattr(self, name, (low, high))
        if self.algo == "residual_ppo" and self.prior is None and "prior" not in self.hyperparams:
            raise ValueError("ResidualPPO needs a prior: --prior path.zip (or a `prior` key in the YAML)")
        if self.algo == "residual_ppo":
            self._check_prior_statistics()
            self._default_addon_reward()
        if self.study_name is None:
            self.study_name = f"{self.algo}-{self.env_id.replace('/', '-').replace(':', '-')}"
        if self.out_dir is None:
            self.out_dir = str(Path("tune_runs") / self.study_name)
        self.out_dir = str(self.out_dir)
        if self.storage is None:
            self.storage = f"sqlite:///{Path(self.out_dir) / self.study_name}.db"

    def _default_addon_reward(self) -> None:
        """On the add-on tasks (whose default is ``reward="full"``), ResidualPPO trains on r_R alone:
        the prior term stands in for the basic reward, which must not be counted twice. Without a
        ``reward`` in ``env_kwargs``, train on ``"addon"`` and evaluate on ``"full"``, and say so."""
        if "reward" in self.env_kwargs:
            return
        from sb3_rpg.envs.evaluation import is_customization_task

        try:
            customization = is_customization_task(self.env_id)
        except gym.error.Error:  # not registered (yet): a gym package imported by the workers
            return
        if not customization:
            return
        self.env_kwargs = {**self.env_kwargs, "reward": "addon"}
        if "reward" not in self.eval_env_kwargs:
            self.eval_env_kwargs = {**self.eval_env_kwargs, "reward": "full"}
        warnings.warn(
            f"{self.env_id}: ResidualPPO trains on the add-on reward, so env_kwargs reward='addon' (and evaluation "
            f"on reward={self.eval_env_kwargs['reward']!r}) were set; pass --env-kwargs reward=... to choose.",
            UserWarning,
            stacklevel=3,
        )

    def _check_prior_statistics(self) -> None:
        """Warn when the block normalises observations but the prior's statistics are nowhere to be found.

        ResidualPPO normalises observations with its prior's frozen statistics only (the block's
        ``norm_obs`` is dropped, see ``make_train_env``); a prior trained under ``VecNormalize`` but given
        without them would silently see raw observations for the whole study.
        """
        normalize = self.normalize_kwargs
        if normalize is None or not normalize.get("norm_obs", True):
            return
        if self.prior_vec_normalize is not None or self.hyperparams.get("prior_vec_normalize") is not None:
            return
        prior = self.prior if self.prior is not None else self.hyperparams.get("prior")
        if isinstance(prior, str) and sibling_vec_normalize(prior) is not None:
            return
        warnings.warn(
            f"the hyperparameters normalise observations but no statistics were given for the prior {prior!r} "
            "(--prior-vec-normalize) nor found beside it (<stem>_vecnormalize.pkl): the prior and the actor "
            "copied from it will see raw observations. Right if the prior was trained on raw observations; "
            "otherwise pass its VecNormalize .pkl.",
            UserWarning,
            stacklevel=3,
        )

    @property
    def n_envs(self) -> int:
        """Number of training envs (the YAML's ``n_envs``, default 1)."""
        return int(self.hyperparams.get("n_envs", 1))

    @property
    def policy(self) -> str:
        """Policy name (the YAML's ``policy``, default ``"MlpPolicy"``)."""
        return str(self.hyperparams.get("policy", "MlpPolicy"))

    @property
    def normalize_kwargs(self) -> dict[str, Any] | None:
        """Keyword arguments of the training env's ``VecNormalize``, or None for no normalisation."""
        normalize = self.hyperparams.get("normalize", False)
        if isinstance(normalize, str):  # zoo files may quote a dict literal
            normalize = yaml.safe_load(normalize.replace("True", "true").replace("False", "false"))
        if normalize is True:
            return {}
        if not normalize:
            return None
        if not isinstance(normalize, dict):
            raise TypeError(f"normalize must be a bool or a mapping, got {normalize!r}")
        return dict(normalize)

    @property
    def directions(self) -> list[str]:
        """Optuna directions of the study's objectives."""
        return ["maximize", "maximize"] if self.objective == "pareto" else ["maximize"]

    @property
    def eval_kwargs(self) -> dict[str, Any]:
        """``gymnasium.make`` keyword arguments of the evaluation env."""
        kwargs = {**self.env_kwargs, **self.eval_env_kwargs}
        if self.objective == "pareto":
            kwargs["reward"] = "full"
        return kwargs


def resolve_activation(name: str | type[nn.Module]) -> type[nn.Module]:
    """Turn ``"nn.ReLU"``, ``"torch.nn.Tanh"``, ``"relu"`` or ``"ReLU"`` into the ``torch.nn`` class.

    :param name: a class name of ``torch.nn`` (any case, optionally prefixed) or the class itself
    :return: the activation class
    """
    if isinstance(name, type):
        return name
    key = name.strip().removeprefix("torch.").removeprefix("nn.").lower()
    classes = {
        attr.lower(): getattr(nn, attr)
        for attr in dir(nn)
        if isinstance(getattr(nn, attr), type) and issubclass(getattr(nn, attr), nn.Module)
    }
    if key not in classes:
        raise ValueError(f"unknown activation_fn {name!r}: not a torch.nn module")
    return classes[key]


def _schedule(value: Any) -> Any:
    """A zoo-style ``"lin_<start>"`` string becomes a linear decay to 0; anything else is returned as is."""
    if isinstance(value, str) and value.startswith("lin_"):
        return LinearSchedule(float(value.removeprefix("lin_")), 0.0, 1.0)
    return value


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _number(value: Any) -> Any:
    """``"1e-3"`` becomes 1e-3: PyYAML (YAML 1.1) reads exponents without a dot as strings."""
    return float(value) if isinstance(value, str) and _NUMBER.match(value.strip()) else value


def algorithm_kwargs(hyperparams: dict[str, Any]) -> dict[str, Any]:
    """The algorithm keyword arguments of a hyperparameter block, made ready for the constructor.

    :param hyperparams: a YAML block (run keys and zoo-style strings allowed)
    :return: the block without :data:`RUN_KEYS`, with string activations and schedules resolved
    """
    kwargs = {key: _number(value) for key, value in hyperparams.items() if key not in RUN_KEYS}
    for key in ("learning_rate", "clip_range", "clip_range_vf"):
        if key in kwargs:
            kwargs[key] = _schedule(kwargs[key])
    if isinstance(kwargs.get("policy_kwargs"), str):
        raise TypeError(
            "policy_kwargs must be a YAML mapping, not a string (zoo's `dict(...)` strings are not eval'd)"
        )
    if kwargs.get("policy_kwargs"):
        policy_kwargs = {key: _number(value) for key, value in kwargs["policy_kwargs"].items()}
        if "activation_fn" in policy_kwargs:
            policy_kwargs["activation_fn"] = resolve_activation(policy_kwargs["activation_fn"])
        kwargs["policy_kwargs"] = policy_kwargs
    return kwargs


#: Key of a block's optional mapping of overrides that apply only when a prior is customized (ResidualPPO).
CUSTOMIZE_KEY = "customize"


def customization_block(block: dict[str, Any], customize: bool) -> dict[str, Any]:
    """A hyperparameter block's settings for training from scratch (``customize=False``: the block without
    its ``customize:`` mapping) or for customizing a prior with ResidualPPO (``True``: the block with the
    ``customize:`` values overriding its own). Blocks without ``customize:`` are returned unchanged.

    :param block: a YAML block as read (see :func:`load_hyperparams`)
    :param customize: whether the block configures a ResidualPPO customization
    """
    block = dict(block)
    overrides = block.pop(CUSTOMIZE_KEY, None) or {}
    if not isinstance(overrides, dict):
        raise TypeError(f"{CUSTOMIZE_KEY}: must be a mapping of hyperparameters, got {overrides!r}")
    return {**block, **overrides} if customize else block


def load_hyperparams(path: str | Path, key: str | None = None, env_id: str | None = None) -> dict[str, Any]:
    """Read one block of a zoo-style hyperparameter YAML file.

    :param path: the YAML file
    :param key: the top-level key to read; None: ``env_id``, then ``env_id`` without its namespace
        (``sb3_rpg/HalfCheetah-v5`` -> ``HalfCheetah-v5``), then the file itself if it is a flat mapping
    :param env_id: the tuned env id, to find the block when ``key`` is None
    :return: the block, unresolved (see :func:`algorithm_kwargs`)
    """
    with open(path) as file:
        content = yaml.safe_load(file) or {}
    if not isinstance(content, dict):
        raise TypeError(f"{path}: expected a mapping at the top level")
    candidates = [key] if key is not None else [env_id, env_id.split("/")[-1] if env_id else None]
    for candidate in candidates:
        if candidate is not None and candidate in content:
            block = content[candidate]
            if not isinstance(block, dict):
                raise ValueError(f"{path}: key {candidate!r} does not hold a mapping")
            return dict(block)
    if key is None and not any(
        isinstance(value, dict) and key_ != "policy_kwargs" for key_, value in content.items()
    ):
        return content  # a flat file: the block itself
    raise KeyError(f"{path}: no block {candidates[0]!r} (keys: {sorted(content)})")


def parse_kwargs(items: list[str] | None) -> dict[str, Any]:
    """Parse ``["reward=addon", "max_episode_steps:50"]`` or ``['{"reward": "addon"}']`` into a dict.

    :param items: ``key=value`` (or zoo's ``key:value``) strings whose values are read as YAML, or one
        JSON object
    :return: the keyword arguments
    """
    if not items:
        return {}
    if len(items) == 1 and items[0].lstrip().startswith("{"):
        parsed = json.loads(items[0])
        if not isinstance(parsed, dict):
            raise ValueError(f"expected a JSON object, got {items[0]!r}")
        return parsed
    kwargs: dict[str, Any] = {}
    for item in items:
        separator = "=" if "=" in item else ":"
        key, sep, value = item.partition(separator)
        if not sep or not key:
            raise ValueError(f"expected key=value, got {item!r}")
        kwargs[key.strip()] = yaml.safe_load(value)
    return kwargs
