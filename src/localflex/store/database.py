"""Connections to the market's database: SQLite (default, WAL) or PostgreSQL (production).

Paper §5.2: the market's ICT must keep every exchange between the parties. ``Database``
wraps one SQLAlchemy engine and gives two kinds of sessions:

* ``db.read()`` — a session for queries;
* ``db.write()`` — a transaction that is committed when the block ends (or rolled back on an
  exception). On SQLite, writes are serialised by a process-wide lock and ``BEGIN
  IMMEDIATE`` (SQLite has one writer at a time anyway); on PostgreSQL they run concurrently
  and the code takes row locks with ``db.locked(select(...))`` (``SELECT … FOR UPDATE``),
  which is a no-op on SQLite where the write lock already excludes other writers.

SQLite runs in WAL mode with ``synchronous=FULL`` (a committed transaction survives a
``kill -9`` and a power loss) and ``foreign_keys=ON``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Select, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from localflex.domain import InputError

__all__ = ["Database"]


class Database:
    """One engine and its session factory; ``dispose()`` closes the pool."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 10,
                 connect_args: dict[str, Any] | None = None) -> None:
        try:
            parsed = make_url(url)
        except Exception as exc:  # sqlalchemy.exc.ArgumentError
            raise InputError("database_url", url, "an SQLAlchemy URL such as "
                             "sqlite:///localflex.db or postgresql+psycopg://…") from exc
        self.url = url
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise InputError("database_url", url, "a sqlite:// or postgresql+psycopg:// URL")
        if sqlite_synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise InputError("sqlite_synchronous", sqlite_synchronous, "NORMAL, FULL or EXTRA")
        self.is_sqlite = self.dialect == "sqlite"
        args = dict(connect_args or {})
        if self.is_sqlite:
            args.setdefault("check_same_thread", False)
            args.setdefault("timeout", 30)
            self.engine: Engine = create_engine(url, connect_args=args)
            self._install_sqlite_pragmas(sqlite_synchronous)
        else:
            self.engine = create_engine(url, connect_args=args, pool_size=pool_size,
                                        max_overflow=pool_size, pool_pre_ping=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(
            self.engine.execution_options(localflex_write=True), expire_on_commit=False
        )
        self._write_lock = threading.RLock()

    def _install_sqlite_pragmas(self, synchronous: str) -> None:
        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # let SQLAlchemy, not pysqlite, emit BEGIN (so BEGIN IMMEDIATE works)
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: Any) -> None:
            write = conn.get_execution_options().get("localflex_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction committed at the end of the block; serialised on SQLite."""
        if self.is_sqlite:
            with self._write_lock, self._write_sessions() as session, session.begin():
                yield session
        else:
            with self._write_sessions() as session, session.begin():
                yield session

    def locked(self, statement: Select) -> Select:
        """``statement`` with ``FOR UPDATE`` on PostgreSQL (SQLite: writes are serialised)."""
        return statement if self.is_sqlite else statement.with_for_update()

    def dispose(self) -> None:
        self.engine.dispose()
