"""May this process poll this feed now, and may it record the poll? One question, two answers.

    lock         SQLite stores: one writer per archive, an exclusive lock file
    coordinator  `Local` (behind the lock file) and `Leases` (PostgreSQL: per-feed leases,
                 renewed while a poll runs, the poll recorded only while its lease holds)
    sync         the config's feeds copied into the store's feeds table (start, reload)
    claims       a cluster node's daemon loop: claim due feeds in batches, poll them, sleep
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler import lazy_exports

# Public names, imported on first use (PEP 562): importing the package costs nothing, and the
# re-poll loads no module it does not use.
if TYPE_CHECKING:
    from crawler.cluster.claims import Claims
    from crawler.cluster.coordinator import Coordinator, Leases, Local
    from crawler.cluster.lock import ArchiveLocked, writer_lock
    from crawler.cluster.sync import FeedTableSync
else:
    __getattr__ = lazy_exports(__name__, {
        "claims": "Claims",
        "coordinator": "Coordinator Leases Local",
        "lock": "ArchiveLocked writer_lock",
        "sync": "FeedTableSync",
    })

__all__ = [
    "ArchiveLocked", "Claims", "Coordinator", "FeedTableSync", "Leases", "Local", "writer_lock",
]
