"""UFTP records in the store: platform identity, participants, messages with the outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 03:50:00

Before this revision the UFTP package created its three tables itself (``CREATE TABLE IF
NOT EXISTS``); on such a database the tables are kept and only the outbox column
``uftp_messages.next_attempt_at`` (when the next delivery attempt is due; every
still-pending message due at once) and ``uftp_participants.contracts`` (the ContractIDs an
aggregator holds, empty) are added.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def _create_platform() -> None:
    op.create_table(
        "uftp_platform",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("signing_key", sa.String(length=128), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("domain"),
    )


def _create_participants() -> None:
    op.create_table(
        "uftp_participants",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("role", sa.String(length=3), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=500), nullable=False),
        sa.Column("connections", sa.JSON(), nullable=False),
        sa.Column("contracts", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("domain", "role"),
    )
    op.create_index("ix_uftp_participants_party_id", "uftp_participants", ["party_id"])


def _create_messages() -> None:
    op.create_table(
        "uftp_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("message_type", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("sender_domain", sa.String(length=253), nullable=False),
        sa.Column("sender_role", sa.String(length=3), nullable=False),
        sa.Column("recipient_domain", sa.String(length=253), nullable=False),
        sa.Column("recipient_role", sa.String(length=3), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=True),
        sa.Column("reference", sa.String(length=300), nullable=True),
        sa.Column("ref_message_id", sa.String(length=36), nullable=True),
        sa.Column("origin_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("payload_xml", sa.Text(), nullable=False),
        sa.Column("signed_xml", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sender_domain", "message_id", name="uftp_sender_message_id"),
    )
    for column in ("message_type", "recipient_domain", "party_id", "reference",
                   "ref_message_id", "status"):
        op.create_index(f"ix_uftp_messages_{column}", "uftp_messages", [column])


def upgrade() -> None:
    existing = _tables()
    if "uftp_platform" not in existing:
        _create_platform()
    if "uftp_participants" not in existing:
        _create_participants()
    else:
        with op.batch_alter_table("uftp_participants") as batch_op:
            batch_op.add_column(sa.Column("contracts", sa.JSON(), nullable=False,
                                          server_default="[]"))
    if "uftp_messages" not in existing:
        _create_messages()
    else:
        with op.batch_alter_table("uftp_messages") as batch_op:
            batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
        op.execute("UPDATE uftp_messages SET next_attempt_at = created_at "
                   "WHERE status = 'pending'")
    op.create_index("ix_uftp_messages_next_attempt_at", "uftp_messages", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_uftp_messages_next_attempt_at", table_name="uftp_messages")
    with op.batch_alter_table("uftp_messages") as batch_op:
        batch_op.drop_column("next_attempt_at")
    with op.batch_alter_table("uftp_participants") as batch_op:
        batch_op.drop_column("contracts")
