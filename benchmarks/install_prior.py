"""Install a saved policy as the Soft PPO prior of some seeds of a results folder, so that the grid's
Table II customizations (Greedy, KL, Residual PPO) start from it under the benchmark's protocol.

    python -m benchmarks.install_prior --prior sb3_rpg/priors/HalfCheetah-v5.zip --env HalfCheetah \\
        --seeds 0 1 --budget paper --results-dir benchmarks/runs/shipped_prior_halfcheetah
    python -m benchmarks.run --budget paper --envs HalfCheetah --tables 2 --variants kl residual --seeds 0 1 \\
        --results-dir benchmarks/runs/shipped_prior_halfcheetah

For each seed it writes the folder the runner would have left after training the prior
(``<budget>/<env>/soft/seed<s>/``): ``checkpoints/best.zip`` and ``best_vecnormalize.pkl`` (copies of the
prior and its observation statistics), the prior evaluated under the protocol of a finished run (the
budget's ``final_episodes``, deterministic, full task, the seed's final-evaluation episodes, so that the
report's Prior Policy row and the customizations of that seed are scored on the same episodes) as both
``eval_best.csv`` and ``eval_final.csv``, that evaluation again as ``evaluations.csv`` at the prior's own
step count (a one-point curve: the runner never saw its training), and ``config.yaml`` / ``result.json``.
These keep the grid's PPO settings and coefficients for the env, so that the runner and the report take
the folder as the seed's prior and not as a stale run, and say in ``installed_prior`` where the policy
came from (path, sha256, command): it was *not* trained with those settings.

Refused before anything is written: a missing prior or statistics file, a prior whose spaces differ from
the env's, and a seed whose prior folder already exists (``--force`` replaces it; Table II runs already
trained on the old prior then count as stale).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import shutil
import sys
from pathlib import Path

import gymnasium as gym
import yaml
from stable_baselines3.common.save_util import load_from_zip_file

from benchmarks.checkpoints import checkpoint_files, write_atomic
from benchmarks.config import BUDGETS, DEFAULT_RUNS_DIR, PRIOR_VARIANT, VARIANTS, make_spec, resolve_env
from benchmarks.evaluation import FINAL_EVAL_SEED, evaluate, summary, write_final_evaluation
from benchmarks.training import RESULT_FILE, run_config
from sb3_rpg.common.prior import check_prior_spaces, load_prior_policy, sibling_vec_normalize


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def install_prior(
    prior: Path,
    env: str,
    seeds: list[int],
    budget: str,
    results_dir: Path,
    vec_normalize: Path | None = None,
    command: str = "",
    force: bool = False,
    ppo_file: str | None = None,
) -> list[Path]:
    """Install ``prior`` as the Soft PPO prior of ``seeds`` (see the module docstring).

    :param prior: a saved SB3 on-policy model (``.zip``)
    :param env: env name (``HalfCheetah``, ``sb3_rpg/HalfCheetah-v5``, ...)
    :param seeds: the seeds whose prior it becomes
    :param budget: the budget folder (``paper``, ``quick``, ``smoke``)
    :param results_dir: the results folder
    :param vec_normalize: its observation statistics; default: the ``<stem>_vecnormalize.pkl`` beside it
    :param command: recorded in ``config.yaml``
    :param force: replace an existing prior folder of a seed
    :param ppo_file: the PPO hyperparameter file the customizations will train with (``benchmarks.run
        --hyperparams``); default ``sb3_rpg/hyperparams/ppo.yml``
    :return: the prior folders written
    :raises FileNotFoundError: for a missing prior or statistics file
    :raises FileExistsError: if a seed's prior folder exists and ``force`` is False
    :raises ValueError: if the prior's spaces differ from the env's
    """
    prior = Path(prior)
    if not prior.is_file():
        raise FileNotFoundError(f"prior: no saved model at '{prior}'")
    vec_normalize = Path(vec_normalize) if vec_normalize is not None else sibling_vec_normalize(prior)
    if vec_normalize is None or not vec_normalize.is_file():
        # The grid's customizations copy the prior's actor and act under its statistics (every block of
        # ppo.yml normalizes observations), so a prior without them cannot be customized here.
        raise FileNotFoundError(
            f"prior: no observation statistics {'at ' + repr(str(vec_normalize)) if vec_normalize else 'beside ' + repr(str(prior))}"
            " (pass --vec-normalize, a VecNormalize .pkl)"
        )
    env = resolve_env(env)
    specs = [make_spec(env, PRIOR_VARIANT, seed, budget, ppo_file) for seed in seeds]
    existing = [spec.run_dir(results_dir) for spec in specs if spec.run_dir(results_dir).exists()]
    if existing and not force:
        raise FileExistsError(
            f"prior folders exist (pass --force to replace them): {[str(p) for p in existing]}"
        )
    policy, _ = load_prior_policy(prior)
    probe = gym.make(specs[0].env_id)
    check_prior_spaces(policy, probe.observation_space, probe.action_space)
    probe.close()
    data, _, _ = load_from_zip_file(prior, device="cpu", load_data=True)
    steps = int((data or {}).get("num_timesteps", 0))
    source = {
        "model": str(prior),
        "sha256": sha256(prior),
        "vec_normalize": str(vec_normalize),
        "vec_normalize_sha256": sha256(vec_normalize),
        "num_timesteps": steps,
        "note": "not trained by benchmarks.run: ppo and coefficients are the grid's, so that the runner "
        "takes this folder as the seed's prior; the policy is the file above",
    }

    written = []
    for spec in specs:
        run_dir = spec.run_dir(results_dir)
        if run_dir.exists():
            shutil.rmtree(run_dir)
        checkpoints = run_dir / "checkpoints"
        checkpoints.mkdir(parents=True)
        model_path, stats_path = checkpoint_files(checkpoints, "best")
        shutil.copyfile(prior, model_path)
        shutil.copyfile(vec_normalize, stats_path)
        # evaluate() passes the policy on to evaluate_episodes, which takes any SB3 policy.
        episodes = evaluate(policy, spec, BUDGETS[budget].final_episodes, FINAL_EVAL_SEED, stats_path)  # type: ignore[arg-type]
        curve = episodes.copy()
        curve.insert(0, "timesteps", steps)  # as PeriodicEvaluation writes evaluations.csv
        curve.to_csv(run_dir / "evaluations.csv", index=False)
        for name in ("final", "best"):
            write_final_evaluation(run_dir, spec, name, episodes)
        config = run_config(spec, results_dir, command) | {"installed_prior": source}
        write_atomic(run_dir / "config.yaml", yaml.safe_dump(config, sort_keys=False))
        result = {
            "status": "finished",
            "run": spec.name,
            "env": spec.env,
            "variant": spec.variant,
            "seed": spec.seed,
            "budget": spec.budget,
            "timesteps": steps,
            "train_seconds": None,
            "total_seconds": None,
            "steps_per_second": None,
            "best_objective": VARIANTS[PRIOR_VARIANT].objective,
            "best_step": steps,
            "best_periodic_value": float(episodes[VARIANTS[PRIOR_VARIANT].objective].mean()),
            "final": summary(episodes),
            "best": summary(episodes),
            "prior": None,
            "is_prior_of_table2": True,
            "installed_prior": source,
        }
        write_atomic(run_dir / RESULT_FILE, json.dumps(result, indent=2) + "\n")  # last: the run is finished
        written.append(run_dir)
    return written


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.install_prior",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--prior", type=Path, required=True, help="a saved SB3 on-policy model (.zip)")
    parser.add_argument(
        "--vec-normalize", type=Path, help="its VecNormalize .pkl (default: <stem>_vecnormalize.pkl)"
    )
    parser.add_argument("--env", required=True, help="HalfCheetah, Hopper or Ant")
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="paper")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RUNS_DIR)
    parser.add_argument("--hyperparams", help="the --hyperparams file the customizations will train with")
    parser.add_argument("--force", action="store_true", help="replace existing prior folders of these seeds")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(
        ["python", "-m", "benchmarks.install_prior", *(sys.argv[1:] if argv is None else argv)]
    )
    try:
        folders = install_prior(
            args.prior,
            args.env,
            args.seeds,
            args.budget,
            args.results_dir,
            args.vec_normalize,
            command,
            args.force,
            args.hyperparams,
        )
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"install_prior: {error}", file=sys.stderr)
        return 2
    for folder in folders:
        result = json.loads((folder / RESULT_FILE).read_text())
        best = result["best"]
        print(
            f"{folder}: basic return {best['basic_return_mean']:.1f} ± {best['basic_return_std']:.1f}, "
            f"total {best['total_return_mean']:.1f} over {BUDGETS[args.budget].final_episodes} episodes"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
