"""Files that appear whole or not at all: write a temporary file in the same folder, then rename.

Temporary files share one recognisable pattern (`.fa-tmp-*`) so that a crawl
can sweep up what a killed process left behind. A temporary file is always a new
file (`O_CREAT | O_EXCL | O_NOFOLLOW`): a symlink or file planted at its name is
never written through, nor removed; the rename that follows replaces a name, it
never follows a symlink there.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiofiles.os

T = TypeVar("T")

TEMP_PREFIX = ".fa-tmp-"


def temp_path_for(path: Path) -> Path:
    return path.with_name(f"{TEMP_PREFIX}{secrets.token_hex(6)}")


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def atomic_write_bytes_sync(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary sibling and a rename; the temp file never survives a failure."""
    temp = temp_path_for(path)
    fd = os.open(temp, _NEW_FILE, 0o644)  # FileExistsError when anything is there, a symlink too
    try:
        with open(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)  # ours: created above
        raise


def atomic_write_in(folder: int, name: str, data: bytes) -> None:
    """`atomic_write_bytes_sync` for the file `name` in the folder open as `folder` (a descriptor):
    every step is relative to that folder, so nothing swapped in on the way can move the write."""
    temp = temp_path_for(Path(name)).name
    fd = os.open(temp, _NEW_FILE, 0o644, dir_fd=folder)
    try:
        with open(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=folder)
        raise


async def run_off_loop(func: Callable[..., T], *args: Any) -> T:
    """Run a short blocking file-system step on aiofiles' thread pool."""
    result: T = await aiofiles.os.wrap(func)(*args)
    return result


def remove_stale_temp_files(root: Path, older_than: float | None = None) -> int:
    """Delete the temporary files a killed crawl left under `root`; returns how many.

    `older_than` (seconds): only those not modified for that long. In a cluster another node
    may be writing a younger one right now; one older than a lease belongs to nobody.
    """
    removed = 0
    cutoff = None if older_than is None else time.time() - older_than
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if name.startswith(TEMP_PREFIX):
                path = os.path.join(folder, name)
                with contextlib.suppress(OSError):
                    if cutoff is None or os.stat(path).st_mtime < cutoff:
                        os.unlink(path)
                        removed += 1
    return removed


def lock_within(fd: int, wait: float, poll: float = 0.02) -> bool:
    """Take an exclusive `flock` on `fd`, trying for `wait` seconds; False if another process held it
    all that time. (flock has no timeout of its own, and a blocking one cannot be interrupted.)"""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)
