"""The shared bookkeeping of every market design: trades, remaining offers, the grid guard.

Paper §6.2: "after one stage, the flexibility that is traded should respect the constraints of
the previous stage or, in other words, it should not affect the resolution of constraints at
previous stages". ``GridGuard`` is that rule, in the linearised grid of the forecast:

* its state is the headroom ``head_kw[t, cp]`` (limit − loading, kVA-equivalent kW; negative
  = overloaded), starting from the forecast power flow;
* a trade of ``q`` kW in direction ``s`` (+1 UP, −1 DOWN) at bus ``b`` in ISP ``t`` changes it
  by ``relief[t, cp, b] · s · q``;
* ``max_accept`` is the largest part of a trade that keeps every *enforced* point at or above
  its floor ``min(head_kw, safety_kw)``: a point within its limit stays within it, an
  overloaded point never gets worse. Trades are limited, never refused silently: the caller
  logs what was cut.

The verification of a design is a real power flow (``result.evaluate``); the guard is what
a market operator can check at trade time.

``TradeLog`` collects trades in ``DESIGN_TRADE_COLUMNS``: one row per (buyer, seller) fill.
Money is computed in EUR (``paid_eur``, ``received_eur``) and booked in integer cents
(``paid_cents``, ``received_cents``; ``trade_cents``): per stage, the exact total is rounded
once (half away from zero) and split by the largest remainder over the stage's buyers, each
buyer's over its sellers, each (buyer, seller)'s over its trades
(``settlement.ledger.nested_cents``). So a stage's total and a lone buyer's (the DSO's)
total in a stage are their computed amounts to the cent, every other buyer and every
(buyer, seller) pair gets the floor or the ceiling of its exact amount, and the cents add up
exactly at every level. Paid and received go down the same groups, so where a stage pays
every seller what its buyer pays (every rule but the joint clearing of ref. [65]'s
integrated schemes) paid and received cents are equal trade by trade.
``OfferPool`` tracks what is left of every offer, so one kW is never sold twice, and — with
the input's ``EnergyBudgets`` (``DesignInput.energy_budgets``) — what is left of every
inter-temporal limit (``EnergyUse``): budget ``k`` bounds Σ weight_e · kW_e · h over the
trades of its entries, so a unit is never sold more energy over the day than it can shift.
Pools of one design run that share units (an ex-ante split, De-Flex's contracts) share one
``EnergyUse``.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import numpy as np
import pandas as pd

from localflex.domain import empty_frame
from localflex.grid import headroom_kw
from localflex.market.designs.inputs import DesignInput
from localflex.market.dso_single_buyer import (
    RELIEF_EPS_KW_PER_KW,
    EnergyBudgets,
    checked_energy_budgets,
)
from localflex.settlement.ledger import nested_cents

__all__ = [
    "AVAILABILITY",
    "DESIGN_TRADE_COLUMNS",
    "PAY_AS_OFFER",
    "PRICING_RULES",
    "REGULATED",
    "UNIFORM_PRICE",
    "EnergyUse",
    "GridGuard",
    "OfferPool",
    "TradeLog",
    "TradePurpose",
    "pay_as_offer",
    "row_sums",
    "stage_pricing",
    "trade_cents",
]


class TradePurpose(StrEnum):
    """Why a volume moved: the paper's three service layers plus the DSO's fallbacks."""

    GRID = "grid"  # DSO bought it in a market (§5.3)
    SYSTEM = "system"  # TSO balancing / ancillary service
    MARKET = "market"  # BRP portfolio imbalance
    CONTROL = "control"  # DSO direct control of contracted resources (USEF orange)
    CURTAIL = "curtail"  # emergency curtailment / load shedding (red)


DESIGN_TRADE_COLUMNS: dict[str, tuple[str, str, str]] = {
    "trade_id": ("object", "-", "'<stage>#<n>', in execution order"),
    "stage": ("object", "-", "the design stage that made the trade"),
    "purpose": ("object", "-", "TradePurpose"),
    "buyer_id": ("object", "-", "who pays (DSO, TSO, a BRP)"),
    "seller_id": ("object", "-", "who delivers (aggregator, 'contracted', 'curtailed')"),
    "offer_id": ("object", "-", "the offer that delivered ('' for control / curtailment)"),
    "request_id": ("object", "-", "the BRP/TSO request served ('' for the DSO)"),
    "bus": ("int64", "-", "bus of the delivery"),
    "isp": ("int64", "-", "ISP index"),
    "direction": ("object", "-", "'up' (more injection) or 'down'"),
    "power_kw": ("float64", "kW", "delivered power over the ISP"),
    "ask_eur_per_mwh": ("float64", "EUR/MWh", "the seller's asked price"),
    "bid_eur_per_mwh": ("float64", "EUR/MWh", "the buyer's limit (NaN: the DSO's need)"),
    "paid_eur": ("float64", "EUR", "what the buyer pays"),
    "received_eur": ("float64", "EUR", "what the seller receives"),
    "paid_cents": ("int64", "cent", "paid_eur booked in whole cents (trade_cents)"),
    "received_cents": ("int64", "cent", "received_eur booked in whole cents (trade_cents)"),
    "pricing": ("object", "-", "the stage's pricing rule (PRICING_RULES)"),
}

PAY_AS_OFFER = "pay_as_offer"
UNIFORM_PRICE = "uniform_price"
REGULATED = "regulated"
AVAILABILITY = "availability"
PRICING_RULES: dict[str, str] = {
    PAY_AS_OFFER: "every fill at the seller's ask: the seller receives it and the buyer pays "
                  "it (never above the buyer's bid); the DSO single buyer's pay-as-bid is "
                  "this rule seen from the seller",
    UNIFORM_PRICE: "one clearing price per ISP and direction for every fill (ref. [67]'s "
                   "micro-market): sellers get >= their ask, buyers pay <= their bid",
    REGULATED: "direct control / curtailment paid at the design's regulated / emergency "
               "price (DesignParams), not a market price",
    AVAILABILITY: "FLECH reservation: held kW x window hours x the seller's availability "
                  "price (EUR/MW/h), pay-as-offer; a money-only row",
}
"""The pricing rules a stage can state. Every market stage of every design uses
``PAY_AS_OFFER`` unless the design is about its pricing rule (``no_coupling_micro``)."""


def row_sums(rows: np.ndarray, values: np.ndarray, n_rows: int) -> np.ndarray:
    """[n_rows, C] the sum of the rows of ``values`` [n, C] that go to each row ``rows`` [n]:
    ``np.add.at(np.zeros((n_rows, C)), rows, values)``, the same sums in the same order
    (``np.bincount`` adds in input order), without ``ufunc.at``'s cost on 10⁵ offers."""
    values = np.asarray(values, dtype=float)
    n_cols = values.shape[1]
    flat = (np.asarray(rows, dtype=np.int64)[:, None] * n_cols + np.arange(n_cols)).ravel()
    return np.bincount(flat, weights=values.ravel(),
                       minlength=n_rows * n_cols).reshape(n_rows, n_cols)


def pay_as_offer(ask_eur_per_mwh: np.ndarray, power_kw: np.ndarray, isp_hours: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(paid_eur, received_eur) of fills under ``PAY_AS_OFFER``: both ask x energy."""
    money = np.asarray(ask_eur_per_mwh, dtype=float) * np.asarray(power_kw, dtype=float) * (
        isp_hours / 1000.0)
    return money, money.copy()


def trade_cents(trades: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(paid_cents, received_cents) [n] of a trade tape: stage → buyer → seller → trade,
    each total rounded once and split by the largest remainder (module docstring)."""
    levels = [trades["stage"].to_numpy(dtype=object), trades["buyer_id"].to_numpy(dtype=object),
              trades["seller_id"].to_numpy(dtype=object)]
    return (nested_cents(trades["paid_eur"].to_numpy(dtype=float), levels),
            nested_cents(trades["received_eur"].to_numpy(dtype=float), levels))


def stage_pricing(trades: pd.DataFrame) -> dict[str, str]:
    """{stage: pricing rule} of a trade tape, in execution order."""
    if trades.empty:
        return {}
    first = trades.drop_duplicates("stage")
    return dict(zip(first["stage"].astype(str), first["pricing"].astype(str), strict=True))


class TradeLog:
    """Trades of one design run, appended stage by stage."""

    def __init__(self, isp_hours: float) -> None:
        self.isp_hours = isp_hours
        self._frames: list[pd.DataFrame] = []

    def add(self, **columns: object) -> None:
        """Append trades; arrays/scalars per column; ``paid_eur``/``received_eur`` default to
        ask × energy and ``pricing`` to ``PAY_AS_OFFER`` when not given."""
        frame = pd.DataFrame(columns)
        if frame.empty:
            return
        money = np.abs(frame["paid_eur"]) if "paid_eur" in frame else 0.0
        frame = frame[(frame["power_kw"] > 1e-6) | (money > 1e-12)]  # or a money-only row
        if frame.empty:
            return
        energy_mwh = frame["power_kw"].to_numpy(dtype=float) * self.isp_hours / 1000.0
        for name in ("offer_id", "request_id"):
            if name not in frame:
                frame[name] = ""
        if "bid_eur_per_mwh" not in frame:
            frame["bid_eur_per_mwh"] = np.nan
        if "received_eur" not in frame:
            frame["received_eur"] = frame["ask_eur_per_mwh"].to_numpy(dtype=float) * energy_mwh
        if "paid_eur" not in frame:
            frame["paid_eur"] = frame["received_eur"].to_numpy(dtype=float)
        if "pricing" not in frame:
            frame["pricing"] = PAY_AS_OFFER
        frame["trade_id"] = ""
        self._frames.append(frame)

    def frame(self) -> pd.DataFrame:
        if not self._frames:
            return empty_frame(DESIGN_TRADE_COLUMNS)
        frame = pd.concat(self._frames, ignore_index=True)
        frame["trade_id"] = frame["stage"].astype(str) + "#" + (
            frame.groupby("stage").cumcount() + 1).astype(str)
        frame["paid_cents"], frame["received_cents"] = trade_cents(frame)
        return frame[list(DESIGN_TRADE_COLUMNS)].astype(
            {k: v[0] for k, v in DESIGN_TRADE_COLUMNS.items()})

    def delivered_kw(self, n_isps: int, bus_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[T, B] UP and DOWN power traded so far at each bus."""
        up = np.zeros((n_isps, bus_ids.size))
        down = np.zeros_like(up)
        if not self._frames:
            return up, down
        frame = pd.concat(self._frames, ignore_index=True)
        pos = np.searchsorted(bus_ids, frame["bus"].to_numpy(dtype=np.int64))
        isp = frame["isp"].to_numpy(dtype=np.int64)
        kw = frame["power_kw"].to_numpy(dtype=float)
        is_up = frame["direction"].to_numpy() == "up"
        np.add.at(up, (isp[is_up], pos[is_up]), kw[is_up])
        np.add.at(down, (isp[~is_up], pos[~is_up]), kw[~is_up])
        return up, down


class EnergyUse:
    """What every energy budget of a design run has used (``used_kwh`` [K]) and has left.

    ``budgets`` None (offers made by hand, without a book): no limit, every call is a no-op
    and ``cap_kw`` is infinite. Entries with weight 0 or an infinite limit never bind.
    """

    def __init__(self, budgets: EnergyBudgets | None, isp_hours: float, *,
                 index: tuple[pd.Index, np.ndarray] | None = None) -> None:
        """``index``: (a unique Index of offer ids, [E] each entry's offer in it), e.g. the
        input's ``DesignInput.offer_index`` and ``budget_offer_rows``; by default the
        offers the entries name."""
        self.isp_hours = float(isp_hours)
        if budgets is None or len(budgets.offer_id) == 0:
            self.budgets = None
            self.used_kwh = np.zeros(0)
            return
        self.budgets = checked_energy_budgets(budgets)
        self.used_kwh = np.zeros(self.budgets.limit_kwh.size)
        # offer ids as codes, once: a unique Index (its hash table is built on the first
        # look-up and kept) and each entry's position in it
        if index is not None and (np.asarray(index[1]) >= 0).all():
            self._ids, self._entry_code = index
        else:
            codes, ids = pd.factorize(self.budgets.offer_id)
            self._ids, self._entry_code = pd.Index(ids), codes

    @classmethod
    def of(cls, inp: DesignInput) -> EnergyUse:
        """The input's budgets, looked up in the input's offer index (built once)."""
        if inp.energy_budgets is None:
            return cls(None, inp.isp_hours)
        return cls(inp.energy_budgets, inp.isp_hours,
                   index=(inp.offer_index, inp.budget_offer_rows))

    def copy(self) -> EnergyUse:
        """An independent copy (a trial session books on it without touching this one)."""
        other = EnergyUse(None, self.isp_hours)
        if self.budgets is not None:
            other.budgets, other._ids = self.budgets, self._ids
            other._entry_code = self._entry_code
            other.used_kwh = self.used_kwh.copy()
        return other

    @property
    def left_kwh(self) -> np.ndarray:
        """[K] limit − used, >= 0."""
        if self.budgets is None:
            return np.zeros(0)
        return np.maximum(self.budgets.limit_kwh - self.used_kwh, 0.0)

    def codes(self, offer_ids: Iterable[str]) -> np.ndarray:
        """[n] each offer's code among the offers the budgets name (−1: none of its units is
        limited); a pool looks its offers up once (``OfferPool``), not at every booking."""
        if self.budgets is None:
            return np.full(_count(offer_ids), -1, dtype=np.int64)
        if offer_ids is self._ids:  # the index the codes are positions in
            return np.arange(len(self._ids))
        return self._ids.get_indexer(_object_array(offer_ids))

    def _entries_of(self, offer_ids: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """(entry index, position in ``offer_ids``) of every budget entry of the offers."""
        return self._entries_of_codes(self.codes(offer_ids))

    def _entries_of_codes(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``_entries_of`` by offer codes (``codes``): entries in increasing order, each with
        the first position of its offer among the codes."""
        pos = np.full(len(self._ids), -1, dtype=np.int64)
        where = np.flatnonzero(codes >= 0)
        known = codes[where]
        pos[known] = where
        if not np.array_equal(pos[known], where):  # an offer named twice: its first place
            known, first = np.unique(known, return_index=True)
            pos[known] = where[first]
        pos = pos[self._entry_code]
        entry = np.flatnonzero(pos >= 0)
        return entry, pos[entry]

    def entries(self, offer_ids: Iterable[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(position in ``offer_ids``, budget, weight) of the binding budget entries of the
        offers (weight > 0, finite limit)."""
        return self.entries_at(self.codes(offer_ids))

    def entries_at(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``entries`` of the offers of ``codes`` (``codes``; position = place in codes)."""
        if self.budgets is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
        entry, pos = self._entries_of_codes(codes)
        b = self.budgets
        keep = (b.weight[entry] > 0) & np.isfinite(b.limit_kwh[b.budget[entry]])
        entry, pos = entry[keep], pos[keep]
        return pos, b.budget[entry], b.weight[entry]

    def book(self, offer_ids: Iterable[str], kw: np.ndarray) -> None:
        """Book trades (kW over one ISP each; negative = released) on their budgets."""
        if self.budgets is None:
            return
        ids = np.asarray(list(offer_ids), dtype=object)
        kw = np.broadcast_to(np.asarray(kw, dtype=float), ids.shape)
        per_offer = pd.Series(kw).groupby(ids, sort=False).sum()
        entry, pos = self._entries_of(per_offer.index)
        b = self.budgets
        np.add.at(self.used_kwh, b.budget[entry],
                  b.weight[entry] * per_offer.to_numpy()[pos] * self.isp_hours)

    def cap_kw(self, offer_ids: Iterable[str]) -> np.ndarray:
        """[n] the most kW each offer may still trade in its ISP alone: min over its entries
        of (limit − used) / (weight · h); inf for an offer without a binding entry."""
        ids = list(offer_ids)
        cap = np.full(len(ids), np.inf)
        pos, k, w = self.entries(ids)
        np.minimum.at(cap, pos, self.left_kwh[k] / (w * self.isp_hours))
        return cap

    def remaining(self, offer_ids: Iterable[str]) -> EnergyBudgets | None:
        """The budgets left (limit − used) restricted to the entries of ``offer_ids``, for a
        clearing of those offers (``clear_dso_single_buyer(energy_budgets=...)``)."""
        return self.remaining_at(self.codes(offer_ids))

    def remaining_at(self, codes: np.ndarray) -> EnergyBudgets | None:
        """``remaining`` for the offers of ``codes`` (``codes``)."""
        if self.budgets is None:
            return None
        entry, _pos = self._entries_of_codes(codes)
        b = self.budgets
        return EnergyBudgets(offer_id=b.offer_id[entry], budget=b.budget[entry],
                             weight=b.weight[entry], limit_kwh=self.left_kwh)

    def pro_rata_kw(self, offer_ids: Iterable[str], kw: np.ndarray) -> np.ndarray:
        """[n] ``kw`` scaled so that selling all of it at once fits every budget: each
        budget's left energy spread over its offers in proportion to their kW (a sealed-bid
        auction of every ISP at once cannot see a seller's fills as they happen)."""
        kw = np.asarray(kw, dtype=float)
        if self.budgets is None or kw.size == 0:
            return kw.copy()
        entry, pos = self._entries_of(offer_ids)
        b = self.budgets
        want = np.zeros(b.limit_kwh.size)
        np.add.at(want, b.budget[entry], b.weight[entry] * kw[pos] * self.isp_hours)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(want > self.left_kwh, self.left_kwh / want, 1.0)
        scale = np.ones(kw.size)
        np.minimum.at(scale, pos, ratio[b.budget[entry]])
        return kw * scale


def _object_array(values: Iterable[str]) -> np.ndarray:
    """``values`` (an array, Series, Index, list or any iterable) as a 1-d object array."""
    if not hasattr(values, "__len__"):
        values = list(values)
    return np.asarray(values, dtype=object).reshape(-1)


def _count(values: Iterable[str]) -> int:
    return len(values) if hasattr(values, "__len__") else len(list(values))


class OfferPool:
    """What is left of every offer (``remaining_kw``), in the offers' row order, and of every
    energy budget (``energy``, an ``EnergyUse``; shared by the pools of one design run that
    share units)."""

    def __init__(self, offers: pd.DataFrame, energy: EnergyUse | None = None, *,
                 index: pd.Index | None = None) -> None:
        """``index``: the offers' ids as an Index if one is at hand (``DesignInput.
        offer_index``), else built here."""
        # numbered rows, the data shared (a pool never writes into its offers)
        self.offers = offers.copy(deep=False)  # pandas 2 and 3 alike: no copy of the data
        self.offers.index = pd.RangeIndex(len(offers))
        self.remaining_kw = self.offers["max_power_kw"].to_numpy(dtype=float).copy()
        self._index = pd.Index(self.offers["offer_id"]) if index is None else index
        self.energy = energy if energy is not None else EnergyUse(None, 1.0)
        self._columns: dict[str, np.ndarray] = {}
        self._price_order: np.ndarray | None = None
        self._codes: np.ndarray | None = None

    def codes(self) -> np.ndarray:
        """[N] each offer's code in the energy budgets (``EnergyUse.codes``), looked up once
        per pool (none to look up when pool and budgets share the input's offer index)."""
        if self._codes is None:
            self._codes = self.energy.codes(self._index)
        return self._codes

    def column(self, name: str) -> np.ndarray:
        """[N] a column of the offers as an array, read once per pool (the offers never
        change: what is left of them is ``remaining_kw``)."""
        if name not in self._columns:
            self._columns[name] = self.offers[name].to_numpy()
        return self._columns[name]

    def product_key(self) -> np.ndarray:
        """[N] each offer's product (ISP, direction) as an integer: 2·isp + 1 for up."""
        if "_product" not in self._columns:
            self._columns["_product"] = (2 * self.column("isp").astype(np.int64)
                                         + (self.column("direction") == "up"))
        return self._columns["_product"]

    def price_order(self) -> np.ndarray:
        """[N] the rows by product (``product_key``), then price, ties in row order —
        sorted once per pool (a book breaks ties of price by offer id where it reaches
        them: ``stages._BookWalk``)."""
        if self._price_order is None:
            price = self.column("price_eur_per_mwh").astype(float)
            self._price_order = np.lexsort((price, self.product_key()))
        return self._price_order

    def available_rows(self, mask: np.ndarray | None = None, min_kw: float = 1e-3
                       ) -> np.ndarray:
        """Rows of the offers with at least ``min_kw`` left (and in ``mask``)."""
        keep = self.remaining_kw >= min_kw
        if mask is not None:
            keep &= mask
        return np.flatnonzero(keep)

    @classmethod
    def of(cls, inp: DesignInput, offers: pd.DataFrame | None = None, *,
           energy: EnergyUse | None = None) -> OfferPool:
        """A pool of ``offers`` (default the input's) on the input's energy budgets (a fresh
        ``EnergyUse``, or ``energy`` to share one with another pool)."""
        if energy is None:
            energy = EnergyUse.of(inp)
        if offers is None:
            return cls(inp.offers, energy, index=inp.offer_index)
        return cls(offers, energy)

    def rows(self, offer_ids: Iterable[str]) -> np.ndarray:
        """[n] the row of each offer (KeyError for an id that is none of the pool's)."""
        ids = _object_array(offer_ids)
        rows = self._index.get_indexer(ids)
        if (rows < 0).any():
            raise KeyError(f"offers not in the pool: {list(ids[rows < 0][:3])}")
        return rows

    def take(self, offer_ids: Iterable[str], kw: np.ndarray) -> None:
        """Take ``kw`` of the offers (negative: give back) and book it on their budgets."""
        ids = list(offer_ids)
        rows = self.rows(ids)
        kw = np.broadcast_to(np.asarray(kw, dtype=float), rows.shape)
        np.subtract.at(self.remaining_kw, rows, kw)
        self.remaining_kw = np.maximum(self.remaining_kw, 0.0)
        self.energy.book(ids, kw)

    def budget_cap_kw(self, offer_ids: Iterable[str]) -> np.ndarray:
        """[n] the most kW each offer may still trade (``EnergyUse.cap_kw``)."""
        return self.energy.cap_kw(offer_ids)

    def energy_budgets(self, offers: pd.DataFrame) -> EnergyBudgets | None:
        """The budgets left, restricted to ``offers`` (for a clearing of them)."""
        return self.energy.remaining(offers["offer_id"])

    def energy_budgets_at(self, rows: np.ndarray) -> EnergyBudgets | None:
        """``energy_budgets`` of the offers at ``rows`` (no look-up by id)."""
        return self.energy.remaining_at(self.codes()[rows])

    def available(self, mask: np.ndarray | None = None, min_kw: float = 1e-3) -> pd.DataFrame:
        """Offers with at least ``min_kw`` left, ``max_power_kw`` = what is left."""
        return self.frame_at(self.available_rows(mask, min_kw))

    def frame_at(self, rows: np.ndarray) -> pd.DataFrame:
        """The offers at ``rows`` (index: the rows), ``max_power_kw`` = what is left."""
        frame = self.offers.take(rows)
        frame["max_power_kw"] = self.remaining_kw[rows]
        # an indivisible minimum no longer holds once part of the offer has gone
        frame["min_power_kw"] = np.minimum(frame["min_power_kw"], frame["max_power_kw"])
        return frame


class GridGuard:
    """Linearised headroom of the congestion points, updated trade by trade (module doc)."""

    def __init__(self, inp: DesignInput, *, enforce: np.ndarray | None = None,
                 safety_kw: float = 0.0) -> None:
        self.relief = inp.relief
        self.bus_ids = inp.bus_ids
        self.head_kw = headroom_kw(inp.forecast, inp.cps).copy()
        shape = self.head_kw.shape
        self.enforce = np.ones(shape, dtype=bool) if enforce is None else enforce.copy()
        self.safety_kw = float(safety_kw)
        self.limited_kw = 0.0  # Σ (asked − allowed) over max_accept calls: volume held back

    def bus_pos(self, bus: np.ndarray | int) -> np.ndarray:
        return np.searchsorted(self.bus_ids, np.asarray(bus, dtype=np.int64))

    def coeff(self, isp: int, bus_pos: int, sign: float) -> np.ndarray:
        c = self.relief[isp, :, bus_pos] * sign
        return np.where(np.abs(c) > RELIEF_EPS_KW_PER_KW, c, 0.0)

    def room_kw(self, isp: np.ndarray, bus_pos: np.ndarray, sign: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """For n trades at once ([n] ISP, bus position, sign): ([n] the most kW each may move
        alone, ``max_accept``'s room; [n] whether an enforced point limits it at all)."""
        c = self.relief[isp, :, bus_pos] * sign[:, None]  # [n, CP], as ``coeff`` row by row
        c = np.where(np.abs(c) > RELIEF_EPS_KW_PER_KW, c, 0.0)
        worsen = (c < 0) & self.enforce[isp]
        limited = worsen.any(axis=1)
        room = np.full(isp.size, np.inf)
        if limited.any():
            head = self.head_kw[isp]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = (head - np.minimum(head, self.safety_kw)) / -c
            room[limited] = np.where(worsen, ratio, np.inf)[limited].min(axis=1)
        return room, limited

    def max_accept(self, isp: int, bus_pos: int, sign: float, want_kw: float) -> float:
        """What of ``want_kw`` one trade may move (``room_kw``); books the rest as held back
        (``limited_kw``)."""
        room, limited = self.room_kw(np.array([isp], dtype=np.int64),
                                     np.array([bus_pos], dtype=np.int64),
                                     np.array([sign], dtype=float))
        if not limited[0]:
            return want_kw
        ok = max(0.0, min(want_kw, float(room[0])))
        self.limited_kw += want_kw - ok
        return ok

    def apply(self, isp: np.ndarray | int, bus_pos: np.ndarray | int, sign: np.ndarray | float,
              kw: np.ndarray | float) -> None:
        isp = np.atleast_1d(np.asarray(isp, dtype=np.int64))
        pos = np.atleast_1d(np.asarray(bus_pos, dtype=np.int64))
        delta = np.atleast_1d(np.asarray(sign, dtype=float) * np.asarray(kw, dtype=float))
        if delta.shape != isp.shape:
            delta = np.broadcast_to(delta, isp.shape)
        change = self.relief[isp, :, pos] * delta[:, None]  # [n, CP]
        if isp.size == 1:  # one trade (a fill of the book): the same sum, no ufunc.at
            self.head_kw[isp[0]] += change[0]
        else:
            np.add.at(self.head_kw, isp, change)

    def apply_trades(self, trades: pd.DataFrame) -> None:
        if trades.empty:
            return
        sign = np.where(trades["direction"].to_numpy() == "up", 1.0, -1.0)
        self.apply(trades["isp"].to_numpy(), self.bus_pos(trades["bus"].to_numpy()), sign,
                   trades["power_kw"].to_numpy(dtype=float))

    @property
    def overload_kw(self) -> np.ndarray:
        return np.maximum(0.0, -self.head_kw)
