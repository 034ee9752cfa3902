"""Every API worker forgets a revoked key at once (PostgreSQL ``LISTEN``/``NOTIFY``).

Each worker process remembers keys it verified (``auth.KeyCache``) to skip ~50 ms of scrypt
per request. Revoking a key commits a ``NOTIFY localflex_keys`` in the same transaction; a
listener thread in every worker clears its cache when the notification arrives (and after
every reconnect, in case one was missed while the connection was down), so no worker keeps
serving a revoked key. SQLite runs one worker: clearing its own cache is enough.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from localflex.service.auth import KeyCache

__all__ = ["CHANNEL", "KeyRevocationListener", "announce_revocation"]

CHANNEL = "localflex_keys"
log = logging.getLogger("localflex.service.keysync")


def announce_revocation(session: Session) -> None:
    """Tell every worker, at commit, to forget the keys it verified."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {CHANNEL}"))


class KeyRevocationListener:
    def __init__(self, database_url: str, cache: KeyCache) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self.conninfo = url.render_as_string(hide_password=False)
        self.cache = cache
        self.listening = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="localflex-keys", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.cache.clear()  # anything revoked while not listening
                    self.listening.set()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self.cache.clear()
            except Exception:  # reconnect; the cache is cleared on reconnect
                self.listening.clear()
                log.warning("key revocation listener lost its connection; reconnecting")
                self._stop.wait(1.0)
