"""Residual PPO customisation demo: make a HalfCheetah prior keep its back thigh straighter.

The prior is the shipped Soft PPO HalfCheetah prior when the package has one (``sb3_rpg.priors``), otherwise
a small one trained here on the basic reward. Residual PPO then customises it to the add-on reward
``r_R = -|θ_bthigh|`` and the demo prints prior vs. customised basic, add-on and total returns.

    python -m sb3_rpg.demo [--prior-steps 150000] [--steps 100000] [--episodes 5] [--out demo_output]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

from sb3_rpg import ResidualPPO, SoftPPO, hyperparams, priors
from sb3_rpg.envs import HALF_CHEETAH_ID, evaluate_episodes

ENV = "HalfCheetah-v5"
# The benchmark's HalfCheetah PPO block (sb3_rpg/hyperparams/ppo.yml), and the paper's HalfCheetah
# coefficients (coefficients.yml: α from Table IV, ω' from Table V, 5% critic warm-up).
PPO_BLOCK = hyperparams.ppo_block(ENV)
N_ENVS = int(PPO_BLOCK["n_envs"])
PPO_KWARGS = hyperparams.algorithm_kwargs(PPO_BLOCK)


def train_prior(steps: int, out: Path, seed: int) -> tuple[Path, Path]:
    """Soft PPO on the basic reward, observations normalised (statistics saved beside the model)."""
    env = VecNormalize(
        make_vec_env(HALF_CHEETAH_ID, n_envs=N_ENVS, seed=seed, env_kwargs={"reward": "basic"}),
        **PPO_BLOCK["normalize"],
    )
    model = SoftPPO("MlpPolicy", env, **hyperparams.coefficients(ENV, "soft"), seed=seed, **PPO_KWARGS)
    print(f"Training a Soft PPO prior on the basic reward for {steps} steps (no shipped prior found)")
    model.learn(steps, progress_bar=True)
    model.save(out / "prior.zip")
    env.save(str(out / "prior_vecnormalize.pkl"))
    return out / "prior.zip", out / "prior_vecnormalize.pkl"


def summarize(frame: pd.DataFrame) -> dict[str, str]:
    digits = {"total_return": 1, "basic_return": 1, "addon_return": 1, "addon_metric_mean": 3}
    return {
        column: f"{frame[column].mean():.{d}f} ± {frame[column].std(ddof=0):.{d}f}"
        for column, d in digits.items()
    }


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--prior-steps", type=int, default=150_000, help="steps of the prior if none is shipped"
    )
    parser.add_argument("--steps", type=int, default=100_000, help="steps of the Residual PPO customisation")
    parser.add_argument("--episodes", type=int, default=5, help="evaluation episodes of each policy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("demo_output"))
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)

    if "HalfCheetah-v5" in priors.available():
        shipped = priors.get("HalfCheetah-v5")
        print(f"Using the shipped prior {shipped.model.name} ({shipped.info.get('description', '')})")
        prior_path, prior_stats = shipped.model, shipped.vec_normalize
    else:
        prior_path, prior_stats = train_prior(args.prior_steps, args.out, args.seed)

    # The env's reward is the add-on reward alone: Residual PPO never sees the prior's reward.
    env = make_vec_env(HALF_CHEETAH_ID, n_envs=N_ENVS, seed=args.seed, env_kwargs={"reward": "addon"})
    coefs = hyperparams.coefficients(ENV, "residual")
    # The actor (architecture included) comes from the prior: its policy_kwargs are left to it.
    # customize=True: the block's `customize:` overrides (settings for fine-tuning a prior) apply.
    customize_kwargs = hyperparams.algorithm_kwargs(hyperparams.ppo_block(ENV, customize=True))
    residual_kwargs = {key: value for key, value in customize_kwargs.items() if key != "policy_kwargs"}
    model = ResidualPPO(
        "MlpPolicy",
        env,
        prior=prior_path,
        prior_vec_normalize=prior_stats,
        seed=args.seed,
        **coefs,
        **residual_kwargs,
    )
    print(
        f"Customising with Residual PPO (ω'={coefs['prior_coef']}, α̂={coefs['ent_coef']}, "
        f"critic warm-up {coefs['critic_warmup']:.0%}) for {args.steps} steps"
    )
    model.learn(args.steps, progress_bar=True)
    model.save(args.out / "residual_ppo.zip")
    # rollout/kl_to_prior of the last rollout (also in the SB3 log): how far the customisation moved.
    print(
        f"KL(customised ‖ prior) over the last rollout: {model.rollout_buffer.kl_to_prior():.3f} nats per step"
    )

    rows = {}
    prior_model = SoftPPO.load(prior_path)
    for name, policy, stats in (("prior", prior_model, prior_stats), ("residual_ppo", model, None)):
        frame = evaluate_episodes(
            policy, HALF_CHEETAH_ID, n_episodes=args.episodes, seed=1000, vec_normalize=stats
        )
        rows[name] = summarize(frame)
    table = pd.DataFrame(rows).T.rename(
        columns={
            "total_return": "total (r + r_R)",
            "basic_return": "basic r",
            "addon_return": "add-on r_R",
            "addon_metric_mean": "mean |θ_bthigh|",
        }
    )
    print(f"\nFull-task evaluation, {args.episodes} deterministic episodes each (mean ± std):")
    print(table.to_string())
    table.to_csv(args.out / "demo_results.csv")
    return table


if __name__ == "__main__":
    main()
