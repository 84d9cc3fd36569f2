"""benchmarks/: run locks between runners, and the run records committed for the next machine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import yaml
from smoke_runs import RESIDUAL, SOFT, kill_after_first_resume_point  # tests/smoke_runs.py

from benchmarks import run as run_cli
from benchmarks import training
from benchmarks.config import BUDGETS
from benchmarks.training import run_one


def _git_repo_with_smoke_runs(results, tmp_path):
    """A git repository holding a copy of the smoke runs under an ignored ``runs/``, as
    benchmarks/runs/ is (records are added with -f); returns it and a ``git(*args)`` runner."""
    repo = tmp_path / "repo"
    shutil.copytree(results / "smoke", repo / "runs" / "smoke")

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True)

    git("init", "-q")
    (repo / ".gitignore").write_text("runs/\n")
    return repo, git


def test_lock_keeps_a_second_runner_off_a_live_run(results, tmp_path, monkeypatch):
    from benchmarks import runlock as training

    run_dir = SOFT.run_dir(tmp_path)
    lock = training.acquire_lock(run_dir)  # held by this (live) process
    assert training.is_locked(run_dir) and run_cli.run_state(SOFT, tmp_path) == "running"
    with pytest.raises(training.RunLocked):
        run_one(SOFT, tmp_path)
    monkeypatch.setattr(run_cli, "_run_in_worker", lambda *args: pytest.fail("a locked run was started"))
    scheduler = run_cli.Scheduler([SOFT], tmp_path, workers=1, command="x")
    assert scheduler.run() == {} and scheduler.elsewhere == [SOFT]
    # A lock whose process died (same host, dead pid) or whose heartbeat is old is stale.
    lock.write_text(json.dumps({"host": training.platform.node(), "pid": 2**22 + 12345}))
    assert not training.is_locked(run_dir)
    lock.write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    assert training.is_locked(run_dir)
    old = lock.stat().st_mtime - training.STALE_LOCK_SECONDS - 1
    os.utime(lock, (old, old))
    assert not training.is_locked(run_dir)
    assert training.acquire_lock(run_dir) == lock  # replaces the stale lock


def test_two_runners_taking_over_one_stale_lock_do_not_both_get_it(tmp_path, monkeypatch):

    from benchmarks import runlock

    run_dir = SOFT.run_dir(tmp_path)
    lock = runlock.acquire_lock(run_dir)
    lock.write_text(json.dumps({"host": "another-machine", "pid": 1}))  # runner A's fresh lock
    # Runner B looked while the lock was still stale (first is_locked: False); A has replaced it since.
    answers = iter([False])
    real_is_locked = runlock.is_locked
    monkeypatch.setattr(runlock, "is_locked", lambda d: next(answers, None) or real_is_locked(d))
    with pytest.raises(runlock.RunLocked):
        runlock.acquire_lock(run_dir)
    assert json.loads(lock.read_text())["host"] == "another-machine"  # A's lock survives
    monkeypatch.setattr(runlock, "is_locked", real_is_locked)
    # While a takeover marker is held, a stale lock is left to the runner holding it...
    old = lock.stat().st_mtime - runlock.STALE_LOCK_SECONDS - 1
    os.utime(lock, (old, old))
    marker = lock.with_name(lock.name + ".takeover")
    marker.touch()
    with pytest.raises(runlock.RunLocked, match="taken over"):
        runlock.acquire_lock(run_dir)
    assert lock.exists() and marker.exists()
    # ...and a marker left by a process that died mid-takeover is cleared, so the next attempt wins.
    older = marker.stat().st_mtime - runlock.STALE_TAKEOVER_SECONDS - 1
    os.utime(marker, (older, older))
    with pytest.raises(runlock.RunLocked):
        runlock.acquire_lock(run_dir)
    assert not marker.exists()
    assert runlock.acquire_lock(run_dir) == lock and not marker.exists()
    assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_run_of_a_dead_process_is_taken_back(tmp_path, monkeypatch):
    from benchmarks.runlock import acquire_lock

    lock = acquire_lock(SOFT.run_dir(tmp_path))
    lock.write_text(json.dumps({"host": "another-machine", "pid": 1}))  # live for now: fresh heartbeat
    started = []

    def fake_run(spec, results_dir, command, keep_checkpoints=False):
        started.append(spec)
        spec.run_dir(results_dir).mkdir(parents=True, exist_ok=True)
        (spec.run_dir(results_dir) / "result.json").write_text("{}")
        return "finished"

    monkeypatch.setattr(run_cli, "_run_in_worker", fake_run)
    # While this runner waits for the prior, the other process dies and its lock disappears.
    monkeypatch.setattr(run_cli.time, "sleep", lambda seconds: lock.unlink())
    scheduler = run_cli.Scheduler([SOFT, RESIDUAL], tmp_path, workers=1, command="x")
    assert scheduler.run() == {} and started == [SOFT, RESIDUAL] and scheduler.elsewhere == []


def test_records_commit_what_the_report_and_the_next_machine_need(results, tmp_path):
    from benchmarks import records

    repo, git = _git_repo_with_smoke_runs(results, tmp_path)
    runs = repo / "runs"
    soft, residual = SOFT.run_dir(runs), RESIDUAL.run_dir(runs)
    record = {"config.yaml", "evaluations.csv", "eval_final.csv", "eval_best.csv", "result.json"}
    record |= {"logs/progress.csv"}
    # A finished prior keeps its best checkpoint (Table II starts from it); a customization does not.
    assert {p.relative_to(soft).as_posix() for p in records.record_files(soft)} == record | {
        "checkpoints/best.zip",
        "checkpoints/best_vecnormalize.pkl",
    }
    assert {p.relative_to(residual).as_posix() for p in records.record_files(residual)} == record
    added, dropped = records.stage(runs, "smoke")
    assert len(added) == 2 * len(record) + 2 and dropped == []
    tracked = set(git("ls-files").stdout.split())
    assert "runs/smoke/HalfCheetah-v5/soft/seed0/checkpoints/best.zip" in tracked
    assert not any("tfevents" in path or "/monitor/" in path or "last" in path for path in tracked)

    # An unfinished run commits its resume point and its best checkpoint so far...
    (residual / "result.json").unlink()
    for name in ("last.zip", "last_vecnormalize.pkl"):
        shutil.copyfile(
            residual / "checkpoints" / name, residual / "checkpoints" / name.replace("last", "resume-4096")
        )
    state = {"step": 4096, "next_eval": 6144, "best_value": 1.0, "best_step": 2048, "train_seconds": 1.0}
    (residual / "checkpoints" / "resume.json").write_text(json.dumps(state))
    # (with keep_resume_points, the frequent commits leave unfinished runs' checkpoints alone)
    added, dropped = records.stage(runs, "smoke", keep_resume_points=True)
    in_progress = ("residual/seed0/checkpoints", "residual/seed0/logs")
    assert not [p for p in added if any(part in p.as_posix() for part in in_progress)]
    assert [p.name for p in dropped] == ["result.json"]  # deleted here: untracked, not re-added
    assert "runs/smoke/HalfCheetah-v5/residual/seed0/logs/progress.csv" in git("ls-files").stdout
    added, dropped = records.stage(runs, "smoke")
    names = {p.name for p in records.record_files(residual)}
    assert {"resume.json", "resume-4096.zip", "resume-4096_vecnormalize.pkl", "best.zip"} <= names
    assert dropped == [] and set(records.record_files(residual)) <= set(added)
    # A newer resume point replaces the old one on disk; keep_resume_points leaves git's consistent one.
    ckpt = residual / "checkpoints"
    for suffix in (".zip", "_vecnormalize.pkl"):
        (ckpt / f"resume-4096{suffix}").rename(ckpt / f"resume-6144{suffix}")
    (ckpt / "resume.json").write_text(json.dumps(state | {"step": 6144}))
    added, dropped = records.stage(runs, "smoke", keep_resume_points=True)
    assert dropped == [] and not [
        p for p in added if "checkpoints" in p.as_posix() and "residual" in p.as_posix()
    ]
    assert "runs/smoke/HalfCheetah-v5/residual/seed0/checkpoints/resume-4096.zip" in git("ls-files").stdout
    for suffix in (".zip", "_vecnormalize.pkl"):
        (ckpt / f"resume-6144{suffix}").rename(ckpt / f"resume-4096{suffix}")
    (ckpt / "resume.json").write_text(json.dumps(state))
    # ...and once it finishes, its resume point and best checkpoint leave git (they stay on disk).
    (residual / "result.json").write_text("{}")
    added, dropped = records.stage(runs, "smoke")
    assert {p.name for p in dropped} == {
        "resume.json",
        "resume-4096.zip",
        "resume-4096_vecnormalize.pkl",
        "best.zip",
        "best_vecnormalize.pkl",
    }
    assert (residual / "checkpoints" / "best.zip").is_file()
    assert not [path for path in git("ls-files").stdout.split() if "residual/seed0/checkpoints" in path]
    # A results folder outside git, or none at all: a clear error, nothing staged.
    outside = tmp_path / "outside"
    outside.mkdir()
    assert records.main(["--budget", "smoke", "--results-dir", str(outside)]) == 2
    assert records.main(["--budget", "smoke", "--results-dir", str(tmp_path / "missing")]) == 2


def test_a_killed_run_continues_from_its_committed_record_in_a_fresh_clone(results, tmp_path, monkeypatch):
    from benchmarks import records

    repo = tmp_path / "repo"
    runs = repo / "runs"
    shutil.copytree(SOFT.run_dir(results), SOFT.run_dir(runs))  # the finished prior
    kill_after_first_resume_point(RESIDUAL, runs, monkeypatch)
    monkeypatch.undo()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("runs/\n")
    records.stage(runs, "smoke")
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "records"], check=True)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    clone_runs = clone / "runs"
    # Only the record travelled: of the logs, the progress CSV, not tensorboard's events nor Monitor files.
    cloned_dir = RESIDUAL.run_dir(clone_runs)
    cloned = {path.relative_to(cloned_dir).as_posix() for path in cloned_dir.rglob("*")}
    assert "logs/progress.csv" in cloned and not [
        name for name in cloned if "tfevents" in name or "monitor" in name
    ]
    # Every file of the clone has the clone's age: the prior is compared by content, so not stale.
    assert run_cli.run_state(SOFT, clone_runs) == "finished"
    assert run_cli.run_state(RESIDUAL, clone_runs) == "partial"
    result = run_one(RESIDUAL, clone_runs, command="second")
    assert result["resumed_from"] == [2048] and result["timesteps"] == BUDGETS["smoke"].timesteps
    assert yaml.safe_load((RESIDUAL.run_dir(clone_runs) / "config.yaml").read_text())["command"] == "first"
    assert training.stale_reason(RESIDUAL, clone_runs) is None


def test_records_leave_linked_runs_and_their_links_alone(results, tmp_path):
    """A folder that borrows its priors through a link (a candidate's soft/ -> the grid's) stages its
    own runs only, and the link stays tracked: untracked, a clone would lose the priors it names."""
    from benchmarks import records

    repo, git = _git_repo_with_smoke_runs(results, tmp_path)
    runs, candidate = repo / "runs", repo / "runs" / "candidate"
    shutil.copytree(RESIDUAL.run_dir(runs), RESIDUAL.run_dir(candidate))
    link = SOFT.run_dir(candidate).parent  # <budget>/<env>/soft -> the grid's soft/
    link.symlink_to(os.path.relpath(SOFT.run_dir(runs).parent, link.parent))
    git("add", "-f", str(link))
    added, dropped = records.stage(candidate, "smoke")
    assert dropped == [] and added == sorted(
        p.resolve() for p in records.record_files(RESIDUAL.run_dir(candidate))
    )
    tracked = git("ls-files").stdout.split()
    assert "runs/candidate/smoke/HalfCheetah-v5/soft" in tracked  # the link itself
    assert not [path for path in tracked if path.startswith("runs/smoke/")]  # the grid's: not staged here


def test_records_commit_commits_the_records_and_nothing_else(results, tmp_path, monkeypatch, capsys):
    from benchmarks import records

    for variable in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(variable, "t@t")
    repo, git = _git_repo_with_smoke_runs(results, tmp_path)
    (repo / "notes.md").write_text("someone's work in progress")
    git("add", "notes.md")
    argv = ["--budget", "smoke", "--results-dir", str(repo / "runs"), "--commit"]
    assert records.main(argv) == 2  # other changes staged: no commit
    assert "other changes are staged" in capsys.readouterr().err
    git("commit", "-qm", "notes")
    assert records.main(argv) == 0
    assert capsys.readouterr().out.strip() == "Records: runs/smoke, 2 runs finished, 0 in progress"
    committed = git("show", "--name-only", "--format=", "HEAD").stdout.split()
    assert "runs/smoke/HalfCheetah-v5/residual/seed0/result.json" in committed and "notes.md" not in committed
    assert records.main(argv) == 0
    assert capsys.readouterr().out.strip() == "records unchanged: nothing to commit"


def test_records_stage_the_resume_point_a_live_runner_replaced_while_listing(results, tmp_path, monkeypatch):
    from benchmarks import records

    repo = tmp_path / "repo"
    shutil.copytree(results / "smoke", repo / "runs" / "smoke")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("runs/\n")
    runs = repo / "runs"
    residual = RESIDUAL.run_dir(runs)
    ckpt = residual / "checkpoints"
    (residual / "result.json").unlink()  # unfinished, at its resume point of step 4096
    for suffix in (".zip", "_vecnormalize.pkl"):
        shutil.copyfile(ckpt / f"last{suffix}", ckpt / f"resume-4096{suffix}")
    state = {"step": 4096, "next_eval": 6144, "best_value": 1.0, "best_step": 2048, "train_seconds": 1.0}
    (ckpt / "resume.json").write_text(json.dumps(state))
    listed = records.record_files
    calls = []

    def runner_saves_a_new_resume_point_after_listing(run_dir, resume_points=True):
        files = listed(run_dir, resume_points)
        if run_dir == residual and not calls:  # the runner's next resume point replaces the listed one
            calls.append(run_dir)
            for suffix in (".zip", "_vecnormalize.pkl"):
                (ckpt / f"resume-4096{suffix}").rename(ckpt / f"resume-6144{suffix}")
            (ckpt / "resume.json").write_text(json.dumps(state | {"step": 6144}))
        return files

    monkeypatch.setattr(records, "record_files", runner_saves_a_new_resume_point_after_listing)
    added, _ = records.stage(runs, "smoke")
    names = {p.name for p in added if p.is_relative_to(ckpt)}
    assert calls and {"resume.json", "resume-6144.zip", "resume-6144_vecnormalize.pkl"} <= names
    assert not [name for name in names if "4096" in name]
    tracked = subprocess.run(
        ["git", "-C", str(repo), "ls-files"], check=True, capture_output=True, text=True
    ).stdout
    assert "residual/seed0/checkpoints/resume-6144.zip" in tracked and "resume-4096" not in tracked
