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
