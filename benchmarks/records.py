"""Commit the benchmark runs: which files of a run folder are its record, and staging them in git.

    python -m benchmarks.records --budget paper            # git add / git rm --cached; then git commit
    python -m benchmarks.records --budget paper --commit   # ... and commit them (nothing else)
    python -m benchmarks.records --budget paper --dry-run  # list what would be staged

    # Beside a long grid, so that finished runs land as they come (resume points, 2 x 1.7 MB per
    # unfinished run and commit, only in the last commit of a session: without --keep-resume-points):
    while sleep 1200; do python -m benchmarks.records --budget paper --commit --keep-resume-points; done

A run folder (``benchmarks/training.py``) lives under the git-ignored ``benchmarks/runs/``, on the
machine that trains it. What must outlive that machine is committed, and nothing more:

- every run: ``config.yaml`` (settings and command), ``evaluations.csv`` (the learning curve) and, once
  finished, ``eval_final.csv``, ``eval_best.csv`` and ``result.json`` (and ``benchmarks.reselect``'s
  ``eval_best_addon.csv`` where it has one): all the report reads;
- a finished Soft PPO run: its best checkpoint (``best.zip`` and its VecNormalize statistics), the prior
  that Table II's customizations of the same env and seed start from, and what ``ship_prior`` ships;
- an unfinished run: its resume point (``checkpoints/resume*``) and best checkpoint so far, so that the
  next machine continues it (``python -m benchmarks.run`` with the same arguments) instead of
  restarting it;
- every run, finished or at a resume point: its SB3 ``progress.csv`` (one per resumed segment,
  ``logs*/``; ~100-300 kB of text for 5M steps): the per-update KL, learning rate and σ that
  ``benchmarks.curve_table`` puts beside the evaluations, the evidence for a run's diagnosis.

Tensorboard event files, Monitor files, locks and the last and best checkpoints of finished runs that
nothing depends on stay on the machine: they are large, and the record is enough to rebuild every table
and figure (``python -m benchmarks.report``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from benchmarks.checkpoints import RESUME_FILE, checkpoint_files, load_resume_state
from benchmarks.config import BUDGETS, DEFAULT_RUNS_DIR, PRIOR_VARIANT
from benchmarks.training import RESULT_FILE, is_finished

#: Files of every run folder that are committed when they exist.
RECORD_FILES = (
    *("config.yaml", "evaluations.csv", "eval_final.csv", "eval_best.csv", RESULT_FILE),
    "eval_best_addon.csv",  # benchmarks.reselect's, where a run kept its periodic checkpoints
)
#: SB3's CSV logs of a run folder, one per training segment (``logs``, ``logs-resumed-<step>``).
PROGRESS_LOGS = "logs*/progress.csv"


def run_folders(results_dir: Path, budget: str) -> list[Path]:
    """The budget's run folders (``<budget>/<env>/<variant>/seed<k>``) that hold a ``config.yaml``,
    leaving out those reached through a symbolic link: results folders that pool runs of other folders
    (``hopper_search/i_seeds0to9``) or borrow their priors (a candidate's ``soft`` linking to the grid's)
    hold such links, and the runs behind them are recorded with the folder they live in."""
    root = Path(results_dir)

    def linked(run_dir: Path) -> bool:
        parts = run_dir.relative_to(root).parts
        return any(root.joinpath(*parts[:depth]).is_symlink() for depth in range(1, len(parts) + 1))

    return sorted(
        path.parent for path in (root / budget).glob("*/*/seed*/config.yaml") if not linked(path.parent)
    )


def record_files(run_dir: Path, resume_points: bool = True) -> list[Path]:
    """The files of ``run_dir`` to commit (see the module docstring).

    :param resume_points: include an unfinished run's resume point and best checkpoint so far.
    """
    run_dir = Path(run_dir)
    files = [run_dir / name for name in RECORD_FILES if (run_dir / name).is_file()]
    finished = is_finished(run_dir)
    if finished or resume_points:  # an unfinished run's log grows: committed with its resume point
        files += sorted(run_dir.glob(PROGRESS_LOGS))
    checkpoints = run_dir / "checkpoints"
    best = list(checkpoint_files(checkpoints, "best"))
    if finished:
        if run_dir.parent.name == PRIOR_VARIANT:
            files += best
    else:
        state = load_resume_state(checkpoints) if resume_points else None
        if state is not None:
            files += [checkpoints / RESUME_FILE, *checkpoint_files(checkpoints, state.name), *best]
    return [path for path in files if path.is_file()]


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return out.stdout


#: Listings of the record files tried before :func:`stage` gives up on a live run's changing checkpoints.
STAGE_ATTEMPTS = 3
#: What ``git add`` says of a listed file deleted before (pathspec) or while (stat) it reads it.
VANISHED_FILE_ERRORS = ("unable to stat", "did not match any files")


def stage(
    results_dir: Path, budget: str, dry_run: bool = False, keep_resume_points: bool = False
) -> tuple[list[Path], list[Path]]:
    """Stage the budget's run records in the git repository holding ``results_dir``: ``git add -f`` the
    record files (the folder is ignored), ``git rm --cached`` tracked files that are no longer part of a
    record (a finished run's resume point, a customization's best checkpoint).

    :param keep_resume_points: leave the checkpoints and progress logs of unfinished runs as git has
        them (neither updated nor removed: the committed resume point stays a consistent one), to
        commit finished runs often without committing megabytes of resume points each time.

    A runner training beside it replaces an unfinished run's resume point (``resume-<step>``) as it
    goes; if a listed file is gone by the time ``git add`` reaches it, the records are listed again (up
    to :data:`STAGE_ATTEMPTS` times), so that the resume point staged is the one ``resume.json`` names.

    :return: (files added, files untracked), as absolute paths.
    """
    for attempt in range(1, STAGE_ATTEMPTS + 1):
        try:
            return _stage_once(results_dir, budget, dry_run, keep_resume_points)
        except subprocess.CalledProcessError as error:
            vanished = any(text in (error.stderr or "") for text in VANISHED_FILE_ERRORS)
            if attempt == STAGE_ATTEMPTS or not vanished:
                raise
    raise AssertionError("unreachable")


def _stage_once(
    results_dir: Path, budget: str, dry_run: bool, keep_resume_points: bool
) -> tuple[list[Path], list[Path]]:
    results_dir = Path(results_dir).resolve()
    if not results_dir.is_dir():
        raise FileNotFoundError(f"no results folder at {results_dir}")
    try:
        repo = Path(_git(results_dir, "rev-parse", "--show-toplevel").strip())
    except subprocess.CalledProcessError as error:
        raise RuntimeError(f"{results_dir} is not inside a git repository: nothing to stage") from error
    folders = run_folders(results_dir, budget)
    wanted = {path.resolve() for run_dir in folders for path in record_files(run_dir, not keep_resume_points)}
    budget_dir = results_dir / budget
    tracked = (
        {repo / line for line in _git(repo, "ls-files", "--", str(budget_dir)).splitlines()}
        if budget_dir.exists()
        else set()
    )
    # A tracked link belongs to the folder's layout, not to a run's record: untracking it would leave a
    # clone without the runs it points to (a records commit once lost candidate k's soft/ so).
    tracked = {path for path in tracked if not path.is_symlink()}
    if keep_resume_points:  # git keeps the resume point and the log of the same moment, consistent
        unfinished = [run_dir.resolve() for run_dir in folders if not is_finished(run_dir)]

        def in_progress(path: Path) -> bool:
            return any(
                path.is_relative_to(run_dir)
                and (path.relative_to(run_dir).parts[0] == "checkpoints" or path.match(PROGRESS_LOGS))
                for run_dir in unfinished
            )

        tracked = {path for path in tracked if not in_progress(path)}
    added, dropped = sorted(wanted), sorted(tracked - wanted)
    if not dry_run:
        # In chunks: a grid has thousands of files at most, but argv limits are finite.
        for start in range(0, len(dropped), 200):
            _git(repo, "rm", "-q", "--cached", "--", *map(str, dropped[start : start + 200]))
        for start in range(0, len(added), 200):
            _git(repo, "add", "-f", "--", *map(str, added[start : start + 200]))
    return added, dropped


def commit(results_dir: Path, budget: str, keep_resume_points: bool = False) -> str:
    """Stage the budget's records and commit them, and nothing else: if changes outside the records
    are staged (someone's work in progress), nothing is staged or committed.

    :return: what happened, one line.
    :raises RuntimeError: other changes are staged.
    """
    budget_dir = (Path(results_dir) / budget).resolve()
    if not budget_dir.is_dir():
        raise FileNotFoundError(f"no run folders at {budget_dir}")
    repo = Path(_git(budget_dir, "rev-parse", "--show-toplevel").strip())

    def staged() -> list[Path]:
        return [repo / line for line in _git(repo, "diff", "--cached", "--name-only").splitlines()]

    others = [path for path in staged() if not path.is_relative_to(budget_dir)]
    if others:
        raise RuntimeError(f"other changes are staged ({', '.join(map(str, others[:3]))}): commit them first")
    stage(results_dir, budget, keep_resume_points=keep_resume_points)
    if not staged():
        return "records unchanged: nothing to commit"
    folders = run_folders(results_dir, budget)
    finished = sum(is_finished(run_dir) for run_dir in folders)
    where = budget_dir.relative_to(repo)
    message = f"Records: {where}, {finished} runs finished, {len(folders) - finished} in progress"
    _git(repo, "commit", "-q", "-m", message)
    return message


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.records",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--budget", choices=sorted(BUDGETS), required=True)
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RUNS_DIR)
    parser.add_argument("--dry-run", action="store_true", help="list the files, stage nothing")
    parser.add_argument(
        "--commit", action="store_true", help="commit the records (refused if other changes are staged)"
    )
    parser.add_argument(
        "--keep-resume-points",
        action="store_true",
        help="leave unfinished runs' checkpoints as committed (the last commit of a session should update them)",
    )
    args = parser.parse_args(argv)
    try:
        if args.commit:
            print(commit(args.results_dir, args.budget, args.keep_resume_points))
            return 0
        added, dropped = stage(args.results_dir, args.budget, args.dry_run, args.keep_resume_points)
    except (FileNotFoundError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:  # e.g. git commit without a user identity
        print(f"error: {' '.join(error.cmd)} failed: {error.stderr.strip()}", file=sys.stderr)
        return 2
    verb = "would stage" if args.dry_run else "staged"
    if args.dry_run:
        for path in added:
            print(f"{verb}: {path}")
    for path in dropped:
        print(f"{verb} removal from git (kept on disk): {path}")
    finished = sum(is_finished(run_dir) for run_dir in run_folders(args.results_dir, args.budget))
    print(
        f"{len(run_folders(args.results_dir, args.budget))} run folders ({finished} finished): "
        f"{len(added)} files {verb}, {len(dropped)} untracked. Commit them with git commit.",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
