"""The one typed settings object of the market service (env prefix ``LOCALFLEX_``).

``Settings()`` reads ``LOCALFLEX_DATABASE_URL``, ``LOCALFLEX_GRID_CODE``, … from the
environment; ``create_app(Settings(database_url=…))`` passes them explicitly. Unknown
keyword arguments are rejected.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_DATABASE_URL", "DEFAULT_GRID_CODE", "Settings"]

DEFAULT_DATABASE_URL = "sqlite:///localflex.db"
DEFAULT_GRID_CODE = "1-LV-rural1--2-sw"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOCALFLEX_", extra="forbid", frozen=True)

    database_url: str = Field(DEFAULT_DATABASE_URL, description="SQLAlchemy URL of the store")
    grid_code: str = Field(DEFAULT_GRID_CODE, description="SimBench code of the demo grid")
    run_scheduler: bool = Field(True, description="clear gates at closure in a background thread")
    scheduler_interval_s: float = Field(1.0, gt=0, description="how often the scheduler looks")
    sqlite_synchronous: str = Field("FULL", description="SQLite PRAGMA synchronous")
    db_pool_size: int = Field(10, ge=1, description="PostgreSQL connection pool size")
    offer_statements_in_flight: int = Field(
        2, ge=1, description="PostgreSQL: offer statements running at once; offers that "
        "arrive meanwhile are committed together in the next one (group commit)")
    shortfall_penalty_eur_per_mwh: float = Field(1e6, gt=0, description="clearing penalty")
    web_refresh_s: int = Field(10, ge=1, description="auto-refresh period of the web view")
    max_page: int = Field(1000, ge=1, description="largest list answered by one GET")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="largest request body (413 "
                                "above it, answered before the body is read)")
    workers: int = Field(1, ge=1, le=64, description="API worker processes (localflex serve "
                         "--workers); the continuous market's matching is serialised in "
                         "the store, so every worker serves the same books")
