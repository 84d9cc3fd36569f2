"""``python -m sb3_rpg.tune``: tune SoftPPO's α, or ResidualPPO's ω' and α̂, with Optuna (docs/tuning.md)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import optuna

from sb3_rpg.tune.config import (
    ALGOS,
    CUSTOMIZE_KEY,
    OBJECTIVES,
    PRUNERS,
    SAMPLERS,
    TuneConfig,
    load_hyperparams,
    parse_kwargs,
)
from sb3_rpg.tune.outputs import export_study
from sb3_rpg.tune.study import FINISHED_STATES, count_trials, open_study, run_study


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface.

    :return: the argument parser
    """
    parser = argparse.ArgumentParser(
        prog="python -m sb3_rpg.tune",
        description="Tune SoftPPO (α) or ResidualPPO (ω', α̂) with Optuna; see docs/tuning.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    what = parser.add_argument_group("what is tuned")
    what.add_argument("--algo", required=True, help=f"one of {ALGOS} (SoftPPO/ResidualPPO accepted)")
    what.add_argument(
        "--env", required=True, help="Gymnasium env id, e.g. sb3_rpg/HalfCheetah-v5 or Pendulum-v1"
    )
    what.add_argument(
        "--env-kwargs",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="gymnasium.make kwargs: key=value pairs (values read as YAML) or one JSON object",
    )
    what.add_argument(
        "--eval-env-kwargs",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="overrides of --env-kwargs for the evaluation env",
    )
    what.add_argument("--hyperparams", type=Path, help="YAML file of fixed hyperparameters (rl-zoo layout)")
    what.add_argument(
        "--hyperparams-key", help="block of --hyperparams to use (default: the env id, then its name)"
    )
    what.add_argument("--prior", help="ResidualPPO: the prior's saved SB3 model (.zip)")
    what.add_argument(
        "--prior-vec-normalize", help="ResidualPPO: the VecNormalize .pkl the prior was trained under"
    )
    what.add_argument(
        "--tune-ppo", action="store_true", help="also tune lr, n_steps, batch_size, n_epochs, gamma, ..."
    )
    what.add_argument(
        "--ent-coef-range",
        nargs=2,
        type=float,
        default=(1e-5, 0.5),
        metavar=("LOW", "HIGH"),
        help="log-uniform range of α (α̂)",
    )
    what.add_argument(
        "--prior-coef-range",
        nargs=2,
        type=float,
        default=(1e-4, 1.0),
        metavar=("LOW", "HIGH"),
        help="log-uniform range of the non-zero ω'",
    )
    what.add_argument(
        "--greedy-fraction",
        type=float,
        default=0.2,
        help="prior probability of ω'=0 (Greedy PPO); 0 searches ω'>0 only",
    )

    trials = parser.add_argument_group("trials and objective")
    trials.add_argument(
        "--n-trials", type=int, default=50, help="total finished trials of the study (all workers)"
    )
    trials.add_argument(
        "--n-timesteps", type=int, help="training budget per trial (default: the YAML's n_timesteps)"
    )
    trials.add_argument("--n-envs", type=int, help="training envs per trial (overrides the YAML's n_envs)")
    trials.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default="return",
        help="return: mean eval return of the env reward; pareto: basic and add-on returns",
    )
    trials.add_argument(
        "--n-evaluations", type=int, default=10, help="evaluations per trial (the last is its value)"
    )
    trials.add_argument("--n-eval-episodes", type=int, default=5, help="episodes per evaluation")
    trials.add_argument("--eval-seed", type=int, default=0, help="seed of the evaluation episodes")
    trials.add_argument("--sampler", choices=SAMPLERS, default="tpe")
    trials.add_argument("--pruner", choices=PRUNERS, default="median", help="(pareto mode never prunes)")
    trials.add_argument(
        "--n-startup-trials", type=int, default=5, help="random trials before TPE and pruning"
    )
    trials.add_argument(
        "--n-warmup-evaluations", type=int, help="evaluations before pruning (default: a third)"
    )
    trials.add_argument(
        "--seed", type=int, help="sampler seed (worker i uses seed+i); give each machine its own"
    )

    run = parser.add_argument_group("storage and workers")
    run.add_argument("--study-name", help="default: <algo>-<env>")
    run.add_argument(
        "--out-dir", type=Path, help="outputs (and the default SQLite file); default tune_runs/<study>"
    )
    run.add_argument(
        "--storage",
        help="Optuna storage URL (default sqlite:///<out-dir>/<study>.db), "
        "e.g. postgresql://user:pw@host/db, or a file path for a journal storage",
    )
    run.add_argument(
        "--workers",
        "--n-jobs",
        dest="workers",
        type=int,
        default=1,
        help="worker processes on this machine sharing the storage",
    )
    run.add_argument("--timeout", type=float, help="seconds after which workers start no new trial")
    run.add_argument("--heartbeat", type=int, default=60, help="RDB heartbeat seconds (0: off)")
    run.add_argument("--device", default="cpu")
    run.add_argument("--torch-threads", type=int, default=1, help="torch.set_num_threads per worker")
    run.add_argument("--gym-packages", nargs="*", default=[], help="modules to import to register extra envs")
    run.add_argument("--verbose", type=int, default=0, help="SB3 verbosity of the trained models")
    return parser


def config_from_args(args: argparse.Namespace) -> TuneConfig:
    """Turn parsed arguments into a :class:`TuneConfig`.

    :param args: the parsed command line
    :return: the configuration
    """
    hyperparams = {}
    if args.hyperparams is not None:
        hyperparams = load_hyperparams(args.hyperparams, args.hyperparams_key, args.env)
    if args.n_envs is not None:
        # The flag wins over the file, its `customize:` overrides (resolved later by TuneConfig) included.
        hyperparams["n_envs"] = args.n_envs
        if isinstance(hyperparams.get(CUSTOMIZE_KEY), dict):
            hyperparams[CUSTOMIZE_KEY] = {**hyperparams[CUSTOMIZE_KEY], "n_envs": args.n_envs}
    return TuneConfig(
        algo=args.algo,
        env_id=args.env,
        n_trials=args.n_trials,
        n_timesteps=args.n_timesteps,
        env_kwargs=parse_kwargs(args.env_kwargs),
        eval_env_kwargs=parse_kwargs(args.eval_env_kwargs),
        hyperparams=hyperparams,
        prior=args.prior,
        prior_vec_normalize=args.prior_vec_normalize,
        objective=args.objective,
        tune_ppo=args.tune_ppo,
        ent_coef_range=tuple(args.ent_coef_range),
        prior_coef_range=tuple(args.prior_coef_range),
        greedy_fraction=args.greedy_fraction,
        n_evaluations=args.n_evaluations,
        n_eval_episodes=args.n_eval_episodes,
        eval_seed=args.eval_seed,
        pruner=args.pruner,
        n_startup_trials=args.n_startup_trials,
        n_warmup_evaluations=args.n_warmup_evaluations,
        sampler=args.sampler,
        study_name=args.study_name,
        storage=args.storage,
        out_dir=args.out_dir,
        workers=args.workers,
        seed=args.seed,
        timeout=args.timeout,
        heartbeat_interval=args.heartbeat,
        device=args.device,
        torch_threads=args.torch_threads,
        gym_packages=list(args.gym_packages),
        verbose=args.verbose,
    )


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) a study, then write its outputs.

    :param argv: the arguments (default: ``sys.argv[1:]``)
    :return: the exit status
    """
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    # Every invocation (a resume adds trials to the same study) is appended, so the outputs say how
    # they were made.
    Path(config.out_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(config.out_dir) / "commands.txt", "a", encoding="utf-8") as file:
        file.write(" ".join(["python -m sb3_rpg.tune", *(sys.argv[1:] if argv is None else argv)]) + "\n")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    optuna.logging.set_verbosity(optuna.logging.INFO)
    status = 0
    try:
        study = run_study(config)
    except KeyboardInterrupt:
        print("interrupted: writing the outputs of the trials so far", file=sys.stderr)
        study, status = open_study(config), 130
    written = export_study(study, config.out_dir)
    finished = count_trials(study, FINISHED_STATES)
    print(f"study {config.study_name!r} in {config.storage}: {finished} finished trials")
    for path in written.values():
        print(f"  {path}")
    return status
