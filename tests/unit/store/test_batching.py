"""Batcher: what arrives while a batch runs goes together into the next; errors reach every caller."""

from __future__ import annotations

import asyncio

import pytest

from crawler.store.batching import Batcher


async def test_items_submitted_during_a_batch_go_together_into_the_next_one() -> None:
    batches: list[list[int]] = []
    first_started = asyncio.Event()
    let_first_finish = asyncio.Event()

    async def handle(items: list[int]) -> list[int]:
        batches.append(items)
        if len(batches) == 1:
            first_started.set()
            await let_first_finish.wait()
        return [item * 10 for item in items]

    batcher: Batcher[int, int] = Batcher(handle)
    first = asyncio.create_task(batcher.submit(1))
    await first_started.wait()
    later = [asyncio.create_task(batcher.submit(n)) for n in (2, 3)]
    many = asyncio.create_task(batcher.submit_many([4, 5]))
    await asyncio.sleep(0)
    let_first_finish.set()

    assert await first == 10
    assert [await task for task in later] == [20, 30]
    assert await many == [40, 50]
    assert batches == [[1], [2, 3, 4, 5]]


async def test_a_failed_batch_fails_every_item_in_it_and_the_next_batch_still_runs() -> None:
    calls = 0

    async def handle(items: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk full")
        return items

    batcher: Batcher[str, str] = Batcher(handle)
    results = await asyncio.gather(batcher.submit("a"), batcher.submit("b"), return_exceptions=True)
    assert [type(r) for r in results] == [OSError, OSError]
    assert await batcher.submit("c") == "c"


async def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    release = asyncio.Event()

    async def handle(items: list[int]) -> list[int]:
        await release.wait()
        return items

    batcher: Batcher[int, int] = Batcher(handle)
    gone = asyncio.create_task(batcher.submit(1))
    stays = asyncio.create_task(batcher.submit(2))
    await asyncio.sleep(0)
    gone.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert await stays == 2
