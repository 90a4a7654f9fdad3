"""The state store through both of its drivers: the default `sqlite:///` (the standard library's
driver on a thread of its own) and a real PostgreSQL server (asyncpg through SQLAlchemy's asyncio
extension; tests/pg.py). Both must keep the same records."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from crawler.errors import StateError
from crawler.models import ArchivedEntry, EntryChange, FeedEntry, FeedState, ImageAsset
from crawler.reader import identity
from crawler.store.state import StateStore, legacy_fingerprint
from tests.pg import PostgresServer

WHEN = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)


@pytest.fixture
async def store(state_url: str) -> AsyncIterator[StateStore]:
    opened = await StateStore.open(state_url)
    yield opened
    await opened.close()


def entry(entry_id: str, fingerprint: str | None = None, link: str | None = None) -> ArchivedEntry:
    return ArchivedEntry(entry_id, fingerprint, f"2026/11/{entry_id}.md", "0" * 64, WHEN, link=link,
                         text_hash="0" * 64, item_hash="1" * 64)


def item(entry_id: str, link: str = "", title: str = "t") -> FeedEntry:
    """An item of a poll, as the parser gives it (canonical link filled in)."""
    [parsed] = identity.distinct([FeedEntry(entry_id, link, title, None, None, None, "", "")])
    return parsed


async def test_a_poll_is_recorded_whole_and_read_back(store: StateStore) -> None:
    state = FeedState("gazette", etag='"v1"', last_modified="Thu, 26 Nov 2026 08:00:00 GMT", last_poll=WHEN,
                      last_status=200, next_due=WHEN, consecutive_failures=0)
    image = ImageAsset("http://a.test/1.jpg", "ab/abcd.jpg", "ab" * 32, 1234, "image/jpeg")

    await store.save_poll(state, "http://a.test/feed.xml", [entry("e1", "fp1"), entry("e2")], [image])

    assert await store.feed_state("gazette") == state
    assert (await store.all_feed_states())["gazette"] == state
    assert await store.count_entries() == {"gazette": 2}
    assert await store.known_images(["http://a.test/1.jpg", "http://a.test/2.jpg"]) == {image.url: image}


async def test_known_entries_are_found_by_id_alias_canonical_link_or_old_fingerprint(store: StateStore) -> None:
    old = item("old-guid", "http://a.test/old", "Old title")
    await store.save_poll(FeedState("a"), "http://a.test/", [
        entry("e1", link="http://a.test/1"),
        entry("old-guid", legacy_fingerprint(old)),  # written before links were stored
    ], new_aliases=[("alias-of-e1", "e1")])
    await store.save_poll(FeedState("b"), "http://b.test/", [entry("e9", link="http://a.test/9")])

    known = await store.known_entries("a", [
        item("e1"), item("alias-of-e1"), item("new-guid", "http://A.test:80/1?utm_source=x&fbclid=y#top"),
        item("newer-guid", "http://a.test/old", "Old title"), item("e9", "http://a.test/9"), item("e2"),
    ])

    assert {k: (v.entry_id, v.path, v.by) for k, v in known.items()} == {
        "e1": ("e1", "2026/11/e1.md", "id"),
        "alias-of-e1": ("e1", "2026/11/e1.md", "alias"),
        "new-guid": ("e1", "2026/11/e1.md", "link"),
        "newer-guid": ("old-guid", "2026/11/old-guid.md", "link"),
    }


async def test_what_a_poll_learns_of_known_entries_is_recorded_and_counted(store: StateStore) -> None:
    await store.save_poll(FeedState("a"), "http://a.test/", [entry("e1"), entry("e2")])
    later = WHEN + timedelta(hours=1)

    await store.save_poll(FeedState("a"), "http://a.test/", changes=[
        EntryChange("e1", "http://a.test/1", "t" * 64, "i" * 64, later, revised=True, content_hash="c" * 64,
                    revised_at=later),
        EntryChange("e2", None, None, "j" * 64, None),  # a baseline: no text hash yet, none lost
    ])

    known = await store.known_entries("a", [item("e1"), item("e2")])
    assert (known["e1"].text_hash, known["e1"].item_hash, known["e1"].updated) == ("t" * 64, "i" * 64, later)
    assert (known["e2"].text_hash, known["e2"].item_hash) == ("0" * 64, "j" * 64)
    assert await store.count_updated() == {"a": 1}
    assert await store.count_entries() == {"a": 2}


async def test_an_alias_recorded_twice_at_once_is_one_alias(store: StateStore) -> None:
    await store.save_poll(FeedState("a"), "http://a.test/", [entry("e1")])

    saved = await asyncio.gather(*(
        store.save_poll(FeedState("a"), "http://a.test/", new_aliases=[("other", "e1")]) for _ in range(3)
    ))

    assert saved == [True, True, True]
    assert (await store.known_entries("a", [item("other")]))["other"].entry_id == "e1"


async def test_lookups_of_more_ids_than_sqlite_binds_at_once(store: StateStore) -> None:
    ids = [f"id{i}" for i in range(1_200)]
    await store.save_poll(FeedState("big"), "http://big.test/", [entry(i) for i in ids[::2]])

    known = await store.known_entries("big", [item(i) for i in ids])

    assert set(known) == set(ids[::2])


async def test_polls_saved_at_once_share_transactions_and_all_land(store: StateStore) -> None:
    await asyncio.gather(*(
        store.save_poll(FeedState(f"feed{i}", last_status=304, last_poll=WHEN), f"http://f{i}.test/")
        for i in range(300)
    ))

    states = await store.all_feed_states()

    assert len(states) == 300 and {s.last_status for s in states.values()} == {304}


async def test_a_later_poll_replaces_the_feed_state(store: StateStore) -> None:
    await store.save_poll(FeedState("a", etag='"v1"', last_status=200), "http://a.test/")
    await store.save_poll(FeedState("a", etag='"v2"', last_status=500, last_error="HTTP 500", consecutive_failures=1),
                          "http://a.test/")

    state = await store.feed_state("a")

    assert (state.etag, state.last_status, state.last_error, state.consecutive_failures) == ('"v2"', 500, "HTTP 500", 1)


async def test_an_unreadable_store_is_a_state_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "store.sqlite").write_bytes(b"this is not a database" * 100)

    with pytest.raises(StateError, match="cannot open the state store"):
        await StateStore.open(f"sqlite:///{tmp_path}/store.sqlite")


async def test_the_default_store_is_a_plain_sqlite_file_in_wal_mode(tmp_path: Path) -> None:
    store = await StateStore.open(f"sqlite:///{tmp_path}/store.sqlite")
    await store.save_poll(FeedState("a", etag='"v1"'), "http://a.test/")
    await store.close()

    with sqlite3.connect(tmp_path / "store.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT name, etag FROM feeds").fetchall() == [("a", '"v1"')]


async def test_two_polls_of_one_feed_in_one_group_commit_keep_the_later(store: StateStore) -> None:
    # PostgreSQL refuses an upsert that touches one row twice in one statement; the group commit
    # must not build one.
    await asyncio.gather(*(store.save_poll(FeedState("a", etag=f'"v{i}"'), "http://a.test/") for i in range(3)))

    assert (await store.feed_state("a")).etag == '"v2"'


async def test_nul_characters_from_a_feed_are_stored_and_found_again(store: StateStore) -> None:
    # JSON allows "\u0000" in an id; PostgreSQL's text does not. The poll must land, and the entry
    # must be found again, not archived on every poll.
    image = ImageAsset("http://a.test/\x00.jpg", "ab/abcd.jpg", "ab" * 32, 1, "image/jpeg")
    await store.save_poll(FeedState("a", etag='"\x00"', last_error="bad\x00byte"), "http://a.test/",
                          [entry("id\x00", "fp\x00")], [image])
    await store.save_poll(FeedState("b", last_status=200), "http://b.test/")

    assert set(await store.known_entries("a", [item("id\x00"), item("new")])) == {"id\x00"}
    assert await store.known_images([image.url]) == {image.url: image}
    assert (await store.feed_state("a")).last_error in ("bad\x00byte", "bad\ufffdbyte")
    assert (await store.feed_state("b")).last_status == 200


async def test_datetimes_come_back_in_utc_whatever_zone_they_were_saved_in(store: StateStore) -> None:
    in_tokyo = datetime(2026, 11, 26, 17, 30, tzinfo=timezone(timedelta(hours=9)))
    await store.save_poll(FeedState("a", last_poll=in_tokyo, next_due=WHEN), "http://a.test/")

    state = await store.feed_state("a")

    assert state.last_poll == WHEN and state.last_poll.tzinfo == UTC and state.next_due == WHEN


async def test_a_password_never_shows_in_the_error(postgres_server: PostgresServer, postgres_url: str) -> None:
    wrong = postgres_url.replace(":secret@", ":hunter2@")

    with pytest.raises(StateError) as raised:
        await StateStore.open(wrong)

    assert "hunter2" not in str(raised.value) and "password authentication failed" in str(raised.value)


async def test_libpq_sslmode_in_the_url_is_understood(postgres_url: str) -> None:
    # Users copy libpq URLs; asyncpg calls the same setting `ssl` and refused `sslmode` with a TypeError.
    store = await StateStore.open(postgres_url + "?sslmode=disable")
    await store.save_poll(FeedState("a"), "http://a.test/")
    await store.close()


async def test_an_entry_or_image_recorded_twice_is_kept_once(store: StateStore) -> None:
    # Two writers (a crawl beside a daemon, two nodes) may record one entry: ON CONFLICT DO NOTHING,
    # within one group commit and across two.
    image = ImageAsset("http://a.test/1.jpg", "ab/abcd.jpg", "ab" * 32, 1234, "image/jpeg")
    twice = [store.save_poll(FeedState("a"), "http://a.test/", [entry("e1")], [image]) for _ in range(2)]
    await asyncio.gather(*twice)
    await store.save_poll(FeedState("a"), "http://a.test/", [entry("e1"), entry("e2")], [image])

    assert await store.count_entries() == {"a": 2}
    assert await store.known_images([image.url]) == {image.url: image}


async def test_a_lease_is_taken_once_and_a_poll_is_recorded_only_while_it_holds(postgres_url: str) -> None:
    store = await StateStore.open(postgres_url)
    try:
        first = await store.take_lease("gazette", "n1", 60, only_if_due=True)
        assert first.lease is not None and first.state == FeedState("gazette")
        refused = await store.take_lease("gazette", "n2", 60, only_if_due=False)
        assert refused.lease is None and refused.holder == "n1"
        assert await store.lease_holders() == {"gazette": "n1"}

        state = FeedState("gazette", last_poll=WHEN, next_due=datetime(2999, 1, 1, tzinfo=UTC), node="n1")
        assert await store.save_poll(state, "http://a.test/feed.xml", [entry("e1")], lease=first.lease)
        assert await store.lease_holders() == {}, "recording the poll ends its lease"
        not_due = await store.take_lease("gazette", "n2", 60, only_if_due=True)
        assert not_due.lease is None and not_due.due == state.next_due and not_due.holder is None
        assert await store.lease_holders() == {}

        # A lease of no length has expired by the next statement: another node takes the feed,
        # and the first holder's poll is refused whole.
        stale = await store.take_lease("gazette", "n1", 0, only_if_due=False)
        taken = await store.take_lease("gazette", "n2", 60, only_if_due=False)
        assert stale.lease is not None and taken.lease is not None and taken.lease.token > stale.lease.token
        assert await store.renew_leases([stale.lease, taken.lease], 60) == [stale.lease]
        late = FeedState("gazette", last_poll=WHEN, last_error="late", node="n1")
        assert not await store.save_poll(late, "http://a.test/feed.xml", [entry("e2")], lease=stale.lease)
        kept = await store.feed_state("gazette")
        assert kept.node == "n1" and kept.last_error is None
        assert set(await store.known_entries("gazette", [item("e1"), item("e2")])) == {"e1"}
    finally:
        await store.close()
