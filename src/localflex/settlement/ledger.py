"""The settlement ledger: every payment between market parties as double-entry lines.

Paper §4.2 (Figure 4) and §5.3 name the money flows of a flexibility activation: the buyer
(DSO, TSO or BRP) pays the aggregator for availability and utilisation, the aggregator pays its
prosumers, the aggregator (or the TSO) compensates the BRP whose perimeter the activation
changed, and the TSO settles the BRP's imbalance. Each such payment is a *transaction*; the
ledger books it as two lines — the payer's (negative) and the payee's (positive) — in integer
cents, so every transaction and the whole ledger sum to exactly zero.

A transaction frame (``TRANSACTION_COLUMNS``) is what the settlement modules produce; a
negative amount means the money flows the other way and is turned around here.
``build_ledger`` books it (``LEDGER_COLUMNS``); ``statements`` and ``party_statement`` give
per-party views per period.

Rounding (money is integer cents, allocations conserve totals): amounts are taken in exact
integer micro-cents (1e-6 cent, which also removes binary noise such as
``0.285 * 100 = 28.499999…``) and rounded *once per total*, then allocated downwards by the
largest-remainder method (``allocate_cents``), per rule and settlement day (UTC; the whole
ledger without a TimeGrid). In each rule and day the *hub* of a payment is its party with
more counterparties (the DSO paying utilisation, an aggregator paying its prosumers, the BRP
receiving compensation, the TSO settling imbalance); amounts count signed from the hub's side:

1. the net of a rule and day is rounded half away from zero to whole cents;
2. it is split over the hubs, each hub's cents over its counterparties (the net of the pair),
   and each pair's cents over its payments.

Every level gets the floor or the ceiling of its exact amount and the levels add up exactly:
a hub that is alone in its rule and day (the DSO, a single BRP, the TSO) is booked its
computed net rounded once, to the cent, and so is each rule's total; no payment is lost to
per-line rounding; every other party is booked the floor or the ceiling of its exact net when
it has one hub counterparty (< 1 cent off). Both lines of a transaction carry the same
integer; transactions allocated 0 cents are not booked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from localflex.domain import InputError, LocalflexError, Role, TimeGrid

__all__ = [
    "LEDGER_COLUMNS",
    "STATEMENT_COLUMNS",
    "TRANSACTION_COLUMNS",
    "CodedTransactions",
    "LedgerImbalanceError",
    "allocate_cents",
    "build_ledger",
    "check_balanced",
    "eur_to_cents",
    "nested_cents",
    "party_statement",
    "statements",
    "transactions_frame",
]

TRANSACTION_COLUMNS: dict[str, tuple[str, str, str]] = {
    "payer": ("object", "-", "party that pays"),
    "payee": ("object", "-", "party that is paid"),
    "amount_eur": ("float64", "EUR", "amount (>= 0 once normalised)"),
    "award_id": ("object", "-", "award that caused the payment ('' = none, e.g. imbalance)"),
    "isp": ("int64", "-", "ISP index the payment settles"),
    "rule": ("object", "-", "settlement rule that produced it (utilisation, penalty, …)"),
}

LEDGER_COLUMNS: dict[str, tuple[str, str, str]] = {
    "txn_id": ("int64", "-", "transaction number; its two lines share it"),
    "party_id": ("object", "-", "party of this line"),
    "role": ("object", "-", "role of the party (dso, tso, brp, aggregator, prosumer, …)"),
    "counterparty_id": ("object", "-", "the other party of the transaction"),
    "amount_cents": ("int64", "cent", "signed: > 0 received, < 0 paid"),
    "amount_eur": ("float64", "EUR", "amount_cents / 100 (for reading; sums use cents)"),
    "award_id": ("object", "-", "award that caused the transaction"),
    "isp": ("int64", "-", "ISP index"),
    "timestamp_utc": ("datetime64[ns, UTC]", "-", "start of the ISP (NaT without a TimeGrid)"),
    "rule": ("object", "-", "settlement rule"),
}

STATEMENT_COLUMNS: dict[str, tuple[str, str, str]] = {
    "party_id": ("object", "-", "party"),
    "role": ("object", "-", "its role"),
    "period": ("object", "-", "period start (UTC, ISO) or 'all'"),
    "rule": ("object", "-", "settlement rule, or 'total'"),
    "received_eur": ("float64", "EUR", "money received"),
    "paid_eur": ("float64", "EUR", "money paid (>= 0)"),
    "net_eur": ("float64", "EUR", "received − paid"),
    "n_lines": ("int64", "-", "ledger lines"),
}


class LedgerImbalanceError(LocalflexError):
    """A ledger whose lines do not sum to zero (a bug, never bad user input)."""


def eur_to_cents(amount_eur: Any) -> np.ndarray:
    """Whole cents, rounded half away from zero (after removing sub-1e-6-cent binary noise)."""
    cents = np.round(np.asarray(amount_eur, dtype=np.float64) * 100.0, 6)
    return (np.sign(cents) * np.floor(np.abs(cents) + 0.5)).astype(np.int64)


_MICRO = 1_000_000  # micro-cents per cent


def _micro_cents(amount_eur: np.ndarray) -> np.ndarray:
    """Exact integer micro-cents (1e-6 cent) of the amounts."""
    return np.round(np.asarray(amount_eur, dtype=np.float64) * 1e8).astype(np.int64)


def _round_half_away(micro: np.ndarray) -> np.ndarray:
    """Whole cents of micro-cent amounts, half away from zero."""
    return np.sign(micro) * ((np.abs(micro) + _MICRO // 2) // _MICRO)


def allocate_cents(micro: np.ndarray, group: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Largest remainder: whole cents per item, summing to ``target[group]`` per group.

    ``micro`` are the items' exact signed amounts in micro-cents, ``group`` their group codes
    (0..G-1), ``target`` [G] the cents each group must get — the floor or the ceiling of its
    exact total. Each item gets the floor of its amount plus one cent for the largest
    remainders (ties: the earlier item); so every item gets its floor or its ceiling.
    """
    micro = np.asarray(micro, dtype=np.int64)
    group = np.asarray(group, dtype=np.int64)
    base = micro // _MICRO  # floor, also for negative amounts
    rest = micro - base * _MICRO
    sums = np.zeros(len(target), dtype=np.int64)
    np.add.at(sums, group, base)
    deficit = np.asarray(target, dtype=np.int64) - sums
    count = np.bincount(group, minlength=len(target))
    if (deficit < 0).any() or (deficit > count).any():
        raise LedgerImbalanceError("cent allocation: a target outside floor..ceiling")
    order = np.lexsort((np.arange(micro.size), -rest, group))
    first = np.searchsorted(group[order], np.arange(len(target)))
    rank = np.empty(micro.size, dtype=np.int64)
    rank[order] = np.arange(micro.size) - first[group[order]]
    return base + (rank < deficit[group])


def nested_cents(amount_eur: Any, levels: list[Any]) -> np.ndarray:
    """Whole cents per item of ``amount_eur`` [n] (signed EUR), allocated down nested groups.

    ``levels`` are [n] key arrays (any hashable values), coarsest first: the exact total of
    each group of ``levels[0]`` is rounded once, half away from zero; it is split over the
    groups of ``(levels[0], levels[1])`` by the largest remainder (``allocate_cents``), and so
    on down to the items. Every group at every level gets the floor or the ceiling of its
    exact total and the levels add up exactly (module docstring, Rounding); an item whose
    amount is a whole number of cents gets exactly it when its group's total does.
    """
    micro = _micro_cents(amount_eur)
    if micro.size == 0 or not levels:
        return _round_half_away(micro)
    codes = [pd.factorize(np.asarray(k, dtype=object), use_na_sentinel=False)[0]
             for k in levels]
    code, first = _group(codes[0])
    cents = _round_half_away(_sum(micro, code, first.size))
    for depth in range(2, len(codes) + 1):
        child, child_first = _group(*codes[:depth])
        cents = allocate_cents(_sum(micro, child, child_first.size), code[child_first], cents)
        code = child
    return allocate_cents(micro, code, cents)


def _group(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group codes of the rows' key tuples, and each group's first row."""
    _, first, inverse = np.unique(np.stack([np.asarray(k, dtype=np.int64) for k in keys]),
                                  axis=1, return_index=True, return_inverse=True)
    return inverse.reshape(-1), first


def _sum(micro: np.ndarray, code: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.int64)
    np.add.at(out, code, micro)
    return out


def _booked_cents(payer: np.ndarray, payee: np.ndarray, rule: np.ndarray, day: np.ndarray,
                  amount_eur: np.ndarray) -> np.ndarray:
    """Cents per transaction (>= 0, or 0 = not booked): totals rounded once per rule and day,
    allocated downwards (module docstring)."""
    micro = _micro_cents(amount_eur)
    if micro.size == 0:
        return micro
    block, _ = _group(rule, day)
    # the hub of a transaction: its party with more counterparties in the block (rule, day)
    lo, hi = np.minimum(payer, payee), np.maximum(payer, payee)
    pair_of, pair_first = _group(block, lo, hi)
    ends = np.concatenate([lo[pair_first], hi[pair_first]])
    end_block = np.tile(block[pair_first], 2)
    end_code, _ = _group(end_block, ends)
    degree = np.bincount(end_code)
    n_pairs = pair_first.size
    lo_deg, hi_deg = degree[end_code[:n_pairs]][pair_of], degree[end_code[n_pairs:]][pair_of]
    hub = np.where(lo_deg >= hi_deg, lo, hi)
    signed = np.where(payer == hub, micro, -micro)  # > 0: the hub pays
    n_blocks = int(block.max()) + 1
    block_cents = _round_half_away(_sum(signed, block, n_blocks))
    hub_code, hub_first = _group(block, hub)
    hub_cents = allocate_cents(_sum(signed, hub_code, hub_first.size), block[hub_first],
                               block_cents)
    pair_cents = allocate_cents(_sum(signed, pair_of, n_pairs), hub_code[pair_first],
                                hub_cents)
    return np.abs(allocate_cents(signed, pair_of, pair_cents))


def _column(values: Any, n: int, dtype: Any) -> np.ndarray:
    return np.broadcast_to(np.asarray(values, dtype=dtype), (n,))


def _encode(values: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes [n] and their labels (a scalar or an [n] array of ids)."""
    arr = np.asarray(values, dtype=object)
    if arr.ndim == 0:
        return np.zeros(n, dtype=np.int64), arr.reshape(1)
    codes, labels = pd.factorize(np.broadcast_to(arr, (n,)), use_na_sentinel=False)
    return codes.astype(np.int64, copy=False), np.asarray(labels, dtype=object)


@dataclass(frozen=True)
class CodedTransactions:
    """Transactions as columns of integer codes (TRANSACTION_COLUMNS without per-row strings).

    ``payer``, ``payee``, ``award`` and ``rule`` index ``labels`` (party ids, award ids and rule
    names in one small table); ``amount_eur`` is >= 0 (negative amounts are turned around when
    coded). ``frame()`` gives the TRANSACTION_COLUMNS frame, ``build_ledger`` books it without
    a per-row Python step.
    """

    payer: np.ndarray
    payee: np.ndarray
    amount_eur: np.ndarray
    award: np.ndarray
    isp: np.ndarray
    rule: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.amount_eur.size)

    @classmethod
    def from_codes(cls, payer: Any, payee: Any, amount_eur: Any, award: Any, isp: Any,
                   rule: Any, labels: Any) -> CodedTransactions:
        """Columns (or scalars, broadcast) of codes into ``labels``; negative amounts flip."""
        amount = np.asarray(amount_eur, dtype=np.float64)
        n = amount.size if amount.ndim else 1
        amount = _column(amount, n, np.float64)
        if not np.isfinite(amount).all():
            raise InputError("amount_eur", "non-finite amount", "finite payments")
        payer_c = _column(payer, n, np.int64)
        payee_c = _column(payee, n, np.int64)
        flip = amount < 0
        if flip.any():
            payer_c, payee_c = np.where(flip, payee_c, payer_c), np.where(flip, payer_c, payee_c)
            amount = np.abs(amount)
        return cls(payer_c, payee_c, amount, _column(award, n, np.int64),
                   _column(isp, n, np.int64), _column(rule, n, np.int64),
                   np.asarray(labels, dtype=object))

    @classmethod
    def from_values(cls, payer: Any, payee: Any, amount_eur: Any, award_id: Any, isp: Any,
                    rule: Any) -> CodedTransactions:
        """Columns (or scalars, broadcast) of ids, as ``transactions_frame`` takes them."""
        amount = np.asarray(amount_eur, dtype=np.float64)
        n = amount.size if amount.ndim else 1
        parts = [_encode(v, n) for v in (payer, payee, award_id, rule)]
        offsets = np.cumsum([0] + [p[1].size for p in parts])
        labels = np.concatenate([p[1] for p in parts]) if n else np.zeros(0, dtype=object)
        codes = [p[0] + off for p, off in zip(parts, offsets, strict=False)]
        return cls.from_codes(codes[0], codes[1], amount, codes[2], isp, codes[3], labels)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> CodedTransactions:
        missing = [c for c in TRANSACTION_COLUMNS if c not in frame.columns]
        if missing:
            raise InputError("transactions", missing, f"columns {list(TRANSACTION_COLUMNS)}")
        n = len(frame)
        return cls.from_values(
            frame["payer"].to_numpy(dtype=object).reshape(n),
            frame["payee"].to_numpy(dtype=object).reshape(n),
            frame["amount_eur"].to_numpy(dtype=np.float64).reshape(n),
            frame["award_id"].to_numpy(dtype=object).reshape(n),
            frame["isp"].to_numpy(dtype=np.int64).reshape(n),
            frame["rule"].to_numpy(dtype=object).reshape(n))

    @classmethod
    def empty(cls) -> CodedTransactions:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, np.zeros(0), z, z, z, np.zeros(0, dtype=object))

    def compact(self) -> CodedTransactions:
        """The same transactions with unique labels (equal ids share one code)."""
        if self.labels.size == 0 or pd.Index(self.labels).is_unique:
            return self
        remap, labels = pd.factorize(self.labels, use_na_sentinel=False)
        remap = remap.astype(np.int64, copy=False)
        return CodedTransactions(remap[self.payer], remap[self.payee], self.amount_eur,
                                 remap[self.award], self.isp, remap[self.rule],
                                 np.asarray(labels, dtype=object))

    @staticmethod
    def concat(parts: list[CodedTransactions]) -> CodedTransactions:
        parts = [p for p in parts if len(p)]
        if not parts:
            return CodedTransactions.empty()
        offsets = np.cumsum([0] + [p.labels.size for p in parts])
        return CodedTransactions(
            *(np.concatenate([getattr(p, name) + off for p, off in zip(parts, offsets,
                                                                        strict=False)])
              for name in ("payer", "payee")),
            np.concatenate([p.amount_eur for p in parts]),
            np.concatenate([p.award + off for p, off in zip(parts, offsets, strict=False)]),
            np.concatenate([p.isp for p in parts]),
            np.concatenate([p.rule + off for p, off in zip(parts, offsets, strict=False)]),
            np.concatenate([p.labels for p in parts]),
        ).compact()

    def frame(self) -> pd.DataFrame:
        """The TRANSACTION_COLUMNS frame."""
        labels = self.labels
        return pd.DataFrame({
            "payer": labels[self.payer],
            "payee": labels[self.payee],
            "amount_eur": self.amount_eur,
            "award_id": labels[self.award],
            "isp": self.isp,
            "rule": labels[self.rule],
        }).astype({k: v[0] for k, v in TRANSACTION_COLUMNS.items()}, copy=False)


def transactions_frame(
    payer: Any, payee: Any, amount_eur: Any, award_id: Any, isp: Any, rule: Any
) -> pd.DataFrame:
    """A TRANSACTION_COLUMNS frame from columns or scalars (broadcast); negative amounts flip.

    A row whose amount is negative is turned into the same amount flowing payee → payer.
    """
    return CodedTransactions.from_values(payer, payee, amount_eur, award_id, isp, rule).frame()


def _empty(columns: dict[str, tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame({k: pd.Series(dtype=v[0]) for k, v in columns.items()})


def build_ledger(
    transactions: pd.DataFrame | list[pd.DataFrame] | CodedTransactions,
    parties: Mapping[str, Role | str],
    time_grid: TimeGrid | None = None,
) -> pd.DataFrame:
    """Book transactions as double-entry lines (LEDGER_COLUMNS), balanced to the cent.

    ``transactions`` is a TRANSACTION_COLUMNS frame, a list of them, or ``CodedTransactions``.
    ``parties`` maps every party id to its Role; an unknown payer/payee, a self-payment or an
    ISP outside ``time_grid`` raises InputError. Lines are ordered by transaction.
    """
    if isinstance(transactions, list):
        frames = [t for t in transactions if len(t)]
        transactions = (pd.concat(frames, ignore_index=True) if frames
                        else _empty(TRANSACTION_COLUMNS))
    if isinstance(transactions, pd.DataFrame):
        missing = [c for c in TRANSACTION_COLUMNS if c not in transactions.columns]
        if missing:
            raise InputError("transactions", missing, f"columns {list(TRANSACTION_COLUMNS)}")
        transactions = CodedTransactions.from_frame(transactions)
    tx = transactions.compact()  # equal ids must share a code (self-payments, parties)
    roles = {str(k): Role(v).value for k, v in parties.items()}
    known = pd.Index(list(roles))
    party_of_label = known.get_indexer(tx.labels) if tx.labels.size else np.zeros(0, np.int64)
    for column, codes in (("payer", tx.payer), ("payee", tx.payee)):
        unknown = party_of_label[codes] < 0
        if unknown.any():
            raise InputError(f"transactions.{column}", tx.labels[codes[unknown][0]],
                             f"a known party ({sorted(roles)})")
    same = tx.payer == tx.payee
    if same.any():
        raise InputError("transactions.payee", tx.labels[tx.payee[same][0]],
                         "a party other than the payer")
    if time_grid is not None:
        time_grid.check_isps(tx.isp, "transactions.isp")
    if time_grid is not None:
        starts = time_grid.isp_starts()
        day = (starts.normalize() - starts[0].normalize()).days.to_numpy()[tx.isp]
    else:
        day = np.zeros(len(tx), dtype=np.int64)
    cents = _booked_cents(tx.payer, tx.payee, tx.rule, day, tx.amount_eur)
    keep = np.flatnonzero(cents != 0)
    n = keep.size
    if n == 0:
        return _empty(LEDGER_COLUMNS)
    cents = cents[keep]
    payer, payee = tx.payer[keep], tx.payee[keep]
    party = np.empty(2 * n, dtype=np.int64)
    other = np.empty(2 * n, dtype=np.int64)
    party[0::2], party[1::2] = payer, payee
    other[0::2], other[1::2] = payee, payer
    amount = np.empty(2 * n, dtype=np.int64)
    amount[0::2], amount[1::2] = -cents, cents
    isp = np.repeat(tx.isp[keep], 2)
    if time_grid is not None:
        stamps = time_grid.isp_starts()[isp]
    else:
        stamps = pd.DatetimeIndex(np.full(2 * n, np.datetime64("NaT"), "datetime64[ns]"),
                                  tz="UTC")
    role_of_label = np.asarray(list(roles.values()), dtype=object)[party_of_label]
    labels = tx.labels
    lines = pd.DataFrame({
        "txn_id": np.repeat(np.arange(n, dtype=np.int64), 2),
        "party_id": labels[party],
        "role": role_of_label[party],
        "counterparty_id": labels[other],
        "amount_cents": amount,
        "amount_eur": amount / 100.0,
        "award_id": np.repeat(labels[tx.award[keep]], 2),
        "isp": isp,
        "timestamp_utc": stamps,
        "rule": np.repeat(labels[tx.rule[keep]], 2),
    })
    # the lines come in (payer, payee) pairs of one transaction: check them as pairs
    if (amount[0::2] + amount[1::2]).any() or int(amount.sum()) != 0:
        check_balanced(lines)
    return lines


def check_balanced(lines: pd.DataFrame) -> None:
    """Raise LedgerImbalanceError unless every transaction and the total sum to 0 cents."""
    if lines.empty:
        return
    per_txn = lines.groupby("txn_id", sort=False)["amount_cents"].sum()
    bad = per_txn[per_txn != 0]
    if len(bad):
        raise LedgerImbalanceError(
            f"transaction {bad.index[0]} sums to {bad.iloc[0]} cents, not 0")
    total = int(lines["amount_cents"].sum())
    if total != 0:
        raise LedgerImbalanceError(f"the ledger sums to {total} cents, not 0")


def _period_labels(lines: pd.DataFrame, period: str | None) -> pd.Series:
    if period is None:
        return pd.Series("all", index=lines.index, dtype=object)
    stamps = lines["timestamp_utc"]
    if stamps.isna().any():
        raise InputError("period", period, "None for a ledger built without a TimeGrid")
    try:
        naive = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
        start = naive.dt.to_period(period).dt.start_time
    except ValueError:
        raise InputError("period", period, "a pandas period alias such as 'D', 'W' or 'M'")\
            from None
    return start.dt.strftime("%Y-%m-%dT%H:%MZ")


def statements(
    lines: pd.DataFrame, period: str | None = "D", *, by_rule: bool = True
) -> pd.DataFrame:
    """Per party and period: received, paid and net EUR (STATEMENT_COLUMNS).

    ``period`` is a pandas period alias ('D', 'W', 'M', …) or None for the whole ledger. With
    ``by_rule`` each rule gets its own row and a 'total' row closes each party and period.
    Every period's net amounts sum to zero over the parties.
    """
    if lines.empty:
        return _empty(STATEMENT_COLUMNS)
    frame = pd.DataFrame({
        "party_id": lines["party_id"].to_numpy(),
        "role": lines["role"].to_numpy(),
        "period": _period_labels(lines, period).to_numpy(),
        "rule": lines["rule"].to_numpy(),
        "received": np.maximum(lines["amount_cents"].to_numpy(), 0),
        "paid": np.maximum(-lines["amount_cents"].to_numpy(), 0),
    })
    keys = ["party_id", "role", "period"]
    parts = []
    total = frame.groupby(keys, sort=True).agg(
        received=("received", "sum"), paid=("paid", "sum"), n_lines=("received", "size"),
    ).reset_index().assign(rule="total")
    parts.append(total)
    if by_rule:
        parts.append(frame.groupby([*keys, "rule"], sort=True).agg(
            received=("received", "sum"), paid=("paid", "sum"), n_lines=("received", "size"),
        ).reset_index())
    out = pd.concat(parts, ignore_index=True)
    out["order"] = (out["rule"] == "total").astype(int)
    out = out.sort_values([*keys, "order", "rule"], kind="stable").reset_index(drop=True)
    return pd.DataFrame({
        "party_id": out["party_id"],
        "role": out["role"],
        "period": out["period"],
        "rule": out["rule"],
        "received_eur": out["received"] / 100.0,
        "paid_eur": out["paid"] / 100.0,
        "net_eur": (out["received"] - out["paid"]) / 100.0,
        "n_lines": out["n_lines"],
    }).astype({k: v[0] for k, v in STATEMENT_COLUMNS.items()})


def party_statement(lines: pd.DataFrame, party_id: str) -> pd.DataFrame:
    """The ledger lines of one party in booking order, with a running balance in EUR."""
    own = lines[lines["party_id"] == party_id]
    if own.empty and party_id not in set(lines["counterparty_id"]):
        parties = sorted(set(lines["party_id"]))
        raise InputError("party_id", party_id, f"a party of the ledger ({parties})")
    own = own.sort_values(["isp", "txn_id"], kind="stable").reset_index(drop=True)
    return own.assign(balance_eur=own["amount_cents"].cumsum() / 100.0)
