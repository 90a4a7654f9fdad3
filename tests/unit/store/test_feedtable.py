"""The feeds table as the config's copy (sync: bulk, retire, revive) and claims of due feeds, against
both stores (sync) and a real PostgreSQL (claims; tests/pg.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from crawler.cluster.sync import feed_records, settings_hash
from crawler.models import FeedSource, FeedState
from crawler.store.state import StateStore

NOW = datetime.now(UTC)


@pytest.fixture
async def store(state_url: str) -> AsyncIterator[StateStore]:
    opened = await StateStore.open(state_url)
    yield opened
    await opened.close()


def sources(count: int, **settings: Any) -> list[FeedSource]:
    return [FeedSource(f"feed-{n:06d}", f"http://127.0.0.1:9/{n}.xml", interval=60.0, **settings) for n in range(count)]


def count_statements(store: StateStore) -> list[str]:
    """Every statement the store's engine sends from now on (SQLAlchemy's own event hook)."""
    seen: list[str] = []
    engine = store._db._engine  # type: ignore[attr-defined]
    sa.event.listen(getattr(engine, "sync_engine", engine), "before_cursor_execute",
                    lambda *args: seen.append(args[2]))
    return seen


async def sync(store: StateStore, feeds: Sequence[FeedSource], node: str = "n1") -> Any:
    records, config_hash = feed_records(feeds, NOW)
    return await store.sync_feeds(records, config_hash, node, 60.0)


async def test_a_hundred_thousand_feeds_are_synced_in_bulk_then_retired_revived_and_found_in_sync(
    store: StateStore,
) -> None:
    feeds = sources(100_000)
    seen = count_statements(store)

    first = await sync(store, feeds)

    assert (first.before, first.added, first.retired, first.in_sync) == (None, 100_000, 0, False)
    assert len(seen) <= 20, f"{len(seen)} statements for 100,000 feeds: not in bulk"
    seen.clear()
    again = await sync(store, feeds, node="n2")
    assert again.in_sync and len(seen) <= 6, seen

    gone = await sync(store, feeds[1:])
    assert (gone.retired, gone.added, gone.changed, gone.in_sync) == (1, 0, 0, False)
    back = await sync(store, [*feeds[:1], *sources(100_000, max_items=5)[1:2], *feeds[2:]])
    assert (back.revived, back.changed, back.retired) == (1, 1, 0)
    states = await store.all_feed_states()
    assert len(states) == 100_000, "retired, not deleted"


async def test_a_retired_feed_keeps_its_history_and_comes_back_with_it(store: StateStore) -> None:
    feeds = sources(3)
    await sync(store, feeds)
    polled = FeedState("feed-000001", etag='"v1"', last_poll=NOW, last_status=200, next_due=NOW + timedelta(hours=1))
    assert await store.save_poll(polled, feeds[1].url)

    await sync(store, [feeds[0], feeds[2]])
    assert (await store.feed_state("feed-000001")).etag == '"v1"'
    revived = await sync(store, feeds)

    assert revived.revived == 1
    assert await store.feed_state("feed-000001") == polled


def test_the_settings_hash_follows_every_setting_and_only_them() -> None:
    one = FeedSource("a", "http://a.test/", headers={"X": "1", "Y": "2"})
    assert settings_hash(one) == settings_hash(FeedSource("a", "http://a.test/", headers={"Y": "2", "X": "1"}))
    assert settings_hash(one) != settings_hash(FeedSource("a", "http://a.test/", headers={"X": "1"}))
    assert settings_hash(one) != settings_hash(FeedSource("a", "http://a.test/", headers=one.headers, interval=61))


async def test_claims_take_due_feeds_once_oldest_first_and_never_a_retired_one(postgres_url: str) -> None:
    stores = [await StateStore.open(postgres_url) for _ in range(3)]
    try:
        feeds = sources(60)
        await sync(stores[0], feeds)

        # All due now, feed-000000 the longest; one retired.
        async def due_all(conn_store: StateStore) -> None:
            def work(conn: sa.Connection) -> None:
                conn.execute(sa.text("UPDATE feeds SET next_due = now() - make_interval(secs => 1000 - "
                                     "CAST(substr(name, 6) AS int))"))
            await conn_store._run(work)

        await due_all(stores[0])
        await sync(stores[0], feeds[:-1])  # feed-000059 retired

        results = await asyncio.gather(*(s.claim_due(f"n{i}", 60.0, 25) for i, s in enumerate(stores)))

        names = [c.lease.feed for claimed, _ in results for c in claimed]
        assert len(names) == len(set(names)), "no feed claimed by two nodes"
        assert "feed-000059" not in names, "a retired feed is never claimed"
        for claimed, _ in results:
            due = [c.state.next_due for c in claimed]
            assert due == sorted(due), "oldest due first"
            assert all(c.lease.token > 1 for c in claimed)
        short = [wake for claimed, wake in results if len(claimed) < 25]
        assert short and all(w is not None for w in short), "a short claim says when to look again"
        # SKIP LOCKED: a claim made while others hold rows may come back short; what it skipped is
        # there for the next claim, never lost and never taken twice.
        for _ in range(5):
            more = await asyncio.gather(*(s.claim_due(f"n{i}", 60.0, 25) for i, s in enumerate(stores)))
            names += [c.lease.feed for claimed, _ in more for c in claimed]
        assert sorted(names) == [f.name for f in feeds[:-1]], "each due feed claimed by exactly one node"
        again, wake = await stores[0].claim_due("n0", 60.0, 25)
        assert again == [], "leased feeds are not claimed again"
        assert wake is not None and wake > NOW + timedelta(seconds=30), "next look: when the leases expire"
    finally:
        for s in stores:
            await s.close()
