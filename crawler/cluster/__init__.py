"""May this process poll this feed now, and may it record the poll? One question, two answers.

    lock         SQLite stores: one writer per archive, an exclusive lock file
    coordinator  `Local` (behind the lock file) and `Leases` (PostgreSQL: per-feed leases,
                 renewed while a poll runs, the poll recorded only while its lease holds)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler import lazy_exports

# Public names, imported on first use (PEP 562): importing the package costs nothing, and the
# re-poll loads no module it does not use.
if TYPE_CHECKING:
    from crawler.cluster.coordinator import Coordinator, Leases, Local
    from crawler.cluster.lock import ArchiveLocked, writer_lock
else:
    __getattr__ = lazy_exports(__name__, {
        "coordinator": "Coordinator Leases Local",
        "lock": "ArchiveLocked writer_lock",
    })

__all__ = [
    "ArchiveLocked", "Coordinator", "Leases", "Local", "writer_lock",
]
