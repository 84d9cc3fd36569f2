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


def acquire_lock(run_dir: Path) -> Path:
    """Create the run's lock (atomically, O_EXCL) or raise :class:`RunLocked`; a stale lock is replaced."""
    path = lock_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        if is_locked(run_dir):
            raise RunLocked(f"{run_dir} is being trained by another process ({path})")
        path.unlink(missing_ok=True)
    try:
        handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError as error:
        raise RunLocked(f"{run_dir} is being trained by another process ({path})") from error
    owner = {"host": platform.node(), "pid": os.getpid(), "started": time.time()}
    os.write(handle, json.dumps(owner).encode())
    os.close(handle)
    return path
