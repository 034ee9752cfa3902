"""The DSO's market day: forecast, clearing in rounds, re-dispatch and verification.

The sequence is the DSO's day-ahead congestion management of paper §5 (the DSO as single
buyer, §5.3) on a real grid:

1. aggregators pool their DERs' flexibility envelopes and offer them per bus and ISP (§4;
   ``localflex.sim.setup.prepare_market``);
2. the DSO forecasts the day by power flow with every DER at its baseline and finds the
   congestion points and ISPs whose loading exceeds the limit and the buses whose voltage
   leaves its band; it monitors those and the points/buses close to their limits
   (``grid.monitored_points``) and computes the sensitivities of the monitored points to
   the offer buses only (``grid.sparse_sensitivity``: offers × needs, never buses²);
3. the DSO buys, at least cost, what relieves each congestion and voltage problem together
   (network-aware LP), keeping every monitored point and bus inside its limits;
4. the aggregators re-dispatch their DERs; each DER's model carries its state forward and
   returns what it does, rebound included;
5. a power flow verifies the result. What it still finds overloaded (linearisation
   error, rebound) is cleared again in a further round, up to ``market.max_rounds``; a
   point or bus that leaves its limits without being monitored joins the monitored set
   (its sensitivities are computed then).

``clear_day_ahead`` is steps 2-5 on a prepared day. There is one engine: a study day
(``localflex.study.day.run_day``) runs it as the design ``DSO_MARKET_DAY``, then draws
reality, dispatches, verifies and settles as for every design; ``localflex run`` /
``localflex demo`` are that loop's cell of this design, one seed and a perfect forecast
(``localflex.sim.market_run``), and ``simulate`` returns its days as one ``DayResult``.

Payments follow delivered energy: the study day checks each award against what its pool's
DERs really did, with the settlement's rule (``DELIVERY_RULES`` for a run:
``settlement.delivery``: full pay within 10 % of the award, else the delivered energy only
and a penalty of the missing energy at the award's price) and books it on a balanced ledger;
``payments_from_delivery`` is the run folder's table of it. Hand-entered offers are taken
as delivered and paid as bid.

``simulate`` computes, and writes nothing; ``localflex.sim.outputs`` writes a run folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from localflex.aggregator import dispatch_awards, unit_energy_budgets
from localflex.der import FlexEnvelope
from localflex.domain import AWARD_COLUMNS, OFFER_COLUMNS, TimeGrid, empty_frame
from localflex.grid import (
    BusLoads,
    GridModel,
    Monitored,
    PowerFlowResult,
    SparseSensitivity,
    congestion_points,
    headroom_kw,
    monitored_points,
    overload_kw,
    relief_scale,
    run_power_flow,
    sparse_sensitivity,
    voltage_limits,
)
from localflex.market import (
    ClearingResult,
    CongestionNeeds,
    EnergyBudgets,
    FactoredRelief,
    VoltageNeeds,
    clear_dso_single_buyer,
    pay_as_bid_payments,
    voltage_needs_from_power_flow,
)
from localflex.settlement.delivery import DeliveryRules, UnderDeliveryRule
from localflex.sim.placement import PlacedDers
from localflex.sim.scenario import Scenario
from localflex.sim.setup import MarketSetup

__all__ = [
    "DELIVERY_RULES",
    "DSO_MARKET_DAY",
    "OVERLOAD_TOLERANCE_KW",
    "STEPS",
    "VOLTAGE_SAFETY_PU",
    "VOLTAGE_TOLERANCE_PU",
    "DayAhead",
    "DayResult",
    "bus_injection_delta_kw",
    "clear_day_ahead",
    "day_ahead_trades",
    "payments_from_delivery",
    "simulate",
    "voltage_violations",
]

STEPS = (
    "load grid",
    "place DERs",
    "build offers",
    "forecast power flow",
    "sensitivities",
    "clear market",
    "verify by power flow",
)
OVERLOAD_TOLERANCE_KW = 0.1
"""An overload below this (0.1 kW, 0.06 % of a 160 kVA transformer) is power-flow and
linearisation noise: it is neither cleared again nor counted as congestion."""
DELIVERY_RULES = DeliveryRules(under_delivery=UnderDeliveryRule.PENALTY)
"""The settlement's delivery rule the market day pays by (10 % tolerance, penalty 1×)."""
DSO_MARKET_DAY = "dso_market_day"
"""The design name of this market day in a study day (``study.day.run_day``): the DSO as
single buyer, network-aware with voltage, in rounds verified by power flow (§5.3)."""
VOLTAGE_TOLERANCE_PU = 1e-4
"""A voltage outside its band by less than this is noise: not bought for, not counted."""
VOLTAGE_SAFETY_PU = 1e-3
"""The clearing keeps this much of every monitored bus's voltage headroom unused, against
the linearisation error (an award must not push a bus out of its band)."""


def voltage_violations(vm_pu: np.ndarray, limits: pd.DataFrame,
                       tol_pu: float = VOLTAGE_TOLERANCE_PU) -> np.ndarray:
    """[T, B] True where a bus is outside its band by more than ``tol_pu`` (bus axis)."""
    with np.errstate(invalid="ignore"):
        return ((vm_pu < limits["vm_min_pu"].to_numpy()[None, :] - tol_pu)
                | (vm_pu > limits["vm_max_pu"].to_numpy()[None, :] + tol_pu))


@dataclass
class DayResult:
    """Everything a market day produced; ``localflex.sim.outputs`` turns it into files."""

    scenario: Scenario
    time_grid: TimeGrid
    grid: GridModel
    congestion_points: pd.DataFrame
    voltage_limits: pd.DataFrame
    envelope: FlexEnvelope
    unit_aggregator: np.ndarray
    before: PowerFlowResult
    after: PowerFlowResult
    offers: pd.DataFrame
    awards: pd.DataFrame  # AWARD_COLUMNS + round
    shortfalls: pd.DataFrame
    merit_order: pd.DataFrame
    payments: pd.DataFrame
    baseline_kw: np.ndarray  # [T, N] units' baseline net load
    realised_kw: np.ndarray  # [T, N] units' realised net load
    requested_delta_kw: np.ndarray  # [T, N] setpoint change asked (positive = UP)
    rounds: list[dict] = field(default_factory=list)
    voltage_shortfalls: pd.DataFrame = field(default_factory=pd.DataFrame)
    monitored: Monitored | None = None
    delivery: pd.DataFrame = field(default_factory=pd.DataFrame)  # per award, settlement rule


def bus_injection_delta_kw(trades: pd.DataFrame, bus_ids: np.ndarray,
                           n_isps: int) -> np.ndarray:
    """Injection change [T, B] (UP positive) of trades that act on their bus and are taken
    as delivered: hand-entered offers, the designs' direct control and curtailment."""
    delta = np.zeros((n_isps, bus_ids.size))
    if len(trades):
        pos = np.searchsorted(bus_ids, trades["bus"].to_numpy(dtype=np.int64))
        sign = np.where(trades["direction"].to_numpy() == "up", 1.0, -1.0)
        np.add.at(delta, (trades["isp"].to_numpy(dtype=np.int64), pos),
                  sign * trades["power_kw"].to_numpy(dtype=float))
    return delta


def _extra_delta_per_bus(awards: pd.DataFrame, bus_ids: np.ndarray, n_isps: int) -> np.ndarray:
    """Injection change [T, B] delivered by hand-entered offers (taken as delivered)."""
    extra = awards[awards["offer_id"].str.contains("/extra", regex=False)]
    return bus_injection_delta_kw(extra, bus_ids, n_isps)


def day_ahead_trades(awards: pd.DataFrame, dso_id: str) -> pd.DataFrame:
    """The DSO's awards (AWARD_COLUMNS + round) as design trades (``DESIGN_TRADE_COLUMNS``
    + round): purpose grid, pay-as-offer, the DSO pays what the seller receives."""
    from localflex.market.designs.ledger import (
        DESIGN_TRADE_COLUMNS,
        PAY_AS_OFFER,
        TradePurpose,
        trade_cents,
    )

    n = len(awards)
    cost = awards["cost_eur"].to_numpy(dtype=float)
    frame = pd.DataFrame({
        "trade_id": [f"{DSO_MARKET_DAY}#{i}" for i in range(n)],
        "stage": DSO_MARKET_DAY,
        "purpose": TradePurpose.GRID.value,
        "buyer_id": dso_id,
        "seller_id": awards["aggregator_id"].to_numpy(dtype=object),
        "offer_id": awards["offer_id"].to_numpy(dtype=object),
        "request_id": "",
        "bus": awards["bus"].to_numpy(dtype=np.int64),
        "isp": awards["isp"].to_numpy(dtype=np.int64),
        "direction": awards["direction"].to_numpy(dtype=object),
        "power_kw": awards["power_kw"].to_numpy(dtype=float),
        "ask_eur_per_mwh": awards["price_eur_per_mwh"].to_numpy(dtype=float),
        "bid_eur_per_mwh": np.nan,
        "paid_eur": cost,
        "received_eur": cost,
        "pricing": PAY_AS_OFFER,
    }, index=pd.RangeIndex(n))
    frame["paid_cents"], frame["received_cents"] = trade_cents(frame)
    frame = frame.astype({c: d for c, (d, _u, _m) in DESIGN_TRADE_COLUMNS.items()})
    return frame.assign(round=awards["round"].to_numpy(dtype=np.int64))


def thermal_needs(
    state: PowerFlowResult, cps: pd.DataFrame, sens: SparseSensitivity, isp_hours: float,
) -> CongestionNeeds:
    """Thermal needs of the monitored congestion points; relief in factored form."""
    mon = cps.iloc[sens.cp_pos]
    overload = overload_kw(state, cps)[:, sens.cp_pos]
    overload = np.where(overload > OVERLOAD_TOLERANCE_KW, overload, 0.0)
    headroom = np.where(overload > 0, 0.0,
                        np.maximum(headroom_kw(state, cps)[:, sens.cp_pos], 0.0))
    return CongestionNeeds(
        cp_ids=mon["cp_id"].to_numpy(),
        overload_kw=overload,
        headroom_kw=headroom,
        relief_kw_per_kw_up=FactoredRelief(
            relief_scale(state, sens.cp_pos, sens.cp_rated_kva), sens.dp_kw_per_kw),
        bus_ids=sens.injection_bus_ids,
        isp_hours=isp_hours,
    )


def _voltage_needs(
    state: PowerFlowResult, limits: pd.DataFrame, sens: SparseSensitivity, bus_pos: np.ndarray,
    isp_hours: float,
) -> VoltageNeeds:
    """Voltage needs of the monitored buses; headroom kept ``VOLTAGE_SAFETY_PU`` short."""
    needs = voltage_needs_from_power_flow(
        state.bus_vm_pu[:, bus_pos], limits["vm_min_pu"].to_numpy()[bus_pos],
        limits["vm_max_pu"].to_numpy()[bus_pos], sens.dv_pu_per_kw,
        bus_ids=sens.vm_bus_ids, isp_hours=isp_hours,
        injection_bus_ids=sens.injection_bus_ids,
    )
    lower = np.where(needs.lower_pu > VOLTAGE_TOLERANCE_PU, needs.lower_pu, 0.0)
    raise_ = np.where(needs.raise_pu > VOLTAGE_TOLERANCE_PU, needs.raise_pu, 0.0)
    return VoltageNeeds(
        bus_ids=needs.bus_ids, lower_pu=lower, raise_pu=raise_,
        dv_pu_per_kw=needs.dv_pu_per_kw, isp_hours=isp_hours,
        rise_headroom_pu=np.maximum(needs.rise_headroom_pu - VOLTAGE_SAFETY_PU, 0.0),
        drop_headroom_pu=np.maximum(needs.drop_headroom_pu - VOLTAGE_SAFETY_PU, 0.0),
        injection_bus_ids=needs.injection_bus_ids,
    )


def payments_from_delivery(delivery: pd.DataFrame, hand_entered: pd.DataFrame,
                           dso_id: str) -> pd.DataFrame:
    """The DSO's payments (PAYMENT_COLUMNS) of a settled day: per pooled award utilisation −
    penalty of its delivery check (``delivery`` with ``offer_id``), the hand-entered awards
    (AWARD_COLUMNS) as bid. The ledger (``study.day``) books the same amounts in cents."""
    parts = [pay_as_bid_payments(hand_entered, dso_id)]
    if len(delivery):
        parts.append(pd.DataFrame({
            "payer": dso_id, "payee": delivery["aggregator_id"].to_numpy(),
            "isp": delivery["isp"].to_numpy(), "offer_id": delivery["offer_id"].to_numpy(),
            "amount_eur": (delivery["utilisation_eur"] - delivery["penalty_eur"]).to_numpy(),
        }))
    filled = [p for p in parts if len(p)]
    return pd.concat(filled, ignore_index=True) if filled else parts[0]


def _need_isps(state: PowerFlowResult, cps: pd.DataFrame, limits: pd.DataFrame) -> np.ndarray:
    """[T] True in ISPs with an overload or a voltage violation (where offers can serve)."""
    return ((overload_kw(state, cps) > OVERLOAD_TOLERANCE_KW).any(axis=1)
            | voltage_violations(state.bus_vm_pu, limits).any(axis=1))


def _merit_order(cleared: pd.DataFrame, offers: pd.DataFrame) -> pd.DataFrame:
    """The first round's merit order plus the offers of ISPs without a need (never in play)."""
    idle = offers[~offers["offer_id"].isin(cleared["offer_id"])].assign(
        accepted_kw=0.0, accepted=False, status="no need in this ISP")
    merit = pd.concat([cleared, idle[[c for c in cleared.columns if c in idle.columns]]],
                      ignore_index=True)
    merit["rank"] = merit["price_eur_per_mwh"].rank(method="first").astype(np.int64)
    return merit.sort_values("rank", kind="stable").reset_index(drop=True)


def _no_merit_order(offers: pd.DataFrame) -> pd.DataFrame:
    """The merit order of a day without a need: every offer idle, ranked by price."""
    merit = offers[list(OFFER_COLUMNS)].assign(accepted_kw=0.0, accepted=False, rank=0,
                                               status="no need in this ISP")
    merit["rank"] = merit["price_eur_per_mwh"].rank(method="first").astype(np.int64)
    return merit.sort_values("rank", kind="stable").reset_index(drop=True)


def _grow(mon: Monitored, state: PowerFlowResult, cps: pd.DataFrame,
          limits: pd.DataFrame) -> Monitored | None:
    """The monitored set plus the points/buses ``state`` violates outside it (None: none)."""
    over = np.flatnonzero((overload_kw(state, cps) > OVERLOAD_TOLERANCE_KW).any(axis=0))
    volt = np.flatnonzero(voltage_violations(state.bus_vm_pu, limits).any(axis=0))
    new_cp = np.setdiff1d(over, mon.cp_pos)
    new_bus = np.setdiff1d(volt, mon.bus_pos)
    if new_cp.size == 0 and new_bus.size == 0:
        return None
    return Monitored(np.union1d(mon.cp_pos, new_cp), np.union1d(mon.bus_pos, new_bus))


def _realise(
    placed: PlacedDers, time_grid: TimeGrid, delta_kw: np.ndarray, slices: list[slice]
) -> np.ndarray:
    parts = [fleet.respond(time_grid, delta_kw[:, sl])
             for fleet, sl in zip(placed.fleets, slices, strict=True)]
    return np.hstack(parts) if parts else np.zeros_like(delta_kw)


@dataclass
class DayAhead:
    """The DSO's day-ahead market of one day, cleared and verified on the forecast (steps
    2-5 of the module docstring); ``study.day.run_day`` takes it into delivery."""

    before: PowerFlowResult  # the forecast, every DER at its baseline
    after: PowerFlowResult  # the last verification (the DERs' modelled response)
    awards: pd.DataFrame  # AWARD_COLUMNS + round
    shortfalls: pd.DataFrame
    voltage_shortfalls: pd.DataFrame
    merit_order: pd.DataFrame
    rounds: list[dict]
    monitored: Monitored
    requested_kw: np.ndarray  # [T, N] setpoint change asked of the pooled units (UP +)
    realised_kw: np.ndarray  # [T, N] the units' modelled net load after the last round
    residual_overload_kwh: float  # left above OVERLOAD_TOLERANCE_KW after the last round


def clear_day_ahead(
    setup: MarketSetup, offers: pd.DataFrame | None = None,
    step: Callable[[str], None] | None = None,
    max_price_eur_per_mwh: float | None = None,
) -> DayAhead:
    """Clear the DSO's market of a prepared day in rounds, each verified by power flow.

    ``offers`` default to ``setup.offers`` (the same offer ids with other prices, e.g. a
    bidding strategy's markups); the price cap defaults to the scenario's."""
    report = step or (lambda _name: None)
    scenario = setup.scenario
    cap = (scenario.market.price_cap_eur_per_mwh if max_price_eur_per_mwh is None
           else max_price_eur_per_mwh)
    time_grid, grid, placed = setup.time_grid, setup.grid, setup.placed
    envelope, book = setup.envelope, setup.book
    offers = setup.offers if offers is None else offers
    baseline, slices = setup.baseline_kw, setup.unit_slices
    engine = scenario.grid.power_flow_engine
    cps = congestion_points(grid)
    bus_ids = grid.bus_ids

    report(STEPS[3])
    forecast = setup.forecast_loads
    before = run_power_flow(grid, forecast, engine=engine)

    report(STEPS[4])
    limits = voltage_limits(grid)
    monitored = monitored_points(grid, before)
    need_isp = _need_isps(before, cps, limits)
    offer_buses = np.unique(offers.loc[need_isp[offers["isp"].to_numpy()], "bus"]
                            .to_numpy(dtype=np.int64))

    def sensitivities(mon: Monitored) -> SparseSensitivity:
        return sparse_sensitivity(grid, forecast, offer_buses, cp_pos=mon.cp_pos,
                                  vm_bus_pos=mon.bus_pos)

    sensitivity = sensitivities(monitored)

    report(STEPS[5])
    remaining = offers.copy()
    award_frames: list[pd.DataFrame] = []
    results: list[ClearingResult] = []
    rounds: list[dict] = []
    state = before
    realised = baseline
    requested = np.zeros_like(baseline)
    after = before
    for round_no in range(1, scenario.market.max_rounds + 1):
        grown = _grow(monitored, state, cps, limits) if round_no > 1 else None
        # only offers in ISPs with a need can serve one: the others stay out of the LP
        need_isp = _need_isps(state, cps, limits) if round_no > 1 else need_isp
        in_play = remaining[need_isp[remaining["isp"].to_numpy()]]
        new_buses = np.setdiff1d(in_play["bus"].to_numpy(dtype=np.int64), offer_buses)
        if grown is not None or new_buses.size:
            monitored = grown if grown is not None else monitored
            offer_buses = np.union1d(offer_buses, new_buses)
            sensitivity = sensitivities(monitored)
        needs = thermal_needs(state, cps, sensitivity, time_grid.isp_hours)
        v_needs = _voltage_needs(state, limits, sensitivity, monitored.bus_pos,
                                 time_grid.isp_hours)
        if not ((needs.overload_kw > 0).any() or (v_needs.lower_pu > 0).any()
                or (v_needs.raise_pu > 0).any()):
            break
        need_kwh = float(needs.overload_kw.sum() * time_grid.isp_hours)
        if round_no > 1:
            report(f"clear market (round {round_no})")
        budgets = EnergyBudgets(*unit_energy_budgets(
            book, envelope.up_kw, envelope.down_kw, envelope.energy_up_max_kwh,
            envelope.energy_down_max_kwh, time_grid.isp_hours, requested))
        result = clear_dso_single_buyer(
            in_play[list(OFFER_COLUMNS)], needs, n_isps=time_grid.n_isps,
            max_price_eur_per_mwh=cap, voltage=v_needs, energy_budgets=budgets,
        )
        results.append(result)
        awards = result.awards.assign(round=round_no)
        award_frames.append(awards)
        taken = awards.groupby("offer_id")["power_kw"].sum()
        remaining["max_power_kw"] = (
            remaining["max_power_kw"] - remaining["offer_id"].map(taken).fillna(0.0)
        ).clip(lower=0.0)
        remaining = remaining[remaining["max_power_kw"] > 1e-6].reset_index(drop=True)

        all_awards = pd.concat(award_frames, ignore_index=True)
        pooled = all_awards[~all_awards["offer_id"].str.contains("/extra", regex=False)]
        requested = dispatch_awards(pooled, book, envelope.up_kw, envelope.down_kw)
        realised = _realise(placed, time_grid, requested, slices)
        report(STEPS[6] if round_no == 1 else f"verify by power flow (round {round_no})")
        extra = _extra_delta_per_bus(all_awards, bus_ids, time_grid.n_isps)
        loads = BusLoads(placed.net_load_per_bus(realised, envelope.bus) - extra,
                         placed.background_q_kvar)
        after = run_power_flow(grid, loads, engine=engine)
        residual_kwh = float(overload_kw(after, cps).sum() * time_grid.isp_hours)
        rounds.append({
            "round": round_no,
            "need_kwh": need_kwh,
            "awarded_kwh": float(awards["power_kw"].sum() * time_grid.isp_hours),
            "cost_eur": float(awards["cost_eur"].sum()),
            "shortfall_kwh": float(result.shortfalls["shortfall_kw"].sum() * time_grid.isp_hours)
            if len(result.shortfalls) else 0.0,
            "residual_overload_kwh": residual_kwh,
            "voltage_need_bus_isps": int(((v_needs.lower_pu > 0) | (v_needs.raise_pu > 0)).sum()),
            "voltage_shortfall_bus_isps": len(result.voltage_shortfalls),
            "voltage_violations_after": int(voltage_violations(after.bus_vm_pu, limits).sum()),
            "monitored_points": int(monitored.cp_pos.size),
            "monitored_buses": int(monitored.bus_pos.size),
            "offer_buses": int(sensitivity.injection_bus_ids.size),
        })
        state = after
        if result.awards.empty:
            break

    awards_all = (pd.concat(award_frames, ignore_index=True) if award_frames
                  else empty_frame(AWARD_COLUMNS).assign(round=pd.Series(dtype=np.int64)))
    shortfalls = (pd.concat([r.shortfalls.assign(round=i + 1) for i, r in enumerate(results)],
                            ignore_index=True) if results else pd.DataFrame())
    v_shortfalls = (pd.concat([r.voltage_shortfalls.assign(round=i + 1)
                               for i, r in enumerate(results)], ignore_index=True)
                    if results else pd.DataFrame())
    merit_order = (_merit_order(results[0].merit_order, offers) if results
                   else _no_merit_order(offers))
    residual = overload_kw(after, cps)
    return DayAhead(
        before=before, after=after, awards=awards_all, shortfalls=shortfalls,
        voltage_shortfalls=v_shortfalls, merit_order=merit_order, rounds=rounds,
        monitored=monitored, requested_kw=requested, realised_kw=realised,
        residual_overload_kwh=float(np.where(residual > OVERLOAD_TOLERANCE_KW, residual, 0.0)
                                    .sum() * time_grid.isp_hours),
    )


def simulate(scenario: Scenario, step: Callable[[str], None] | None = None) -> DayResult:
    """Run the market days of ``scenario`` and return them as one ``DayResult``.

    The days run as ``localflex.sim.market_run.market_days`` runs them (the study loop's
    cell of the DSO's market day, one seed, a perfect forecast, DER state carried from day
    to day); a multi-day result is the days joined (``market_run.join_days``) and so holds
    every day in memory: ``localflex run`` streams the days into its run folder instead."""
    from localflex.sim.market_run import join_days, market_days

    return join_days(list(market_days(scenario, step)), scenario)
