"""What a customization's own objective says of its checkpoints: is a collapse what the reward asks for?

KL and Residual PPO maximise, per step, ``J = r_R + ω'·log π_prior(a|s) − α̂·log πθ(a|s)`` (paper Eq. 7-8;
KL PPO: ω' = α̂). A run that "collapses" (stops running, e.g. HalfCheetah seed 1) either climbs J, so the
objective itself prefers the collapsed gait, or falls into a worse optimum of J. This script rolls out,
with stochastic actions as in training, every periodic checkpoint of one run (``benchmarks.run
--keep-checkpoints``) and every prior of a folder of Soft PPO runs, and scores each policy under each
prior's J (the run's α̂ and ω'), beside its basic and add-on return and, for HalfCheetah, how often the
torso is upside down (cos of the root pitch below 0; NaN on the other tasks).

A prior scored under its own J gets its mean add-on reward (its KL to itself is 0): the value a
customization that imitated its prior would reach. Writes ``<out>/objective_probe.csv`` (one row per
policy x prior) and ``objective_probe.md``::

    python -m benchmarks.objective_probe \\
        --run benchmarks/runs/collapse_halfcheetah/paper/HalfCheetah-v5/kl/seed1 \\
        --priors benchmarks/runs/paper/HalfCheetah-v5/soft --episodes 3 \\
        --out benchmarks/results/selection/halfcheetah/collapse
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import torch as th
import yaml

from benchmarks.report import _markdown
from sb3_rpg.common.prior import load_prior_policy, prior_log_prob
from sb3_rpg.envs import HalfCheetahAddonEnv


def _load(path: Path):
    """A policy from a saved ``.zip`` and a function from raw observations to the ones it acts on."""
    policy, normalization = load_prior_policy(path)
    policy.set_training_mode(False)
    vec_normalize = normalization.to_vec_normalize() if normalization is not None else None
    return policy, (vec_normalize.normalize_obs if vec_normalize is not None else (lambda obs: obs))


def rollout(
    policy_path: Path, prior_paths: dict[str, Path], env_id: str, episodes: int, seed: int
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per-step log-probs under the policy and every prior, and the episode statistics, of ``episodes``
    episodes. The policy acts step by step; the log-probs are one batched pass per policy afterwards."""
    policy, normalize = _load(policy_path)
    env = gym.make(env_id, reward="full")
    th.manual_seed(seed)
    observations, actions, basic, addon, flipped, speed = [], [], [], [], [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            with th.no_grad():
                action = policy.get_distribution(
                    th.as_tensor(normalize(obs)[None], dtype=th.float32)
                ).sample()
            observations.append(obs)
            actions.append(action.numpy()[0])
            clipped = np.clip(actions[-1], env.action_space.low, env.action_space.high)
            obs, _, terminated, truncated, info = env.step(clipped)
            done = terminated or truncated
            basic.append(info["basic_reward"])
            addon.append(info["addon_reward"])
            data = env.unwrapped.data
            # HalfCheetah's qpos[2] is the root pitch (Hopper's is the height): upside down where cos < 0.
            flipped.append(
                np.cos(data.qpos[2]) < 0 if isinstance(env.unwrapped, HalfCheetahAddonEnv) else np.nan
            )
            speed.append(data.qvel[0])
    env.close()
    raw, actions = np.asarray(observations), np.asarray(actions)
    steps = pd.DataFrame(
        {
            "log_prob": prior_log_prob(policy, normalize(raw), actions).astype(np.float64),
            "addon_reward": addon,
        }
    )
    for name, path in prior_paths.items():
        prior, prior_normalize = _load(path)
        steps[name] = prior_log_prob(prior, prior_normalize(raw), actions).astype(np.float64)
    stats = {
        "basic_return": float(np.sum(basic)) / episodes,
        "addon_return": float(np.sum(addon)) / episodes,
        "upside_down": float(np.mean(flipped)),
        "forward_speed": float(np.mean(speed)),
        "length": len(steps) / episodes,
    }
    return steps, stats


def probe(run_dir: Path, priors_dir: Path, episodes: int, seed: int) -> pd.DataFrame:
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    ent_coef, prior_coef = config["coefficients"]["ent_coef"], config["coefficients"]["prior_coef"]
    prior_paths = {
        f"prior {path.parent.parent.name}": path
        for path in sorted(priors_dir.glob("seed*/checkpoints/best.zip"))
    }
    if not prior_paths:
        raise FileNotFoundError(f"no seed*/checkpoints/best.zip under {priors_dir}")
    checkpoints = sorted(
        (run_dir / "checkpoints" / "periodic").glob("step-*.zip"),
        key=lambda path: int(re.search(r"step-(\d+)", path.name).group(1)),
    )
    if not checkpoints:
        raise FileNotFoundError(
            f"no periodic checkpoints in {run_dir}/checkpoints/periodic (--keep-checkpoints)"
        )
    policies = {name: path for name, path in prior_paths.items()}
    policies |= {
        f"{config['variant']} {config['run'].split('/')[-1]} @ {path.stem[5:]}": path for path in checkpoints
    }
    rows = []
    for name, path in policies.items():
        steps, stats = rollout(path, prior_paths, config["env_id"], episodes, seed)
        for prior in prior_paths:
            objective = steps["addon_reward"] + prior_coef * steps[prior] - ent_coef * steps["log_prob"]
            rows.append(
                {
                    "policy": name,
                    "prior": prior,
                    "objective_per_step": float(objective.mean()),
                    "kl_to_prior": float((steps["log_prob"] - steps[prior]).mean()),
                    "log_prob_mean": float(steps["log_prob"].mean()),
                    "prior_log_prob_mean": float(steps[prior].mean()),
                    **stats,
                }
            )
        print(
            f"{name}: basic {stats['basic_return']:.0f}, upside down {stats['upside_down']:.2f}", flush=True
        )
    return pd.DataFrame(rows)


def _table(frame: pd.DataFrame) -> str:
    rows = [
        [f"{value:.3f}" if isinstance(value, float) else str(value) for value in row] for row in frame.values
    ]
    return _markdown(list(frame.columns), rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run", type=Path, required=True, help="a KL/Residual PPO run with periodic checkpoints"
    )
    parser.add_argument("--priors", type=Path, required=True, help="folder of Soft PPO seed*/ runs")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    table = probe(args.run, args.priors, args.episodes, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "objective_probe.csv", index=False)
    wide = table.pivot(index="policy", columns="prior", values="objective_per_step").loc[
        table["policy"].unique()
    ]
    stats = table.drop_duplicates("policy").set_index("policy")[
        ["basic_return", "addon_return", "upside_down", "forward_speed"]
    ]
    joined = stats.join(wide).reset_index()
    command = "python -m benchmarks.objective_probe " + " ".join(
        shlex.quote(a) for a in (argv or sys.argv[1:])
    )
    text = (
        "# A customization's objective along its checkpoints\n\n"
        f"Produced by: `{command}`.\n\n"
        "Per policy: basic and add-on return and share of steps upside down (mean over the episodes), and "
        "J per step, r_R + ω'·log π_prior − α̂·log πθ with the run's coefficients, under each prior "
        "(stochastic actions, as in training).\n\n" + _table(joined) + "\n"
    )
    (args.out / "objective_probe.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
