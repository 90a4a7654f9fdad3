"""A bounded pool of workers that poll feeds: the scheduler produces names, the pool consumes them.

A feed is never queued twice nor polled twice at once. Shutdown stops intake,
lets the polls in flight finish within a grace period, then cancels the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from crawler.errors import CrawlerError

log = logging.getLogger(__name__)

CANCEL_WAIT_SECONDS = 5.0


class FeedPool:
    """`submit(name)` queues a poll; `workers` tasks run `handle(name)` one feed at a time each."""

    def __init__(self, workers: int, handle: Callable[[str], Coroutine[Any, Any, None]]) -> None:
        self._handle = handle
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._pending: set[str] = set()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._workers = [asyncio.create_task(self._work(i), name=f"worker-{i}") for i in range(workers)]
        self._accepting = True

    @property
    def busy(self) -> int:
        return len(self._running)

    def submit(self, name: str) -> bool:
        if not self._accepting or name in self._pending:
            return False
        self._pending.add(name)
        self._queue.put_nowait(name)
        return True

    async def _work(self, worker: int) -> None:
        while True:
            name = await self._queue.get()
            task = asyncio.create_task(self._handle(name), name=f"poll-{name}")
            self._running[name] = task
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.done():
                    raise
            except CrawlerError as exc:  # the state store failing, say: one line, and the daemon goes on
                log.error("worker=%d feed=%s poll failed: %s", worker, name, exc)
            except Exception:
                log.exception("worker=%d feed=%s poll crashed", worker, name)
            finally:
                self._running.pop(name, None)
                self._pending.discard(name)

    async def drain(self, grace: float, force: asyncio.Event) -> int:
        """Stop intake, wait up to `grace` seconds (or until `force` is set) for polls in flight,
        then cancel what is left; returns how many polls were cancelled."""
        self._accepting = False
        for worker in self._workers:
            worker.cancel()
        running = list(self._running.values())
        if running:
            forced: asyncio.Future[Any] = asyncio.ensure_future(force.wait())
            finished: asyncio.Future[Any] = asyncio.gather(*running, return_exceptions=True)
            await asyncio.wait(
                [finished, forced],
                timeout=grace,
                return_when=asyncio.FIRST_COMPLETED,
            )
            forced.cancel()
        left = [t for t in running if not t.done()]
        for task in left:
            task.cancel()
        # Bounded too: a poll stuck below cancellation (a database call waiting on a lock, say) must
        # not keep the process from exiting; what it had not recorded is polled again next time.
        _, stuck = await asyncio.wait([*left, *self._workers], timeout=CANCEL_WAIT_SECONDS)
        if stuck:
            log.warning("%d polls did not finish cancelling within %.0fs; exiting without them",
                        len(stuck), CANCEL_WAIT_SECONDS)
        return len(left)
