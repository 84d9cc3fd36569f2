"""Run the benchmark grid (paper Tables I-III): table x env x variant x seed, dependency-ordered.

    python -m benchmarks.run --budget quick --envs HalfCheetah --workers 2
    python -m benchmarks.run --budget paper --shard 0/4 --results-dir /shared/rpg_runs   # one of 4 machines
    python -m benchmarks.run --budget quick --dry-run

Finished runs (with ``result.json``) are skipped, so the command can be re-run after a kill. An
unfinished run continues from its last resume point (saved at each periodic evaluation,
``checkpoints/resume.json``) if it was trained with the same settings, and otherwise restarts from
scratch. Table II runs (greedy/kl/residual) start once the Soft PPO run of the same env and seed (their
prior) has finished, in this process or in another shard.
"""

from __future__ import annotations

import os

# Before torch is imported (here and, through the inherited environment, in the worker processes):
# one OpenMP/MKL thread per process, since runs already run in parallel on few cores.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import argparse
import multiprocessing
import shlex
import shutil
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from tqdm import tqdm

from benchmarks.config import (
    BUDGETS,
    DEFAULT_RUNS_DIR,
    TABLES,
    VARIANTS,
    RunSpec,
    build_grid,
    parse_shard,
    shard,
)

#: Seconds between checks for a prior that another shard is training.
POLL_SECONDS = 30.0
#: Status of a run that another live process is training: not ours to run, and not a failure.
ELSEWHERE = "running in another process"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--budget", choices=sorted(BUDGETS), default="quick", help="steps, seeds, eval episodes"
    )
    parser.add_argument("--tables", type=int, nargs="+", choices=sorted(TABLES), default=sorted(TABLES))
    parser.add_argument("--envs", nargs="+", default=None, help="e.g. HalfCheetah Hopper Ant (default: all)")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=None, help="default: all")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default: the budget's")
    parser.add_argument(
        "--workers", type=int, default=1, help="runs in parallel, one process and one thread each"
    )
    parser.add_argument("--shard", default="0/1", help="i/N: this process runs every N-th run of the grid")
    parser.add_argument(
        "--results-dir", type=Path, default=DEFAULT_RUNS_DIR, help="common run folder of all shards"
    )
    parser.add_argument(
        "--hyperparams",
        type=Path,
        default=None,
        help="PPO hyperparameter file in ppo.yml's layout (default: sb3_rpg/hyperparams/ppo.yml); "
        "give it its own --results-dir",
    )
    parser.add_argument(
        "--rerun-stale",
        action="store_true",
        help="move finished runs trained with other settings to <results-dir>/stale/ and train them again",
    )
    parser.add_argument("--dry-run", action="store_true", help="list the runs and their state, train nothing")
    parser.add_argument(
        "--keep-checkpoints",
        action="store_true",
        help="keep every periodic evaluation's policy in checkpoints/periodic/ (for benchmarks.reselect)",
    )
    return parser.parse_args(argv)


def selected_runs(args: argparse.Namespace) -> list[RunSpec]:
    """The grid of the arguments, restricted to this shard."""
    grid = build_grid(
        args.budget,
        tables=tuple(args.tables),
        envs=tuple(args.envs) if args.envs else None,
        variants=tuple(args.variants) if args.variants else None,
        seeds=tuple(args.seeds) if args.seeds is not None else None,
        ppo_file=args.hyperparams,
    )
    index, count = parse_shard(args.shard)
    return shard(grid, index, count)


def run_state(spec: RunSpec, results_dir: Path) -> str:
    """``finished``, ``stale`` (finished with other settings, see ``stale_reason``), ``running`` (locked
    by a live process), ``partial`` (a folder without result.json: will restart) or ``todo``."""
    from benchmarks.runlock import is_locked
    from benchmarks.training import is_finished, stale_reason

    run_dir = spec.run_dir(results_dir)
    if is_finished(run_dir):
        return "stale" if stale_reason(spec, results_dir) else "finished"
    if is_locked(run_dir):
        return "running"
    return "partial" if run_dir.exists() else "todo"


def move_stale(runs: list[RunSpec], results_dir: Path, move: bool) -> list[str]:
    """Find the finished runs of ``runs`` that are stale; with ``move``, move them (in dependency order,
    so that a moved prior makes its dependents stale too) to ``<results_dir>/stale/<time>/`` where the
    report does not read them. Returns one line per stale run."""
    from benchmarks.training import stale_reason

    stamp = time.strftime("%Y%m%d-%H%M%S")
    lines = []
    for spec in sorted(runs):
        reason = stale_reason(spec, results_dir)
        if reason is None:
            continue
        lines.append(f"{spec.name}: {reason}")
        if move:
            run_dir = spec.run_dir(results_dir)
            target = Path(results_dir) / "stale" / stamp / run_dir.relative_to(results_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(run_dir), str(target))
    return lines


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _run_in_worker(spec: RunSpec, results_dir: Path, command: str, keep_checkpoints: bool = False) -> str:
    """Entry point of a worker process: run one spec, never raise (the error goes to error.txt)."""
    from benchmarks.runlock import RunLocked
    from benchmarks.training import run_one

    try:
        run_one(spec, results_dir, command, keep_checkpoints)
    except RunLocked:
        return ELSEWHERE
    except Exception:  # noqa: BLE001 -- a crashed run must not take the grid down; dependents are skipped
        text = traceback.format_exc()
        run_dir = spec.run_dir(results_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "error.txt").write_text(text, encoding="utf-8")
        return f"failed: {text.strip().splitlines()[-1]}"
    return "finished"


class Scheduler:
    """Start runs whose dependencies have finished, at most ``workers`` at a time.

    :param runs: this shard's runs.
    :param results_dir: common results directory.
    :param workers: parallel processes (1: run in this process).
    :param command: the command line, saved in each run's config.yaml.
    :param keep_checkpoints: keep every periodic evaluation's policy (``--keep-checkpoints``).
    """

    def __init__(
        self,
        runs: list[RunSpec],
        results_dir: Path,
        workers: int,
        command: str,
        keep_checkpoints: bool = False,
    ) -> None:
        self.runs = runs
        self.keep_checkpoints = keep_checkpoints
        self.results_dir = results_dir
        self.workers = max(1, workers)
        self.command = command
        self.failed: dict[RunSpec, str] = {}
        self.elsewhere: list[RunSpec] = []

    def _ready(self, spec: RunSpec) -> bool | None:
        """True: can start; False: wait; None: a dependency failed, so this run can never start."""
        from benchmarks.runlock import is_locked
        from benchmarks.training import is_finished

        for dep in spec.dependencies():
            if dep in self.failed:
                return None
            dep_dir = dep.run_dir(self.results_dir)
            if not is_finished(dep_dir):
                # Failed in another runner (shard), and nobody is training it again: waiting is forever.
                if (dep_dir / "error.txt").is_file() and not is_locked(dep_dir):
                    return None
                return False
        return True

    def run(self) -> dict[RunSpec, str]:
        """Run everything; return the runs that failed or were skipped, with the reason.

        Runs locked by another live process are left to it (listed in ``self.elsewhere``); runs that
        need them as a prior wait for their ``result.json``.
        """
        from benchmarks.runlock import is_locked
        from benchmarks.training import is_finished

        pending = [spec for spec in self.runs if not is_finished(spec.run_dir(self.results_dir))]
        bar = tqdm(
            total=len(self.runs), initial=len(self.runs) - len(pending), unit="run", dynamic_ncols=True
        )
        executor = None
        if self.workers > 1:
            context = multiprocessing.get_context("spawn")  # no forked torch state in workers
            executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_worker_init)
        running: dict[Future[str], RunSpec] = {}
        try:
            while pending or running:
                for spec in list(pending):
                    if len(running) >= self.workers and executor is not None:
                        break
                    state = self._ready(spec)
                    if is_locked(spec.run_dir(self.results_dir)):
                        pending.remove(spec)
                        self._finish(spec, ELSEWHERE, bar)
                    elif state is None:
                        pending.remove(spec)
                        self.failed[spec] = "skipped: its prior failed"
                        bar.update()
                    elif state:
                        pending.remove(spec)
                        bar.set_postfix_str(spec.name)
                        if executor is None:
                            status = _run_in_worker(
                                spec, self.results_dir, self.command, self.keep_checkpoints
                            )
                            self._finish(spec, status, bar)
                        else:
                            future = executor.submit(
                                _run_in_worker, spec, self.results_dir, self.command, self.keep_checkpoints
                            )
                            running[future] = spec
                if running:
                    done, _ = wait(running, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                    for future in done:
                        self._finish(running.pop(future), future.result(), bar)
                elif pending and not any(self._ready(spec) for spec in pending):
                    # Everything left waits for priors trained by another shard.
                    bar.set_postfix_str(f"waiting for priors of {len(pending)} runs (other shards)")
                    time.sleep(POLL_SECONDS)
                    pending = self._reclaim_abandoned(pending, bar)
        finally:
            if executor is not None:
                executor.shutdown(cancel_futures=True)
            bar.close()
        return self.failed

    def _reclaim_abandoned(self, pending: list[RunSpec], bar: tqdm) -> list[RunSpec]:
        """Take back runs left to another process that died (stale lock, no result.json), so that the
        runs waiting for them as priors do not wait forever."""
        from benchmarks.runlock import is_locked
        from benchmarks.training import is_finished

        for spec in list(self.elsewhere):
            run_dir = spec.run_dir(self.results_dir)
            if not is_locked(run_dir) and not is_finished(run_dir):
                self.elsewhere.remove(spec)
                pending.append(spec)
                bar.update(-1)
                tqdm.write(f"{spec.name}: its other process stopped; running it here")
        return sorted(pending)

    def _finish(self, spec: RunSpec, status: str, bar: tqdm) -> None:
        if status == ELSEWHERE:
            self.elsewhere.append(spec)
            tqdm.write(f"{spec.name}: {status}, left to it")
        elif status != "finished":
            self.failed[spec] = status
            tqdm.write(f"{spec.name}: {status} (see {spec.run_dir(self.results_dir) / 'error.txt'})")
        bar.update()


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (1 if a run failed)."""
    args = parse_args(argv)
    runs = selected_runs(args)
    command = shlex.join(["python", "-m", "benchmarks.run", *(sys.argv[1:] if argv is None else argv)])
    if args.dry_run:
        for spec in runs:
            deps = ", ".join(dep.name for dep in spec.dependencies())
            print(
                f"{run_state(spec, args.results_dir):8s}  {spec.name}" + (f"  (after {deps})" if deps else "")
            )
        budget = BUDGETS[args.budget]
        steps = f"{budget.timesteps:,} steps" + "".join(
            f", {env}: {n:,}" for env, n in budget.env_timesteps if any(spec.env == env for spec in runs)
        )
        print(f"{len(runs)} runs x {steps} (shard {args.shard}, results in {args.results_dir})")
        return 0
    stale = move_stale(runs, args.results_dir, move=args.rerun_stale)
    if stale and not args.rerun_stale:
        print(
            "These finished runs were trained with other settings than the grid's:\n  "
            + "\n  ".join(stale)
            + "\nRe-run with --rerun-stale to move them to <results-dir>/stale/ and train them again, "
            "or use another --results-dir.",
            file=sys.stderr,
        )
        return 2
    for line in stale:
        print(f"moved to stale/: {line}", file=sys.stderr)
    scheduler = Scheduler(runs, args.results_dir, args.workers, command, args.keep_checkpoints)
    failed = scheduler.run()
    for spec in scheduler.elsewhere:
        print(f"{spec.name}: {ELSEWHERE}; re-run this command later to check it finished", file=sys.stderr)
    for spec, reason in failed.items():
        print(f"{spec.name}: {reason}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
