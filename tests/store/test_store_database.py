"""The store: migrations, append-only audit log, hashed keys, UTC timestamps, rollbacks —
on SQLite and (with LOCALFLEX_TEST_DATABASE_URL) PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError

from localflex.store import (
    AppendOnlyError,
    Database,
    new_api_key,
    record,
    split_api_key,
    upgrade_head,
    verify_secret,
)
from localflex.store.models import AuditEntry, Base, Gate, Party


@pytest.fixture
def db(fresh_db_url):
    database = Database(fresh_db_url)
    with database.engine.begin() as conn:
        upgrade_head(fresh_db_url, conn)
    yield database
    database.dispose()


def test_store_migration_creates_every_table_and_is_idempotent(db, fresh_db_url):
    with db.engine.begin() as conn:
        upgrade_head(fresh_db_url, conn)  # second run: nothing to do
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with db.read() as session:
        assert session.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0004"


def test_store_audit_log_is_append_only(db):
    with db.write() as session:
        record(session, "op", "create", "party", "p1", role="dso")
    # the ORM refuses a change …
    with pytest.raises(AppendOnlyError), db.write() as session:
        entry = session.scalar(select(AuditEntry))
        entry.action = "tampered"
    with pytest.raises(AppendOnlyError), db.write() as session:
        session.delete(session.scalar(select(AuditEntry)))
    # … and so does the database itself (trigger), for raw SQL
    with pytest.raises(DBAPIError), db.write() as session:
        session.execute(text("UPDATE audit_log SET action = 'tampered'"))
    with pytest.raises(DBAPIError), db.write() as session:
        session.execute(text("DELETE FROM audit_log"))
    with db.read() as session:
        rows = session.scalars(select(AuditEntry)).all()
    assert [(r.action, r.detail) for r in rows] == [("create", {"role": "dso"})]


def test_store_write_rolls_back_on_error(db):
    with pytest.raises(RuntimeError), db.write() as session:
        session.add(Party(party_id="p1", name="P", role="dso"))
        session.flush()
        raise RuntimeError("boom")
    with db.read() as session:
        assert session.get(Party, "p1") is None


def test_store_timestamps_come_back_utc_aware(db):
    cet = timezone(timedelta(hours=1))
    start = datetime(2030, 1, 1, 13, 0, tzinfo=cet)
    with db.write() as session:
        session.add(Gate(gate_id="g", isp_start=start, isp_minutes=15, opens_at=start,
                         closes_at=start, status="pending"))
    with db.read() as session:
        gate = session.get(Gate, "g")
    assert gate.isp_start == start and gate.isp_start.tzinfo == UTC
    assert gate.isp_start.hour == 12
    with pytest.raises(Exception, match="naive"), db.write() as session:
        session.add(Gate(gate_id="h", isp_start=datetime(2030, 1, 1), isp_minutes=15,
                         opens_at=start, closes_at=start, status="pending"))


def test_store_api_keys_are_hashed_with_salt():
    a, b = new_api_key(), new_api_key()
    assert a.api_key != b.api_key and a.salt != b.salt
    key_id, secret = split_api_key(a.api_key)
    assert key_id == a.key_id and secret not in a.key_hash
    assert verify_secret(secret, a.salt, a.key_hash)
    assert not verify_secret(secret + "x", a.salt, a.key_hash)
    assert not verify_secret(secret, b.salt, a.key_hash)
    assert split_api_key("nonsense") is None
    assert split_api_key("lfx_short_x") is None


def test_store_rejects_bad_urls():
    from localflex.domain import InputError

    with pytest.raises(InputError, match="database_url"):
        Database("mysql://x@y/z")
    with pytest.raises(InputError, match="database_url"):
        Database("::not a url::")
