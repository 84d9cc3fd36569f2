"""Environment steps per second of PPO, SoftPPO and ResidualPPO with identical hyperparameters.

All three run in this one process, interleaved round by round (so that a slow phase of the machine hits
all of them alike), one torch thread, 8 envs in a DummyVecEnv. Steps per second are measured on the
process's CPU time (single-threaded, so it equals wall time on an idle machine, but other processes on a
shared machine do not distort it) and, for reference, on wall time. Prints the ratios to PPO and writes
them to ``benchmarks/results/throughput.json`` and ``.md``.

    python benchmarks/throughput.py [--env HalfCheetah-v5] [--rounds 5] [--steps-per-round 16384]
    python benchmarks/throughput.py --block Hopper-v5 --out benchmarks/results/throughput_hopper_block
    python benchmarks/throughput.py --env sb3_rpg/HalfCheetah-v5 --step-info-logger \
        --out benchmarks/results/throughput_step_info_logger

``--block ENV`` measures with the benchmark grid's PPO block of that env instead (``ppo.yml``: its
n_envs, n_steps, minibatch, epochs and network; observations normalized by VecNormalize as there).
``--step-info-logger`` adds a fourth row, ResidualPPO learning with ``callback=StepInfoLogger()`` (give an
``sb3_rpg/`` env, whose steps report the infos it averages).
"""

from __future__ import annotations

import argparse
import inspect
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

from sb3_rpg import ResidualPPO, SoftPPO
from sb3_rpg.envs import StepInfoLogger

RESULTS = Path(__file__).parent / "results"
# The developers' reference setting: 8 envs x 512 steps, minibatch 512, 5 epochs.
HYPERPARAMS = {"n_steps": 512, "batch_size": 512, "n_epochs": 5, "verbose": 0}


def build(
    name: str, env_id: str, seed: int, hyperparams: dict[str, Any], n_envs: int, normalize: dict[str, Any]
):
    def wrapped(venv):
        return VecNormalize(venv, **normalize) if normalize else venv

    env = make_vec_env(env_id, n_envs=n_envs, seed=seed)
    if name == "PPO":
        # SB3's PPO has no adaptive learning rate: a block's desired_kl / kl_adaptation (arguments of
        # SoftPPO and ResidualPPO only) stay in the measured algorithms, so their cost (one KL pass over
        # the rollout per update) counts as their overhead.
        accepted = inspect.signature(PPO.__init__).parameters
        plain = {key: value for key, value in hyperparams.items() if key in accepted}
        return PPO("MlpPolicy", wrapped(env), seed=seed, **plain)
    if name == "SoftPPO":
        return SoftPPO("MlpPolicy", wrapped(env), ent_coef=0.1, seed=seed, **hyperparams)
    # The prior's forward pass is part of what is measured: prior_coef > 0. ResidualPPO normalizes
    # observations with the prior's frozen statistics itself (raw env), and copies the actor from the prior.
    prior_env = wrapped(make_vec_env(env_id, n_envs=1))
    prior = SoftPPO("MlpPolicy", prior_env, seed=seed + 1, **hyperparams)
    kwargs = {key: value for key, value in hyperparams.items() if key != "policy_kwargs"}
    return ResidualPPO(
        "MlpPolicy",
        env,
        prior=prior,
        prior_vec_normalize=prior_env if normalize else None,
        prior_coef=0.1,
        ent_coef=0.1,
        seed=seed,
        **kwargs,
    )


def settings(block_env: str | None) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """(constructor kwargs, n_envs, VecNormalize kwargs): the reference setting, or a grid block."""
    if block_env is None:
        return dict(HYPERPARAMS), 8, {}
    from sb3_rpg.hyperparams import ppo_block
    from sb3_rpg.tune.config import algorithm_kwargs  # the grid's conversion (benchmarks.config uses it)

    block = ppo_block(block_env)
    return {**algorithm_kwargs(block), "verbose": 0}, int(block["n_envs"]), dict(block.get("normalize") or {})


def adaptive_lr_note(hyperparams: dict[str, Any]) -> str:
    """How the table's header says that a block's adaptive learning rate applies to two of the three."""
    if hyperparams.get("desired_kl") is None:
        return ""
    return f"; desired_kl {hyperparams['desired_kl']} in SoftPPO and ResidualPPO only (SB3's PPO has none)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps-per-round", type=int, default=16384)
    parser.add_argument("--block", default=None, help="use ppo.yml's block of this env (and this env)")
    parser.add_argument("--out", type=Path, default=RESULTS / "throughput")
    parser.add_argument(
        "--step-info-logger", action="store_true", help="add ResidualPPO with callback=StepInfoLogger()"
    )
    args = parser.parse_args()
    th.set_num_threads(1)
    hyperparams, n_envs, normalize = settings(args.block)
    env_id = f"sb3_rpg/{args.block}" if args.block else args.env

    names = ["PPO", "SoftPPO", "ResidualPPO"] + (
        ["ResidualPPO+StepInfoLogger"] if args.step_info_logger else []
    )
    models = {name: build(name.split("+")[0], env_id, 0, hyperparams, n_envs, normalize) for name in names}
    callbacks = {name: StepInfoLogger() if name.endswith("+StepInfoLogger") else None for name in names}
    # The only work SoftPPO/ResidualPPO add is the per-rollout rewrite: time it directly too, since a
    # ratio of two noisy rates on a shared machine can hide (or invent) a few percent.
    rewrite_seconds = {name: 0.0 for name in names[1:]}
    for name in names[1:]:
        buffer = models[name].rollout_buffer

        def timed(original=buffer.rewrite_rewards, name=name):
            start = time.process_time()
            original()
            rewrite_seconds[name] += time.process_time() - start

        buffer.rewrite_rewards = timed
    for name, model in models.items():  # warm-up: first rollout, allocations
        model.learn(hyperparams["n_steps"] * n_envs, callback=callbacks[name])
    rates: dict[str, list[float]] = {name: [] for name in names}
    wall_rates: dict[str, list[float]] = {name: [] for name in names}
    rewrite_seconds = {name: 0.0 for name in names[1:]}  # count the measured rounds only
    for round_index in range(args.rounds):
        first = round_index % len(names)
        order = names[first:] + names[:first]  # rotate who goes first
        for name in order:
            start, wall_start = time.process_time(), time.perf_counter()
            models[name].learn(args.steps_per_round, reset_num_timesteps=False, callback=callbacks[name])
            rates[name].append(args.steps_per_round / (time.process_time() - start))
            wall_rates[name].append(args.steps_per_round / (time.perf_counter() - wall_start))

    median = {name: statistics.median(values) for name, values in rates.items()}
    cpu_seconds = {name: sum(args.steps_per_round / rate for rate in rates[name]) for name in names}
    rewrite_share = {name: rewrite_seconds[name] / cpu_seconds[name] for name in names[1:]}
    wall_median = {name: statistics.median(values) for name, values in wall_rates.items()}
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "env": env_id,
        "hyperparams": {
            **{k: repr(v) if k == "policy_kwargs" else v for k, v in hyperparams.items()},
            "n_envs": n_envs,
            "normalize": normalize,
            "torch_threads": 1,
        },
        "rounds": args.rounds,
        "steps_per_round": args.steps_per_round,
        "machine": f"{platform.processor() or platform.machine()}, python {platform.python_version()}, torch {th.__version__}",
        "steps_per_cpu_second": rates,
        "median_steps_per_cpu_second": median,
        "ratio_to_ppo": {name: median[name] / median["PPO"] for name in names},
        "rewrite_share_of_cpu_time": rewrite_share,
        "steps_per_wall_second": wall_rates,
        "median_steps_per_wall_second": wall_median,
        "wall_ratio_to_ppo": {name: wall_median[name] / wall_median["PPO"] for name in names},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        (
            f"Throughput on {env_id} ({n_envs} envs, n_steps {hyperparams['n_steps']}, batch "
            f"{hyperparams['batch_size']}, {hyperparams['n_epochs']} epochs"
            f"{', the grid block of ppo.yml' if args.block else ''}"
            f"{adaptive_lr_note(hyperparams)}, 1 torch thread), "
            f"median of {args.rounds} interleaved rounds of {args.steps_per_round} steps."
        ),
        f"Produced by: `{result['command']}`",
        "",
        "| algorithm | steps per CPU second (median) | ratio to PPO | steps per wall second (median) | wall ratio |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {median[name]:.0f} | {result['ratio_to_ppo'][name]:.3f} "
        f"| {wall_median[name]:.0f} | {result['wall_ratio_to_ppo'][name]:.3f} |"
        for name in names
    ]
    lines += [
        "",
        "Share of the CPU time spent in the reward rewrite (the only work added to PPO, prior forward pass "
        "included): " + ", ".join(f"{name} {share:.2%}" for name, share in rewrite_share.items()) + ".",
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
