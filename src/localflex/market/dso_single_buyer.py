"""The DSO as single buyer: network-aware clearing of congestion and voltage needs.

Paper §5.3 (DSO market examples) and §6.2 ("no coupling"): before a fully competitive local
flexibility market exists, the DSO is the only buyer of flexibility — the paper's
'monopolistic test', in which "the amount of flexibility needed and the price cap are set by
the only buyer". The DSO states, per congestion point (transformer, line) and ISP, how much
flow must be removed (``overload_kw``) and how much spare capacity the points that are not
overloaded still have (``headroom_kw``); optionally, per bus and ISP, how far the voltage must
be lowered or raised (``VoltageNeeds``, so active power is bought for voltage problems too);
aggregators offer flexibility at buses; the DSO buys the cheapest set of offers that removes
the overloads and voltage violations without creating new ones. The DSO as sole buyer of
*reactive* power (paper ref. [58]) is ``localflex.market.reactive``, on this same engine.

Rules
-----
* Only offers in the same ISP as a need can serve it; the relief that one kW of an offer gives
  at a congestion point is ``relief_kw_per_kw_up[isp, cp, bus] * sign(direction)`` with
  ``sign(up) = +1`` and ``sign(down) = -1`` (DESIGN.md sign convention). Its voltage effect
  at bus ``i`` is ``dv_pu_per_kw[(isp,) i, bus] * sign(direction)``.
* Price cap: offers above ``max_price_eur_per_mwh`` are excluded (the DSO's cap, §5.3 FLECH).
* Offers whose relief is <= ``RELIEF_EPS_KW_PER_KW`` at every overloaded point of their ISP,
  and whose voltage effect helps no voltage need (|dv| <= ``VOLTAGE_EPS_PU_PER_KW``), are
  never useful and are pruned before the LP (they stay in the merit order with 0 kW).
* Offers priced at or below zero are ranked first but bought only as far as a need asks (the
  LP objective floors prices at 1e-3 EUR/MWh, keeping their order); they are paid their price.
* Indivisible minimums: an offer with ``min_power_kw > 0`` is accepted at 0 or within
  ``[min_power_kw, max_power_kw]``; a binary ``y_o`` per such offer turns the LP into a MILP
  (HiGHS branch and bound, relative gap 1e-7). Without such offers the problem stays an LP.
* Linked offers (blocks): offers sharing a non-empty ``block_id`` are accepted at one common
  fraction ``f_b in [0, 1]`` of their ``max_power_kw`` (``x_o = f_b * max_o``; e.g. an
  activation and its rebound, possibly in other ISPs). A block must belong to one aggregator.
  If any member has ``min_power_kw > 0`` the block is all-or-nothing (``f_b in {0, 1}``). A
  block is bought as a whole: all its members' effects (also aggravations) enter the rows;
  if any member is above the price cap the whole block is excluded.
* Pricing (``pricing=``):

  - ``"pay_as_bid"`` (default): each award is paid its own offer price.
  - ``"pay_as_clear"``: a uniform price per location and ISP. A location is a congestion
    point with a need (``cp_id``) or a bus with a voltage need (``"v:<bus>"``); its price is
    the highest offer price among the accepted offers that relieve it (relief > eps there).
    An offer that relieves several locations is paid the highest of their prices (it is
    marginal for each of them, and so never earns less than any offer accepted at a point it
    serves); an accepted offer that relieves no location itself (a block member such as a
    rebound) is paid its own price. Hence nobody is paid below their bid.

  ``cost_eur = power_kw * isp_hours * price_paid / 1000``. Awards < 1e-6 kW are dropped.
* A need that cannot be covered is never silent: it appears in ``shortfalls`` (congestion) or
  ``voltage_shortfalls`` with a cause.

The LP (solved by HiGHS through ``highspy``; matrix built as CSC arrays in numpy)
------------------------------------------------------------------------------
Variables: ``x_o in [0, max_power_kw_o]`` accepted kW of a single offer ``o``, ``f_b in
[0, 1]`` per block; ``s_{cp,t} >= 0`` unmet need (kW) for every (cp, t) with
``overload_kw > 0``; ``u_{b,t} >= 0`` unmet voltage need (milli-p.u.). With ``r_{o,cp} =
relief[t_o, cp, bus_o] * sign_o`` and ``v_{o,b} = 1000 * dv[b, bus_o] * sign_o``::

    min   sum_o price_o * x_o * h / 1000  +  sum_{cp,t} penalty * h / 1000 * s_{cp,t}
                                          +  sum_{b,t} vpenalty / 1000 * u_{b,t}
    s.t.  sum_{o: t_o = t} r_{o,cp} x_o + s_{cp,t} >= overload_kw[t, cp]   (need rows)
          sum_{o: t_o = t} r_{o,cp} x_o            >= -headroom_kw[t, cp]  (headroom rows)
          -1000 drop[t,b] <= sum_o v_{o,b} x_o - u_{b,t} <= -1000 lower[t, b]  (over-voltage)
          1000 raise[t,b] <= sum_o v_{o,b} x_o + u_{b,t} <= 1000 rise[t, b]    (under-voltage)
          -1000 drop[t,b] <= sum_o v_{o,b} x_o <= 1000 rise[t, b]   (voltage headroom rows)

Slacks are bounded by their need (``s <= overload``, ``u <= need``): a point or bus with a
need may be left short, never pushed further out of its limit. Energy budgets
(``EnergyBudgets``, optional) add ``sum_e weight_e x_{o_e} h <= limit_kwh[k]`` per budget.
``h`` is ``isp_hours``, ``penalty`` is ``shortfall_penalty_eur_per_mwh``, ``vpenalty`` is
``voltage_penalty_eur_per_pu`` (EUR per p.u. left uncovered per ISP); ``rise``/``drop`` are
the voltage headrooms of ``VoltageNeeds``. Voltage rows are in milli-p.u. to keep the matrix
well scaled. Headroom rows exist for each (cp, t) that is not overloaded, has a finite
headroom, and is touched (``|r| > RELIEF_EPS_KW_PER_KW``) by some offer of ISP ``t``; voltage
headroom rows for each (b, t) whose finite headroom the candidate offers of ``t`` could use up
(sum of |v| x max exceeds it): buying relief at one point must not create a problem at another.
A block uses ``x_o = max_o f_b`` in every row. ``x = 0, s = need`` is always feasible, so the
LP always solves. Indivisible offers add ``min_o y_o <= x_o <= max_o y_o, y_o in {0, 1}``.

Not modelled (yet): an upper bound on the relief at an overloaded point (overshooting a need
could reverse the flow past its limit in the other direction); the voltage effect of a
congestion-only clearing (pass ``voltage=`` to have voltage headroom respected).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum

import highspy
import numpy as np
import pandas as pd
import scipy.sparse as sp

from localflex.domain import (
    AWARD_COLUMNS,
    ClearingError,
    InputError,
    OfferError,
    empty_frame,
    validate_offers,
)
from localflex.market._highs import quiet_highs
from localflex.market.outcome import (
    MarketOutcome,
    prices_frame,
    single_buyer_fills,
)

__all__ = [
    "CLEARING_PRICE_COLUMNS",
    "RELIEF_EPS_KW_PER_KW",
    "SHORTFALL_COLUMNS",
    "VOLTAGE_EPS_PU_PER_KW",
    "VOLTAGE_SHORTFALL_COLUMNS",
    "ClearingResult",
    "CongestionNeeds",
    "EnergyBudgets",
    "FactoredRelief",
    "Pricing",
    "VoltageNeeds",
    "checked_energy_budgets",
    "clear_dso_single_buyer",
    "voltage_needs_from_power_flow",
]

RELIEF_EPS_KW_PER_KW = 1e-6
"""Sensitivities at or below this magnitude are treated as zero (numerical noise of a PTDF)."""
VOLTAGE_EPS_PU_PER_KW = 1e-9
"""Voltage sensitivities at or below this magnitude are treated as zero."""
MIN_AWARD_KW = 1e-6
"""Awards below this volume are dropped."""
_TOL_KW = 1e-6
_TOL_MPU = 1e-6
_LP_PRICE_FLOOR = 1e-3  # EUR/MWh, see _lp_price


class Pricing(StrEnum):
    """How accepted offers are paid (module docstring, 'Pricing')."""

    PAY_AS_BID = "pay_as_bid"
    PAY_AS_CLEAR = "pay_as_clear"


SHORTFALL_COLUMNS: dict[str, tuple[str, str, str]] = {
    "cp_id": ("object", "-", "congestion point"),
    "isp": ("int64", "-", "ISP index"),
    "need_kw": ("float64", "kW", "overload to remove"),
    "covered_kw": ("float64", "kW", "relief bought (at most the need)"),
    "shortfall_kw": ("float64", "kW", "need - covered"),
    "cause": ("object", "-", "why the need is not covered"),
}
VOLTAGE_SHORTFALL_COLUMNS: dict[str, tuple[str, str, str]] = {
    "bus": ("int64", "-", "bus with the voltage problem"),
    "isp": ("int64", "-", "ISP index"),
    "need": ("object", "-", "'lower' (over-voltage) or 'raise' (under-voltage)"),
    "need_pu": ("float64", "p.u.", "voltage change needed"),
    "covered_pu": ("float64", "p.u.", "change bought (at most the need)"),
    "shortfall_pu": ("float64", "p.u.", "need - covered"),
    "cause": ("object", "-", "why the need is not covered"),
}
CLEARING_PRICE_COLUMNS: dict[str, tuple[str, str, str]] = {
    "location": ("object", "-", "congestion point id or 'v:<bus>'"),
    "isp": ("int64", "-", "ISP index"),
    "kind": ("object", "-", "'congestion' or 'voltage'"),
    "price_eur_per_mwh": ("float64", "EUR/MWh", "highest accepted offer price relieving it"),
}


@dataclass(frozen=True)
class EnergyBudgets:
    """Inter-temporal limits of the offers (paper §2: a unit's energy content).

    Budget ``k`` bounds the energy bought across ISPs: ``sum_e weight_e * x_{offer_e} * h <=
    limit_kwh[k]`` over its entries ``e`` (``budget[e] == k``); ``weight`` is the share of an
    offer's kW that falls on the limited unit (1 for a pool limited as a whole). An
    aggregator thus never sells the same thermal or battery headroom twice.
    """

    offer_id: np.ndarray  # [E] str
    budget: np.ndarray  # [E] int, index into limit_kwh
    weight: np.ndarray  # [E] >= 0
    limit_kwh: np.ndarray  # [K] >= 0


def checked_energy_budgets(budgets: EnergyBudgets) -> EnergyBudgets:
    """``budgets`` with numpy arrays of the right dtypes, or InputError naming the bad field."""
    offer_id = np.asarray(budgets.offer_id, dtype=object)
    budget = np.asarray(budgets.budget, dtype=np.int64)
    weight = np.asarray(budgets.weight, dtype=float)
    limit = np.asarray(budgets.limit_kwh, dtype=float)
    if not (offer_id.shape == budget.shape == weight.shape):
        raise InputError("energy_budgets.offer_id", offer_id.shape,
                         "entries of one length (offer_id, budget, weight)")
    if not (np.isfinite(weight).all() and (weight >= 0).all()):
        raise InputError("energy_budgets.weight", "negative or non-finite", "finite >= 0")
    if np.isnan(limit).any() or (limit < 0).any():
        raise InputError("energy_budgets.limit_kwh", "negative or NaN", ">= 0 kWh (inf = none)")
    if budget.size and (budget.min() < 0 or budget.max() >= limit.size):
        raise InputError("energy_budgets.budget", int(budget.max()),
                         f"an index into limit_kwh (0..{limit.size - 1})")
    return EnergyBudgets(offer_id=offer_id, budget=budget, weight=weight, limit_kwh=limit)


@dataclass(frozen=True)
class FactoredRelief:
    """The relief array in factored form: ``relief[t, cp, b] = scale[t, cp] * dp[cp, b]``.

    What a grid's sparse sensitivities give (``localflex.grid.relief_scale`` and
    ``SparseSensitivity.dp_kw_per_kw``): memory T·CP + CP·B instead of T·CP·B, and the
    clearing only ever forms ``relief[isp_o, :, bus_o]`` per offer ([O, CP]).
    """

    scale: np.ndarray  # [T, CP]
    dp_kw_per_kw: np.ndarray  # [CP, B]

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.scale.shape, self.dp_kw_per_kw.shape[1])

    def per_offer(self, isp_o: np.ndarray, buspos_o: np.ndarray) -> np.ndarray:
        """[O, CP] relief per kW of UP of each offer."""
        return self.scale[isp_o, :] * self.dp_kw_per_kw[:, buspos_o].T


@dataclass(frozen=True)
class CongestionNeeds:
    """What the DSO must buy: overloads, headroom and sensitivities per ISP and point.

    ``relief_kw_per_kw_up[t, cp, b]`` is the kW of relief at ``cp`` for one kW of UP (more
    injection) at bus ``bus_ids[b]`` in ISP ``t``; DOWN relief is the negative of it. It is a
    dense array or a ``FactoredRelief`` (same values, offers × points memory). ``bus_ids``
    is the axis of the buses offers may sit at (the injection axis).
    """

    cp_ids: np.ndarray  # [CP] str
    overload_kw: np.ndarray  # [T, CP] >= 0
    headroom_kw: np.ndarray  # [T, CP]; NaN/inf = no headroom constraint
    relief_kw_per_kw_up: np.ndarray | FactoredRelief  # [T, CP, B]
    bus_ids: np.ndarray  # [B] int
    isp_hours: float


@dataclass(frozen=True)
class VoltageNeeds:
    """Voltage problems the DSO buys flexibility for, per ISP and bus (bus axis ``bus_ids``).

    ``lower_pu[t, b]`` (over-voltage) and ``raise_pu[t, b]`` (under-voltage) are the p.u.
    changes needed (>= 0, not both at one bus). ``dv_pu_per_kw[i, j]`` ([B, B], or [T, B, B]
    per ISP) is the voltage change at bus ``i`` per kW of UP at bus ``j`` (``FlowSensitivity.
    dv_pu_per_kw``; for reactive power, per kvar injected). ``rise_headroom_pu`` and
    ``drop_headroom_pu`` ([T, B], NaN/inf = unconstrained, None = all unconstrained) say how far
    the voltage may still rise / fall before it leaves its band: a clearing never uses more.
    ``injection_bus_ids`` (default ``bus_ids``) is the column axis of ``dv_pu_per_kw`` — the
    buses offers may sit at, i.e. ``CongestionNeeds.bus_ids`` — when the DSO watches fewer
    buses than carry offers (monitored buses × offer buses, ``dv`` shape [Bm, Bo]).
    """

    bus_ids: np.ndarray
    lower_pu: np.ndarray
    raise_pu: np.ndarray
    dv_pu_per_kw: np.ndarray
    isp_hours: float
    rise_headroom_pu: np.ndarray | None = None
    drop_headroom_pu: np.ndarray | None = None
    injection_bus_ids: np.ndarray | None = None


def voltage_needs_from_power_flow(
    vm_pu: np.ndarray,
    vm_min_pu: np.ndarray,
    vm_max_pu: np.ndarray,
    dv_pu_per_kw: np.ndarray,
    *,
    bus_ids: np.ndarray,
    isp_hours: float,
    margin_pu: float = 0.0,
    injection_bus_ids: np.ndarray | None = None,
) -> VoltageNeeds:
    """Needs and headroom from a power flow's ``bus_vm_pu`` [T, B] and the band [B].

    The band is tightened by ``margin_pu`` on both sides (a safety margin for the
    linearisation): ``lower = max(0, vm - (vmax - m))``, ``raise = max(0, (vmin + m) - vm)``,
    ``rise_headroom = max(0, vmax - m - vm)``, ``drop_headroom = max(0, vm - vmin - m)``.
    Unsupplied buses (NaN voltage) get no need and no constraint.
    """
    vm = np.asarray(vm_pu, dtype=float)
    if vm.ndim != 2:
        raise InputError("vm_pu", vm.shape, "an array [T, B]")
    if not (np.isfinite(margin_pu) and margin_pu >= 0):
        raise InputError("margin_pu", margin_pu, "a margin >= 0 p.u.")
    vmax = np.asarray(vm_max_pu, dtype=float)[None, :] - margin_pu
    vmin = np.asarray(vm_min_pu, dtype=float)[None, :] + margin_pu
    if (vmax < vmin).any():
        raise InputError("margin_pu", margin_pu, "smaller than half the voltage band")
    known = np.isfinite(vm)
    vm0 = np.where(known, vm, 1.0)
    return VoltageNeeds(
        bus_ids=np.asarray(bus_ids, dtype=np.int64),
        lower_pu=np.where(known, np.maximum(0.0, vm0 - vmax), 0.0),
        raise_pu=np.where(known, np.maximum(0.0, vmin - vm0), 0.0),
        dv_pu_per_kw=np.asarray(dv_pu_per_kw, dtype=float),
        isp_hours=float(isp_hours),
        rise_headroom_pu=np.where(known, np.maximum(0.0, vmax - vm0), np.nan),
        drop_headroom_pu=np.where(known, np.maximum(0.0, vm0 - vmin), np.nan),
        injection_bus_ids=(None if injection_bus_ids is None
                           else np.asarray(injection_bus_ids, dtype=np.int64)),
    )


class _MeritOrder:
    """The merit order of a clearing, built from its arrays when first asked for (then kept);
    picklable like the rest of the result."""

    def __init__(self, offers: pd.DataFrame, accepted_kw: np.ndarray, capped: np.ndarray,
                 in_capped_block: np.ndarray, useless: np.ndarray, zero: np.ndarray) -> None:
        self._parts = (offers, accepted_kw, capped, in_capped_block, useless, zero)
        self._frame: pd.DataFrame | None = None

    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            offers, accepted_kw, capped, in_capped_block, useless, zero = self._parts
            merit = offers.copy()
            merit["accepted_kw"] = accepted_kw
            merit["accepted"] = accepted_kw > 0
            merit["rank"] = (
                merit["price_eur_per_mwh"].rank(method="first").astype(np.int64)
                if len(offers) else pd.Series(dtype=np.int64)
            )
            merit["status"] = np.select(
                [accepted_kw > 0, capped, in_capped_block, useless, zero],
                ["accepted", "above price cap", "block has an offer above the price cap",
                 "no relief at an overloaded point", "zero volume"],
                default="not needed",
            )
            self._frame = merit.sort_values(["rank"], kind="stable").reset_index(drop=True)
            self._parts = ()
        return self._frame


@dataclass(frozen=True)
class ClearingResult:
    """Outcome of one clearing. ``shortfalls`` lists every (cp, isp) need not fully covered,
    ``voltage_shortfalls`` every (bus, isp) voltage need; ``prices`` the location prices
    (pay-as-clear; empty for pay-as-bid)."""

    awards: pd.DataFrame  # AWARD_COLUMNS
    shortfalls: pd.DataFrame  # SHORTFALL_COLUMNS
    merit: _MeritOrder = field(repr=False, compare=False)  # built when first read
    total_cost_eur: float
    solver_status: str
    solve_seconds: float
    voltage_shortfalls: pd.DataFrame = field(
        default_factory=lambda: empty_frame(VOLTAGE_SHORTFALL_COLUMNS))
    prices: pd.DataFrame = field(default_factory=lambda: empty_frame(CLEARING_PRICE_COLUMNS))
    pricing: str = Pricing.PAY_AS_BID.value
    isp_hours: float = 0.25

    @property
    def merit_order(self) -> pd.DataFrame:
        """Every offer in merit order: offer columns + accepted_kw, accepted, rank, status
        (built on first use: a clearing inside a study day never reads it)."""
        return self.merit.frame()

    def outcome(self, dso_id: str = "dso", mechanism: str = "dso_single_buyer") -> MarketOutcome:
        """The common result shape (``localflex.market.outcome``)."""
        fills = single_buyer_fills(self.awards, mechanism=mechanism, product="active_power",
                                   buyer_id=dso_id, isp_hours=self.isp_hours)
        prices = prices_frame({
            "mechanism": mechanism, "product": "active_power",
            "location": self.prices["location"].to_numpy(),
            "isp": self.prices["isp"].to_numpy(),
            "price_eur_per_mwh": self.prices["price_eur_per_mwh"].to_numpy(),
        })
        return MarketOutcome(mechanism=mechanism, fills=fills, prices=prices,
                             cost_eur=self.total_cost_eur, operator_surplus_eur=0.0,
                             welfare_eur=float("nan"))
def _check_needs(needs: CongestionNeeds, n_isps: int) -> tuple[np.ndarray, ...]:
    """Shapes and values of ``needs``; raise InputError naming the field."""
    if not isinstance(n_isps, int | np.integer) or n_isps <= 0:
        raise InputError("n_isps", n_isps, "a positive integer")
    cp_ids = np.asarray(needs.cp_ids)
    if cp_ids.ndim != 1:
        raise InputError("needs.cp_ids", cp_ids.shape, "a 1-D array [CP] of ids")
    cp_ids = cp_ids.astype(str)
    if len(np.unique(cp_ids)) != len(cp_ids):
        raise InputError("needs.cp_ids", list(cp_ids), "unique congestion point ids")
    bus_ids = np.asarray(needs.bus_ids)
    if bus_ids.ndim != 1 or (bus_ids.size and not np.issubdtype(bus_ids.dtype, np.integer)):
        raise InputError("needs.bus_ids", bus_ids.dtype, "a 1-D integer array [B]")
    if len(np.unique(bus_ids)) != len(bus_ids):
        raise InputError("needs.bus_ids", list(bus_ids), "unique bus ids")
    n_cp, n_bus = len(cp_ids), len(bus_ids)
    arrays = {}
    for name, shape in (
        ("overload_kw", (n_isps, n_cp)),
        ("headroom_kw", (n_isps, n_cp)),
        ("relief_kw_per_kw_up", (n_isps, n_cp, n_bus)),
    ):
        value = getattr(needs, name)
        arr = value if isinstance(value, FactoredRelief) else np.asarray(value, dtype=float)
        if arr.shape != shape:
            raise InputError(f"needs.{name}", arr.shape, f"shape {shape} (n_isps, CP[, B])")
        arrays[name] = arr
    overload = arrays["overload_kw"]
    bad = ~np.isfinite(overload) | (overload < 0)
    if bad.any():
        t, c = np.argwhere(bad)[0]
        raise InputError(f"needs.overload_kw[{t}, {cp_ids[c]}]", overload[t, c], "finite >= 0")
    relief = arrays["relief_kw_per_kw_up"]
    if isinstance(relief, FactoredRelief):
        for part in ("scale", "dp_kw_per_kw"):
            if not np.isfinite(getattr(relief, part)).all():
                raise InputError(f"needs.relief_kw_per_kw_up.{part}", "non-finite values",
                                 "finite sensitivities")
    elif not np.isfinite(relief).all():
        t, c, b = np.argwhere(~np.isfinite(relief))[0]
        raise InputError(
            f"needs.relief_kw_per_kw_up[{t}, {cp_ids[c]}, bus {bus_ids[b]}]",
            relief[t, c, b],
            "a finite sensitivity",
        )
    headroom = arrays["headroom_kw"]
    bad = (overload == 0) & np.isfinite(headroom) & (headroom < 0)
    if bad.any():
        t, c = np.argwhere(bad)[0]
        raise InputError(
            f"needs.headroom_kw[{t}, {cp_ids[c]}]", headroom[t, c],
            ">= 0 (or NaN/inf) where the point is not overloaded",
        )
    isp_hours = needs.isp_hours
    if not (isinstance(isp_hours, int | float) and np.isfinite(isp_hours) and isp_hours > 0):
        raise InputError("needs.isp_hours", isp_hours, "a positive ISP length in hours (0.25)")
    return cp_ids, bus_ids, overload, headroom, relief




def _check_voltage(
    voltage: VoltageNeeds, n_isps: int, bus_ids: np.ndarray, isp_hours: float | None
) -> tuple[np.ndarray, ...]:
    """Shapes and values of ``voltage``; raise InputError naming the field."""
    inj = voltage.injection_bus_ids
    inj_bus = np.asarray(voltage.bus_ids if inj is None else inj)
    if inj_bus.shape != bus_ids.shape or not (inj_bus == bus_ids).all():
        field = "voltage.bus_ids" if inj is None else "voltage.injection_bus_ids"
        raise InputError(field, inj_bus.shape, "the bus axis of needs.bus_ids")
    if isp_hours is not None and voltage.isp_hours != isp_hours:
        raise InputError("voltage.isp_hours", voltage.isp_hours, f"{isp_hours} (needs.isp_hours)")
    v_bus = np.asarray(voltage.bus_ids)
    n_inj = len(bus_ids)
    bus_ids = v_bus  # rows of the voltage arrays
    n_bus = len(v_bus)
    shape = (n_isps, n_bus)
    out = []
    for name in ("lower_pu", "raise_pu"):
        arr = np.asarray(getattr(voltage, name), dtype=float)
        if arr.shape != shape:
            raise InputError(f"voltage.{name}", arr.shape, f"shape {shape} (n_isps, B)")
        bad = ~np.isfinite(arr) | (arr < 0)
        if bad.any():
            t, b = np.argwhere(bad)[0]
            raise InputError(f"voltage.{name}[{t}, bus {bus_ids[b]}]", arr[t, b], "finite >= 0")
        out.append(arr)
    lower, raise_ = out
    both = (lower > 0) & (raise_ > 0)
    if both.any():
        t, b = np.argwhere(both)[0]
        raise InputError(f"voltage.raise_pu[{t}, bus {bus_ids[b]}]", raise_[t, b],
                         "0 where lower_pu > 0 (one bus cannot be too high and too low)")
    dv = np.asarray(voltage.dv_pu_per_kw, dtype=float)
    if dv.shape not in ((n_bus, n_inj), (n_isps, n_bus, n_inj)):
        raise InputError("voltage.dv_pu_per_kw", dv.shape,
                         f"shape {(n_bus, n_inj)} or {(n_isps, n_bus, n_inj)}")
    if not np.isfinite(dv).all():
        raise InputError("voltage.dv_pu_per_kw", "non-finite values", "finite sensitivities")
    heads = []
    for name in ("rise_headroom_pu", "drop_headroom_pu"):
        arr = getattr(voltage, name)
        arr = np.full(shape, np.inf) if arr is None else np.asarray(arr, dtype=float)
        if arr.shape != shape:
            raise InputError(f"voltage.{name}", arr.shape, f"shape {shape} (n_isps, B) or None")
        arr = np.where(np.isnan(arr), np.inf, arr)
        if (arr < 0).any():
            t, b = np.argwhere(arr < 0)[0]
            raise InputError(f"voltage.{name}[{t}, bus {bus_ids[b]}]", arr[t, b],
                             ">= 0 (or NaN/inf)")
        heads.append(arr)
    if not (isinstance(voltage.isp_hours, int | float) and voltage.isp_hours > 0):
        raise InputError("voltage.isp_hours", voltage.isp_hours, "a positive ISP length in hours")
    return lower, raise_, dv, heads[0], heads[1], v_bus.astype(np.int64)


def _no_congestion(voltage: VoltageNeeds, n_isps: int) -> CongestionNeeds:
    inj = voltage.injection_bus_ids
    bus_ids = np.asarray(voltage.bus_ids if inj is None else inj)
    return CongestionNeeds(
        cp_ids=np.array([], dtype=str),
        overload_kw=np.zeros((n_isps, 0)),
        headroom_kw=np.zeros((n_isps, 0)),
        relief_kw_per_kw_up=np.zeros((n_isps, 0, len(bus_ids))),
        bus_ids=bus_ids,
        isp_hours=voltage.isp_hours,
    )


def _block_codes(frame: pd.DataFrame) -> np.ndarray:
    """Block index per offer (-1 = single); a block must belong to one aggregator."""
    block = frame["block_id"].to_numpy(dtype=object)
    linked = block != ""
    codes = np.full(len(frame), -1, dtype=np.int64)
    if linked.any():
        codes[linked] = pd.factorize(block[linked])[0]
        n_agg = frame.loc[linked].groupby("block_id")["aggregator_id"].nunique()
        mixed = n_agg[n_agg > 1]
        if len(mixed):
            bad = mixed.index[0]
            offer = frame.loc[frame["block_id"] == bad, "offer_id"].iloc[0]
            raise OfferError(f"offer[{offer}].block_id", bad,
                             "a block of offers of one aggregator")
    return codes


def _offer_relief(relief: np.ndarray | FactoredRelief, isp: np.ndarray, buspos: np.ndarray,
                  cols: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """[len(isp), len(cols)] signed relief of offers at (isp, buspos) on the points ``cols``,
    tiny values (numerical noise) set to 0."""
    if isinstance(relief, FactoredRelief):  # one [O, C] array, multiplied in place
        r = relief.scale[np.ix_(isp, cols)]
        r *= relief.dp_kw_per_kw[cols].T[buspos]
    else:
        r = relief[isp[:, None], cols[None, :], buspos[:, None]]
    r *= sign[:, None]
    r[np.abs(r) <= RELIEF_EPS_KW_PER_KW] = 0.0
    return r


def _need_relief(relief: np.ndarray | FactoredRelief, is_need: np.ndarray, isp: np.ndarray,
                 buspos: np.ndarray, sign: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offer, point, relief per kW) of every offer and point with a need in the offer's
    ISP where the offer relieves it (signed relief > ``RELIEF_EPS_KW_PER_KW``), ordered by
    offer, then point. Pairs, not [O, CP]: grows with offers × needs of their ISP."""
    need_isp = sp.csr_array(is_need)  # per ISP, its points with a need (sorted)
    per_offer = np.diff(need_isp.indptr)[isp]
    o = np.repeat(np.arange(isp.size), per_offer)
    first = np.repeat(need_isp.indptr[isp] - (np.cumsum(per_offer) - per_offer), per_offer)
    cp = need_isp.indices[first + np.arange(o.size)].astype(np.int64)
    t, b = isp[o], buspos[o]
    if isinstance(relief, FactoredRelief):  # the same products as ``_offer_relief``
        r = relief.scale[t, cp] * relief.dp_kw_per_kw[cp, b]
    else:
        r = relief[t, cp, b]
    r *= sign[o]
    keep = (np.abs(r) > RELIEF_EPS_KW_PER_KW) & (r > 0)
    return o[keep], cp[keep], r[keep]


def _aggravation_bound(relief: np.ndarray | FactoredRelief, isp: np.ndarray,
                       buspos: np.ndarray, sign: np.ndarray, max_kw: np.ndarray,
                       n_isps: int) -> np.ndarray:
    """[T, CP] at least the most the offers can aggravate each point (all aggravating ones at
    full volume); from per-(ISP, bus) volumes and the factored relief, never [O, CP]. For a
    dense relief array: +inf (every point is considered)."""
    if not isinstance(relief, FactoredRelief):
        return np.full(relief.shape[:2], np.inf)
    n_b = relief.dp_kw_per_kw.shape[1]
    up = sp.csr_array((max_kw * (sign > 0), (isp, buspos)), shape=(n_isps, n_b))
    down = sp.csr_array((max_kw * (sign < 0), (isp, buspos)), shape=(n_isps, n_b))
    dp = relief.dp_kw_per_kw
    dp_pos, dp_neg = np.maximum(dp, 0.0), np.maximum(-dp, 0.0)  # [CP, B]
    # UP at b changes the point by scale·dp; it aggravates where that is negative
    if_scale_pos = up @ dp_neg.T + down @ dp_pos.T  # [T, CP]
    if_scale_neg = up @ dp_pos.T + down @ dp_neg.T
    scale = relief.scale
    return np.where(scale >= 0, scale * if_scale_pos, -scale * if_scale_neg) * (1 + 1e-9)


def _offer_dv(dv: np.ndarray, isp: np.ndarray, buspos: np.ndarray, cols: np.ndarray,
              sign: np.ndarray) -> np.ndarray:
    """[len(isp), len(cols)] signed voltage effect (p.u./kW) of offers at the buses ``cols``
    (``dv`` is [B, Bo] or per ISP [T, B, Bo]), tiny values set to 0."""
    cv = (dv[cols][:, buspos].T if dv.ndim == 2
          else dv[isp[:, None], cols[None, :], buspos[:, None]]) * sign[:, None]
    cv[np.abs(cv) <= VOLTAGE_EPS_PU_PER_KW] = 0.0
    return cv


def clear_dso_single_buyer(
    offers: pd.DataFrame,
    needs: CongestionNeeds | None = None,
    *,
    n_isps: int,
    shortfall_penalty_eur_per_mwh: float = 1e6,
    max_price_eur_per_mwh: float | None = None,
    voltage: VoltageNeeds | None = None,
    voltage_penalty_eur_per_pu: float = 1e7,
    pricing: Pricing | str = Pricing.PAY_AS_BID,
    energy_budgets: EnergyBudgets | None = None,
) -> ClearingResult:
    """Buy the cheapest offers that remove the overloads of ``needs`` and the voltage
    problems of ``voltage`` (either may be None, not both); rules in the module docstring.
    ``energy_budgets`` adds one row per budget: what is bought stays deliverable.

    ``offers`` has OFFER_COLUMNS (domain). Raises OfferError for a bad offer (unknown bus,
    ISP outside ``0..n_isps-1``, negative volume, a block of several aggregators, ...) and
    InputError for bad ``needs`` / ``voltage`` / options.
    """
    if needs is None and voltage is None:
        raise InputError("needs", None, "CongestionNeeds and/or voltage=VoltageNeeds")
    try:
        pricing = Pricing(pricing)
    except ValueError:
        raise InputError("pricing", pricing, f"one of {[p.value for p in Pricing]}") from None
    if needs is None:
        if not isinstance(n_isps, int | np.integer) or n_isps <= 0:
            raise InputError("n_isps", n_isps, "a positive integer")
        needs = _no_congestion(voltage, n_isps)
        cong_hours = None
    else:
        cong_hours = needs.isp_hours
    cp_ids, bus_ids, overload, headroom, relief = _check_needs(needs, n_isps)
    if not (np.isfinite(shortfall_penalty_eur_per_mwh) and shortfall_penalty_eur_per_mwh > 0):
        raise InputError("shortfall_penalty_eur_per_mwh", shortfall_penalty_eur_per_mwh,
                         "a positive finite price")
    if not (np.isfinite(voltage_penalty_eur_per_pu) and voltage_penalty_eur_per_pu > 0):
        raise InputError("voltage_penalty_eur_per_pu", voltage_penalty_eur_per_pu,
                         "a positive finite value")
    if max_price_eur_per_mwh is not None and not np.isfinite(max_price_eur_per_mwh):
        raise InputError("max_price_eur_per_mwh", max_price_eur_per_mwh, "a finite price or None")
    v_arrays = (
        _check_voltage(voltage, n_isps, bus_ids, cong_hours) if voltage is not None else None
    )
    frame = validate_offers(offers, n_isps=n_isps, valid_buses=bus_ids).reset_index(drop=True)
    isp_hours = float(needs.isp_hours)
    n_cp = len(cp_ids)

    # --- offers -> relief per congestion point r[o, cp] (vectorised) ---------------------
    n_off = len(frame)
    isp_o = frame["isp"].to_numpy(dtype=np.int64)
    order = np.argsort(bus_ids, kind="stable")
    buspos_o = order[np.searchsorted(bus_ids[order], frame["bus"].to_numpy())]
    sign_o = np.where(frame["direction"].to_numpy() == "up", 1.0, -1.0)
    max_kw_o = frame["max_power_kw"].to_numpy(dtype=float)
    min_kw_o = frame["min_power_kw"].to_numpy(dtype=float)
    price_o = frame["price_eur_per_mwh"].to_numpy(dtype=float)
    # usefulness needs the relief of each offer at the points with a need in its own ISP
    # only: (offer, point) pairs, never [O, CP]; the full relief is formed for the
    # candidates alone (same values)
    is_need = overload > 0  # [T, CP]
    rel_o, rel_cp, rel_r = _need_relief(relief, is_need, isp_o, buspos_o, sign_o)
    useful_o = np.zeros(n_off, dtype=bool)
    useful_o[rel_o] = True

    # --- voltage: signed effect cv[o, b] (p.u. per kW) and usefulness ---------------------
    if v_arrays is not None:
        lower_pu, raise_pu, dv, rise_head, drop_head, v_bus_ids = v_arrays
        v_lower, v_raise = lower_pu > 0, raise_pu > 0
        v_cols = np.flatnonzero((v_lower | v_raise).any(axis=0))  # buses with a need
        cv_n = _offer_dv(dv, isp_o, buspos_o, v_cols, sign_o)  # [O, Bn]
        helps_v = (((cv_n < 0) & v_lower[isp_o[:, None], v_cols[None, :]])
                   | ((cv_n > 0) & v_raise[isp_o[:, None], v_cols[None, :]]))
        useful_o = useful_o | helps_v.any(axis=1)

    capped_o = (
        price_o > max_price_eur_per_mwh if max_price_eur_per_mwh is not None
        else np.zeros(n_off, dtype=bool)
    )
    blk_o = _block_codes(frame)
    single = blk_o < 0
    cand = single & useful_o & ~capped_o & (max_kw_o > 0)
    n_blocks = int(blk_o.max()) + 1 if n_off else 0
    blk_capped = np.zeros(n_blocks, dtype=bool)
    if n_blocks:
        members = ~single
        blk_useful = np.bincount(blk_o[members], weights=(useful_o & (max_kw_o > 0))[members],
                                 minlength=n_blocks) > 0
        blk_capped = np.bincount(blk_o[members], weights=capped_o[members],
                                 minlength=n_blocks) > 0
        blk_cand = blk_useful & ~blk_capped
        cand[members] = blk_cand[blk_o[members]] & (max_kw_o[members] > 0)
    cand_idx = np.flatnonzero(cand)
    n_x = len(cand_idx)

    # --- columns of the offers: one per single offer, one per candidate block ------------
    blk_c = blk_o[cand_idx]
    single_c = blk_c < 0
    n_s = int(single_c.sum())
    col_of_c = np.empty(n_x, dtype=np.int64)
    col_of_c[single_c] = np.arange(n_s)
    cand_blocks, blk_local = np.unique(blk_c[~single_c], return_inverse=True)
    n_b = len(cand_blocks)
    col_of_c[~single_c] = n_s + blk_local
    scale_c = np.where(single_c, 1.0, max_kw_o[cand_idx])
    n_xcol = n_s + n_b

    # --- congestion rows: need rows first, then headroom rows touched by a candidate ----
    need_t, need_cp = np.nonzero(is_need)
    n_need = len(need_t)
    row_of = np.full(overload.shape, -1, dtype=np.int64)
    row_of[need_t, need_cp] = np.arange(n_need)
    # a headroom row is written only where the candidates could use the headroom up: the
    # most they can aggravate the point (every aggravating one at full volume) exceeds it;
    # elsewhere the row could never bind (same feasible set, a far smaller LP on an area).
    # A cheap upper bound of that picks the points whose relief is formed at all.
    bound = _aggravation_bound(relief, isp_o[cand_idx], buspos_o[cand_idx], sign_o[cand_idx],
                               max_kw_o[cand_idx], n_isps)
    with np.errstate(invalid="ignore"):
        head_maybe = ~is_need & np.isfinite(headroom) & (bound > headroom - _TOL_KW)
    cols = np.flatnonzero(is_need.any(axis=0) | head_maybe.any(axis=0))
    r_c = _offer_relief(relief, isp_o[cand_idx], buspos_o[cand_idx], cols,
                        sign_o[cand_idx])  # [X, len(cols)]
    oi, ci_local = np.nonzero(r_c)  # entries of candidate offers (local index, cp)
    val_all = r_c[oi, ci_local]
    ci = cols[ci_local]
    t_e = isp_o[cand_idx[oi]]
    aggravation = np.bincount(
        t_e * n_cp + ci, weights=np.maximum(-val_all, 0.0) * max_kw_o[cand_idx[oi]],
        minlength=n_isps * n_cp).reshape(n_isps, n_cp)
    with np.errstate(invalid="ignore"):
        head_ok = ~is_need & np.isfinite(headroom) & (aggravation > headroom - _TOL_KW)
    keep = is_need[t_e, ci] | head_ok[t_e, ci]
    oi, ci, t_e, val_e = oi[keep], ci[keep], t_e[keep], val_all[keep]
    head_flat = np.unique((t_e * n_cp + ci)[~is_need[t_e, ci]])
    head_t, head_cp = np.divmod(head_flat, n_cp) if n_cp else (head_flat, head_flat)
    row_of[head_t, head_cp] = n_need + np.arange(len(head_flat))
    n_rows_c = n_need + len(head_flat)
    row_e = row_of[t_e, ci]
    c_lower = np.concatenate([overload[need_t, need_cp], -headroom[head_t, head_cp]])
    c_upper = np.full(n_rows_c, highspy.kHighsInf)

    # --- voltage rows (milli-p.u.): need rows, then headroom rows candidates can reach ----
    if v_arrays is not None:
        v_need = v_lower | v_raise
        vneed_t, vneed_b = np.nonzero(v_need)
        n_vneed = len(vneed_t)
        onehot = sp.csr_array((np.ones(n_x), (isp_o[cand_idx], np.arange(n_x))),
                              shape=(n_isps, n_x))
        cv_c = _offer_dv(dv, isp_o[cand_idx], buspos_o[cand_idx], np.arange(len(v_bus_ids)),
                         sign_o[cand_idx])  # [X, B]
        reach = onehot @ (np.abs(cv_c) * max_kw_o[cand_idx, None])  # [T, B] p.u.
        head_v = ~v_need & ((reach > rise_head) | (reach > drop_head))
        vhead_t, vhead_b = np.nonzero(head_v)
        vrow_of = np.full(v_need.shape, -1, dtype=np.int64)
        vrow_of[vneed_t, vneed_b] = np.arange(n_vneed)
        vrow_of[vhead_t, vhead_b] = n_vneed + np.arange(len(vhead_t))
        n_vrows = n_vneed + len(vhead_t)
        vo, vb = np.nonzero((vrow_of[isp_o[cand_idx]] >= 0) & (cv_c != 0))
        vrow = vrow_of[isp_o[cand_idx[vo]], vb]
        vval = cv_c[vo, vb] * 1000.0
        t_all = np.concatenate([vneed_t, vhead_t])
        b_all = np.concatenate([vneed_b, vhead_b])
        rise_m = rise_head[t_all, b_all] * 1000.0
        drop_m = drop_head[t_all, b_all] * 1000.0
        low_m = lower_pu[t_all, b_all] * 1000.0
        ras_m = raise_pu[t_all, b_all] * 1000.0
        is_low = low_m > 0
        is_ras = ras_m > 0
        v_lo = np.where(is_low, np.minimum(-drop_m, -low_m), np.where(is_ras, ras_m, -drop_m))
        v_up = np.where(is_low, -low_m, np.where(is_ras, np.maximum(rise_m, ras_m), rise_m))
        v_lo = np.where(np.isfinite(v_lo), v_lo, -highspy.kHighsInf)
        v_up = np.where(np.isfinite(v_up), v_up, highspy.kHighsInf)
        vslack_coef = np.where(is_low[:n_vneed], -1.0, 1.0)
    else:
        n_vneed = n_vrows = 0
        v_bus_ids = np.zeros(0, dtype=np.int64)
        vo = vb = vrow = np.zeros(0, dtype=np.int64)
        vval = v_lo = v_up = vslack_coef = np.zeros(0)
        vneed_t = vneed_b = np.zeros(0, dtype=np.int64)
    n_rows = n_rows_c + n_vrows

    # --- indivisible single offers: binary y_j (MIP); all-or-nothing blocks: integer f_b ---
    ind = np.flatnonzero(single_c & (min_kw_o[cand_idx] > 0))  # local candidate index
    n_ind = len(ind)
    blk_binary = np.zeros(n_b, dtype=bool)
    if n_b:
        blk_binary = np.bincount(blk_local, weights=min_kw_o[cand_idx][~single_c] > 0,
                                 minlength=n_b) > 0
    slack_c0 = n_xcol
    slack_v0 = slack_c0 + n_need
    y_col = slack_v0 + n_vneed + np.arange(n_ind)
    link_row = n_rows + np.arange(2 * n_ind)  # x - max*y <= 0, then x - min*y >= 0
    n_cols = n_xcol + n_need + n_vneed + n_ind

    rows = np.concatenate([
        row_e, n_rows_c + vrow, np.arange(n_need), n_rows_c + np.arange(n_vneed),
        link_row, link_row,
    ])
    cols = np.concatenate([
        col_of_c[oi], col_of_c[vo], slack_c0 + np.arange(n_need), slack_v0 + np.arange(n_vneed),
        col_of_c[ind], col_of_c[ind], y_col, y_col,
    ])
    vals = np.concatenate([
        val_e * scale_c[oi], vval * scale_c[vo], np.ones(n_need), vslack_coef,
        np.ones(2 * n_ind), -max_kw_o[cand_idx][ind], -min_kw_o[cand_idx][ind],
    ])
    e_rows, e_cols, e_vals, e_upper = _budget_entries(
        energy_budgets, frame, cand_idx, col_of_c, scale_c, isp_hours)
    n_erows = len(e_upper)
    rows = np.concatenate([rows, n_rows + 2 * n_ind + e_rows])
    cols = np.concatenate([cols, e_cols])
    vals = np.concatenate([vals, e_vals])
    a_csc = sp.csc_array((vals, (rows, cols)), shape=(n_rows + 2 * n_ind + n_erows, n_cols))
    a_csc.sum_duplicates()
    a_csc.sort_indices()
    x_cost = np.bincount(col_of_c, weights=_lp_price(price_o[cand_idx]) * scale_c,
                         minlength=n_xcol) * isp_hours / 1000.0
    col_cost = np.concatenate([
        x_cost,
        np.full(n_need, shortfall_penalty_eur_per_mwh * isp_hours / 1000.0),
        np.full(n_vneed, voltage_penalty_eur_per_pu / 1000.0),
        np.zeros(n_ind),
    ])
    col_lower = np.zeros(n_cols)
    # slacks are capped at the need: a point or bus with a need may stay short of its limit,
    # never be pushed further out of it (an award creates no violation and worsens none)
    vneed_m = (np.where(lower_pu[vneed_t, vneed_b] > 0, lower_pu[vneed_t, vneed_b],
                        raise_pu[vneed_t, vneed_b]) * 1000.0 if n_vneed else np.zeros(0))
    col_upper = np.concatenate([
        max_kw_o[cand_idx][single_c], np.ones(n_b),
        overload[need_t, need_cp], vneed_m, np.ones(n_ind),
    ])
    row_lower = np.concatenate([c_lower, v_lo, np.full(n_ind, -highspy.kHighsInf),
                                np.zeros(n_ind), np.full(n_erows, -highspy.kHighsInf)])
    row_upper = np.concatenate([c_upper, v_up, np.zeros(n_ind),
                                np.full(n_ind, highspy.kHighsInf), e_upper])
    integer = np.zeros(n_cols, dtype=bool)
    integer[y_col] = True
    integer[n_s + np.flatnonzero(blk_binary)] = True

    x_sol, status, solve_seconds = solve_lp(
        a_csc, col_cost, col_lower, col_upper, row_lower, row_upper, integer
    )
    z = x_sol[:n_xcol] if n_cols else np.zeros(0)
    z = np.where(integer[:n_xcol], np.round(z), z) if n_cols else z
    x_cand = np.clip(z[col_of_c] * scale_c, 0.0, max_kw_o[cand_idx]) if n_x else np.zeros(0)
    accepted_kw = np.zeros(n_off)
    accepted_kw[cand_idx] = np.where(x_cand >= MIN_AWARD_KW, x_cand, 0.0)
    acc_c = accepted_kw[cand_idx]

    # --- prices --------------------------------------------------------------------------
    paid_price = price_o.copy()
    prices = empty_frame(CLEARING_PRICE_COLUMNS)
    if pricing is Pricing.PAY_AS_CLEAR:
        paid_price, prices = _pay_as_clear(
            price_c=price_o[cand_idx], acc_c=acc_c,
            cong=(oi, row_e, val_e, n_need, need_t, need_cp, cp_ids),
            volt=(vo, vrow, vval, n_vneed, vneed_t, vneed_b, v_bus_ids,
                  vslack_coef if n_vneed else np.zeros(0)),
        )
        full = price_o.copy()
        full[cand_idx] = paid_price
        paid_price = full

    awards = _awards(frame, accepted_kw, isp_hours, paid_price)
    activity = np.bincount(row_e, weights=val_e * acc_c[oi], minlength=n_rows_c)
    shortfalls = _shortfalls(
        frame=frame, rel_o=rel_o, rel_cp=rel_cp, rel_r=rel_r, capped_o=capped_o,
        oi=oi, row_e=row_e, val_e=val_e, activity=activity, row_lower=c_lower, n_need=n_need,
        need_t=need_t, need_cp=need_cp, cp_ids=cp_ids, head_cp=head_cp,
        overload=overload, shortfall_penalty=shortfall_penalty_eur_per_mwh,
        has_indivisible=n_ind > 0 or bool(blk_binary.any()),
    )
    v_short = empty_frame(VOLTAGE_SHORTFALL_COLUMNS)
    if n_vneed:
        v_activity = np.bincount(vrow, weights=vval * acc_c[vo], minlength=n_vrows)[:n_vneed]
        v_short = _voltage_shortfalls(
            v_activity=v_activity, vneed_t=vneed_t, vneed_b=vneed_b, bus_ids=v_bus_ids,
            lower_pu=lower_pu, raise_pu=raise_pu, cv=cv_n, cv_cols=v_cols, isp_o=isp_o,
            max_kw_o=max_kw_o,
            capped_o=capped_o, n_isps=n_isps,
        )
    in_capped_block = np.zeros(n_off, dtype=bool)
    if n_blocks:
        in_capped_block[~single] = blk_capped[blk_o[~single]]
    merit = _MeritOrder(frame, accepted_kw, capped_o, in_capped_block, ~useful_o & single,
                        max_kw_o <= 0)
    return ClearingResult(
        awards=awards,
        shortfalls=shortfalls,
        merit=merit,
        total_cost_eur=float(awards["cost_eur"].sum()),
        solver_status=status,
        solve_seconds=solve_seconds,
        voltage_shortfalls=v_short,
        prices=prices,
        pricing=pricing.value,
        isp_hours=isp_hours,
    )


def _budget_entries(
    budgets: EnergyBudgets | None, frame: pd.DataFrame, cand_idx: np.ndarray,
    col_of_c: np.ndarray, scale_c: np.ndarray, isp_hours: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Matrix entries (local row, column, value) and row upper bounds of the energy budgets
    that touch a candidate; budgets without a candidate entry get no row."""
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))
    if budgets is None or len(budgets.offer_id) == 0 or len(cand_idx) == 0:
        return empty
    budgets = checked_energy_budgets(budgets)
    weight, limit, budget = budgets.weight, budgets.limit_kwh, budgets.budget
    local = np.full(len(frame), -1, dtype=np.int64)
    local[cand_idx] = np.arange(len(cand_idx))
    row = pd.Index(frame["offer_id"].to_numpy()).get_indexer(np.asarray(budgets.offer_id))
    c = np.where(row >= 0, local[np.maximum(row, 0)], -1)
    keep = (c >= 0) & (weight > 0) & np.isfinite(limit[budget])
    if not keep.any():
        return empty
    c, k, w = c[keep], budget[keep], weight[keep]
    used, k_local = np.unique(k, return_inverse=True)
    return k_local, col_of_c[c], w * scale_c[c] * isp_hours, limit[used]


def _pay_as_clear(
    *, price_c: np.ndarray, acc_c: np.ndarray, cong: tuple, volt: tuple
) -> tuple[np.ndarray, pd.DataFrame]:
    """Location prices (highest accepted price relieving each need) and the price each
    candidate is paid (the highest price of the locations it relieves, else its own)."""
    oi, row_e, val_e, n_need, need_t, need_cp, cp_ids = cong
    vo, vrow, vval, n_vneed, vneed_t, vneed_b, bus_ids, vslack_coef = volt
    c_sel = (row_e < n_need) & (val_e > 0) & (acc_c[oi] > 0)
    # voltage need rows: slack coef -1 = over-voltage (helpful v < 0), +1 = under (v > 0)
    v_need_row = vrow < n_vneed
    v_help = np.zeros(len(vrow), dtype=bool)
    v_help[v_need_row] = vval[v_need_row] * vslack_coef[vrow[v_need_row]] > 0
    v_sel = v_help & (acc_c[vo] > 0)
    pairs = pd.DataFrame({
        "o": np.concatenate([oi[c_sel], vo[v_sel]]),
        "loc": np.concatenate([row_e[c_sel], n_need + vrow[v_sel]]),
    }).drop_duplicates()
    paid = price_c.copy()
    if pairs.empty:
        return paid, empty_frame(CLEARING_PRICE_COLUMNS)
    pairs["price"] = price_c[pairs["o"].to_numpy()]
    loc_price = pairs.groupby("loc")["price"].max()
    pairs["loc_price"] = loc_price.reindex(pairs["loc"]).to_numpy()
    best = pairs.groupby("o")["loc_price"].max()
    paid[best.index.to_numpy()] = best.to_numpy()
    loc = loc_price.index.to_numpy()
    is_c = loc < n_need
    vk = loc[~is_c] - n_need
    prices = pd.DataFrame({
        "location": np.concatenate([cp_ids[need_cp[loc[is_c]]].astype(object),
                                    np.array([f"v:{b}" for b in bus_ids[vneed_b[vk]]],
                                             dtype=object)]),
        "isp": np.concatenate([need_t[loc[is_c]], vneed_t[vk]]).astype(np.int64),
        "kind": np.concatenate([np.full(is_c.sum(), "congestion", dtype=object),
                                np.full(len(vk), "voltage", dtype=object)]),
        "price_eur_per_mwh": np.concatenate([loc_price.to_numpy()[is_c],
                                             loc_price.to_numpy()[~is_c]]),
    })
    prices = prices.astype({k: v[0] for k, v in CLEARING_PRICE_COLUMNS.items()})
    return paid, prices.sort_values(["isp", "location"], kind="stable").reset_index(drop=True)


def _voltage_shortfalls(
    *,
    v_activity: np.ndarray,
    vneed_t: np.ndarray,
    vneed_b: np.ndarray,
    bus_ids: np.ndarray,
    lower_pu: np.ndarray,
    raise_pu: np.ndarray,
    cv: np.ndarray,
    cv_cols: np.ndarray,
    isp_o: np.ndarray,
    max_kw_o: np.ndarray,
    capped_o: np.ndarray,
    n_isps: int,
) -> pd.DataFrame:
    """One row per voltage need not fully covered, with the most specific cause found.
    ``cv`` [O, len(cv_cols)] holds the offers' effect at the buses ``cv_cols`` (every bus
    with a need)."""
    is_low = lower_pu[vneed_t, vneed_b] > 0
    need_pu = np.where(is_low, lower_pu[vneed_t, vneed_b], raise_pu[vneed_t, vneed_b])
    moved_pu = np.where(is_low, -v_activity, v_activity) / 1000.0
    covered = np.clip(moved_pu, 0.0, need_pu)
    short_pu = need_pu - covered
    short = np.flatnonzero(short_pu > _TOL_MPU / 1000.0 + 1e-6 * need_pu)
    if short.size == 0:
        return empty_frame(VOLTAGE_SHORTFALL_COLUMNS)
    n_off = len(isp_o)
    onehot_ok = sp.csr_array(((~capped_o).astype(float), (isp_o, np.arange(n_off))),
                             shape=(n_isps, n_off))
    onehot_cap = sp.csr_array((capped_o.astype(float), (isp_o, np.arange(n_off))),
                              shape=(n_isps, n_off))
    down_kw = np.maximum(-cv, 0.0) * max_kw_o[:, None]  # [O, B] lowering reach
    up_kw = np.maximum(cv, 0.0) * max_kw_o[:, None]
    avail_low, avail_up = onehot_ok @ down_kw, onehot_ok @ up_kw
    cap_low, cap_up = onehot_cap @ down_kw, onehot_cap @ up_kw
    count_low = onehot_ok @ (cv < 0) + onehot_cap @ (cv < 0)
    count_up = onehot_ok @ (cv > 0) + onehot_cap @ (cv > 0)
    causes = []
    local_b = np.searchsorted(cv_cols, vneed_b)
    for k in short:
        t, b = vneed_t[k], local_b[k]
        low = is_low[k]
        n = (count_low if low else count_up)[t, b]
        avail = (avail_low if low else avail_up)[t, b]
        capped = (cap_low if low else cap_up)[t, b]
        need = need_pu[k]
        if n == 0:
            causes.append("no offer that moves this voltage the right way in this ISP")
        elif avail < need - 1e-9 and capped > 0:
            causes.append(f"price cap excluded offers ({capped:.5f} p.u. of reach above the "
                          f"cap; {avail:.5f} p.u. available, {need:.5f} p.u. needed)")
        elif avail < need - 1e-9:
            causes.append(f"offered volume insufficient: {avail:.5f} p.u. of reach available, "
                          f"{need:.5f} p.u. needed")
        else:
            causes.append("limited by headroom elsewhere (thermal or voltage), indivisible "
                          "minimums or linked blocks, or offers dearer than the voltage penalty")
    out = pd.DataFrame({
        "bus": bus_ids[vneed_b[short]].astype(np.int64),
        "isp": vneed_t[short].astype(np.int64),
        "need": np.where(is_low[short], "lower", "raise").astype(object),
        "need_pu": need_pu[short],
        "covered_pu": covered[short],
        "shortfall_pu": short_pu[short],
        "cause": causes,
    })
    return out.astype({k: v[0] for k, v in VOLTAGE_SHORTFALL_COLUMNS.items()})


def _lp_price(price_eur_per_mwh: np.ndarray) -> np.ndarray:
    """Objective price per offer: the offer price, but never <= 0.

    A negatively priced offer (the aggregator pays to be activated) would otherwise be bought
    up to its full volume whether needed or not. Prices below ``_LP_PRICE_FLOOR`` are mapped
    monotonically into ``(0, _LP_PRICE_FLOOR]`` so they still rank first, in price order, but
    are bought only as far as a need asks. Payments stay pay-as-bid at the real price.
    """
    low = price_eur_per_mwh < _LP_PRICE_FLOOR
    if not low.any():
        return price_eur_per_mwh
    scale = max(1.0, float(np.abs(price_eur_per_mwh[low]).max()))
    lp_price = price_eur_per_mwh.copy()
    lp_price[low] = _LP_PRICE_FLOOR * np.exp((price_eur_per_mwh[low] - _LP_PRICE_FLOOR) / scale)
    return lp_price


def solve_lp(
    a_csc: sp.csc_array,
    col_cost: np.ndarray,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    integer: np.ndarray | None = None,
    *,
    problem: str = "clearing LP",
) -> tuple[np.ndarray, str, float]:
    """Solve ``min c x, row_lower <= A x <= row_upper, col bounds`` with HiGHS.

    Columns flagged in ``integer`` are integer (binaries here): then HiGHS solves a MIP.
    Returns the solution, HiGHS' model status and the solve time (s); a model that is not
    solved to optimality raises ``ClearingError`` naming ``problem``. Shared with
    ``localflex.market.designs.joint``.
    """
    n_rows, n_cols = a_csc.shape
    if n_cols == 0:
        return np.zeros(0), "Empty", 0.0
    # the array form of passModel hands numpy buffers to HiGHS as they are (the HighsLp
    # attributes would convert every element through Python: seconds on an area's LP)
    integrality = (np.zeros(n_cols, dtype=np.int32) if integer is None
                   else np.asarray(integer, dtype=np.int32))  # 1 = kInteger
    h = quiet_highs()
    h.setOptionValue("mip_rel_gap", 1e-7)
    h.passModel(
        n_cols, n_rows, int(a_csc.nnz), int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize), 0.0,
        np.ascontiguousarray(col_cost, dtype=np.float64),
        np.ascontiguousarray(col_lower, dtype=np.float64),
        np.ascontiguousarray(col_upper, dtype=np.float64),
        np.ascontiguousarray(row_lower, dtype=np.float64),
        np.ascontiguousarray(row_upper, dtype=np.float64),
        a_csc.indptr.astype(np.int32), a_csc.indices.astype(np.int32),
        a_csc.data.astype(np.float64), integrality,
    )
    start = time.perf_counter()
    h.run()
    solve_seconds = time.perf_counter() - start
    model_status = h.getModelStatus()
    status = h.modelStatusToString(model_status)
    if model_status != highspy.HighsModelStatus.kOptimal:
        raise ClearingError(f"HiGHS did not solve the {problem} to optimality: {status}")
    return np.asarray(h.getSolution().col_value, dtype=float), status, solve_seconds


def _awards(
    frame: pd.DataFrame, accepted_kw: np.ndarray, isp_hours: float, paid_price: np.ndarray
) -> pd.DataFrame:
    won = accepted_kw > 0
    if not won.any():
        return empty_frame(AWARD_COLUMNS)
    awards = frame.loc[won, [c for c in AWARD_COLUMNS if c in frame.columns]].copy()
    awards["power_kw"] = accepted_kw[won]
    awards["price_eur_per_mwh"] = paid_price[won]
    awards["cost_eur"] = awards["power_kw"] * isp_hours * awards["price_eur_per_mwh"] / 1000.0
    awards = awards[list(AWARD_COLUMNS)].astype({k: v[0] for k, v in AWARD_COLUMNS.items()})
    return awards.sort_values(["isp", "offer_id"], kind="stable").reset_index(drop=True)


def _shortfalls(
    *,
    frame: pd.DataFrame,
    rel_o: np.ndarray,
    rel_cp: np.ndarray,
    rel_r: np.ndarray,
    capped_o: np.ndarray,
    oi: np.ndarray,
    row_e: np.ndarray,
    val_e: np.ndarray,
    activity: np.ndarray,
    row_lower: np.ndarray,
    n_need: int,
    need_t: np.ndarray,
    need_cp: np.ndarray,
    cp_ids: np.ndarray,
    head_cp: np.ndarray,
    overload: np.ndarray,
    shortfall_penalty: float,
    has_indivisible: bool,
) -> pd.DataFrame:
    """One row per need not fully covered, with the most specific cause found.
    ``rel_o``/``rel_cp``/``rel_r``: every (offer, point) pair where the offer relieves a
    need of its ISP, and the relief per kW (``_need_relief``)."""
    if n_need == 0:
        return empty_frame(SHORTFALL_COLUMNS)
    need_kw = overload[need_t, need_cp]
    covered_kw = np.minimum(np.maximum(activity[:n_need], 0.0), need_kw)
    short_kw = need_kw - covered_kw
    tol = _TOL_KW + 1e-7 * need_kw
    short = np.flatnonzero(short_kw > tol)
    if short.size == 0:
        return empty_frame(SHORTFALL_COLUMNS)

    # Relief on offer per need row, over all (offer, cp) pairs that relieve a need.
    o_all, c_all = rel_o, rel_cp
    isp_all = frame["isp"].to_numpy(dtype=np.int64)[o_all]
    need_row_of = np.full(overload.shape, -1, dtype=np.int64)
    need_row_of[need_t, need_cp] = np.arange(n_need)
    row_all = need_row_of[isp_all, c_all]
    vol_all = rel_r * frame["max_power_kw"].to_numpy(dtype=float)[o_all]
    capped_all = capped_o[o_all]
    n_offers = np.bincount(row_all, minlength=n_need)
    n_capped = np.bincount(row_all[capped_all], minlength=n_need)
    avail_kw = np.bincount(row_all[~capped_all], weights=vol_all[~capped_all], minlength=n_need)
    avail_capped_kw = np.bincount(
        row_all[capped_all], weights=vol_all[capped_all], minlength=n_need
    )

    # Limiting rows: a binding headroom row, or another need row, that an offer relieving
    # this need aggravates (its coefficient there is negative).
    is_need_e = row_e < n_need
    binding_head = np.zeros(len(row_lower), dtype=bool)
    binding_head[n_need:] = activity[n_need:] <= row_lower[n_need:] + _TOL_KW
    relieving = pd.DataFrame({"o": oi[is_need_e & (val_e > 0)],
                              "need_row": row_e[is_need_e & (val_e > 0)]})
    aggravated_e = (val_e < 0) & (binding_head[row_e] | is_need_e)
    aggravated = pd.DataFrame({"o": oi[aggravated_e], "row": row_e[aggravated_e]})
    pairs = relieving.merge(aggravated, on="o").drop_duplicates(["need_row", "row"])
    pairs = pairs[pairs["need_row"] != pairs["row"]]
    row_cp = np.concatenate([need_cp, head_cp])
    pairs["cp"] = cp_ids[row_cp[pairs["row"].to_numpy()]]
    pairs["is_head"] = pairs["row"].to_numpy() >= n_need

    def names(subset: pd.DataFrame) -> pd.Series:
        return subset.groupby("need_row")["cp"].agg(lambda c: ", ".join(sorted(c)))

    by_headroom = names(pairs[pairs["is_head"]])
    by_need = names(pairs[~pairs["is_head"]])

    causes = []
    for k in short:
        need, short_k = need_kw[k], short_kw[k]
        if n_offers[k] == 0:
            causes.append("no offer at a bus that relieves this point in this ISP")
        elif avail_kw[k] < need - tol[k] and n_capped[k] > 0:
            causes.append(
                f"price cap excluded {n_capped[k]} offers "
                f"({avail_capped_kw[k]:.3f} kW of relief above the cap; "
                f"{avail_kw[k]:.3f} kW available, {need:.3f} kW needed)"
            )
        elif avail_kw[k] < need - tol[k]:
            causes.append(
                f"offered volume insufficient: {avail_kw[k]:.3f} kW of relief available, "
                f"{need:.3f} kW needed"
            )
        elif k in by_headroom.index:
            causes.append(f"relief limited by headroom at {by_headroom[k]}")
        elif k in by_need.index:
            causes.append(
                f"relief limited by the overload at {by_need[k]}: the offers that relieve this "
                "point aggravate it"
            )
        else:
            blocked = " or blocked by indivisible minimums" if has_indivisible else ""
            causes.append(
                f"offers priced above the shortfall penalty of {shortfall_penalty:g} EUR/MWh "
                f"per kW of relief{blocked}: {short_k:.3f} kW left uncovered"
            )
    out = pd.DataFrame({
        "cp_id": cp_ids[need_cp[short]],
        "isp": need_t[short].astype(np.int64),
        "need_kw": need_kw[short],
        "covered_kw": covered_kw[short],
        "shortfall_kw": short_kw[short],
        "cause": causes,
    })
    return out.astype({k: v[0] for k, v in SHORTFALL_COLUMNS.items()})
