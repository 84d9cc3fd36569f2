"""Fake final-evaluation rows that the report tests share (not a test module)."""

from __future__ import annotations

import pandas as pd

from benchmarks.config import TABLES


def fake_episodes() -> pd.DataFrame:
    """Final-evaluation rows of two seeds x 3 episodes for HalfCheetah: basic = 1000·(variant index + 1)."""
    rows = []
    variants = [*TABLES[1], "soft_state_std", "greedy", "kl", "residual", "full"]
    for index, variant in enumerate(variants):
        for checkpoint, bonus in (("final", 0.0), ("best", 500.0)):
            for seed in (0, 1):
                for episode, noise in enumerate((-10.0, 0.0, 10.0)):
                    basic = 1000.0 * (index + 1) + bonus + noise + 100.0 * seed
                    rows.append(
                        {
                            "env": "HalfCheetah-v5",
                            "variant": variant,
                            "run_seed": seed,
                            "checkpoint": checkpoint,
                            "episode": episode,
                            "seed": episode,
                            "total_return": basic - 400.0,
                            "basic_return": basic,
                            "addon_return": -400.0,
                            "addon_metric_mean": 0.4,
                            "length": 1000,
                        }
                    )
    return pd.DataFrame(rows)
