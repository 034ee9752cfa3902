"""Money in integer cents: ``awards.cost_cents``, ``ledger_lines.amount_cents``,
``trades.value_cents`` replace the float EUR columns.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 04:15:00

Existing rows are converted so that every total is conserved (project rule: money is integer
cents, allocations conserve totals, ledgers sum to zero):

- the awards of one clearing (gate, buyer, source ``clearing``) are the split of one
  pay-as-bid total: the total is rounded once (half away from zero) and split over them by
  the settlement's largest remainder (``localflex.settlement.ledger.allocate_cents``); any
  other award (a DSO's flex order) and every trade is rounded on its own;
- a ledger entry that pays an award or a trade books exactly that award's or trade's cents
  (payee +, payer −); any other entry is split by largest remainder to its rounded total,
  which for a double entry is 0 — so every entry, and the ledger, sums to exactly 0 cents.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import sqlalchemy as sa
from alembic import op

from localflex.settlement.ledger import allocate_cents

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_MICRO = 1_000_000


def _split(groups: dict, amounts: dict[str, float]) -> dict[str, int]:
    """Cents per key: each group's micro-cent total rounded once, split by largest remainder."""
    keys = [k for members in groups.values() for k in members]
    if not keys:
        return {}
    micro = np.round(np.array([amounts[k] for k in keys], dtype=np.float64) * 1e8)
    micro = micro.astype(np.int64)
    code = np.concatenate([np.full(len(m), i, dtype=np.int64)
                           for i, m in enumerate(groups.values())])
    total = np.zeros(len(groups), dtype=np.int64)
    np.add.at(total, code, micro)
    target = np.sign(total) * ((np.abs(total) + _MICRO // 2) // _MICRO)
    return dict(zip(keys, (int(c) for c in allocate_cents(micro, code, target)), strict=True))


def _convert(conn) -> tuple[dict[str, int], dict[str, int], dict[int, int]]:
    awards = conn.execute(sa.text(
        "SELECT award_id, gate_id, buyer_id, source, cost_eur FROM awards")).all()
    groups: dict = defaultdict(list)
    for a in awards:
        key = (a.gate_id, a.buyer_id) if a.source == "clearing" else ("award", a.award_id)
        groups[key].append(a.award_id)
    award_cents = _split(groups, {a.award_id: a.cost_eur for a in awards})
    trades = conn.execute(sa.text("SELECT trade_id, value_eur FROM trades")).all()
    trade_cents = _split({t.trade_id: [t.trade_id] for t in trades},
                         {t.trade_id: t.value_eur for t in trades})
    lines = conn.execute(sa.text(
        "SELECT id, entry_id, award_id, trade_id, amount_eur FROM ledger_lines")).all()
    line_cents: dict[int, int] = {}
    free: dict = defaultdict(list)
    for line in lines:
        booked = (award_cents.get(line.award_id) if line.award_id else
                  trade_cents.get(line.trade_id) if line.trade_id else None)
        if booked is None:
            free[line.entry_id].append(str(line.id))
        else:
            line_cents[line.id] = booked if line.amount_eur >= 0 else -booked
    split = _split(free, {str(x.id): x.amount_eur for x in lines})
    line_cents.update({int(k): v for k, v in split.items()})
    return award_cents, trade_cents, line_cents


def _fill(conn, table: str, key: str, column: str, values: dict) -> None:
    if values:
        conn.execute(sa.text(f"UPDATE {table} SET {column} = :v WHERE {key} = :k"),
                     [{"k": k, "v": v} for k, v in values.items()])


_COLUMNS = (("awards", "award_id", "cost"), ("trades", "trade_id", "value"),
            ("ledger_lines", "id", "amount"))


def upgrade() -> None:
    for table, _, stem in _COLUMNS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column(f"{stem}_cents", sa.BigInteger(), nullable=True))
    conn = op.get_bind()
    for (table, key, stem), values in zip(_COLUMNS, _convert(conn), strict=True):
        _fill(conn, table, key, f"{stem}_cents", values)
    for table, _, stem in _COLUMNS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(f"{stem}_cents", existing_type=sa.BigInteger(),
                                  nullable=False)
            batch_op.drop_column(f"{stem}_eur")


def downgrade() -> None:
    for table, _, stem in _COLUMNS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column(f"{stem}_eur", sa.Float(), nullable=True))
        op.execute(f"UPDATE {table} SET {stem}_eur = {stem}_cents / 100.0")
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(f"{stem}_eur", existing_type=sa.Float(), nullable=False)
            batch_op.drop_column(f"{stem}_cents")
