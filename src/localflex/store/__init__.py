"""Persistence of the running market (paper §5.2): SQLAlchemy models, sessions, migrations.

SQLite by default (``sqlite:///localflex.db``, WAL), PostgreSQL in production
(``postgresql+psycopg://…``). ``upgrade_head(url)`` applies the Alembic migrations;
``Database`` gives read sessions and serialised/locked write transactions; ``audit.record``
appends to the audit log; ``credentials`` makes and checks hashed API keys.
"""

from localflex.store import models, uftp_records
from localflex.store.audit import AppendOnlyError, record
from localflex.store.credentials import NewKey, new_api_key, split_api_key, verify_secret
from localflex.store.database import Database
from localflex.store.migrate import upgrade_head

__all__ = [
    "AppendOnlyError",
    "Database",
    "NewKey",
    "models",
    "new_api_key",
    "record",
    "split_api_key",
    "uftp_records",
    "upgrade_head",
    "verify_secret",
]
