"""What every operation of the service needs: settings, store, grid, key cache, clock."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from localflex.service.auth import KeyCache
from localflex.service.books import ContinuousBridge
from localflex.service.gridstate import GridState
from localflex.service.settings import Settings
from localflex.store import Database

if TYPE_CHECKING:
    from localflex.store.offer_writes import OfferWriter

__all__ = ["ServiceContext", "new_id"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


@dataclass
class ServiceContext:
    settings: Settings
    db: Database
    grid: GridState
    keys: KeyCache = field(default_factory=KeyCache)
    clock: Callable[[], datetime] = _utcnow
    continuous: ContinuousBridge | None = None
    # PostgreSQL only, opened on the server's event loop (app lifespan): the one-statement,
    # group-committed path of POST /offers (``offer_intake``); None → the ORM path
    offer_writer: OfferWriter | None = None

    def now(self) -> datetime:
        return self.clock()
