"""``localflex serve``: run the market as a service (REST API, web view, gate scheduler).

Starts uvicorn on a loopback address with the store at ``--db`` (default SQLite file
``localflex.db``; PostgreSQL as ``postgresql+psycopg://user@host/db``) and the SimBench grid
``--grid``. ``--bootstrap`` creates the market operator on an empty store and prints its API
key once; the operator then creates parties and their keys with ``POST /api/v1/parties``.
``--workers N`` runs N API worker processes on the same port (uvicorn's process manager; the
settings reach them as ``LOCALFLEX_*`` environment variables): they are stateless in front
of the store, and the continuous market's matching is serialised by PostgreSQL
(``service.books``), so N > 1 needs a PostgreSQL store.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from localflex.cli._app import app, console, user_errors

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command()
def serve(
    db: Annotated[str, typer.Option("--db", help="SQLAlchemy URL of the store")] =
        "sqlite:///localflex.db",
    grid: Annotated[str, typer.Option("--grid", help="SimBench code of the grid")] =
        "1-LV-rural1--2-sw",
    host: Annotated[str, typer.Option("--host", help="loopback address to listen on")] =
        "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    bootstrap: Annotated[bool, typer.Option(
        "--bootstrap", help="create the market operator (empty store) and print its key once"
    )] = False,
    scheduler: Annotated[bool, typer.Option(
        "--scheduler/--no-scheduler", help="clear gates at closure automatically")] = True,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, max=64, help="API worker processes (N > 1 needs PostgreSQL)")] = 1,
) -> None:
    """Run the local flexibility market as a service on HOST:PORT."""
    import uvicorn

    from localflex.domain import InputError
    from localflex.service import Settings, bootstrap_operator, create_app
    from localflex.store import Database, upgrade_head

    with user_errors():
        if host not in _LOOPBACK:
            raise InputError("--host", host, f"a loopback address {_LOOPBACK}")
        settings = Settings(database_url=db, grid_code=grid, run_scheduler=scheduler,
                            workers=workers)
        store = Database(db)
        if workers > 1 and store.is_sqlite:
            raise InputError("--workers", workers, "1 with a SQLite store (several workers "
                             "need PostgreSQL, which serialises the matching)")
        with store.engine.begin() as conn:
            upgrade_head(db, conn)
        if bootstrap:
            key = bootstrap_operator(store)
            if key is None:
                console.print("a market operator exists already: no new key printed "
                              "(issue one with POST /api/v1/parties/{id}/keys)")
            else:
                console.print(f"market operator 'operator' created. API key (shown once):\n"
                              f"  {key.api_key}")
        store.dispose()
        base = f"http://{host}:{port}"
        console.print(
            f"localflex market on {base} (grid {grid}, store {db.split('@')[-1]}, "
            f"{workers} worker{'s' if workers > 1 else ''})\n"
            f"  web view {base}/   API docs {base}/docs\n"
            f"  create a party:  curl -X POST {base}/api/v1/parties "
            "-H 'Authorization: Bearer <operator key>' -H 'Content-Type: application/json' "
            "-d '{\"party_id\": \"agg1\", \"name\": \"Aggregator 1\", \"role\": \"aggregator\"}'"
        )
        if workers == 1:
            application = create_app(settings)
    if workers == 1:
        uvicorn.run(application, host=host, port=port, log_level="warning")
        return
    for name, value in settings.model_dump().items():  # what each worker's Settings() reads
        os.environ[f"LOCALFLEX_{name.upper()}"] = str(value)
    uvicorn.run("localflex.service.app:create_app", factory=True, workers=workers, host=host,
                port=port, log_level="warning")
