"""A command run in a real pseudo-terminal, as a person runs it: its own session with the terminal as
its controlling terminal, and Ctrl-C sent to its whole process group, as a terminal sends it."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import struct
import sys
import termios
import threading
from collections.abc import Sequence
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\r")


class TerminalProcess:
    """`python ARGS...` on a `columns` x `rows` terminal; its output (both streams, as a terminal shows
    them) can be awaited line by line."""

    def __init__(self, args: Sequence[str], cwd: Path, *, columns: int = 80, rows: int = 24) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        argv = [sys.executable, *args]
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)}
        pid = os.fork()
        if pid == 0:  # the child: nothing but exec (the test process has threads)
            try:
                os.close(master)
                os.login_tty(slave)  # a new session, this terminal its controlling terminal, on fds 0-2
                os.chdir(cwd)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        os.close(slave)
        self.pid = pid
        self._master = master
        self._raw = bytearray()
        self._changed = threading.Condition()
        self._status: int | None = None
        self._exited = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        threading.Thread(target=self._reap, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: every process holding the terminal has closed it
                chunk = b""
            with self._changed:
                self._raw += chunk
                self._changed.notify_all()
            if not chunk:
                return

    def _reap(self) -> None:
        _, status = os.waitpid(self.pid, 0)
        self._status = os.waitstatus_to_exitcode(status)
        self._exited.set()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        """What the terminal showed so far, without colours and cursor movements."""
        with self._changed:
            return ANSI.sub("", self._raw.decode("utf-8", "replace"))

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        regex = re.compile(pattern)
        with self._changed:
            found = self._changed.wait_for(
                lambda: regex.search(ANSI.sub("", self._raw.decode("utf-8", "replace"))) or self._exited.is_set(),
                timeout,
            )
        match = regex.search(self.output)
        if not found or match is None:
            raise AssertionError(f"no {pattern!r} on the terminal within {timeout}s; it showed:\n{self.output}")
        return match

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the terminal's foreground process group, every process in it."""
        os.killpg(self.pid, signal.SIGINT)

    def wait(self, timeout: float) -> int:
        """The exit status (as subprocess gives it); AssertionError if it has not exited in time."""
        if not self._exited.wait(timeout):
            raise AssertionError(f"still running after {timeout}s; the terminal showed:\n{self.output}")
        assert self._status is not None
        return self._status

    def close(self) -> None:
        if not self._exited.is_set():
            os.killpg(self.pid, signal.SIGKILL)
            self._exited.wait(30)
        self._reader.join(timeout=10)
        os.close(self._master)
