"""Asynchronous single-statement writes on PostgreSQL, for the service's hot submissions.

Paper §5.2: the market's ICT must take many submissions and never lose an accepted one.
The ORM path (``Database.write()``) costs about six round trips per submission (pool
ping, ``BEGIN``, gate read, offer insert, audit insert, ``COMMIT``) plus the unit of work in
a worker thread. ``AsyncPgPool`` holds a few psycopg ``AsyncConnection`` s in autocommit
mode on the service's event loop: a submission is *one* statement (a data-modifying
``WITH`` that checks and locks, inserts the record, its audit entry and its idempotency
record), which PostgreSQL runs as one transaction and commits (``synchronous_commit`` as
configured on the server, on by default) before the statement returns. psycopg prepares a
statement on the server after its fifth use.

Connections are opened lazily up to ``size``; a broken one is dropped; one idle longer
than ``ping_after_s`` is pinged before use (as ``pool_pre_ping`` does, but not on the hot
path). SQLite has no such pool: the service uses the ORM path there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from localflex.domain import InputError

__all__ = ["AsyncPgPool", "libpq_url"]

_IDLE = psycopg.pq.TransactionStatus.IDLE


def libpq_url(sqlalchemy_url: str) -> str:
    """``postgresql+psycopg://…`` → the ``postgresql://…`` conninfo psycopg takes."""
    url = make_url(sqlalchemy_url)
    if url.get_backend_name() != "postgresql":
        raise InputError("database_url", sqlalchemy_url, "a postgresql:// URL")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class AsyncPgPool:
    """Up to ``size`` autocommit connections, used by one event loop."""

    def __init__(self, sqlalchemy_url: str, *, size: int = 10, ping_after_s: float = 30.0):
        if size < 1:
            raise InputError("size", size, "at least 1 connection")
        self.conninfo = libpq_url(sqlalchemy_url)
        self.size = size
        self.ping_after_s = ping_after_s
        self._idle: list[tuple[psycopg.AsyncConnection, float]] = []
        self._slots = asyncio.Semaphore(size)  # one slot per connection in use
        self._closing: set[asyncio.Task] = set()
        self._closed = False

    async def _checkout(self) -> psycopg.AsyncConnection:
        """A live connection (the caller holds a slot)."""
        while self._idle:
            conn, since = self._idle.pop()
            if conn.closed or conn.broken:
                continue
            if time.monotonic() - since > self.ping_after_s:
                try:
                    await conn.execute("SELECT 1")
                except psycopg.Error:
                    await conn.close()
                    continue
            return conn
        return await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        if self._closed:
            raise RuntimeError("AsyncPgPool is closed")
        async with self._slots:
            conn = await self._checkout()
            try:
                yield conn
            finally:
                # reuse only a connection at rest (not one whose statement was cancelled)
                if (conn.closed or conn.broken or self._closed
                        or conn.info.transaction_status != _IDLE):
                    self._discard(conn)
                else:
                    self._idle.append((conn, time.monotonic()))

    def _discard(self, conn: psycopg.AsyncConnection) -> None:
        if not conn.closed:
            task = asyncio.get_running_loop().create_task(conn.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def fetchone(self, query: str, params: dict[str, Any]) -> tuple | None:
        """Run one statement (its own transaction, committed on return); its first row."""
        async with self.connection() as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchone()

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            await conn.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
