"""Group many small awaits on the state store into few round trips.

Hundreds of feeds finish their polls, and hundreds of articles look up their
images, at nearly the same moment; one transaction or query each costs more in
SQLAlchemy statement handling and thread hops than in SQL (measured: a re-poll
of 1,000 unchanged feeds spent more CPU saving feed states than fetching them).
Items submitted while a batch is being handled go together into the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K")
R = TypeVar("R")


class Batcher(Generic[K, R]):
    """`handle(items)` returns one result per item, in order; if it raises, every item of that
    batch gets the exception.

    >>> lookups = Batcher(lambda urls: store.find(urls))
    >>> found = await lookups.submit_many(["https://a/1.jpg", "https://a/2.jpg"])
    """

    def __init__(self, handle: Callable[[list[K]], Awaitable[Sequence[R]]]) -> None:
        self._handle = handle
        self._queue: list[tuple[K, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: K) -> R:
        return (await self.submit_many([item]))[0]

    async def submit_many(self, items: Sequence[K]) -> list[R]:
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[R]] = []
        for item in items:
            future: asyncio.Future[R] = loop.create_future()
            self._queue.append((item, future))
            futures.append(future)
        if futures and self._task is None:
            self._task = asyncio.create_task(self._drain())
        return list(await asyncio.gather(*futures))

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await self._handle([item for item, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for (_, future), result in zip(batch, results, strict=True):
                        if not future.done():
                            future.set_result(result)
        finally:
            self._task = None
