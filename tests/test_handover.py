"""benchmarks.handover: a customised policy's episode handed over to its prior."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from smoke_runs import RESIDUAL, SOFT

from benchmarks import handover
from sb3_rpg import ResidualPPO, SoftPPO
from sb3_rpg.envs import evaluate_episodes


class FixedActor:
    """Always the same mean action and σ."""

    def __init__(self, mean, std) -> None:
        self.mean, self.std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)

    def mean_std(self, observation):
        return self.mean, self.std


def test_distance_and_log_prob_deficit_by_hand():
    env = gym.make("sb3_rpg/HalfCheetah-v5", reward="full", max_episode_steps=10)
    prior = FixedActor(np.zeros(6), np.full(6, 0.5))
    # The customised mean sits 0.5 = 1 σ_prior away in the first dimension and 1.0 = 2 σ in the second:
    # |Δμ|/σ averaged over the 6 dimensions = (1 + 2) / 6 = 0.5; deficit Σ z²/2 = (1 + 4) / 2 = 2.5 nats.
    customised = FixedActor([0.5, -1.0, 0, 0, 0, 0], np.full(6, 0.1))
    _, _, distance, deficit = handover.handover(env, customised, prior, switch=4, seed=0)
    assert distance == pytest.approx(0.5)
    assert deficit == pytest.approx(2.5)
    # Nothing for the customised policy to be charged for when the prior acts from the start.
    before, _, distance, deficit = handover.handover(env, customised, prior, switch=0, seed=0)
    assert before == 0.0 and np.isnan(distance) and np.isnan(deficit)


def test_matches_evaluate_episodes_at_the_ends(results, tmp_path):
    """switch 0 is the prior's episode, switch >= the episode length the customised policy's: the same basic
    returns as the library's own evaluation of each (episode 0, reset seed 0, mean actions)."""
    run_dir = RESIDUAL.run_dir(results)
    out = tmp_path / "handover.md"
    handover.main([f"{run_dir}:last", "--switch", "0", "1000", "--episodes", "1", "--out", str(out)])
    text = out.read_text()
    rows = [line.split("|") for line in text.splitlines() if line.startswith(f"| {RESIDUAL.name}:last")]
    assert len(rows) == 2
    prior_part_at_0 = float(rows[0][5])
    customised_part_at_1000 = float(rows[1][4])

    prior_dir = SOFT.run_dir(results) / "checkpoints"
    prior = SoftPPO.load(prior_dir / "best.zip", device="cpu")
    expected_prior = evaluate_episodes(
        prior, "sb3_rpg/HalfCheetah-v5", 1, vec_normalize=prior_dir / "best_vecnormalize.pkl"
    )
    assert prior_part_at_0 == pytest.approx(
        expected_prior["basic_return"].iloc[0], abs=0.5
    )  # table rounds to 1

    checkpoints = run_dir / "checkpoints"
    customised = ResidualPPO.load(checkpoints / "last.zip", device="cpu")
    expected = evaluate_episodes(
        customised, "sb3_rpg/HalfCheetah-v5", 1, vec_normalize=checkpoints / "last_vecnormalize.pkl"
    )
    assert customised_part_at_1000 == pytest.approx(expected["basic_return"].iloc[0], abs=0.5)
    assert "sha256" in text and "python -m benchmarks.handover" in text


def test_refuses_runs_it_cannot_hand_over(results, tmp_path):
    with pytest.raises(SystemExit, match="no result.json"):
        handover.main([str(tmp_path / "nothing")])
    with pytest.raises(SystemExit, match="no checkpoint 'middle.zip'"):
        handover.main([f"{RESIDUAL.run_dir(results)}:middle"])
    with pytest.raises(SystemExit, match="not a customisation run"):
        handover.main([f"{SOFT.run_dir(results)}:best"])
