"""HTTP and everything about the hosts we ask: clients and pools, the private-network guard, request
slots, URLs, robots.txt, Referers, RSSHub instances, our own network's health, feed discovery.

    client    `Fetcher` and `Clients`: conditional GETs, size caps, redirects, one map of httpx errors to ours
    netio     httpcore's pools on asyncio's own streams
    guard     refuses private and loopback addresses unless a feed allows them
    slots     request slots by priority: pages, then feeds, then images
    urls      parsing, joining and showing URLs
    referers  the Referer sent with each image
    robots    robots.txt for the pages fetched for full text
    outage    whether our own network is down (then no feed is charged)
    rsshub    RSSHub instances: failover and resting
    discover  a page's <link rel="alternate"> feeds (for `add`)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler import lazy_exports

# Public names, imported on first use (PEP 562): importing the package costs nothing, and the
# re-poll loads no module it does not use.
if TYPE_CHECKING:
    from crawler.fetch.client import Clients, Fetcher, cache_max_age
    from crawler.fetch.discover import FeedLink, character_set, feed_links
    from crawler.fetch.outage import NetworkHealth, PassBarrier
    from crawler.fetch.referers import attempts, check_host_key, check_value
    from crawler.fetch.robots import Robots
    from crawler.fetch.rsshub import InstancePool, fetch_route
    from crawler.fetch.slots import Priority
    from crawler.fetch.urls import WEB_SCHEMES, absolute, host_of, shown, split, wire_form
else:
    __getattr__ = lazy_exports(__name__, {
        "client": "Clients Fetcher cache_max_age",
        "discover": "FeedLink character_set feed_links",
        "outage": "NetworkHealth PassBarrier",
        "referers": "attempts check_host_key check_value",
        "robots": "Robots",
        "rsshub": "InstancePool fetch_route",
        "slots": "Priority",
        "urls": "WEB_SCHEMES absolute host_of shown split wire_form",
    })

__all__ = [
    "Clients", "FeedLink", "Fetcher", "InstancePool", "NetworkHealth", "PassBarrier", "Priority", "Robots",
    "WEB_SCHEMES", "absolute", "attempts", "cache_max_age", "character_set", "check_host_key", "check_value",
    "feed_links", "fetch_route", "host_of", "shown", "split", "wire_form",
]
