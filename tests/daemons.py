"""`feed-archiver run` as real processes whose log lines tests await (events, never fixed sleeps)."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

EVENT_TIMEOUT = 30.0


class DaemonProcess:
    """A running `feed-archiver run` whose log lines can be awaited."""

    def __init__(self, config: Path, *extra: str) -> None:
        self.config = config
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "crawler", "--log-level", "info", "run", "--config", str(config), *extra],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = EVENT_TIMEOUT) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.log.append(line)
            if match := regex.search(line):
                return match
        raise AssertionError(f"no log line matching {pattern!r} within {timeout}s; log:\n{''.join(self.log)}")

    def all_lines(self) -> list[str]:
        """Every line logged so far; all of them once the process has exited."""
        if self.proc.poll() is not None:
            self.reader.join(timeout=10)
        while True:
            try:
                self.log.append(self.lines.get_nowait())
            except queue.Empty:
                return self.log

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(timeout=10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("did not stop:\n" + "".join(self.all_lines())) from None


def start(daemons: list[DaemonProcess], config: Path, *extra: str) -> DaemonProcess:
    daemon = DaemonProcess(config, *extra)
    daemons.append(daemon)
    return daemon


def status(config: Path) -> dict[str, dict[str, object]]:
    out = subprocess.run([sys.executable, "-m", "crawler", "status", "--config", str(config), "--json"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return {row["name"]: row for row in json.loads(out)}
