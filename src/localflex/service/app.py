"""The FastAPI application of the running market: ``create_app(settings)``.

At start (lifespan): the store is migrated to the newest Alembic revision, the grid starts
loading in the background (its congestion points are written to the store), the continuous
market's books are rebuilt from their event log and the gate scheduler starts. The app
state holds one ``ServiceContext`` (``app.state.service``) that every endpoint uses; on
PostgreSQL it also holds an ``OfferWriter`` on the server's event loop, which the hot
``POST /offers`` uses (one statement, group-committed: ``offer_intake``).

Extension point for UFTP (Shapeshifter): if the package ``localflex.service.uftp`` exists and
exposes ``router`` (a FastAPI ``APIRouter`` with its own prefix), it is mounted here; its
handlers reach the market through ``request.app.state.service`` and the same operations
(``market_ops``, ``clearing``, ``parties``), so both protocols share one store and one set of
rules. Further routers can be passed as ``create_app(settings, extra_routers=[...])``.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from localflex.service import api, web
from localflex.service.books import ContinuousBridge
from localflex.service.context import ServiceContext
from localflex.service.errors import install_error_handlers
from localflex.service.gridstate import GridState
from localflex.service.keysync import KeyRevocationListener
from localflex.service.limits import BodySizeLimit
from localflex.service.scheduler import GateScheduler
from localflex.service.settings import Settings
from localflex.store import Database, upgrade_head
from localflex.store.offer_writes import OfferWriter
from localflex.store.pg_async import AsyncPgPool

__all__ = ["create_app", "optional_routers", "start_service"]


def start_service(settings: Settings, *, background_grid: bool = True) -> ServiceContext:
    """Migrate the store, start loading the grid, rebuild the books: the service context."""
    db = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous,
                  pool_size=settings.db_pool_size)
    with db.engine.begin() as conn:
        upgrade_head(settings.database_url, conn)
    grid = GridState(db, settings.grid_code)
    grid.start(background=background_grid)
    svc = ServiceContext(settings=settings, db=db, grid=grid)
    svc.continuous = ContinuousBridge(db)
    return svc


def _uftp():
    """The package ``localflex.service.uftp`` if it exists (UFTP, built separately)."""
    try:
        return importlib.import_module("localflex.service.uftp")
    except ModuleNotFoundError as exc:
        if exc.name == "localflex.service.uftp":
            return None
        raise


def optional_routers() -> list[APIRouter]:
    """``localflex.service.uftp.router`` if that package exists."""
    router = getattr(_uftp(), "router", None)
    return [router] if isinstance(router, APIRouter) else []


def create_app(settings: Settings | None = None, *,
               extra_routers: Iterable[APIRouter] = ()) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = start_service(settings)
        if svc.db.dialect == "postgresql":
            svc.offer_writer = OfferWriter(
                AsyncPgPool(settings.database_url, size=settings.db_pool_size),
                max_inflight=min(settings.offer_statements_in_flight, settings.db_pool_size))
        app.state.service = svc
        keys = None
        if svc.db.dialect == "postgresql":  # other workers' revocations
            keys = KeyRevocationListener(settings.database_url, svc.keys)
            keys.start()
        scheduler = GateScheduler(svc)
        app.state.scheduler = scheduler
        if settings.run_scheduler:
            scheduler.start()
        try:
            yield
        finally:
            scheduler.stop()
            if keys is not None:
                keys.stop()
            if svc.offer_writer is not None:
                await svc.offer_writer.close()
                await svc.offer_writer.pool.close()
            svc.db.dispose()

    app = FastAPI(
        title="localflex market",
        version="1",
        summary="A local flexibility market: DSO requests, aggregator offers, gate clearing, "
        "awards, activations, meter data, settlement, continuous trading.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes)
    app.include_router(api.router)
    app.include_router(web.router)
    for router in (*optional_routers(), *extra_routers):
        app.include_router(router)
    # UFTP's addresses, EANs and connections in GET /api/v1/congestion-points
    app.state.cp_addressing = getattr(_uftp(), "uftp_addressing", None)
    return app
