"""A lock per run, so that two runners (overlapping filters, a shard started twice, two machines on one
results directory) never train, or wipe, the same run folder at once."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

#: A lock file older than this (not refreshed by its run's heartbeat) belongs to a dead process.
STALE_LOCK_SECONDS = 30 * 60
#: How often a training run refreshes its lock's modification time.
HEARTBEAT_SECONDS = 60


class RunLocked(RuntimeError):
    """Another live process is training this run."""


def lock_path(run_dir: Path) -> Path:
    """The run's lock file, beside (not in) its folder, so that wiping the folder keeps the lock."""
    run_dir = Path(run_dir)
    return run_dir.with_name(run_dir.name + ".lock")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def is_locked(run_dir: Path) -> bool:
    """True while a live process trains the run: the lock's heartbeat is recent and, on this host, its
    pid is alive. Guards against two runners (overlapping filters, a shard started twice) wiping each
    other's run folders."""
    path = lock_path(run_dir)
    try:
        age = time.time() - path.stat().st_mtime
        owner = json.loads(path.read_text() or "{}")
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        owner = {}
    if age > STALE_LOCK_SECONDS:
        return False
    if owner.get("host") == platform.node() and isinstance(owner.get("pid"), int):
        return _pid_alive(owner["pid"])
    return True


#: A takeover marker older than this was left by a process that died while replacing a stale lock.
STALE_TAKEOVER_SECONDS = 60


def acquire_lock(run_dir: Path) -> Path:
    """Create the run's lock (atomically, O_EXCL) or raise :class:`RunLocked`; a stale lock is replaced.

    Replacing a stale lock is done under a takeover marker (``<lock>.takeover``, itself created with
    O_EXCL): without it, two runners that both judged the lock stale could each delete it, and the
    second would delete the fresh lock the first had just written, so both would train the run."""
    path = lock_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        if is_locked(run_dir):
            raise RunLocked(f"{run_dir} is being trained by another process ({path})")
        _replace_stale_lock(run_dir, path)
    try:
        handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError as error:
        raise RunLocked(f"{run_dir} is being trained by another process ({path})") from error
    owner = {"host": platform.node(), "pid": os.getpid(), "started": time.time()}
    os.write(handle, json.dumps(owner).encode())
    os.close(handle)
    return path


def _replace_stale_lock(run_dir: Path, path: Path) -> None:
    """Delete a stale lock, unless another runner is taking it over (then :class:`RunLocked`)."""
    marker = path.with_name(path.name + ".takeover")
    try:
        handle = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError as error:
        try:  # a marker whose process died mid-takeover is cleared; the next attempt gets the run
            if time.time() - marker.stat().st_mtime > STALE_TAKEOVER_SECONDS:
                marker.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
        raise RunLocked(f"{run_dir} is being taken over by another process ({marker})") from error
    os.close(handle)
    try:
        # Judged again under the marker: another runner may have replaced the lock since our look.
        if is_locked(run_dir):
            raise RunLocked(f"{run_dir} is being trained by another process ({path})")
        path.unlink(missing_ok=True)
    finally:
        marker.unlink(missing_ok=True)
