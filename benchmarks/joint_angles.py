"""Which HalfCheetah back-leg joint does the paper's "hind leg" angle mean?

The paper reports a mean |θ| of 0.54 for its HalfCheetah prior (basic return about 5900, Table II) without
naming the joint. This evaluates one or more priors on each back-leg joint's add-on metric and writes the mean |angle|
of each to ``benchmarks/results/joint_angles.md``; a prior's VecNormalize statistics are the
``<name>_vecnormalize.pkl`` beside it (the layout of the benchmark checkpoints and of ``sb3_rpg/priors``):

    python benchmarks/joint_angles.py --prior sb3_rpg/priors/HalfCheetah-v5.zip --episodes 20
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch as th

from sb3_rpg import SoftPPO
from sb3_rpg.common.prior import sibling_vec_normalize
from sb3_rpg.envs import HALF_CHEETAH_ID, HALF_CHEETAH_JOINTS, evaluate_episodes

PAPER_MEAN_ABS_ANGLE = 0.54  # Table II, HalfCheetah Prior Policy


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prior", type=Path, nargs="+", required=True, help="one or more prior .zip files")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "joint_angles.md")
    args = parser.parse_args()
    th.set_num_threads(1)
    rows = []
    for prior in args.prior:
        rows += measure(prior, args.episodes)
    table = pd.DataFrame(rows)
    closest = table.loc[table["abs(ours - paper 0.54)"].idxmin()]
    command = " ".join(["python", *sys.argv])
    text = (
        f"# HalfCheetah back-leg joint angles under the prior\n\nProduced by: `{command}`\n\n"
        f"{args.episodes} deterministic episodes per joint and prior. The paper's prior (basic return ~5900) "
        f"has a mean |θ| of {PAPER_MEAN_ABS_ANGLE}.\n\n{table.to_markdown(index=False, floatfmt='.3f')}\n\n"
        f"Closest to the paper: **{closest['joint']}** of `{closest['prior']}`.\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


def measure(prior: Path, episodes: int) -> list[dict[str, object]]:
    """Mean |angle| of each back-leg joint over ``episodes`` deterministic episodes of ``prior``."""
    if not prior.is_file():
        raise SystemExit(f"no prior at {prior}")
    vec_normalize = sibling_vec_normalize(prior)
    model = SoftPPO.load(prior, device="cpu")
    rows = []
    for joint in HALF_CHEETAH_JOINTS:
        frame = evaluate_episodes(
            model,
            HALF_CHEETAH_ID,
            n_episodes=episodes,
            seed=0,
            env_kwargs={"joint": joint},
            vec_normalize=vec_normalize,
        )
        rows.append(
            {
                "prior": str(prior),
                "joint": joint,
                "mean abs(θ), ours": frame.addon_metric_mean.mean(),
                "std over episodes": frame.addon_metric_mean.std(ddof=0),
                "basic return of the prior": frame.basic_return.mean(),
                "abs(ours - paper 0.54)": abs(frame.addon_metric_mean.mean() - PAPER_MEAN_ABS_ANGLE),
            }
        )
    return rows


if __name__ == "__main__":
    main()
