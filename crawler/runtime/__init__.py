"""How the work runs: the feed pool, the worker processes, and when each feed is due.

    pool      `FeedPool`: polls in flight bounded, drained on stop
    workers   the forkserver and `CpuPool`, the processes that extract and parse off the event loop
    schedule  pure: a feed's next due time and backoff after a poll
    timetable the due times of a process's feeds, earliest first (a heap)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler import lazy_exports

# Public names, imported on first use (PEP 562): importing the package costs nothing, and the
# re-poll loads no module it does not use.
if TYPE_CHECKING:
    from crawler.runtime.collector import collector_paused
    from crawler.runtime.pool import FeedPool
    from crawler.runtime.schedule import jitter_limit, next_state, regular_due
    from crawler.runtime.timetable import Timetable
    from crawler.runtime.workers import CpuPool, forkserver_context, start_forkserver
else:
    __getattr__ = lazy_exports(__name__, {
        "collector": "collector_paused",
        "pool": "FeedPool",
        "schedule": "jitter_limit next_state regular_due",
        "timetable": "Timetable",
        "workers": "CpuPool forkserver_context start_forkserver",
    })

__all__ = [
    "CpuPool", "FeedPool", "Timetable", "collector_paused", "forkserver_context", "jitter_limit",
    "next_state", "regular_due", "start_forkserver",
]
