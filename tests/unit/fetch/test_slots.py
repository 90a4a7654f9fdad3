"""Request slots: urgent requests get in first, and no slot is ever lost."""

from __future__ import annotations

import asyncio

from crawler.fetch.slots import Priority, PrioritySemaphore


async def _enter(slots: PrioritySemaphore, priority: Priority, name: str, order: list[str]) -> None:
    async with slots.hold(priority):
        order.append(name)
        await asyncio.sleep(0)


async def test_waiting_pages_get_in_before_waiting_images_and_each_kind_in_arrival_order() -> None:
    slots = PrioritySemaphore(1)
    order: list[str] = []
    await slots.acquire(Priority.PAGE)  # held, so everyone below has to queue
    waiters = [
        asyncio.create_task(_enter(slots, priority, name, order))
        for priority, name in [
            (Priority.IMAGE, "image 1"), (Priority.PAGE, "page 1"),
            (Priority.IMAGE, "image 2"), (Priority.PAGE, "page 2"),
        ]
    ]
    await asyncio.sleep(0)
    slots.release()
    await asyncio.gather(*waiters)
    assert order == ["page 1", "page 2", "image 1", "image 2"]


async def test_a_free_slot_is_taken_at_once_and_counts_down() -> None:
    slots = PrioritySemaphore(2)
    await slots.acquire(Priority.IMAGE)
    await slots.acquire(Priority.IMAGE)
    third = asyncio.create_task(slots.acquire(Priority.PAGE))
    await asyncio.sleep(0)
    assert not third.done()
    slots.release()
    await third


async def test_a_waiter_cancelled_in_the_queue_takes_no_slot() -> None:
    slots = PrioritySemaphore(1)
    await slots.acquire(Priority.PAGE)
    gone = asyncio.create_task(slots.acquire(Priority.PAGE))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    slots.release()
    # The slot came back instead of going to the cancelled waiter.
    await asyncio.wait_for(slots.acquire(Priority.IMAGE), 1)


async def test_a_slot_handed_to_a_waiter_that_is_then_cancelled_is_passed_on() -> None:
    slots = PrioritySemaphore(1)
    await slots.acquire(Priority.PAGE)
    first = asyncio.create_task(slots.acquire(Priority.PAGE))
    second = asyncio.create_task(slots.acquire(Priority.PAGE))
    await asyncio.sleep(0)
    slots.release()  # hands the slot to `first`, which has not run yet
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 1)
