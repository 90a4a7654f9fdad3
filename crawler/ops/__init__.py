"""Operating the daemon: its metrics and health endpoint (`metrics: {listen: HOST:PORT}`).

`open_endpoint` is all the daemon calls. With no `metrics:` it returns an
`Endpoint` that does nothing, and prometheus-client is never imported; with
one, the port is bound at once (a port in use stops the start, `ListenError`),
and `/metrics`, `/healthz` and `/readyz` are served from a thread of their own
(`crawler.ops.http`) while `crawler.ops.metrics.Metrics` hears the crawl.

>>> endpoint = open_endpoint(settings.metrics_listen)
>>> async with open_deps(settings, observer=endpoint.observer) as deps:
...     endpoint.serving(ready=readiness(deps.store.ping, lambda: scheduler.running))
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from crawler import lazy_exports
from crawler.errors import CrawlerError, StateError
from crawler.observe import Observer

READY_TIMEOUT = 2.0  # DESIGN.md: the store's query must answer within 2 s

Readiness = Callable[[], Awaitable[str | None]]  # None when ready, else why not


class ListenError(CrawlerError):
    """The metrics address cannot be listened on (in use, not this machine's)."""


class Endpoint:
    """No endpoint: what the daemon has without `metrics:`."""

    observer: Observer = Observer()

    def serving(self, *, ready: Readiness | None) -> None:
        """The daemon runs (`ready` says whether it is ready), or stops (`ready=None`)."""

    def close(self) -> None:
        """Stop listening."""


def open_endpoint(listen: str | None) -> Endpoint:
    """The daemon's endpoint for `metrics.listen`, already bound; raises `ListenError`."""
    if listen is None:
        return Endpoint()
    from crawler.ops.http import MetricsEndpoint

    return MetricsEndpoint(listen)


def readiness(ping: Callable[[], Awaitable[None]], scheduler_running: Callable[[], bool]) -> Readiness:
    """Ready when the scheduler runs and a real query of the state store answers in time."""

    async def check() -> str | None:
        if not scheduler_running():
            return "the scheduler is not running"
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await ping()
        except TimeoutError:
            return f"the state store did not answer within {READY_TIMEOUT:g} s"
        except StateError as exc:
            return f"the state store failed: {exc}"
        return None

    return check

# Public names, imported on first use (PEP 562): importing the package costs nothing, and the
# re-poll loads no module it does not use.
if TYPE_CHECKING:
    from crawler.ops.console import (
        crawl_progress,
        feed_rows,
        human_seconds,
        plural,
        print_feed_status,
        print_feeds,
        print_status,
        print_summary,
        setup_logging,
    )
else:
    __getattr__ = lazy_exports(__name__, {
        "console": (
            "crawl_progress feed_rows human_seconds plural print_feed_status print_feeds print_status "
            "print_summary setup_logging"
        ),
    })

__all__ = [
    "ListenError", "Readiness", "crawl_progress", "feed_rows", "human_seconds", "open_endpoint", "plural",
    "print_feed_status", "print_feeds", "print_status", "print_summary", "readiness", "setup_logging",
]
