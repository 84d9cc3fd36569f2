"""Storage, study creation and the worker loop: several processes (on one machine or many) run trials of
one study until it holds ``n_trials`` finished (complete or pruned) trials.

Storage choices:

- an RDB URL (default ``sqlite:///<out_dir>/<study_name>.db``; ``postgresql://...`` for several machines).
  SQLite gets a 30 s lock timeout so that workers writing at the same moment wait instead of failing with
  "database is locked"; RDB storages also get a heartbeat, so that the running trial of a killed worker
  (SLURM preemption, OOM kill) is failed and re-queued once (``RetryHeartbeatStaleTrialCallback``);
- a plain path (no ``://``): an Optuna journal file with a file lock (``JournalFileOpenLock``, which also
  works on NFS). Journal storages have no heartbeat.

The target is a total: each worker stops once the trials that are finished, running or queued reach
``n_trials`` (Optuna's ``MaxTrialsCallback`` over those states), and a trial that still finds the target
reached when it starts (two workers having asked at the same moment) is failed at once as a surplus
(user attribute ``fail_reason``) instead of training.
"""

from __future__ import annotations

import importlib
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy.exc
import torch as th
from optuna.pruners import BasePruner, MedianPruner, NopPruner
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.storages import BaseStorage, JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from sb3_rpg.tune.config import TuneConfig, algorithm_kwargs
from sb3_rpg.tune.objective import Objective
from sb3_rpg.tune.samplers import sample_params

logger = logging.getLogger(__name__)

#: States that count towards the target ``n_trials``.
FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
#: States of trials that will count once done: a worker starts no new trial when these reach the target.
CLAIMED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)

#: Objective mode -> names of its objectives.
METRIC_NAMES = {"return": ("mean_return",), "pareto": ("basic_return", "addon_return")}

SQLITE_TIMEOUT_S = 30
# Study attributes that must agree between the runs and workers of one study.
_IDENTITY_ATTRS = (
    "algo",
    "env_id",
    "objective",
    "n_timesteps",
    "env_kwargs",
    "eval_env_kwargs",
    "n_evaluations",
    "n_eval_episodes",
    "ent_coef_range",
    "prior_coef_range",
)


def study_identity(config: TuneConfig) -> dict[str, Any]:
    """What makes trials of one study comparable: resuming a study with other values is refused (a trial
    trained for fewer steps, or scored on another reward, would be ranked against the others).

    :param config: the study's configuration
    :return: JSON-normalised values, keyed by :data:`_IDENTITY_ATTRS`
    """
    identity = {
        "algo": config.algo,
        "env_id": config.env_id,
        "objective": config.objective,
        "n_timesteps": config.n_timesteps,
        "env_kwargs": config.env_kwargs,
        "eval_env_kwargs": config.eval_kwargs,
        "n_evaluations": config.n_evaluations,
        "n_eval_episodes": config.n_eval_episodes,
        "ent_coef_range": config.ent_coef_range,
        "prior_coef_range": config.prior_coef_range,
    }
    return json.loads(json.dumps(identity, sort_keys=True, default=str))


class SurplusTrial(Exception):
    """A trial started after other workers had already claimed the whole target."""


def make_storage(url: str, heartbeat_interval: int = 60) -> BaseStorage:
    """Open (creating if needed) an Optuna storage.

    :param url: an RDB URL (``sqlite:///file.db``, ``postgresql://user:pw@host/db``, ...), or a file path
        for a journal storage
    :param heartbeat_interval: heartbeat period of running trials in seconds, RDB only (0: off); a trial
        whose heartbeat is 3 periods old is failed and retried once
    :return: the storage
    """
    if "://" not in url:
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(url, lock_obj=JournalFileOpenLock(url)))
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    else:
        engine_kwargs = {"pool_pre_ping": True}  # long trials outlive idle database connections
    heartbeat: dict[str, Any] = {}
    # Processes that open a fresh database at the same moment race to create its tables; the loser sees
    # an OperationalError and simply finds the tables there on a retry.
    for attempt in range(5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                if heartbeat_interval > 0:
                    heartbeat = {
                        "heartbeat_interval": heartbeat_interval,
                        "grace_period": 3 * heartbeat_interval,
                        "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(max_retry=1),
                    }
                return RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat)
        except sqlalchemy.exc.OperationalError:
            if attempt == 4:
                raise
            time.sleep(1.0 + attempt)
    raise AssertionError("unreachable")


def make_sampler(config: TuneConfig, worker_index: int = 0, n_existing_trials: int = 0) -> BaseSampler:
    """TPE (multivariate, with the constant liar so that parallel workers spread out) or random search.

    :param config: the study's configuration
    :param worker_index: offsets the seed, so that workers do not propose the same points
    :param n_existing_trials: trials already in the study; offsets the seed too, so that a resumed
        seeded study does not propose its first points again
    :return: the sampler
    """
    seed = None if config.seed is None else config.seed + worker_index + 1000 * n_existing_trials
    if config.sampler == "random":
        return RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return TPESampler(
            n_startup_trials=config.n_startup_trials, multivariate=True, constant_liar=True, seed=seed
        )


def make_pruner(config: TuneConfig) -> BasePruner:
    """The median pruner over evaluation indices, or none (always none in pareto mode: Optuna does not
    support pruning multi-objective trials).

    :param config: the study's configuration
    :return: the pruner
    """
    if config.pruner == "none" or config.objective == "pareto":
        return NopPruner()
    warmup = config.n_warmup_evaluations
    if warmup is None:
        warmup = config.n_evaluations // 3
    return MedianPruner(n_startup_trials=config.n_startup_trials, n_warmup_steps=warmup)


def open_study(config: TuneConfig, worker_index: int = 0, pruner: BasePruner | None = None) -> optuna.Study:
    """Create the study, or load it if it exists, and check it is the same kind of study.

    :param config: the study's configuration
    :param worker_index: index of the worker on this machine (sampler seed offset)
    :param pruner: overrides :func:`make_pruner` (tests, custom pruners)
    :return: the study
    """
    assert config.storage is not None and config.study_name is not None
    study = optuna.create_study(
        storage=make_storage(config.storage, config.heartbeat_interval),
        study_name=config.study_name,
        sampler=make_sampler(config, worker_index),
        pruner=pruner if pruner is not None else make_pruner(config),
        directions=config.directions,
        load_if_exists=True,
    )
    if [d.name.lower() for d in study.directions] != config.directions:
        raise ValueError(
            f"study {config.study_name!r} in {config.storage} has directions {study.directions}, "
            f"but objective={config.objective!r} needs {config.directions}: use another --study-name"
        )
    if study.trials and config.seed is not None:  # resumed: same seed, new points
        study.sampler = make_sampler(config, worker_index, len(study.trials))
    if not study.metric_names:  # names the CSV columns and the plot axes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(METRIC_NAMES[config.objective]))
    identity = study_identity(config)
    stored = study.user_attrs
    for key in _IDENTITY_ATTRS:
        if key not in stored:
            study.set_user_attr(key, identity[key])
        elif stored[key] != identity[key]:
            raise ValueError(
                f"study {config.study_name!r} was created with {key}={stored[key]!r}, not {identity[key]!r}: "
                "use another --study-name"
            )
    return study


def count_trials(study: optuna.Study, states: tuple[TrialState, ...] = FINISHED_STATES) -> int:
    """Number of trials of ``study`` in ``states``.

    :param study: the study
    :param states: the states counted
    :return: the count
    """
    return len(study.get_trials(deepcopy=False, states=states))


class TargetGuard:
    """Wraps an objective so that a trial started when the target was already claimed is failed at once.

    :param objective: the objective
    :param target: the study's total ``n_trials``
    """

    def __init__(self, objective: Callable[[optuna.Trial], Any], target: int):
        self.objective = objective
        self.target = target

    def __call__(self, trial: optuna.Trial) -> Any:
        claimed = trial.study.get_trials(deepcopy=False, states=CLAIMED_STATES)
        if sum(other.number < trial.number for other in claimed) >= self.target:
            trial.study.stop()
            trial.set_user_attr("fail_reason", "surplus: the target was reached by other workers")
            raise SurplusTrial(f"trial {trial.number}: the study already has its {self.target} trials")
        return self.objective(trial)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM (SLURM's time limit, ``kill``) into KeyboardInterrupt, which Optuna records as a failed
    trial before the process exits, instead of leaving it RUNNING for ever."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_worker(config: TuneConfig, worker_index: int = 0, pruner: BasePruner | None = None) -> int:
    """Run trials of the study until it has ``config.n_trials`` finished trials (or the timeout).

    This is what each process does; workers on other machines run the same loop against the same storage.

    :param config: the study's configuration
    :param worker_index: index of this worker on its machine
    :param pruner: overrides the configured pruner
    :return: number of trials this worker ran
    """
    th.set_num_threads(config.torch_threads)
    for package in config.gym_packages:
        importlib.import_module(package)
    study = open_study(config, worker_index, pruner)
    with warnings.catch_warnings():  # a killed earlier run's trials must not count as running
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    remaining = config.n_trials - count_trials(study)
    if remaining <= 0:
        return 0
    if count_trials(study, CLAIMED_STATES) >= config.n_trials:
        running = count_trials(study, (TrialState.RUNNING,))
        logger.warning(
            "%d of the %d trials still missing are RUNNING: trials of other workers, or of a killed run. A killed "
            "run's trials are failed once their heartbeat is 3 x %d s old (RDB storage); with --heartbeat 0 or a "
            "journal storage they stay RUNNING: continue under another --study-name, or mark them failed with "
            "optuna's storage API.",
            running,
            remaining,
            config.heartbeat_interval,
        )
        return 0
    before = len(study.get_trials(deepcopy=False))
    with _sigterm_as_interrupt():
        study.optimize(
            TargetGuard(Objective(config), config.n_trials),
            n_trials=remaining,
            timeout=config.timeout,
            callbacks=[MaxTrialsCallback(config.n_trials, states=CLAIMED_STATES)],
            catch=(SurplusTrial,),
            gc_after_trial=True,
        )
    return len(study.get_trials(deepcopy=False)) - before


def _worker_main(config: TuneConfig, worker_index: int, pruner: BasePruner | None) -> None:
    """Entry point of a spawned worker process."""
    os.environ.setdefault("OMP_NUM_THREADS", str(config.torch_threads))
    optuna.logging.set_verbosity(optuna.logging.INFO)
    run_worker(config, worker_index, pruner)


def tuned_keys(config: TuneConfig) -> set[str]:
    """Names of the keyword arguments the search space sets (found by one dry run of the sampler).

    :param config: the study's configuration
    :return: the keyword names
    """

    class LowestTrial:  # answers every suggestion with its lowest value, to see the names it gives
        def suggest_float(self, name: str, low: float, high: float, **_: Any) -> float:
            return low

        def suggest_int(self, name: str, low: int, high: int, **_: Any) -> int:
            return low

        def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
            return choices[0]

    return set(sample_params(LowestTrial(), config))  # type: ignore[arg-type]


def _log_overrides(config: TuneConfig) -> None:
    """Say which fixed (YAML) hyperparameters the search space overrides."""
    overridden = sorted(tuned_keys(config) & set(algorithm_kwargs(config.hyperparams)))
    if overridden:
        logger.warning("tuned hyperparameters override the fixed values of %s", overridden)


def run_study(config: TuneConfig, pruner: BasePruner | None = None) -> optuna.Study:
    """Run the study to ``config.n_trials`` finished trials: in this process (``workers=1``) or in
    ``workers`` spawned processes sharing the storage. Resumes a study that already exists.

    :param config: the study's configuration
    :param pruner: overrides the configured pruner (pickled to the workers)
    :return: the study, loaded from the storage
    """
    Path(config.out_dir).mkdir(parents=True, exist_ok=True)
    _log_overrides(config)
    study = open_study(config, pruner=pruner)  # the parent creates the tables, so workers only load them
    if count_trials(study) >= config.n_trials:
        return study
    if config.workers == 1:
        run_worker(config, 0, pruner)
        return study
    context = multiprocessing.get_context("spawn")  # torch and fork do not mix
    processes = [
        context.Process(target=_worker_main, args=(config, index, pruner), name=f"tune-worker-{index}")
        for index in range(config.workers)
    ]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        for process in processes:  # they got the same SIGINT: let them record their trials as failed
            process.join(timeout=60)
        raise
    failed = [process.name for process in processes if process.exitcode != 0]
    if failed:
        raise RuntimeError(f"worker processes {failed} failed (see their tracebacks above)")
    return study
