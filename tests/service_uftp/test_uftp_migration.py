"""Revision 0002 on a database whose UFTP tables the package created itself before (no
outbox column): the tables and rows are kept, the columns are added, pending rows are due,
participants hold no contracts."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text

from localflex.store import upgrade_head
from localflex.store.migrate import alembic_config

_LEGACY = [
    "CREATE TABLE uftp_platform (domain VARCHAR(253) PRIMARY KEY, signing_key VARCHAR(128) "
    "NOT NULL, public_key VARCHAR(64) NOT NULL, created_at DATETIME NOT NULL)",
    "CREATE TABLE uftp_participants (domain VARCHAR(253), role VARCHAR(3), party_id "
    "VARCHAR(64) NOT NULL, public_key VARCHAR(64) NOT NULL, endpoint VARCHAR(500) NOT NULL, "
    "connections JSON NOT NULL, created_at DATETIME NOT NULL, revoked_at DATETIME, "
    "PRIMARY KEY (domain, role))",
    "CREATE TABLE uftp_messages (id INTEGER PRIMARY KEY, direction VARCHAR(3) NOT NULL, "
    "message_type VARCHAR(40) NOT NULL, message_id VARCHAR(36) NOT NULL, conversation_id "
    "VARCHAR(36) NOT NULL, sender_domain VARCHAR(253) NOT NULL, sender_role VARCHAR(3) NOT "
    "NULL, recipient_domain VARCHAR(253) NOT NULL, recipient_role VARCHAR(3) NOT NULL, "
    "party_id VARCHAR(64), reference VARCHAR(300), ref_message_id VARCHAR(36), origin_id "
    "INTEGER, status VARCHAR(16) NOT NULL, result VARCHAR(16), reason TEXT, detail JSON NOT "
    "NULL, payload_xml TEXT NOT NULL, signed_xml TEXT NOT NULL, attempts INTEGER NOT NULL, "
    "created_at DATETIME NOT NULL, delivered_at DATETIME, "
    "CONSTRAINT uftp_sender_message_id UNIQUE (sender_domain, message_id))",
]


def _row(status: str, n: int) -> str:
    return ("INSERT INTO uftp_messages (direction, message_type, message_id, conversation_id, "
            "sender_domain, sender_role, recipient_domain, recipient_role, status, detail, "
            "payload_xml, signed_xml, attempts, created_at) VALUES ('out', 'TestMessage', "
            f"'m{n}', 'c{n}', 'market.localflex.test', 'DSO', 'agr.test', 'AGR', '{status}', "
            "'{}', '<x/>', '<x/>', 1, '2030-06-21 12:00:00')")


def test_migration_0002_keeps_legacy_uftp_tables_and_adds_the_outbox_column(tmp_path):
    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    command.upgrade(alembic_config(url), "0001")
    engine = create_engine(url)
    with engine.begin() as conn:
        participant = ("INSERT INTO uftp_participants VALUES ('agr.test', 'AGR', 'agg1', 'k', "
                       "'http://127.0.0.1:9/', '{}', '2030-06-21 12:00:00', NULL)")
        for statement in [*_LEGACY, _row("pending", 1), _row("sent", 2), participant]:
            conn.execute(text(statement))
    upgrade_head(url)
    assert "next_attempt_at" in {c["name"] for c in inspect(engine).get_columns("uftp_messages")}
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT message_id, status, next_attempt_at FROM uftp_messages "
                                 "ORDER BY id")).all()
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        contracts = conn.execute(text("SELECT contracts FROM uftp_participants")).scalars().all()
    engine.dispose()
    assert version == "0004" and contracts == ["[]"]
    assert [(r[0], r[1], r[2] is not None) for r in rows] == [
        ("m1", "pending", True), ("m2", "sent", False)]
