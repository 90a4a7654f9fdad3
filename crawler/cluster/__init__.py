"""May this process poll this feed now, and may it record the poll? One question, two answers.

    lock         SQLite stores: one writer per archive, an exclusive lock file
    coordinator  `Local` (behind the lock file) and `Leases` (PostgreSQL: per-feed leases,
                 renewed while a poll runs, the poll recorded only while its lease holds)
"""
