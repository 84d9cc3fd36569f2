"""benchmarks' analysis commands: claims, update statistics, report comparison, checkpoint selection."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from report_rows import fake_episodes  # tests/report_rows.py
from smoke_runs import RESIDUAL, SOFT  # tests/smoke_runs.py

from benchmarks.report import summarize


def test_claims_pair_seeds_and_grade_cells_against_the_paper(tmp_path):
    from benchmarks.config import PAPER_RESULTS, load_yaml
    from benchmarks.report import seed_table
    from benchmarks.report_claims import cell_rows, claim_rows, write_claims

    paper = load_yaml(PAPER_RESULTS)
    seeds = seed_table(fake_episodes())
    seeds = seeds[~((seeds["variant"] == "no_entropy") & (seeds["seed"] == 1))]  # one unfinished run
    claims = claim_rows(seeds, paper, ("HalfCheetah-v5",)).set_index(["a", "b", "checkpoint"])
    # fake basic = 1000·(index + 1) + 100·seed (+ 500 at best), total = basic − 400; the variant order is
    # no_entropy, end_entropy, repeat_entropy, soft, soft_state_std, greedy, kl, residual, full.
    # soft − no_entropy, final, seed 0 only (seed 1 unfinished): 4000 − 1000 = 3000; the paper's
    # HalfCheetah Average: 4993.7 − 2254.9 = 2738.8, the same sign.
    row = claims.loc[("soft", "no_entropy", "final")]
    assert row["mean_delta"] == pytest.approx(3000.0) and row["seeds"] == "0" and row["n_seeds"] == 1
    assert row["paper_delta"] == pytest.approx(2738.8) and row["verdict"] == "holds" and row["as_paper"]
    # soft − soft_state_std, best: (4500 − 5500) = −1000 on both seeds; the paper's HalfCheetah Best:
    # 5896.5 − 5405.0 = +491.5, the other sign.
    row = claims.loc[("soft", "soft_state_std", "best")]
    assert row["mean_delta"] == pytest.approx(-1000.0) and row["a_ahead"] == 0 and row["n_seeds"] == 2
    assert row["paper_delta"] == pytest.approx(491.5) and not row["as_paper"]
    # The same −1000 on both seeds: a standard error of 0, so no tie.
    assert row["delta_se"] == pytest.approx(0.0) and row["verdict"] == "fails"
    # residual − kl, total return, final: (8000 − 400) − (7000 − 400) = 1000; the paper prints Table II for
    # best checkpoints only, beside both: 5488.3 − 5418.7 = 69.6.
    row = claims.loc[("residual", "kl", "final")]
    assert row["mean_delta"] == pytest.approx(1000.0) and row["paper_delta"] == pytest.approx(69.6)
    assert len(claims) == (3 + 2 + 1) * 2  # every claim, both checkpoint kinds

    cells = cell_rows(summarize(fake_episodes(), paper)).set_index(
        ["table", "variant", "checkpoint", "quantity"]
    )
    # Soft PPO final: 4050 (mean of seeds 0, 1) − 4993.7 = −943.7, short by less than the paper's 1262.3.
    assert cells.loc[(1, "soft", "final", "basic_return"), "verdict"] == "within paper std"
    assert cells.loc[(3, "soft", "final", "basic_return"), "diff"] == pytest.approx(-943.7)
    # No-Entropy final: 1050 − 2254.9 = −1204.9, more than the paper's std 1188.7 below.
    assert cells.loc[(1, "no_entropy", "final", "basic_return"), "verdict"] == "below"
    # Repeat-Entropy final: 3050 against the paper's −114.9.
    assert cells.loc[(1, "repeat_entropy", "final", "basic_return"), "verdict"] == "≥ paper"
    # Table II: the prior (soft's best: 4550 − 400 = 4150 total) against the paper's 5357.0 ± 377.8.
    assert cells.loc[(2, "prior", "best", "total_return"), "verdict"] == "below"
    assert not any(q == "addon_metric_mean" for q in cells.index.get_level_values("quantity"))

    paths = write_claims(
        seeds, summarize(fake_episodes(), paper), paper, tmp_path, "cmd", "fake", ("HalfCheetah-v5",)
    )
    text = paths[0].read_text()
    assert "Produced by: `cmd`" in text
    assert (
        "| 1 | HalfCheetah-v5 | final | Soft PPO ≥ No-Entropy PPO | +3000 | 1 of 1 (0) | +2739 | holds | yes |"
        in text
    )
    assert (
        "| 3 | HalfCheetah-v5 | best | Soft PPO ≥ Soft PPO, State Std. | -1000 ± 0 | 0 of 2 (0 1) |" in text
    )
    assert pd.read_csv(paths[1], comment="#").shape[0] == len(claims)


def test_claim_verdict_tells_a_tie_from_a_failure():
    from benchmarks.report_claims import _verdict

    # Per-seed a − b of −300, +100, −100: mean −100, std (ddof 1) 200, SE 200/√3 = 115.5 ≥ 100/2.
    assert _verdict(-100.0, 200.0 / 3**0.5) == "within 2 SE"
    assert _verdict(-300.0, 200.0 / 3**0.5) == "fails"  # 300 > 2 · 115.5 = 230.9
    assert _verdict(0.0, float("nan")) == "holds" and _verdict(-1.0, float("nan")) == "fails"


def test_update_stats_counts_floor_updates_and_kl_quantiles(tmp_path):
    from benchmarks.update_stats import main, update_stats

    run_dir = tmp_path / "Ant-v5" / "soft_state_std" / "seed0"
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "logs-resumed-400").mkdir()
    (run_dir / "config.yaml").write_text("ppo:\n  desired_kl: 0.01\n")
    # Segment 1 logs steps 100-400; the resumed segment 2 logs 400 again (its row wins) and 500.
    pd.DataFrame(
        {
            "time/total_timesteps": [100, 200, 300, 400],
            "train/approx_kl": [9.0, 0.01, 0.02, 9.0],
            "train/learning_rate": [1e-4, 1e-5, 1.5e-5, 1e-4],
            "train/clip_fraction": [0.1, 0.2, 0.3, 0.9],
        }
    ).to_csv(run_dir / "logs" / "progress.csv", index=False)
    pd.DataFrame(
        {
            "time/total_timesteps": [400, 500],
            "train/approx_kl": [0.04, 0.03],
            "train/learning_rate": [1.0000001e-5, 1e-5],
            "train/clip_fraction": [0.4, 0.5],
            "train/std": [0.2, 0.3],  # logged by segment 2 only (a run trained since σ(s) is logged)
            "train/std_min": [0.01, 0.002],
        }
    ).to_csv(run_dir / "logs-resumed-400" / "progress.csv", index=False)
    row = update_stats([run_dir], after=100).loc["Ant-v5/soft_state_std/seed0"]
    # Updates after step 100: 200, 300, 400 (segment 2's), 500 -> lr 1e-5, 1.5e-5, 1e-5, 1e-5: 3 of 4 at the floor.
    assert (
        row["updates"] == 4
        and row["at lr floor"] == 3
        and row["share at floor"] == 0.75
        and row["desired_kl"] == 0.01
    )
    # approx_kl 0.01, 0.02, 0.04, 0.03: median (0.02 + 0.03) / 2 = 0.025 (rounds to 0.025 or 0.024 in binary);
    # p90 by linear interpolation at 0.9 * 3 = 2.7 between 0.03 and 0.04: 0.037.
    assert row["approx_kl median"] == pytest.approx(0.025, abs=1e-3) and row["approx_kl p90"] == 0.037
    assert row["clip_fraction median"] == pytest.approx(0.35, abs=0.01)  # (0.3 + 0.4) / 2
    # σ over the updates that logged it (400, 500): median std (0.2 + 0.3) / 2, std_min median and minimum.
    assert row["std median"] == 0.25 and row["std_min median"] == 0.006 and row["std_min min"] == 0.002
    lock = run_dir.parent / "seed0.lock"  # what a shell's seed* also matches while the run trains
    lock.write_text("")
    assert main([str(run_dir), str(lock), "--after", "100", "--out", str(tmp_path / "u.md")]) == 0
    assert "Ant-v5/soft_state_std/seed0" in (tmp_path / "u.md").read_text()
    with pytest.raises(SystemExit, match="no update after step 500"):
        update_stats([run_dir], after=500)
    with pytest.raises(SystemExit, match="no SB3 log"):
        update_stats([tmp_path], after=0)
    # --before-best 250: the updates in (400 - 250, 400] = 200, 300, 400 (segment 2's row): lr 1e-5, 1.5e-5, 1e-5.
    with pytest.raises(SystemExit, match="no result.json"):
        update_stats([run_dir], before_best=250)
    (run_dir / "result.json").write_text('{"best_step": 400}')
    row = update_stats([run_dir], before_best=250).loc["Ant-v5/soft_state_std/seed0"]
    assert row["updates"] == 3 and row["at lr floor"] == 2
    assert row["min lr"] == 1e-5 and row["max lr"] == 1.5e-5 and row["median lr"] == 1e-5
    # A block with its own adaptive_lr_bounds: the floor is its lowest value, 1.5e-5 -> all 3 at or below it.
    (run_dir / "config.yaml").write_text("ppo:\n  desired_kl: 0.01\n  adaptive_lr_bounds: [1.5e-5, 1.0e-2]\n")
    row = update_stats([run_dir], before_best=250).loc["Ant-v5/soft_state_std/seed0"]
    assert row["lr floor"] == 1.5e-5 and row["at lr floor"] == 3
    (run_dir / "config.yaml").write_text("ppo:\n  desired_kl: 0.01\n")
    # The same run name in two results folders: each named by its folder.
    twin = tmp_path / "other" / "paper" / "Ant-v5" / "soft_state_std" / "seed0"
    shutil.copytree(run_dir, twin)
    both = update_stats([run_dir, twin], after=100)
    # (the first has no <budget> level here: its name takes tmp_path's parent)
    assert list(both.index) == [
        f"{tmp_path.parent.name}/Ant-v5/soft_state_std/seed0",
        "other/Ant-v5/soft_state_std/seed0",
    ]
    (run_dir / "result.json").write_text('{"best_step": 450}')
    with pytest.raises(SystemExit, match="no update in the 40 steps up to step 450"):
        update_stats([run_dir], before_best=40)  # (410, 450] holds no logged update


def test_compare_reports_puts_two_reports_side_by_side(tmp_path):
    from benchmarks.compare_reports import main as compare_main
    from benchmarks.config import PAPER_RESULTS, load_yaml
    from benchmarks.report import seed_table, write_csv
    from benchmarks.report_claims import cell_rows, write_claims

    paper = load_yaml(PAPER_RESULTS)
    base_episodes = fake_episodes()
    # The candidate: Soft PPO 2000 higher on every episode, and no Repeat-Entropy PPO run yet.
    candidate_episodes = base_episodes[base_episodes["variant"] != "repeat_entropy"].copy()
    soft = candidate_episodes["variant"] == "soft"
    candidate_episodes.loc[soft, ["basic_return", "total_return"]] += 2000.0
    for name, episodes in (("base", base_episodes), ("candidate", candidate_episodes)):
        folder = tmp_path / name
        folder.mkdir()
        summary = summarize(episodes, paper)
        write_csv(summary, folder / "summary.csv", "cmd")
        write_claims(seed_table(episodes), summary, paper, folder, "cmd", "fake", ("HalfCheetah-v5",))
    out = tmp_path / "vs.md"
    assert (
        compare_main(
            [str(tmp_path / "base"), str(tmp_path / "candidate"), "--envs", "HalfCheetah", "--out", str(out)]
        )
        == 0
    )
    text = out.read_text()
    # Soft PPO final basic: base (4000 + 4100)/2 = 4050, within the paper's 4993.7 ± 1262.3; candidate 6050.
    assert (
        "| 1 | HalfCheetah-v5 | Soft PPO | average | basic | 4994 ± 1262 | 4050 (2), within paper std | 6050 (2), ≥ paper | +2000 |"
        in text
    )
    # Repeat-Entropy PPO is only in the base: listed, not counted.
    assert (
        "| 1 | HalfCheetah-v5 | Repeat-Entropy PPO | average | basic | -115 ± 73 | 3050 (2), ≥ paper | — | — |"
        in text
    )
    n_cells = len(cell_rows(summarize(base_episodes, paper)))
    assert f"## Cells both reports have ({n_cells - 2})" in text
    # Soft − No-Entropy, final: base 4000 − 1000 + 100·seed − 100·seed = +3000 on both seeds, candidate +5000.
    assert "| Soft PPO ≥ No-Entropy PPO | +3000 ± 0 (2 of 2), holds | +5000 ± 0 (2 of 2), holds |" in text
    # Soft − Repeat-Entropy: the candidate has no Repeat-Entropy run, so no claim.
    assert "| Soft PPO ≥ Repeat-Entropy PPO | +1000 ± 0 (2 of 2), holds | — |" in text


def test_compare_reports_names_a_missing_report(tmp_path):
    from benchmarks.compare_reports import main as compare_main

    with pytest.raises(FileNotFoundError, match="summary.csv not found"):
        compare_main([str(tmp_path), str(tmp_path)])


def test_claims_along_training_check_each_evaluation_step(tmp_path):
    from benchmarks.config import PAPER_RESULTS, load_yaml
    from benchmarks.report_claims_training import claims_along_training, shown_steps, write_claims_training

    # Periodic evaluations (2 episodes each) of Soft and Repeat-Entropy PPO, seeds 0 and 1, steps 0-300.
    basic = {  # (variant, seed) -> basic return at steps 0, 100, 200, 300
        ("soft", 0): (5.0, 100.0, 300.0, 900.0),
        ("soft", 1): (5.0, 200.0, 300.0, 800.0),
        ("repeat_entropy", 0): (9.0, 400.0, 300.0, 500.0),
        ("repeat_entropy", 1): (9.0, 500.0, 200.0, 600.0),
    }
    rows = [
        {
            "env": "HalfCheetah-v5",
            "variant": variant,
            "run_seed": seed,
            "timesteps": step,
            "episode": episode,
            "basic_return": value + noise,
            "total_return": value + noise,
            "addon_return": 0.0,
            "addon_metric_mean": 0.0,
        }
        for (variant, seed), values in basic.items()
        for step, value in zip((0, 100, 200, 300), values)
        for episode, noise in enumerate((-1.0, 1.0))
    ]
    paper = load_yaml(PAPER_RESULTS)
    along = claims_along_training(pd.DataFrame(rows), paper, ("HalfCheetah-v5",)).set_index("timesteps")
    assert sorted(along.index) == [100, 200, 300]  # step 0 (the untrained policies) left out
    assert (along["a"] == "soft").all() and (along["b"] == "repeat_entropy").all()
    # Step 100: soft − repeat = 100 − 400 = −300 (seed 0), 200 − 500 = −300 (seed 1): SE 0, fails.
    assert along.loc[100, "mean_delta"] == pytest.approx(-300.0) and along.loc[100, "verdict"] == "fails"
    # Step 200: 0 and +100: mean +50, SE = std(0, 100) / √2 = 70.71 / 1.414 = 50; holds on both seeds.
    assert along.loc[200, "mean_delta"] == pytest.approx(50.0) and along.loc[
        200, "delta_se"
    ] == pytest.approx(50.0)
    assert along.loc[200, "a_ahead"] == 2 and along.loc[200, "verdict"] == "holds"
    # Step 300: +400 and +200: mean +300.
    assert along.loc[300, "mean_delta"] == pytest.approx(300.0)
    # 10 targets of 1000·k/10 over steps 0..1000 by 30 pick distinct nearest steps, and the last one.
    assert shown_steps(np.arange(0, 1001, 30), count=10)[-1] == 990
    assert shown_steps(np.array([100, 200, 300]), count=10) == [100, 200, 300]

    md, csv = write_claims_training(pd.DataFrame(rows), paper, tmp_path, "cmd", "fake", ("HalfCheetah-v5",))
    text = md.read_text()
    assert "Produced by: `cmd`" in text and "| Step | Soft PPO ≥ Repeat-Entropy PPO |" in text
    assert "| 100 | **-300 ± 0 (0/2)** |" in text and "| 200 | +50 ± 50 (2/2) |" in text
    assert pd.read_csv(csv, comment="#").shape[0] == 3


def test_prior_kl_of_a_smoke_customization(results, tmp_path):
    from benchmarks.curve_table import read_updates
    from benchmarks.prior_kl import main

    assert main(["--results-dir", str(results), "--budget", "smoke", "--out", str(tmp_path / "kl")]) == 0
    runs = pd.read_csv(tmp_path / "kl" / "prior_kl.csv", comment="#")
    assert list(runs["variant"]) == ["residual"]  # the Soft PPO prior has no prior
    log = read_updates(RESIDUAL.run_dir(results)).set_index("time/total_timesteps")["rollout/kl_to_prior"]
    late = log[log.index >= 0.9 * log.index.max()]
    assert runs["kl_late"].iloc[0] == pytest.approx(late.mean())
    assert runs["kl_max"].iloc[0] == pytest.approx(log.max())
    assert "| HalfCheetah-v5 | Residual PPO | 0 |" in (tmp_path / "kl" / "prior_kl.md").read_text()
    assert (tmp_path / "kl" / "prior_kl_HalfCheetah-v5.png").is_file()
    with pytest.raises(SystemExit, match="no finished greedy/kl/residual run"):
        main(["--results-dir", str(tmp_path), "--out", str(tmp_path / "none")])


def test_curve_table_shows_a_state_dependent_std(tmp_path):
    from benchmarks.curve_table import curve_table

    run_dir = tmp_path / "Ant-v5" / "soft_state_std" / "seed0"
    (run_dir / "logs").mkdir(parents=True)
    pd.DataFrame(
        {"timesteps": [100, 100, 300], "basic_return": [1.0, 3.0, 5.0], "addon_metric_mean": [0.0, 0.0, 0.0]}
    ).to_csv(run_dir / "evaluations.csv", index=False)
    pd.DataFrame(
        {
            "time/total_timesteps": [50, 100, 200, 300],
            "train/approx_kl": [0.01, 0.03, 0.02, 0.04],
            "train/learning_rate": [1e-4, 1e-4, 1e-5, 1e-5],
            "train/std": [0.2, 0.15, 0.1, 0.05],
            "train/std_min": [0.1, 0.05, 0.01, 0.004],
        }
    ).to_csv(run_dir / "logs" / "progress.csv", index=False)
    table = curve_table([run_dir])
    name = "Ant-v5/soft_state_std/seed0"
    # Evaluation at 100 takes the updates at 50 and 100, the one at 300 those at 200 and 300: the last of each.
    assert list(table[f"{name} basic"]) == [2.0, 5.0]
    assert list(table[f"{name} std"]) == [0.15, 0.05] and list(table[f"{name} std_min"]) == [0.05, 0.004]
    assert list(table[f"{name} approx_kl"]) == [0.02, 0.03]  # means: (0.01 + 0.03) / 2, (0.02 + 0.04) / 2


def _selection_run(root, variant: str, seed: int, rows: list[tuple[int, float, float]], best_step: int):
    """A fake finished Hopper run folder: ``rows`` of (step, basic, add-on) periodic evaluations, two
    episodes each (±10 around the values, so each evaluation's mean is the value), 5% warm-up of 4000."""
    import yaml

    run_dir = root / variant / f"seed{seed}"
    run_dir.mkdir(parents=True)
    episodes = []
    for step, basic, addon in rows:
        for episode, noise in enumerate((-10.0, 10.0)):
            episodes.append(
                {
                    "timesteps": step,
                    "episode": episode,
                    "total_return": basic + addon + 2 * noise,
                    "basic_return": basic + noise,
                    "addon_return": addon + noise,
                    "addon_metric_mean": addon / 1000,
                    "length": 1000,
                }
            )
    pd.DataFrame(episodes).to_csv(run_dir / "evaluations.csv", index=False)
    warmup = 0.05 if variant != "full" else 0.0
    config = {"coefficients": {"critic_warmup": warmup}, "budget": {"timesteps": 4000}}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    return run_dir, {"env": "Hopper-v5", "variant": variant, "seed": seed, "best_step": best_step}


def test_selection_rules_pick_checkpoints_after_the_warmup(tmp_path):
    from benchmarks.config import PAPER_RESULTS, load_yaml
    from benchmarks.report_selection import select_checkpoints, selection_summary, write_selection

    paper = load_yaml(PAPER_RESULTS)
    # Warm-up: 0.05 × 4000 = 200 steps, so step 200 (the prior, total 5000) cannot be picked.
    #   step  basic  add-on  total
    #   200   3600   1400    5000   (warm-up)
    #   400   3500   1420    4920   <- highest total after the warm-up (rule "total")
    #   600   2300   1520    3820   <- highest add-on (rule "add-on")
    #   800   2100   1450    3550   <- last
    rows = [(200, 3600.0, 1400.0), (400, 3500.0, 1420.0), (600, 2300.0, 1520.0), (800, 2100.0, 1450.0)]
    greedy = _selection_run(tmp_path, "greedy", 0, rows, best_step=400)
    # Residual PPO: the same evaluations + 300 basic return; its recorded best step disagrees (a check).
    residual = _selection_run(tmp_path, "residual", 0, [(s, b + 300, a) for s, b, a in rows], best_step=800)
    soft = _selection_run(tmp_path, "soft", 0, rows, best_step=200)  # not a customization: left out
    selected = select_checkpoints([greedy, residual, soft]).set_index(["variant", "rule"])
    assert sorted(selected.index.get_level_values("variant").unique()) == ["greedy", "residual"]
    assert selected.loc[("greedy", "total"), "timesteps"] == 400
    assert selected.loc[("greedy", "total"), "total_return"] == pytest.approx(4920.0)
    assert selected.loc[("greedy", "add-on"), "timesteps"] == 600
    assert selected.loc[("greedy", "add-on"), "basic_return"] == pytest.approx(2300.0)
    assert selected.loc[("greedy", "last"), "timesteps"] == 800
    assert selected.loc[("greedy", "total"), "reproduces_grid"]
    assert not selected.loc[("residual", "total"), "reproduces_grid"]
    assert (selected["episodes"] == 2).all()

    summary = selection_summary(selected.reset_index(), paper).set_index(["variant", "rule", "quantity"])
    # Greedy, add-on rule: total 3820 vs. the paper's Hopper Greedy best 3714.5 ± 7.1: +105.5, "≥ paper";
    # basic 2300 vs. 2224.2: ≥ paper; add-on 1520 vs. 1490.2 ± 0.9: ≥ paper.
    row = summary.loc[("greedy", "add-on", "total_return")]
    assert row["diff"] == pytest.approx(3820.0 - 3714.5) and row["verdict"] == "≥ paper"
    # Greedy, rule "last": add-on 1450 vs. 1490.2 ± 0.9: short by 40.2 > 0.9, "below".
    assert summary.loc[("greedy", "last", "addon_return"), "verdict"] == "below"
    # Residual, rule "total": total 5220 vs. 4401.4 ± 505.3: ≥ paper; its basic (3800) too.
    assert summary.loc[("residual", "total", "basic_return"), "mean"] == pytest.approx(3800.0)

    md, csv = write_selection([greedy, residual], paper, tmp_path, "cmd", "fake", ("Hopper-v5",))
    text = md.read_text()
    assert (
        "Rule *total* picks the run's recorded best checkpoint (`result.json` `best_step`) in 1 of 2" in text
    )
    # Residual − Greedy, total return, rule "add-on": both picked step 600, 4120 − 3820 = +300 on the one
    # seed (no standard error); the paper's 4401.4 − 3714.5 = +686.9.
    assert "| Hopper-v5 | add-on | +300 (1 of 1), holds (+687) |" in text
    assert len(pd.read_csv(csv, comment="#")) == 6  # 2 runs × 3 rules


def test_kept_checkpoints_are_reselected_by_add_on_return(results, tmp_path, capsys):
    from benchmarks.report_selection import pick_steps
    from benchmarks.reselect import main as reselect
    from benchmarks.training import run_one

    # The customization again, in a results folder of its own (beside a copy of its prior), keeping every
    # periodic evaluation's policy.
    shutil.copytree(SOFT.run_dir(results), SOFT.run_dir(tmp_path))
    run_one(RESIDUAL, tmp_path, command="pytest", keep_checkpoints=True)
    kept_dir, grid_dir = RESIDUAL.run_dir(tmp_path), RESIDUAL.run_dir(results)
    evaluations = pd.read_csv(kept_dir / "evaluations.csv")
    steps = sorted(evaluations["timesteps"].unique())
    periodic = kept_dir / "checkpoints" / "periodic"
    assert sorted(int(p.stem.split("-")[1]) for p in periodic.glob("step-*.zip")) == steps
    # Keeping them changes no update and no evaluation: the same run as the shared one.
    pd.testing.assert_frame_equal(evaluations, pd.read_csv(grid_dir / "evaluations.csv"))

    assert reselect(["--budget", "smoke", "--results-dir", str(tmp_path)]) == 0
    step = pick_steps(kept_dir)["add-on"][0]
    assert f"smoke/HalfCheetah-v5/residual/seed0: evaluated step {step}" in capsys.readouterr().out
    frame = pd.read_csv(kept_dir / "eval_best_addon.csv")
    assert (frame["timesteps"] == step).all() and (frame["checkpoint"] == "best_addon").all()
    assert len(frame) == 2  # the smoke budget's final episodes
    if step == steps[-1]:  # the last policy: the same deterministic episodes as eval_final.csv
        final = pd.read_csv(kept_dir / "eval_final.csv")
        assert frame["total_return"].tolist() == pytest.approx(final["total_return"].tolist())
    assert reselect(["--budget", "smoke", "--results-dir", str(tmp_path)]) == 0
    assert "up to date" in capsys.readouterr().out
    # A run trained without --keep-checkpoints cannot be reselected, and says why.
    assert reselect(["--budget", "smoke", "--results-dir", str(results)]) == 1
    assert "train the run with benchmarks.run --keep-checkpoints" in capsys.readouterr().err
