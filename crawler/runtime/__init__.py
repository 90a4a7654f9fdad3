"""How the work runs: the feed pool, the worker processes, and when each feed is due.

    pool      `FeedPool`: polls in flight bounded, drained on stop
    workers   the forkserver and `CpuPool`, the processes that extract and parse off the event loop
    schedule  pure: a feed's next due time and backoff after a poll
"""
