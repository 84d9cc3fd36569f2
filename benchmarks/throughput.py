"""Environment steps per second of PPO, SoftPPO and ResidualPPO with identical hyperparameters.

All three run in this one process, interleaved round by round (so that a slow phase of the machine hits
all of them alike), one torch thread, 8 envs in a DummyVecEnv. Prints the ratios to PPO and writes them to
``benchmarks/results/throughput.json`` and ``.md``.

    python benchmarks/throughput.py [--env HalfCheetah-v5] [--rounds 5] [--steps-per-round 16384]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from sb3_rpg import ResidualPPO, SoftPPO

RESULTS = Path(__file__).parent / "results"
# The developers' reference setting: 8 envs x 512 steps, minibatch 512, 5 epochs.
HYPERPARAMS = dict(n_steps=512, batch_size=512, n_epochs=5, verbose=0)


def build(name: str, env_id: str, seed: int):
    env = make_vec_env(env_id, n_envs=8, seed=seed)
    if name == "PPO":
        return PPO("MlpPolicy", env, seed=seed, **HYPERPARAMS)
    if name == "SoftPPO":
        return SoftPPO("MlpPolicy", env, ent_coef=0.1, seed=seed, **HYPERPARAMS)
    # The prior's forward pass is part of what is measured: prior_coef > 0.
    prior = SoftPPO("MlpPolicy", make_vec_env(env_id, n_envs=1), seed=seed + 1)
    return ResidualPPO("MlpPolicy", env, prior=prior, prior_coef=0.1, ent_coef=0.1, seed=seed, **HYPERPARAMS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps-per-round", type=int, default=16384)
    parser.add_argument("--out", type=Path, default=RESULTS / "throughput")
    args = parser.parse_args()
    th.set_num_threads(1)

    names = ["PPO", "SoftPPO", "ResidualPPO"]
    models = {name: build(name, args.env, seed=0) for name in names}
    for model in models.values():  # warm-up: first rollout, allocations
        model.learn(HYPERPARAMS["n_steps"] * 8)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        order = names[round_index % 3 :] + names[: round_index % 3]  # rotate who goes first
        for name in order:
            start = time.perf_counter()
            models[name].learn(args.steps_per_round, reset_num_timesteps=False)
            rates[name].append(args.steps_per_round / (time.perf_counter() - start))

    median = {name: statistics.median(values) for name, values in rates.items()}
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "env": args.env,
        "hyperparams": {**HYPERPARAMS, "n_envs": 8, "torch_threads": 1},
        "rounds": args.rounds,
        "steps_per_round": args.steps_per_round,
        "machine": f"{platform.processor() or platform.machine()}, python {platform.python_version()}, torch {th.__version__}",
        "steps_per_second": rates,
        "median_steps_per_second": median,
        "ratio_to_ppo": {name: median[name] / median["PPO"] for name in names},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"Throughput on {args.env} (8 envs, n_steps 512, batch 512, 5 epochs, 1 torch thread), "
        f"median of {args.rounds} interleaved rounds of {args.steps_per_round} steps.",
        f"Produced by: `{result['command']}`",
        "",
        "| algorithm | steps/s (median) | ratio to PPO |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {median[name]:.0f} | {result['ratio_to_ppo'][name]:.3f} |" for name in names]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
