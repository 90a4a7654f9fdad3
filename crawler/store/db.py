"""One transaction at a time: the embedded SQLite on a thread of its own, PostgreSQL through asyncpg.

All SQL is a function of one `sa.Connection`, run by a `Database` in a transaction,
so the same statements serve both drivers and Alembic can be handed the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")


class Database(Protocol):
    """Runs `work` in one transaction, committed if it returns, rolled back if it raises."""

    dialect: str

    async def transaction(self, work: Callable[[sa.Connection], T]) -> T: ...

    async def dispose(self) -> None: ...


class ThreadedSqlite:
    """SQLite through the standard library's driver, on one thread of its own.

    This is what aiosqlite does, less two costs: SQLAlchemy's asyncio extension imports the ORM
    (0.1 s of every start, an eighth of a re-poll), and every cursor call would cross threads
    and greenlets where here one transaction crosses once. One connection: SQLite takes one
    writer at a time anyway, and a thread of its own keeps the event loop free while it waits.
    """

    dialect = "sqlite"

    def __init__(self, url: sa.URL) -> None:
        self._engine = sa.create_engine(url, connect_args={"timeout": 15}, pool_size=1, max_overflow=0)
        sa.event.listen(self._engine, "connect", _sqlite_pragmas)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="state-store")

    async def transaction(self, work: Callable[[sa.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._run, work)

    def _run(self, work: Callable[[sa.Connection], T]) -> T:
        with self._engine.begin() as conn:
            return work(conn)

    async def dispose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._engine.dispose)
        self._thread.shutdown()


class AsyncDriver:
    """Any driver SQLAlchemy's asyncio extension drives (asyncpg for PostgreSQL)."""

    def __init__(self, url: sa.URL) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine  # imports the ORM: only when used

        # A node paused or killed mid-transaction must not hold row locks for ever, nor may a
        # statement wait for them for ever: the server ends such a session, and a lock wait gives up.
        settings = {"application_name": "feed-archiver", "lock_timeout": "30s",
                    "idle_in_transaction_session_timeout": "60s"}
        self._engine: AsyncEngine = create_async_engine(
            url, pool_pre_ping=True, connect_args={"server_settings": settings}
        )
        self.dialect = self._engine.dialect.name

    async def transaction(self, work: Callable[[sa.Connection], T]) -> T:
        async with self._engine.begin() as conn:
            return await conn.run_sync(work)

    async def dispose(self) -> None:
        await self._engine.dispose()


class Listener:
    """PostgreSQL's LISTEN on one connection of the pool, held while listening: `callback()` on each
    NOTIFY of `channel`. `ensure()` (re)opens it, so a server that restarted is listened to again."""

    def __init__(self, db: AsyncDriver, channel: str, callback: Callable[[], None]) -> None:
        self._db = db
        self._channel = channel
        self._callback = callback
        self._conn: Any = None  # SQLAlchemy's AsyncConnection
        self._driver: Any = None  # asyncpg's connection under it

    def _notified(self, *_args: Any) -> None:
        self._callback()

    async def ensure(self) -> bool:
        """Listening now? Opens the connection when there is none or the old one died; False if that fails."""
        if self._driver is not None and not self._driver.is_closed():
            return True
        await self.close()
        try:
            self._conn = await self._db._engine.connect()
            raw = await self._conn.get_raw_connection()
            self._driver = raw.driver_connection
            await self._driver.add_listener(self._channel, self._notified)
        except Exception:  # the server is down: the caller looks again later, as it would without
            await self.close()
            return False
        return True

    async def close(self) -> None:
        conn, driver, self._conn, self._driver = self._conn, self._driver, None, None
        try:
            if driver is not None and not driver.is_closed():
                await driver.remove_listener(self._channel, self._notified)
            if conn is not None:
                await conn.close()
        except Exception:  # a connection that died: nothing left to close
            pass


def open_database(url: str) -> Database:
    """`sqlite:///PATH` (the default) or `postgresql://...` (asyncpg)."""
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    parsed = sa.make_url(url)
    if parsed.drivername == "postgresql+asyncpg" and "sslmode" in parsed.query:
        # libpq's spelling, as users copy it; asyncpg takes the same modes as `ssl`.
        parsed = parsed.difference_update_query(["sslmode"]).update_query_dict({"ssl": parsed.query["sslmode"]})
    if parsed.get_backend_name() == "sqlite":
        if parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return ThreadedSqlite(parsed.set(drivername="sqlite"))
    return AsyncDriver(parsed)


def reason(exc: BaseException) -> str:
    """The driver's own message, on one line (SQLAlchemy appends a second with a help link)."""
    if isinstance(exc, ImportError) and exc.name == "asyncpg":
        return "asyncpg is not installed (pip install 'feed-archiver[postgres]')"
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def shown(url: str) -> str:
    """The URL without its password: error lines end up in logs and bug reports."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets `status` read while a crawl writes; NORMAL sync is durable across process kills.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()
