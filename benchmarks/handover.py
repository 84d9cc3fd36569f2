"""Hand a customised policy's episode over to its prior: does the prior still solve the basic task from the
states the customised policy led to, and how far from the prior's actions did the customised policy have to
go to get there?

Residual PPO's prior term ``ω'·log π_prior(a|s)`` is meant to stand in for the basic reward it cannot see.
This measures, per finished Table II run, what that term charges for a behaviour and what the behaviour
costs in basic return: the customised policy acts (deterministic, its mean action) for the first ``switch``
steps of an episode, then the prior acts (its mean action) for the rest. Reported per ``switch``: the basic
return of each part, and while the customised policy acts, its mean distance from the prior's mean action
in units of the prior's σ and the resulting per-step deficit of ``log π_prior`` at its action,
``Σ_d (μ_d − μ_prior,d)² / (2 σ_prior,d²)`` nats (what the prior term charges for a deterministic action,
before ``ω'``).

    python -m benchmarks.handover benchmarks/runs/paper/HalfCheetah-v5/residual/seed1:last \\
        benchmarks/runs/paper/HalfCheetah-v5/residual/seed1:best --switch 0 300 1000 --episodes 5 \\
        --out benchmarks/results/paper/handover_HalfCheetah-v5_seed1.md

``RUN:CHECKPOINT`` names a checkpoint in the run's ``checkpoints/`` (``last``: the final policy, ``best``).
Finished runs keep these on the machine that trained them (they are not part of the committed record), so
the output states each checkpoint's sha256; the prior is read from ``result.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import torch as th
import yaml

import sb3_rpg  # noqa: F401  # registers the customisation tasks
from sb3_rpg.common.prior import load_prior_policy


@dataclass
class Actor:
    """A policy's deterministic action and σ, on raw observations."""

    policy: th.nn.Module
    normalizer: object | None

    @classmethod
    def load(cls, path: Path) -> Actor:
        policy, normalization = load_prior_policy(path)
        return cls(policy, normalization.to_vec_normalize() if normalization is not None else None)

    def mean_std(self, observation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = observation[None]
        if self.normalizer is not None:
            batch = self.normalizer.normalize_obs(batch)
        with th.no_grad():
            distribution = self.policy.get_distribution(th.as_tensor(batch, dtype=th.float32)).distribution
        return distribution.mean[0].numpy(), distribution.stddev[0].numpy()


def parse_target(text: str) -> tuple[Path, str]:
    run, _, checkpoint = text.partition(":")
    run_dir = Path(run)
    path = run_dir / "checkpoints" / f"{checkpoint or 'last'}.zip"
    if not (run_dir / "result.json").is_file():
        raise SystemExit(f"{run_dir}: no result.json (only finished Table II runs can be handed over)")
    if not path.is_file():
        raise SystemExit(
            f"{run_dir}: no checkpoint '{path.name}' (finished runs keep it on the machine that trained them)"
        )
    return run_dir, checkpoint or "last"


def prior_path(run_dir: Path) -> tuple[Path, str]:
    """The run's prior: its path, and that path as ``result.json`` gives it (relative to the results root)."""
    result = json.loads((run_dir / "result.json").read_text())
    if not result.get("prior"):
        raise SystemExit(f"{run_dir}: not a customisation run (result.json names no prior)")
    # The results root holds '<budget>/<env>/<variant>/seed<k>', the run's name.
    root = run_dir.resolve().parents[len(Path(result["run"]).parts) - 1]
    return root / result["prior"]["model"], result["prior"]["model"]


def handover(
    env: gym.Env, customised: Actor, prior: Actor, switch: int, seed: int
) -> tuple[float, float, float, float]:
    """One episode: the customised policy for ``switch`` steps, then the prior.

    :return: basic return of each part, mean |Δμ|/σ_prior and mean log π_prior deficit while customised
    """
    observation, _ = env.reset(seed=seed)
    basic = [0.0, 0.0]
    distances, deficits = [], []
    step, done = 0, False
    while not done:
        prior_mean, prior_std = prior.mean_std(observation)
        if step < switch:
            action, _ = customised.mean_std(observation)
            z = (action - prior_mean) / prior_std
            distances.append(np.mean(np.abs(z)))
            deficits.append(0.5 * np.sum(z**2))
        else:
            action = prior_mean
        observation, _, terminated, truncated, info = env.step(
            np.clip(action, env.action_space.low, env.action_space.high)
        )
        basic[step >= switch] += float(info["basic_reward"])
        step, done = step + 1, terminated or truncated
    nan = float("nan")
    return (
        basic[0],
        basic[1],
        float(np.mean(distances)) if distances else nan,
        float(np.mean(deficits)) if deficits else nan,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "targets", nargs="+", help="RUN_DIR[:CHECKPOINT], CHECKPOINT 'last' (default) or 'best'"
    )
    parser.add_argument(
        "--switch", type=int, nargs="+", default=[0, 300, 1000], help="steps before the prior acts"
    )
    parser.add_argument("--episodes", type=int, default=5, help="episodes per switch (reset seeds 0, 1, ...)")
    parser.add_argument("--out", type=Path, help="markdown file to write (default: print)")
    args = parser.parse_args(argv)
    if args.episodes < 1 or any(switch < 0 for switch in args.switch):
        parser.error("--episodes must be >= 1 and --switch values >= 0")
    th.set_num_threads(1)
    rows, sources = [], []
    targets = [parse_target(target) for target in args.targets]
    for run_dir, checkpoint in targets:
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        model_path = run_dir / "checkpoints" / f"{checkpoint}.zip"
        prior_model, prior_name = prior_path(run_dir)
        customised, prior = Actor.load(model_path), Actor.load(prior_model)
        env = gym.make(config["env_id"], reward="full")
        sources.append(
            f"- `{config['run']}:{checkpoint}`: sha256 `{sha256(model_path)[:16]}`; "
            f"prior `{prior_name}`, sha256 `{sha256(prior_model)[:16]}`"
        )
        for switch in args.switch:
            episodes = np.array(
                [handover(env, customised, prior, switch, seed) for seed in range(args.episodes)]
            )
            rows.append(
                {
                    "run": f"{config['run']}:{checkpoint}",
                    "prior_coef": config["coefficients"].get("prior_coef"),
                    "switch": switch,
                    "basic (customised part)": episodes[:, 0].mean().round(0),
                    "basic (prior part)": episodes[:, 1].mean().round(0),
                    "|Δμ|/σ_prior": episodes[:, 2].mean().round(3),
                    "log π_prior deficit": episodes[:, 3].mean().round(3),
                }
            )
        env.close()
    table = pd.DataFrame(rows).to_markdown(index=False)
    command = "python -m benchmarks.handover " + shlex.join(sys.argv[1:] if argv is None else argv)
    text = (
        f"# Handing customised policies over to their prior\n\nProduced by: `{command}`\n\n"
        f"Per row, mean over {args.episodes} episodes (reset seeds 0-{args.episodes - 1}, deterministic "
        "actions): the customised policy acts for `switch` steps, then the prior. Basic return of each part; "
        "while the customised policy acts, its mean |μ − μ_prior|/σ_prior per action dimension and the "
        "per-step log π_prior deficit Σ(μ − μ_prior)²/(2σ_prior²) in nats (before ω'). Module docstring: "
        "`benchmarks/handover.py`.\n\n" + table + "\n\nCheckpoints:\n\n" + "\n".join(sources) + "\n"
    )
    if args.out is None:
        print(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
