"""Alembic migrations of the market database, run programmatically (no alembic.ini needed).

``upgrade_head(url)`` brings a database to the newest revision; the service calls it at start.
Revisions live in ``localflex/store/migrations/versions``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

__all__ = ["MIGRATIONS_DIR", "alembic_config", "upgrade_head"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str, connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade_head(url: str, connection: Connection | None = None) -> None:
    """Apply every migration not yet applied (idempotent)."""
    command.upgrade(alembic_config(url, connection), "head")
