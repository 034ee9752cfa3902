"""Revision 0003 moves the stored money to integer cents, conserving every total: a
clearing's awards split its once-rounded total by largest remainder, each ledger entry books
its award's or trade's cents and sums to exactly 0 — on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text

from localflex.store import upgrade_head
from localflex.store.migrate import alembic_config

_T = "'2030-06-21 12:00:00'"


def _seed(conn) -> None:
    for party, role in (("dso1", "dso"), ("agg1", "aggregator"), ("agg2", "aggregator")):
        conn.execute(text(f"INSERT INTO parties VALUES ('{party}', '{party}', '{role}', {_T})"))
    conn.execute(text("INSERT INTO gates (gate_id, isp_start, isp_minutes, opens_at, closes_at, "
                      f"status) VALUES ('g1', {_T}, 15, {_T}, {_T}, 'cleared')"))
    for n, agg in enumerate(("agg1", "agg2", "agg1", "agg2")):
        conn.execute(text(
            "INSERT INTO offers (offer_id, aggregator_id, gate_id, bus, direction, max_power_kw, "
            "min_power_kw, price_eur_per_mwh, der_type, status, awarded_kw, created_at) VALUES "
            f"('o{n}', '{agg}', 'g1', 3, 'up', 10, 0, 100, 'battery', 'awarded', 1, {_T})"))
    # three clearing awards of 0.005 EUR: rounded one by one 3 cents, the total 0.015 -> 2
    awards = [("a0", "o0", "agg1", "clearing", 0.005), ("a1", "o1", "agg2", "clearing", 0.005),
              ("a2", "o2", "agg1", "clearing", 0.005), ("a3", "o3", "agg2", "flex_order", 0.125)]
    for award, offer, agg, source, cost in awards:
        conn.execute(text(
            "INSERT INTO awards (award_id, offer_id, gate_id, buyer_id, aggregator_id, bus, "
            "direction, power_kw, price_eur_per_mwh, cost_eur, source, created_at) VALUES "
            f"('{award}', '{offer}', 'g1', 'dso1', '{agg}', 3, 'up', 1, 100, {cost}, "
            f"'{source}', {_T})"))
    conn.execute(text(
        "INSERT INTO trades VALUES ('t1', 'g1', 'market', 'up', 'b', 's', 'dso1', 'agg1', 107, "
        f"100, 2.675, {_T})"))
    entries = [(f"e_{a[0]}", "dso1", a[2], a[0], None, a[4]) for a in awards]
    entries += [("e_t1", "dso1", "agg1", None, "t1", 2.675),
                ("e_x", "agg2", "agg1", None, None, 1.239)]
    for entry, payer, payee, award, trade, amount in entries:
        for party, other, signed in ((payer, payee, -amount), (payee, payer, amount)):
            conn.execute(text(
                "INSERT INTO ledger_lines (entry_id, party_id, counterparty_id, gate_id, "
                "award_id, trade_id, amount_eur, description, created_at) VALUES (:e, :p, :o, "
                "'g1', :a, :t, :v, 'seed', " + _T + ")"),
                {"e": entry, "p": party, "o": other, "a": award, "t": trade, "v": signed})


def test_migration_0003_moves_money_to_cents_and_conserves_totals(fresh_db_url):
    command.upgrade(alembic_config(fresh_db_url), "0002")
    engine = create_engine(fresh_db_url)
    with engine.begin() as conn:
        _seed(conn)
    upgrade_head(fresh_db_url)
    columns = {t: {c["name"] for c in inspect(engine).get_columns(t)}
               for t in ("awards", "trades", "ledger_lines")}
    assert "cost_cents" in columns["awards"] and "cost_eur" not in columns["awards"]
    assert "value_cents" in columns["trades"] and "value_eur" not in columns["trades"]
    assert "amount_cents" in columns["ledger_lines"]
    assert "amount_eur" not in columns["ledger_lines"]
    with engine.connect() as conn:
        awards = dict(conn.execute(text("SELECT award_id, cost_cents FROM awards")).all())
        trade = conn.execute(text("SELECT value_cents FROM trades")).scalar()
        entries = conn.execute(text(
            "SELECT entry_id, SUM(amount_cents), MAX(amount_cents) FROM ledger_lines "
            "GROUP BY entry_id")).all()
        total = conn.execute(text("SELECT SUM(amount_cents) FROM ledger_lines")).scalar()
        kinds = {type(v) for v in awards.values()} | {type(trade)}
    engine.dispose()
    assert kinds == {int}
    assert sum(awards[a] for a in ("a0", "a1", "a2")) == 2  # the clearing's total, once
    assert sorted(awards[a] for a in ("a0", "a1", "a2")) == [0, 1, 1]
    assert awards["a3"] == 13 and trade == 268  # 0.125 and 2.675 half away from zero
    by_entry = {e: (s, m) for e, s, m in entries}
    assert all(s == 0 for s, _ in by_entry.values()) and int(total) == 0
    assert {e: m for e, (_, m) in by_entry.items()} == {
        "e_a0": awards["a0"], "e_a1": awards["a1"], "e_a2": awards["a2"], "e_a3": 13,
        "e_t1": 268, "e_x": 124}


def test_migration_0003_downgrade_restores_eur(fresh_db_url):
    command.upgrade(alembic_config(fresh_db_url), "0002")
    engine = create_engine(fresh_db_url)
    with engine.begin() as conn:
        _seed(conn)
    upgrade_head(fresh_db_url)
    command.downgrade(alembic_config(fresh_db_url), "0002")
    with engine.connect() as conn:
        cost = conn.execute(text("SELECT cost_eur FROM awards WHERE award_id = 'a3'")).scalar()
    engine.dispose()
    assert cost == 0.13
