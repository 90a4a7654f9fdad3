"""One writer per archive: an exclusive lock on `<archive_dir>/.feed-archiver.lock`.

A second `crawl` or `run` on the same archive waits briefly, then refuses with
a clear message. The lock file also remembers whether the last writer stopped
cleanly; when it did not (killed, power cut), its temporary files are swept up
under the lock before anything else is written. A clean stop skips the sweep,
so start-up does not grow with the size of the archive.

The lock file is opened without following a symlink, and must be a plain file
with no other name: one planted at its name (`ln -s ~/.bashrc archive/.feed-archiver.lock`,
or a hard link) would otherwise be truncated and written by every crawl. Such a
file is refused, one line, exit status 3, and left as it is.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from crawler.archive import lock_within, remove_stale_temp_files
from crawler.errors import CrawlerError

log = logging.getLogger(__name__)

LOCK_NAME = ".feed-archiver.lock"
_RUNNING = "running"
_CLEAN = "clean"


class ArchiveLocked(CrawlerError):
    """The archive's writer lock cannot be had: another feed-archiver process holds it, or its
    file is not one to write (a symlink, a hard link, not a plain file)."""


@contextlib.contextmanager
def archive_lock(
    archive_dir: Path, *, also_sweep: Sequence[Path] = (), wait: float = 5.0, poll: float = 0.1
) -> Iterator[None]:
    """Hold the archive's writer lock for the duration of the block. `also_sweep`: folders outside
    the archive that it writes to too (images_dir), swept with it after an unclean stop."""
    path = archive_dir / LOCK_NAME
    fd = _open_lock_file(path)
    try:
        if not lock_within(fd, wait, poll):
            holder = os.pread(fd, 64, 0).decode(errors="replace").split()
            pid = holder[1] if len(holder) > 1 else "?"
            raise ArchiveLocked(
                f"another feed-archiver (pid {pid}) is writing to {archive_dir}; "
                "stop it first, or use another archive_dir"
            )
        previous = os.pread(fd, 64, 0).decode(errors="replace").split()
        if previous[:1] != [_CLEAN]:
            removed = remove_stale_temp_files(archive_dir)
            for folder in also_sweep:
                if not folder.resolve().is_relative_to(archive_dir.resolve()):
                    removed += remove_stale_temp_files(folder)
            if removed:
                log.warning("removed %d temporary files left by an interrupted run", removed)
        _mark(fd, f"{_RUNNING} {os.getpid()}")
        yield
        # Only a normal exit counts as clean; after an exception the next run sweeps.
        _mark(fd, f"{_CLEAN} {os.getpid()}")
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _open_lock_file(path: Path) -> int:
    refusal = f"{path} is not a plain file of its own; refusing to write through it (remove it)"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if os.path.islink(path):
            raise ArchiveLocked(f"{path} is a symlink; refusing to write through it (remove it)") from None
        raise ArchiveLocked(f"cannot open the lock file {path}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:  # a FIFO; a hard link to a file elsewhere
        os.close(fd)
        raise ArchiveLocked(refusal)
    return fd


def _mark(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode() + b"\n", 0)


@contextlib.contextmanager
def writer_lock(archive_dir: Path, state_url: str, *, also_sweep: Sequence[Path] = ()) -> Iterator[None]:
    """The lock file for an SQLite store; nothing for PostgreSQL, where leases take its place."""
    if state_url.startswith("postgresql"):
        yield
        return
    with archive_lock(archive_dir, also_sweep=also_sweep):
        yield
