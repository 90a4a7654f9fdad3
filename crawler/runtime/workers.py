"""A process pool for the pipeline's CPU work, sized to the cores and created on first use.

Full-text extraction runs here, so it neither blocks the event loop nor
competes with it for the GIL, and so does feed parsing once a crawl has its
workers running (`warm`). A crawl with nothing to extract never starts them.

Worker processes (these and the image workers) are forked from one forkserver
that has imported their modules already: a worker starts in milliseconds
instead of paying half a second of imports each (measured: four workers spent
2 CPU seconds importing, a tenth of a cold crawl).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

from crawler.errors import ExtractError

PARENT_CHECK_SECONDS = 1.0

P = ParamSpec("P")
T = TypeVar("T")


_PRELOAD = ["trafilatura", "feedparser", "crawler.reader.article", "crawler.images.worker", "crawler.reader.parse"]


def forkserver_context() -> multiprocessing.context.ForkServerContext:
    """The context every worker process is made in, its forkserver running. forkserver, not fork:
    children do not inherit the event loop's threads and locks."""
    from multiprocessing import forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)  # only read when the forkserver starts
    # Ctrl-C on a terminal reaches every process of its group: the crawl handles it, its workers
    # must not (an idle pool worker would print a KeyboardInterrupt traceback). The forkserver
    # ignores SIGINT only once its imports are done and gives its children back Python's handler;
    # a signal blocked here is blocked in it from its first instruction, and in every child it forks.
    # (A no-op, one waitpid, when it runs already.)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return context


def _start_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the crawl handles Ctrl-C (see `forkserver_context`)
    # A crawl killed with SIGKILL cannot shut its pool down, and forkserver workers keep each
    # other's pipes open, so nothing would ever tell them: they watch the crawl themselves.
    threading.Thread(target=_exit_with, args=(parent,), daemon=True, name="parent-watch").start()


def _exit_with(parent: int) -> None:
    while True:
        time.sleep(PARENT_CHECK_SECONDS)
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass


def start_forkserver() -> None:
    """Start the workers' forkserver now: its imports (trafilatura and the stages, about 0.35 CPU s)
    then run on the other core while the crawl is still starting and fetching its first feeds,
    not later while the first page and the first images wait for a worker. Returns at once."""
    forkserver_context()


class CpuPool:
    def __init__(self, workers: int | None = None) -> None:
        self._workers = workers or max(1, os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None
        self._expected = False

    def warm_up(self) -> None:
        """This crawl has work for the workers (feeds never polled): start their forkserver now."""
        start_forkserver()
        self._expected = True

    @property
    def warm(self) -> bool:
        """Whether the worker processes run or are on their way: work sent now pays for no process
        that would not have started anyway."""
        return self._expected or self._pool is not None

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self._workers, mp_context=forkserver_context(), initializer=_start_worker, initargs=(os.getpid(),)
            )
        return self._pool

    async def run(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`func(*args)` in a worker process; a dead worker is an `ExtractError`, and the pool is renewed."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._ensure_pool(), _call, func, args)
        except BrokenProcessPool as exc:
            self._pool = None
            raise ExtractError(f"a worker process died running {func.__name__}") from exc

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _call(func: Callable[..., T], args: tuple[object, ...]) -> T:
    return func(*args)
