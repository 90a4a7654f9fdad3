"""The feeds table as the config's copy: syncing it, and claiming due feeds from it (PostgreSQL).

Functions of one `sa.Connection`, run by `StateStore` in a transaction.

- `sync`: the config's feeds (name, URL, route, settings hash) written into the feeds table,
  one node at a time (an advisory lock on PostgreSQL); feeds that left the config are retired
  (kept, never claimed), feeds that come back revived. A store already holding this config
  (same config hash, every feed hashed) costs three small queries. What it writes, it writes in
  bulk: one `unnest` statement per 10,000 rows on PostgreSQL, one executemany on SQLite.
- `claim`: a batch of due feeds for one node in one statement (due first, `FOR UPDATE SKIP
  LOCKED`, the leases taken in the same statement, each feed's stored state `RETURNING`), and,
  when fewer were due than asked, when the next one will be.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

import sqlalchemy as sa

from crawler.models import FeedState, Lease
from crawler.store.schema import LEASE_TOKEN, feed_config, feed_state, feeds, utc

SYNC_LOCK = 0x66656564 + 1  # pg_advisory_xact_lock key, beside the upgrade's
NOTIFY_CHANNEL = "feed_archiver_feeds"  # a sync that made feeds due tells the sleeping nodes
_CHUNK = 10_000
_IN_CHUNK = 500  # names per IN (...): under SQLite's bound-parameter limit
FAR_LEASES = 10  # a lease reaching further than this many lease lengths ahead was not set by a node


class FeedRecord(NamedTuple):
    """One feed of the config as the feeds table keeps it; `first_due`: when a new one is first polled."""

    name: str
    url: str
    route: str | None
    settings_hash: str
    first_due: datetime


@dataclass
class FeedSync:
    """What a sync found and did."""

    before: str | None  # the config hash the store held (None: never synced)
    before_node: str | None
    in_sync: bool = False  # the store held this config already: nothing written
    added: int = 0
    revived: int = 0
    changed: int = 0
    retired: int = 0
    unhashed: int = 0  # rows of this config's feeds that had no settings hash
    undue: int = 0  # rows of this config's feeds that had no next due time
    cut_leases: list[tuple[str, str]] = field(default_factory=list)  # (feed, node) of leases held far ahead


def sync(conn: sa.Connection, records: Sequence[FeedRecord], config_hash: str, node: str | None,
         lease_seconds: float) -> FeedSync:
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SYNC_LOCK})
    now = datetime.now(UTC)
    stored = conn.execute(sa.select(feed_config.c.config_hash, feed_config.c.node)).first()
    result = FeedSync(stored[0] if stored else None, stored[1] if stored else None)
    active = feeds.c.retired.is_(None)
    counts = conn.execute(sa.select(
        sa.func.count().filter(active), sa.func.count().filter(active, feeds.c.settings_hash.is_(None))
    )).one()
    if stored is not None and stored[0] == config_hash and counts[0] == len(records) and not counts[1]:
        result.in_sync = True
    else:
        _write(conn, records, result, now, postgres)
        row = {"id": 1, "config_hash": config_hash, "node": node, "synced_at": now, "feeds": len(records)}
        if stored is None:
            conn.execute(feed_config.insert(), row)
        else:
            conn.execute(feed_config.update().where(feed_config.c.id == 1), row)
    # A feed with no next due time (edited by hand) would never be claimed: due now.
    result.undue = conn.execute(feeds.update().where(active, feeds.c.next_due.is_(None)).values(next_due=now)).rowcount
    if postgres:
        # A lease no node would take (held far ahead, by hand) would keep its feed from every node.
        result.cut_leases = [(row[0], row[1]) for row in conn.execute(sa.text(
            "UPDATE leases SET expires_at = now() + make_interval(secs => :seconds) "
            "WHERE expires_at > now() + make_interval(secs => :far) RETURNING feed, node"
        ), {"seconds": lease_seconds, "far": lease_seconds * FAR_LEASES})]
        if result.added or result.revived or result.undue or result.cut_leases:
            conn.execute(sa.text(f"NOTIFY {NOTIFY_CHANNEL}"))
    return result


def _write(conn: sa.Connection, records: Sequence[FeedRecord], result: FeedSync, now: datetime,
           postgres: bool) -> None:
    """The full sync: every row read once, what differs written in bulk, in name order (the lock
    order of the polls' commits, so a sync and a commit wait for each other, never deadlock)."""
    stored = {row[0]: row[1:] for row in conn.execute(
        sa.select(feeds.c.name, feeds.c.url, feeds.c.route, feeds.c.settings_hash, feeds.c.retired)
    )}
    upserts = []
    for record in sorted(records):
        row = stored.pop(record.name, None)
        if row is None:
            result.added += 1
        elif row[3] is not None:
            result.revived += 1
        elif row[2] is None:
            result.unhashed += 1
        elif (row[0], row[1], row[2]) != (record.url, record.route, record.settings_hash):
            result.changed += 1
        else:
            continue
        upserts.append(record)
    retire = sorted(name for name, row in stored.items() if row[3] is None)
    result.retired = len(retire)
    del stored
    if postgres:
        upsert = sa.text(
            "INSERT INTO feeds AS f (name, url, route, settings_hash, next_due, consecutive_failures, dead) "
            "SELECT n, u, r, h, d, 0, false FROM unnest(CAST(:n AS text[]), CAST(:u AS text[]), "
            "CAST(:r AS text[]), CAST(:h AS text[]), CAST(:d AS timestamptz[])) AS v(n, u, r, h, d) "
            "ON CONFLICT (name) DO UPDATE SET url = EXCLUDED.url, route = EXCLUDED.route, "
            "settings_hash = EXCLUDED.settings_hash, retired = NULL"
        )
        for start in range(0, len(upserts), _CHUNK):
            chunk = upserts[start : start + _CHUNK]
            conn.execute(upsert, {"n": [r.name for r in chunk], "u": [r.url for r in chunk],
                                  "r": [r.route for r in chunk], "h": [r.settings_hash for r in chunk],
                                  "d": [r.first_due for r in chunk]})
    elif upserts:
        from sqlalchemy.dialects.sqlite import insert

        statement = insert(feeds)
        statement = statement.on_conflict_do_update(index_elements=["name"], set_={
            "url": statement.excluded.url, "route": statement.excluded.route,
            "settings_hash": statement.excluded.settings_hash, "retired": None,
        })
        conn.execute(statement, [{"name": r.name, "url": r.url, "route": r.route, "settings_hash": r.settings_hash,
                                  "next_due": r.first_due, "consecutive_failures": 0, "dead": False}
                                 for r in upserts])
    for start in range(0, len(retire), _IN_CHUNK):
        conn.execute(feeds.update().where(feeds.c.name.in_(retire[start : start + _IN_CHUNK])).values(retired=now))


class Claimed(NamedTuple):
    lease: Lease
    state: FeedState
    taken_from: str | None  # the node whose expired lease this one replaced


# One statement: the due feeds no live lease holds, oldest due first, row-locked (skipping rows
# another node is claiming or recording), their leases inserted or taken over from expired ones,
# and their stored state returned. A feed recorded by another node since this statement's
# snapshot is re-checked under its row lock (no longer due: skipped); a lease another node took
# meanwhile is seen by ON CONFLICT (still live: not taken).
_CLAIM = sa.text(
    "WITH due AS ("
    " SELECT f.name FROM feeds f"
    " WHERE f.retired IS NULL AND f.next_due <= now()"
    " AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.feed = f.name AND l.expires_at > now())"
    " AND f.name <> ALL(CAST(:busy AS text[]))"
    " ORDER BY f.next_due LIMIT :limit FOR UPDATE OF f SKIP LOCKED"
    "), before AS ("
    " SELECT l.feed, l.node FROM leases l JOIN due ON due.name = l.feed"
    "), taken AS ("
    " INSERT INTO leases AS l (feed, node, token, expires_at)"
    f" SELECT name, :node, {LEASE_TOKEN}, now() + make_interval(secs => :seconds) FROM due"
    " ON CONFLICT (feed) DO UPDATE SET node = EXCLUDED.node, token = l.token + 1, expires_at = EXCLUDED.expires_at"
    " WHERE l.expires_at <= now()"
    " RETURNING l.feed, l.token"
    ")"
    " SELECT f.*, taken.token AS lease_token, before.node AS lease_before"
    " FROM taken JOIN feeds f ON f.name = taken.feed LEFT JOIN before ON before.feed = taken.feed"
    " ORDER BY f.next_due"
)
# When to look again: the earliest due time of a feed no live lease holds, or the earliest
# expiry of another node's lease (a killed node's feeds come free then), whichever is first.
# (The node's own polls say when they are next due as they end: `cluster.claims`.)
_NEXT = sa.text(
    "SELECT least("
    " (SELECT f.next_due FROM feeds f WHERE f.retired IS NULL"
    "  AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.feed = f.name AND l.expires_at > now())"
    "  AND f.name <> ALL(CAST(:busy AS text[]))"
    "  ORDER BY f.next_due LIMIT 1),"
    " (SELECT min(expires_at) FROM leases WHERE node <> :node))"
)


def claim(conn: sa.Connection, node: str, seconds: float, limit: int,
          busy: Sequence[str]) -> tuple[list[Claimed], datetime | None]:
    """Up to `limit` due feeds leased to `node` for `seconds`, none of `busy` (the node's own polls
    in flight: one whose lease ran out, the node paused, is not claimed by the node again while it
    runs); with fewer, when to ask again (None: nothing to wait for)."""
    params = {"node": node, "seconds": seconds, "limit": limit, "busy": list(busy)}
    rows = conn.execute(_CLAIM, params).mappings().all()
    claimed = [Claimed(Lease(row["name"], node, int(row["lease_token"])), feed_state(row), row["lease_before"])
               for row in rows]
    wake = None if len(claimed) >= limit else utc(conn.execute(_NEXT, {"busy": list(busy), "node": node}).scalar())
    return claimed, wake
