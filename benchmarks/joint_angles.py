"""Which HalfCheetah back-leg joint does the paper's "hind leg" angle mean?

The paper reports a mean |θ| of 0.54 for its HalfCheetah prior (basic return about 5900, Table II) without
naming the joint. This evaluates a prior on each back-leg joint's add-on metric and writes the mean |angle|
of each to ``benchmarks/results/joint_angles.md``:

    python benchmarks/joint_angles.py --prior sb3_rpg/priors/HalfCheetah-v5.zip \
        --vec-normalize sb3_rpg/priors/HalfCheetah-v5_vecnormalize.pkl --episodes 20
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch as th

from sb3_rpg import SoftPPO
from sb3_rpg.envs import HALF_CHEETAH_ID, HALF_CHEETAH_JOINTS, evaluate_episodes

PAPER_MEAN_ABS_ANGLE = 0.54  # Table II, HalfCheetah Prior Policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prior", type=Path, required=True)
    parser.add_argument("--vec-normalize", type=Path, default=None)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "joint_angles.md")
    args = parser.parse_args()
    th.set_num_threads(1)
    model = SoftPPO.load(args.prior, device="cpu")
    rows = []
    for joint in HALF_CHEETAH_JOINTS:
        frame = evaluate_episodes(
            model, HALF_CHEETAH_ID, n_episodes=args.episodes, seed=0, env_kwargs={"joint": joint}, vec_normalize=args.vec_normalize
        )
        rows.append(
            {
                "joint": joint,
                "mean abs(θ), ours": frame.addon_metric_mean.mean(),
                "std over episodes": frame.addon_metric_mean.std(ddof=0),
                "basic return of the prior": frame.basic_return.mean(),
                "abs(ours - paper 0.54)": abs(frame.addon_metric_mean.mean() - PAPER_MEAN_ABS_ANGLE),
            }
        )
    table = pd.DataFrame(rows)
    closest = table.loc[table["abs(ours - paper 0.54)"].idxmin(), "joint"]
    command = " ".join(["python", *sys.argv])
    text = (
        f"# HalfCheetah back-leg joint angles under the prior\n\nProduced by: `{command}`\n\n"
        f"{args.episodes} deterministic episodes per joint. The paper's prior (basic return ~5900) has a mean "
        f"|θ| of {PAPER_MEAN_ABS_ANGLE}.\n\n{table.to_markdown(index=False, floatfmt='.3f')}\n\n"
        f"Closest to the paper: **{closest}**.\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
