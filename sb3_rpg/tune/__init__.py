"""Hyperparameter tuning of SoftPPO (α) and ResidualPPO (ω', α̂) with Optuna (``python -m sb3_rpg.tune``).

See docs/tuning.md. The pieces: :mod:`~sb3_rpg.tune.config` (the study's configuration, YAML
hyperparameters), :mod:`~sb3_rpg.tune.samplers` (search spaces), :mod:`~sb3_rpg.tune.objective`
(train, evaluate, prune), :mod:`~sb3_rpg.tune.study` (storage, workers), :mod:`~sb3_rpg.tune.outputs`
(best_params.yml, trials.csv, plots) and :mod:`~sb3_rpg.tune.cli`.
"""

from sb3_rpg.tune.config import (
    TuneConfig,
    algorithm_kwargs,
    load_hyperparams,
    parse_kwargs,
    resolve_activation,
)
from sb3_rpg.tune.objective import Objective, TrialEvalCallback
from sb3_rpg.tune.outputs import export_study
from sb3_rpg.tune.samplers import sample_params
from sb3_rpg.tune.study import open_study, run_study, run_worker

__all__ = [
    "Objective",
    "TrialEvalCallback",
    "TuneConfig",
    "algorithm_kwargs",
    "export_study",
    "load_hyperparams",
    "open_study",
    "parse_kwargs",
    "resolve_activation",
    "run_study",
    "run_worker",
    "sample_params",
]
