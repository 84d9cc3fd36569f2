"""What a study leaves in its ``--out-dir``: the best keyword arguments as YAML, every trial as CSV, plots.

- ``best_params.yml`` (single objective): the best trial's tuned keyword arguments, a flat mapping that
  goes straight into the algorithm (``ResidualPPO(policy, env, prior=..., **yaml.safe_load(f))``) or into
  a benchmark config block;
- ``pareto_front.yml`` (pareto mode): one such mapping per Pareto-optimal trial, under ``trial_<n>``,
  with the trial's two returns in a comment;
- ``trials.csv``: ``study.trials_dataframe()`` (parameters, values, states, user attributes such as
  ``prune_reason``);
- ``optimization_history.png``, ``intermediate_values.png`` (single objective), ``pareto_front.png``
  and one ``optimization_history_<objective>.png`` per objective (pareto mode), drawn with
  ``optuna.visualization.matplotlib``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

logger = logging.getLogger(__name__)

#: Names of the two objectives of pareto mode, in order.
PARETO_OBJECTIVES = ("basic_return", "addon_return")


def trial_kwargs(trial: FrozenTrial) -> dict[str, Any]:
    """The algorithm keyword arguments a trial trained with.

    :param trial: a finished trial of a study run by :mod:`sb3_rpg.tune`
    :return: the tuned keyword arguments (user attribute ``kwargs``)
    """
    if "kwargs" not in trial.user_attrs:
        raise KeyError(f"trial {trial.number} has no `kwargs` user attribute: not a sb3_rpg.tune trial")
    return dict(trial.user_attrs["kwargs"])


def _summary(study: optuna.Study) -> str:
    counts = {
        state.name.lower(): len(study.get_trials(deepcopy=False, states=(state,))) for state in TrialState
    }
    return ", ".join(f"{n} {name}" for name, n in counts.items() if n)


def _header(study: optuna.Study, lines: list[str]) -> str:
    attrs = study.user_attrs
    preamble = [
        f"Tuned by sb3_rpg.tune: study {study.study_name!r} ({_summary(study)})",
        ", ".join(f"{key}: {attrs.get(key, '?')}" for key in ("algo", "env_id", "objective")),
        *lines,
    ]
    return "".join(f"# {line}\n" for line in preamble)


def write_best_params(study: optuna.Study, path: Path) -> Path | None:
    """Write the best trial's keyword arguments as a flat YAML mapping.

    :param study: a single-objective study
    :param path: the YAML file
    :return: the path, or None when no trial has completed yet
    """
    try:
        best = study.best_trial
    except ValueError:  # no complete trial
        return None
    header = _header(
        study, [f"best trial {best.number}: value {best.value:.6g}, seed {best.user_attrs.get('seed')}"]
    )
    path.write_text(header + yaml.safe_dump(trial_kwargs(best), sort_keys=True))
    return path


def write_pareto_front(study: optuna.Study, path: Path) -> Path | None:
    """Write the keyword arguments of every Pareto-optimal trial.

    :param study: a two-objective study (basic return, add-on return)
    :param path: the YAML file
    :return: the path, or None when no trial has completed yet
    """
    front = sorted(study.best_trials, key=lambda trial: trial.values[0])
    if not front:
        return None
    blocks = []
    for trial in front:
        returns = ", ".join(
            f"{name} {value:.6g}" for name, value in zip(PARETO_OBJECTIVES, trial.values, strict=True)
        )
        entry = yaml.safe_dump({f"trial_{trial.number}": trial_kwargs(trial)}, sort_keys=True)
        blocks.append(f"# {returns}\n{entry}")
    lines = ["Pareto front (study.best_trials), by increasing basic return; pick one block"]
    path.write_text(_header(study, lines) + "\n".join(blocks))
    return path


def _save_plot(draw: Callable[[], Any], path: Path) -> Path | None:
    """Draw one optuna matplotlib plot and save it; a plot that cannot be drawn yet is skipped."""
    import matplotlib.pyplot as plt

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            axes = draw()
    except (ValueError, KeyError, IndexError) as error:
        logger.warning("skipped %s: %s", path.name, error)
        plt.close("all")
        return None
    figure = axes.flat[0].figure if hasattr(axes, "flat") else axes.figure
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def write_plots(study: optuna.Study, out_dir: Path) -> list[Path]:
    """Save the optimisation history (and the intermediate values, or the Pareto front) as PNGs.

    :param study: the study
    :param out_dir: the output folder
    :return: the files written
    """
    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo"):
        matplotlib.use("Agg")  # headless workers: no display to open windows on
    from optuna.visualization import matplotlib as ovm

    plots: list[tuple[Callable[[], Any], str]] = []
    if len(study.directions) == 1:
        plots.append((lambda: ovm.plot_intermediate_values(study), "intermediate_values.png"))
    # Histories and fronts of pruned trials only would be empty axes.
    complete = bool(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if complete and len(study.directions) == 1:
        plots.append(
            (
                lambda: ovm.plot_optimization_history(study, target_name="mean return"),
                "optimization_history.png",
            )
        )
    elif complete:
        for index, name in enumerate(PARETO_OBJECTIVES):
            plots.append(
                (
                    lambda index=index, name=name: ovm.plot_optimization_history(
                        study, target=lambda trial: trial.values[index], target_name=name
                    ),
                    f"optimization_history_{name}.png",
                )
            )
        plots.append(
            (lambda: ovm.plot_pareto_front(study, target_names=list(PARETO_OBJECTIVES)), "pareto_front.png")
        )
    written = [_save_plot(draw, out_dir / name) for draw, name in plots]
    return [path for path in written if path is not None]


def export_study(study: optuna.Study, out_dir: str | Path) -> dict[str, Path]:
    """Write every output of a study (see the module docstring) into ``out_dir``.

    :param study: the study (any state; outputs that need complete trials are skipped until there are some)
    :param out_dir: the output folder (created if needed)
    :return: file name (``"best_params.yml"``, ``"trials.csv"``, ``"pareto_front.png"``, ...) -> path
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    trials_csv = out / "trials.csv"
    study.trials_dataframe().to_csv(trials_csv, index=False)
    written[trials_csv.name] = trials_csv
    if len(study.directions) == 1:
        best = write_best_params(study, out / "best_params.yml")
        if best is not None:
            written[best.name] = best
    else:
        front = write_pareto_front(study, out / "pareto_front.yml")
        if front is not None:
            written[front.name] = front
    for path in write_plots(study, out):
        written[path.name] = path
    return written
