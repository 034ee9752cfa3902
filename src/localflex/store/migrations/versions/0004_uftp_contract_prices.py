"""UFTP contracts carry FLECH's committed activation price: ``uftp_participants.contract_prices``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 04:25:00

A FlexReservationUpdate names a ContractID and reserved power but no price; FLECH's
activation phase caps later clearings at the reserved contract's activation price
(paper §5.3, ``localflex.market.flech``). The price is registered with the aggregator's
contract: ContractID → activation price (EUR/MWh); existing participants hold none (``{}``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("uftp_participants") as batch_op:
        batch_op.add_column(sa.Column("contract_prices", sa.JSON(), nullable=False,
                                      server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("uftp_participants") as batch_op:
        batch_op.drop_column("contract_prices")
