"""Initial schema of the market database, with the append-only audit log triggers.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25 11:57:53.196134
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


_APPEND_ONLY_SQLITE = [
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
]
_APPEND_ONLY_POSTGRES = [
    "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
]


def _append_only() -> None:
    statements = (
        _APPEND_ONLY_SQLITE if op.get_bind().dialect.name == "sqlite" else _APPEND_ONLY_POSTGRES
    )
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "continuous_events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_table(
        "gates",
        sa.Column("gate_id", sa.String(length=64), nullable=False),
        sa.Column("isp_start", sa.DateTime(), nullable=False),
        sa.Column("isp_minutes", sa.Integer(), nullable=False),
        sa.Column("opens_at", sa.DateTime(), nullable=False),
        sa.Column("closes_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cleared_at", sa.DateTime(), nullable=True),
        sa.Column("clearing_summary", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("gate_id"),
        sa.UniqueConstraint("isp_start"),
    )
    with op.batch_alter_table("gates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gates_closes_at"), ["closes_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_gates_status"), ["status"], unique=False)

    op.create_table(
        "grids",
        sa.Column("grid_code", sa.String(length=100), nullable=False),
        sa.Column("bus_ids", sa.JSON(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("grid_code"),
    )
    op.create_table(
        "parties",
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("party_id"),
    )
    op.create_table(
        "congestion_points",
        sa.Column("cp_id", sa.String(length=64), nullable=False),
        sa.Column("grid_code", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("rated_kva", sa.Float(), nullable=False),
        sa.Column("max_loading_pct", sa.Float(), nullable=False),
        sa.Column("dso_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["dso_id"],
            ["parties.party_id"],
        ),
        sa.ForeignKeyConstraint(
            ["grid_code"],
            ["grids.grid_code"],
        ),
        sa.PrimaryKeyConstraint("cp_id"),
    )
    op.create_table(
        "credentials",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.party_id"],
        ),
        sa.PrimaryKeyConstraint("key_id"),
    )
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credentials_party_id"), ["party_id"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.party_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("party_id", "key", name="idempotency_party_key"),
    )
    op.create_table(
        "ledger_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("counterparty_id", sa.String(length=64), nullable=False),
        sa.Column("gate_id", sa.String(length=64), nullable=True),
        sa.Column("award_id", sa.String(length=64), nullable=True),
        sa.Column("trade_id", sa.String(length=64), nullable=True),
        sa.Column("amount_eur", sa.Float(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["counterparty_id"],
            ["parties.party_id"],
        ),
        sa.ForeignKeyConstraint(
            ["gate_id"],
            ["gates.gate_id"],
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.party_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ledger_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_lines_entry_id"), ["entry_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_lines_party_id"), ["party_id"], unique=False)

    op.create_table(
        "offers",
        sa.Column("offer_id", sa.String(length=64), nullable=False),
        sa.Column("aggregator_id", sa.String(length=64), nullable=False),
        sa.Column("gate_id", sa.String(length=64), nullable=False),
        sa.Column("bus", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("max_power_kw", sa.Float(), nullable=False),
        sa.Column("min_power_kw", sa.Float(), nullable=False),
        sa.Column("price_eur_per_mwh", sa.Float(), nullable=False),
        sa.Column("der_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("awarded_kw", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "awarded_kw >= 0 AND awarded_kw <= max_power_kw * (1 + 1e-9)",
            name="offer_awarded_within_max",
        ),
        sa.CheckConstraint("max_power_kw > 0", name="offer_max_positive"),
        sa.CheckConstraint(
            "min_power_kw >= 0 AND min_power_kw <= max_power_kw", name="offer_min_within_max"
        ),
        sa.ForeignKeyConstraint(
            ["aggregator_id"],
            ["parties.party_id"],
        ),
        sa.ForeignKeyConstraint(
            ["gate_id"],
            ["gates.gate_id"],
        ),
        sa.PrimaryKeyConstraint("offer_id"),
    )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_offers_aggregator_id"), ["aggregator_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_offers_gate_id"), ["gate_id"], unique=False)
        batch_op.create_index("ix_offers_gate_status", ["gate_id", "status"], unique=False)

    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("gate_id", sa.String(length=64), nullable=False),
        sa.Column("area", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("order_type", sa.String(length=8), nullable=False),
        sa.Column("price_eur_per_mwh", sa.Float(), nullable=False),
        sa.Column("quantity_kw", sa.Float(), nullable=False),
        sa.Column("filled_kw", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["gate_id"],
            ["gates.gate_id"],
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.party_id"],
        ),
        sa.PrimaryKeyConstraint("order_id"),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_gate_id"), ["gate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_party_id"), ["party_id"], unique=False)

    op.create_table(
        "shortfalls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("gate_id", sa.String(length=64), nullable=False),
        sa.Column("dso_id", sa.String(length=64), nullable=False),
        sa.Column("cp_id", sa.String(length=64), nullable=False),
        sa.Column("need_kw", sa.Float(), nullable=False),
        sa.Column("covered_kw", sa.Float(), nullable=False),
        sa.Column("shortfall_kw", sa.Float(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dso_id"],
            ["parties.party_id"],
        ),
        sa.ForeignKeyConstraint(
            ["gate_id"],
            ["gates.gate_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("shortfalls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shortfalls_gate_id"), ["gate_id"], unique=False)

    op.create_table(
        "trades",
        sa.Column("trade_id", sa.String(length=64), nullable=False),
        sa.Column("gate_id", sa.String(length=64), nullable=False),
        sa.Column("area", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("buy_order_id", sa.String(length=64), nullable=False),
        sa.Column("sell_order_id", sa.String(length=64), nullable=False),
        sa.Column("buyer_id", sa.String(length=64), nullable=False),
        sa.Column("seller_id", sa.String(length=64), nullable=False),
        sa.Column("price_eur_per_mwh", sa.Float(), nullable=False),
        sa.Column("quantity_kw", sa.Float(), nullable=False),
        sa.Column("value_eur", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["buyer_id"],
            ["parties.party_id"],
        ),
        sa.ForeignKeyConstraint(
            ["gate_id"],
            ["gates.gate_id"],
        ),
        sa.ForeignKeyConstraint(
            ["seller_id"],
            ["parties.party_id"],
        ),
        sa.PrimaryKeyConstraint("trade_id"),
    )
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trades_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_trades_gate_id"), ["gate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_trades_seller_id"), ["seller_id"], unique=False)

    op.create_table(
        "awards",
        sa.Column("award_id", sa.String(length=64), nullable=False),
        sa.Column("offer_id", sa.String(length=64), nullable=False),
        sa.Column("gate_id", sa.String(length=64), nullable=False),
        sa.Column("buyer_id", sa.String(length=64), nullable=False),
        sa.Column("aggregator_id", sa.String(length=64), nullable=False),
        sa.Column("bus", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("power_kw", sa.Float(), nullable=False),
        sa.Column("price_eur_per_mwh", sa.Float(), nullable=False),
        sa.Column("cost_eur", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("power_kw > 0", name="award_power_positive"),
        sa.ForeignKeyConstraint(
            ["aggregator_id"],
            ["parties.party_id"],
        ),
        sa.ForeignKeyConstraint(
            ["buyer_id"],
            ["parties.party_id"],
        ),
        sa.ForeignKeyConstraint(
            ["gate_id"],
            ["gates.gate_id"],
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["offers.offer_id"],
        ),
        sa.PrimaryKeyConstraint("award_id"),
    )
    with op.batch_alter_table("awards", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_awards_aggregator_id"), ["aggregator_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_awards_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_awards_gate_id"), ["gate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_awards_offer_id"), ["offer_id"], unique=False)

    op.create_table(
        "requests",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("requester_id", sa.String(length=64), nullable=False),
        sa.Column("gate_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("cp_id", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("power_kw", sa.Float(), nullable=False),
        sa.Column("max_price_eur_per_mwh", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("covered_kw", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("power_kw > 0", name="request_power_positive"),
        sa.ForeignKeyConstraint(
            ["cp_id"],
            ["congestion_points.cp_id"],
        ),
        sa.ForeignKeyConstraint(
            ["gate_id"],
            ["gates.gate_id"],
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["parties.party_id"],
        ),
        sa.PrimaryKeyConstraint("request_id"),
    )
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_requests_gate_id"), ["gate_id"], unique=False)
        batch_op.create_index("ix_requests_gate_status", ["gate_id", "status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_requests_requester_id"), ["requester_id"], unique=False
        )

    op.create_table(
        "activations",
        sa.Column("activation_id", sa.String(length=64), nullable=False),
        sa.Column("award_id", sa.String(length=64), nullable=False),
        sa.Column("aggregator_id", sa.String(length=64), nullable=False),
        sa.Column("buyer_id", sa.String(length=64), nullable=False),
        sa.Column("bus", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("power_kw", sa.Float(), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["aggregator_id"],
            ["parties.party_id"],
        ),
        sa.ForeignKeyConstraint(
            ["award_id"],
            ["awards.award_id"],
        ),
        sa.ForeignKeyConstraint(
            ["buyer_id"],
            ["parties.party_id"],
        ),
        sa.PrimaryKeyConstraint("activation_id"),
        sa.UniqueConstraint("award_id"),
    )
    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_activations_aggregator_id"), ["aggregator_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_activations_buyer_id"), ["buyer_id"], unique=False)

    op.create_table(
        "meter_readings",
        sa.Column("reading_id", sa.String(length=64), nullable=False),
        sa.Column("award_id", sa.String(length=64), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("baseline_kw", sa.Float(), nullable=False),
        sa.Column("metered_kw", sa.Float(), nullable=False),
        sa.Column("delivered_kw", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["award_id"],
            ["awards.award_id"],
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.party_id"],
        ),
        sa.PrimaryKeyConstraint("reading_id"),
        sa.UniqueConstraint("award_id"),
    )
    with op.batch_alter_table("meter_readings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meter_readings_party_id"), ["party_id"], unique=False)

    _append_only()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    with op.batch_alter_table("meter_readings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meter_readings_party_id"))

    op.drop_table("meter_readings")
    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activations_buyer_id"))
        batch_op.drop_index(batch_op.f("ix_activations_aggregator_id"))

    op.drop_table("activations")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requests_requester_id"))
        batch_op.drop_index("ix_requests_gate_status")
        batch_op.drop_index(batch_op.f("ix_requests_gate_id"))

    op.drop_table("requests")
    with op.batch_alter_table("awards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_awards_offer_id"))
        batch_op.drop_index(batch_op.f("ix_awards_gate_id"))
        batch_op.drop_index(batch_op.f("ix_awards_buyer_id"))
        batch_op.drop_index(batch_op.f("ix_awards_aggregator_id"))

    op.drop_table("awards")
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trades_seller_id"))
        batch_op.drop_index(batch_op.f("ix_trades_gate_id"))
        batch_op.drop_index(batch_op.f("ix_trades_buyer_id"))

    op.drop_table("trades")
    with op.batch_alter_table("shortfalls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shortfalls_gate_id"))

    op.drop_table("shortfalls")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_party_id"))
        batch_op.drop_index(batch_op.f("ix_orders_gate_id"))

    op.drop_table("orders")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index("ix_offers_gate_status")
        batch_op.drop_index(batch_op.f("ix_offers_gate_id"))
        batch_op.drop_index(batch_op.f("ix_offers_aggregator_id"))

    op.drop_table("offers")
    with op.batch_alter_table("ledger_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_lines_party_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_lines_entry_id"))

    op.drop_table("ledger_lines")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credentials_party_id"))

    op.drop_table("credentials")
    op.drop_table("congestion_points")
    op.drop_table("parties")
    op.drop_table("grids")
    with op.batch_alter_table("gates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gates_status"))
        batch_op.drop_index(batch_op.f("ix_gates_closes_at"))

    op.drop_table("gates")
    op.drop_table("continuous_events")
    op.drop_table("audit_log")
