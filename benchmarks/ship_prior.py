"""Copy the best Soft PPO prior of each env from a benchmark's runs into the package (``sb3_rpg/priors``).

"Best" is the `soft` run (Table I) whose best checkpoint has the highest mean basic return in its final
evaluation; its model, VecNormalize statistics and a JSON record of where it came from are copied:

    python -m benchmarks.ship_prior --budget quick [--envs HalfCheetah-v5 ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from benchmarks.config import DEFAULT_RUNS_DIR, ENVS, HERE, PRIOR_VARIANT, make_spec
from benchmarks.training import stale_reason
from sb3_rpg.priors import PRIORS_DIR


def best_soft_run(runs_dir: Path, budget: str, env: str) -> tuple[Path, dict]:
    """The finished, not stale `soft` run of ``env`` with the highest best-checkpoint basic return."""
    results = []
    for path in sorted((runs_dir / budget / env / PRIOR_VARIANT).glob("seed*/result.json")):
        result = json.loads(path.read_text())
        reason = stale_reason(make_spec(env, PRIOR_VARIANT, result["seed"], budget), runs_dir)
        if reason is not None:
            print(f"left out {result['run']}: {reason}")
            continue
        results.append((path.parent, result))
    if not results:
        raise FileNotFoundError(f"no finished {PRIOR_VARIANT} run of {env} under {runs_dir / budget}")
    return max(results, key=lambda item: item[1]["best"]["basic_return_mean"])


def _repo_relative(path: Path) -> str:
    """``path`` relative to the repository root when it lies inside it (records stay machine-independent)."""
    path, root = path.resolve(), HERE.parent
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--envs", nargs="+", default=list(ENVS))
    parser.add_argument("--runs-dir", type=Path, default=DEFAULT_RUNS_DIR)
    args = parser.parse_args()
    for env in args.envs:
        try:
            run_dir, result = best_soft_run(args.runs_dir, args.budget, env)
        except FileNotFoundError as error:
            print(f"skipped: {error}")
            continue
        checkpoints = run_dir / "checkpoints"
        shutil.copyfile(checkpoints / "best.zip", PRIORS_DIR / f"{env}.zip")
        shutil.copyfile(checkpoints / "best_vecnormalize.pkl", PRIORS_DIR / f"{env}_vecnormalize.pkl")
        best = result["best"]
        info = {
            "description": (
                f"Soft PPO (alpha from the paper's Table IV) on {env}'s basic reward, {args.budget} budget, "
                f"seed {result['seed']}, best checkpoint at step {result['best_step']}"
            ),
            "source_run": result["run"],
            "runs_dir": _repo_relative(args.runs_dir),  # source_run is relative to it
            "command": " ".join(["python -m benchmarks.ship_prior", *sys.argv[1:]]),
            "final_evaluation_of_best_checkpoint": {key: best[key] for key in sorted(best)},
        }
        (PRIORS_DIR / f"{env}.json").write_text(json.dumps(info, indent=2) + "\n")
        print(f"{env}: shipped {result['run']} (basic return {best['basic_return_mean']:.1f})")


if __name__ == "__main__":
    main()
