"""The state store: what was archived, per-feed state, leases, and the schema's versions.

    db          one transaction at a time over SQLite (stdlib driver, own thread) or PostgreSQL (asyncpg)
    schema      the tables at the newest revision, and each table's row mapping
    versions    reading the schema revision cheaply; upgrading through Alembic when one is due
    migrations  Alembic's environment and revision scripts (one history for SQLite and PostgreSQL)
    state       `StateStore`, the async API every other module uses

`crawler.store.state` imports the others; nothing here imports the pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from crawler import lazy_exports


def store_exists(url: str) -> bool:
    """Whether the store at `url` may hold anything yet: false only for an SQLite file not made.
    Cheap and import-free, for decisions taken before the store is opened."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).exists()
    return True

# Public names, imported on first use (PEP 562): importing the package costs nothing, and the
# re-poll loads no module it does not use.
if TYPE_CHECKING:
    from crawler.store.batching import Batcher
    from crawler.store.db import Listener, shown
    from crawler.store.feedtable import Claimed, FeedRecord, FeedSync
    from crawler.store.schema import entries, utc
    from crawler.store.state import StateStore, legacy_fingerprint
else:
    __getattr__ = lazy_exports(__name__, {
        "batching": "Batcher",
        "db": "Listener shown",
        "feedtable": "Claimed FeedRecord FeedSync",
        "schema": "entries utc",
        "state": "StateStore legacy_fingerprint",
    })

__all__ = [
    "Batcher", "Claimed", "FeedRecord", "FeedSync", "Listener", "StateStore", "entries", "legacy_fingerprint",
    "shown", "store_exists", "utc",
]
