"""One market day under forecast error: day-ahead on the forecast, intraday on reality.

Paper §2 ("a layer of uncertainty is added when predicting and procuring the available
flexibility"), §4.2 (delivery and its verification), §5.3 (the DSO buys relief) and §6.2
(the designs). The sequence of one study day, for one market design:

1. **Forecast** (``prepare_market``): the DSO's forecast net load with every DER at its
   baseline, the aggregators' offers on the forecast envelopes, the BRPs' and TSO's seeded
   requests (``make_design_input``).
2. **Day-ahead**: the design clears on the forecast (``market.designs.DESIGNS``), or, for
   ``DSO_MARKET_DAY``, the DSO's own market day of ``sim.engine`` (``clear_day_ahead``: the
   single buyer's network-aware LP with voltage, in rounds verified by power flow on the
   forecast with the DERs' modelled response). ``localflex run`` is this design over the
   scenario's days with ``error_scale`` 0 and no intraday (``sim.market_run``): one engine.
3. **Reality**: the inflexible consumption at each bus is multiplied by ``max(1 + ε, 0)``,
   ``ε`` from ``der.forecast.BACKGROUND_LOAD_ERROR``, and
   each unit's baseline and flexibility by ``max(1 + ε, 0)``,
   ``ε`` drawn from the DER family's error model of ``der.forecast`` (day-ahead horizon,
   common factor shared by the family's units, the rest idiosyncratic). The aggregators split
   their awards over their units (``dispatch_awards``), capped at the flexibility the units
   really have; each fleet's model responds (rebound included) in the unit's real scale
   (a real unit is its model times its factor: it answers δ as factor × the model's answer
   to δ / factor, so what reality offers it can also deliver); a power flow gives the
   realised grid state. Direct control and curtailment (the conditional designs' orange and
   red regimes) and hand-entered offers act on the bus and are taken as delivered.
4. **Intraday** (close to delivery): the DSO clears what is still overloaded in the realised
   state from the flexibility still free (a fresh offer book on the realised envelopes less
   what the day-ahead dispatch uses, same cost model), at least cost with the single-buyer
   LP (``clear_dso_single_buyer``); the units respond and a power flow checks; what it
   still shows is cleared again, up to the scenario's ``market.max_rounds`` (as in
   ``sim.engine``). The last power flow gives the residual overload.
5. **Settlement** (``localflex.settlement``): every aggregator award of both markets is
   checked against the meters (declared baseline − metered net load of the award's pool,
   ``delivery_check``), paid for what was delivered, with the under-delivery rule of the
   study; control, curtailment and hand-entered offers are paid as traded; all of it is
   booked on a double-entry ledger that sums to zero cents. Money KPIs come from the
   ledger. With ``detail`` the day also returns its record (``sim.engine.DayResult``) for a
   run folder. The declared baseline (``baseline``): ``"intraday"`` (default) — each
   aggregator re-declares its units' baseline close to delivery, as USEF's updated
   prognosis before gate closure: reality's baseline with the 1-hour-ahead error of
   ``der.forecast``; ``"day_ahead"`` — the baseline declared with the day-ahead offers (the
   forecast), so every forecast error counts as over- or under-delivery.

Common random numbers: the requests, the forecast errors and the intraday offers are drawn
from generators seeded by ``(seed, day)`` only, never by the design, so every design of the
same seed meets the same day.

Carried from one day to the next by the cell (``study.cell``): the DERs' state (room and
tank temperatures, stored energy of batteries, heat stores and CHP stores, and the EVs still
plugged at midnight: each fleet's ``end_state`` after the day's realised dispatch is the
next day's start) and, where the study sets a bidding strategy, the aggregators' markups
(``market.designs.strategic``: ``markups_for_day`` before the design clears,
``settle_day`` with its trades after). EV sessions are drawn afresh each day (the same seed:
the same units and evening sessions); an evening session leaves the next morning, so what
its car has not charged by midnight (deferred, or not yet reached at full power) is charged
in a morning session of the next day before the car leaves, besides that day's own evening
session (``der.ev``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from localflex.aggregator import (
    OfferBook,
    build_offers,
    dispatch_awards,
    unit_energy_budgets,
)
from localflex.der.forecast import (
    BACKGROUND_LOAD_ERROR,
    FORECAST_ERROR,
    ForecastError,
    sample_realised_kw,
)
from localflex.domain import AWARD_COLUMNS, OFFER_COLUMNS, InputError, Role
from localflex.grid import (
    BusLoads,
    congestion_points,
    monitored_points,
    overload_kw,
    rerun_power_flow,
    run_power_flow,
    solved_power_flows,
    sparse_sensitivity,
    voltage_limits,
)
from localflex.market import EnergyBudgets, clear_dso_single_buyer
from localflex.market.designs import DESIGNS, DesignParams
from localflex.market.designs.ledger import TradePurpose
from localflex.market.designs.result import mean_price_eur_per_mwh, sales_concentration
from localflex.market.designs.strategic import markups_for_day, settle_day
from localflex.settlement.delivery import (
    DeliveryRules,
    award_ids,
    coded_delivery_transactions,
    delivery_check,
    pool_keys,
    pooled_measurements,
)
from localflex.settlement.ledger import build_ledger, transactions_frame
from localflex.sim.engine import (
    DSO_MARKET_DAY,
    DayResult,
    bus_injection_delta_kw,
    clear_day_ahead,
    day_ahead_trades,
    payments_from_delivery,
    thermal_needs,
)
from localflex.sim.scenario import Scenario
from localflex.sim.setup import MarketSetup, design_input_from_setup, prepare_market

__all__ = [
    "BASELINES",
    "DAY_KPIS",
    "DSO_MARKET_DAY",
    "OVERLOAD_TOLERANCE_KW",
    "DayOutcome",
    "day_seed",
    "declared_baseline_kw",
    "run_day",
]

BASELINES = ("intraday", "day_ahead")
"""Which baseline the aggregators' deliveries are checked against (module docstring, 5)."""

OVERLOAD_TOLERANCE_KW = 0.1
"""Overload below 0.1 kW is power-flow and linearisation noise (as in ``sim.engine``)."""

DAY_KPIS: dict[str, tuple[str, str]] = {
    "forecast_overload_kwh": ("kWh", "overload the DSO forecasts with DERs at baseline"),
    "da_residual_overload_kwh": ("kWh", "overload left on the forecast after the design"),
    "realised_overload_kwh": ("kWh", "overload of reality after the day-ahead dispatch"),
    "residual_overload_kwh": ("kWh", "overload left after intraday (what happened)"),
    "new_overload_kwh": ("kWh", "residual overload where the forecast had none"),
    "worst_loading_pct": ("%", "worst congestion-point loading of the day"),
    "da_grid_kwh": ("kWh", "energy the DSO bought day-ahead"),
    "id_grid_kwh": ("kWh", "energy the DSO bought intraday"),
    "system_kwh": ("kWh", "energy the TSO bought"),
    "market_kwh": ("kWh", "energy the BRPs bought"),
    "control_kwh": ("kWh", "direct control (orange)"),
    "curtailed_kwh": ("kWh", "emergency curtailment (red)"),
    "awarded_kwh": ("kWh", "aggregator awards of both markets"),
    "delivered_kwh": ("kWh", "metered delivery of those awards (baseline − meter)"),
    "missing_kwh": ("kWh", "under-delivered energy of failed awards"),
    "delivered_share": ("-", "delivered / awarded"),
    "rebound_kwh": ("kWh", "|response| of dispatched units in ISPs nobody asked for"),
    "forecast_error_kwh": ("kWh", "|realised − forecast| baseline energy of the DERs"),
    "load_forecast_error_kwh": ("kWh", "|realised − forecast| inflexible consumption"),
    "dso_cost_eur": ("EUR", "the DSO's net payments (ledger)"),
    "tso_cost_eur": ("EUR", "the TSO's net payments (ledger)"),
    "brp_cost_eur": ("EUR", "the BRPs' net payments (ledger)"),
    "aggregator_revenue_eur": ("EUR", "the aggregators' net receipts (ledger)"),
    "penalty_eur": ("EUR", "under-delivery penalties paid by aggregators"),
    "mean_markup": ("-", "mean markup the aggregators bid day-ahead (0: cost-based)"),
    "welfare_eur": ("EUR", "day-ahead welfare on the forecast: value of the needs served − "
                           "sellers' true cost (market.designs.result)"),
    "dso_price_eur_per_mwh": ("EUR/MWh", "volume-weighted price the DSO paid day-ahead"),
    "sellers": ("-", "aggregators with any day-ahead sale"),
    "hhi_sales": ("-", "HHI (0–10,000) of the aggregators' day-ahead sold energy"),
    "power_flow_isps": ("-", "power-flow scenarios the day solved (forecast, design, reality, "
                             "intraday, sensitivities; one ISP or perturbation each)"),
}
"""KPI columns of a study day: name -> (unit, meaning). Money from the ledger (cents)."""


@dataclass
class DayOutcome:
    """One study day of one design: KPIs (``DAY_KPIS``) and its balanced ledger."""

    kpis: dict[str, float]
    ledger: pd.DataFrame
    der_states: list[dict[str, np.ndarray]] | None = None  # the fleets' end of day
    strategy_state: object | None = None  # aggregator.strategies.StrategyState after the day
    detail: DayResult | None = None  # the day's record for a run folder (``detail=True``)


def day_seed(seed: int, day: date) -> int:
    """The seed of everything drawn for ``day``: the same for every design (CRN)."""
    return int(seed) * 1_000_003 + day.toordinal()


def day_scenario(scenario: Scenario, day: date, seed: int) -> Scenario:
    """``scenario`` for one market day with the study seed."""
    return scenario.model_copy(update={
        "seed": int(seed), "time": scenario.time.model_copy(update={"day": day, "days": 1})})


def _scaled(error: ForecastError, error_scale: float) -> ForecastError:
    return ForecastError(error.std_1h * error_scale, error.std_24h * error_scale,
                         error.common_share)


def realisation_factor(der_type: np.ndarray, n_isps: int, rng: np.random.Generator,
                       error_scale: float = 1.0, horizon_h: float = 24.0) -> np.ndarray:
    """[T, N] multiplier ``max(1 + ε, 0)`` of each unit's baseline and flexibility.

    ``ε`` per family from ``der.forecast`` (at ``horizon_h`` hours ahead, default day-ahead;
    the family's common share), its standard deviations times ``error_scale``. Families are
    drawn in sorted order, and drawn even at scale 0, so the draw depends on the fleet
    only."""
    table = {k: _scaled(v, error_scale) for k, v in FORECAST_ERROR.items()}
    types = np.asarray(der_type).astype(str)
    factor = np.ones((n_isps, types.size))
    for family in sorted(set(types.tolist())):
        cols = np.flatnonzero(types == family)
        factor[:, cols] = sample_realised_kw(np.ones((n_isps, cols.size)), family, rng,
                                             horizon_h=horizon_h, table=table)
    return factor


def declared_baseline_kw(baseline: str, forecast_kw: np.ndarray, real_kw: np.ndarray,
                         der_type: np.ndarray, rng: np.random.Generator,
                         error_scale: float = 1.0) -> np.ndarray:
    """[T, N] the units' baseline their deliveries are checked against: the day-ahead
    forecast (``"day_ahead"``) or re-declared close to delivery (``"intraday"``: reality's
    baseline times the 1-hour-ahead error factor of ``der.forecast``)."""
    if baseline == "day_ahead":
        return forecast_kw
    return real_kw * realisation_factor(der_type, real_kw.shape[0], rng, error_scale,
                                        horizon_h=1.0)


def background_factor(n_isps: int, n_buses: int, rng: np.random.Generator,
                      error_scale: float = 1.0) -> np.ndarray:
    """[T, B] multiplier ``max(1 + ε, 0)`` of the inflexible consumption at each bus, ``ε``
    from ``der.forecast.BACKGROUND_LOAD_ERROR`` (day-ahead) times ``error_scale``; drawn even
    at scale 0."""
    table = {"background": _scaled(BACKGROUND_LOAD_ERROR, error_scale)}
    return sample_realised_kw(np.ones((n_isps, n_buses)), "background", rng, horizon_h=24.0,
                              table=table)


def _respond(setup: MarketSetup, delta_kw: np.ndarray) -> np.ndarray:
    slices = setup.unit_slices
    parts = [fleet.respond(setup.time_grid, delta_kw[:, sl])
             for fleet, sl in zip(setup.placed.fleets, slices, strict=True)]
    return np.hstack(parts) if parts else np.zeros_like(delta_kw)


def _awards_from_trades(trades: pd.DataFrame, offers: pd.DataFrame, isp_hours: float
                        ) -> pd.DataFrame:
    """Design trades served by pooled offers as AWARD_COLUMNS + buyer_id."""
    pooled = offers["pool"].to_numpy() >= 0
    row = pd.Index(offers["offer_id"].to_numpy()[pooled]).get_indexer(
        trades["offer_id"].to_numpy())
    mine = trades[row >= 0]
    der_type = offers["der_type"].to_numpy(dtype=object)[pooled][row[row >= 0]]
    if "round" in mine:  # the DSO market day's clearing rounds
        return mine.assign(
            aggregator_id=mine["seller_id"], price_eur_per_mwh=mine["ask_eur_per_mwh"],
            cost_eur=mine["received_eur"], der_type=der_type,
        )[[*AWARD_COLUMNS, "buyer_id", "round"]].reset_index(drop=True)
    energy_mwh = mine["power_kw"].to_numpy(dtype=float) * isp_hours / 1000.0
    received = mine["received_eur"].to_numpy(dtype=float)
    return pd.DataFrame({
        "offer_id": mine["offer_id"].to_numpy(dtype=object),
        "aggregator_id": mine["seller_id"].to_numpy(dtype=object),
        "bus": mine["bus"].to_numpy(dtype=np.int64),
        "isp": mine["isp"].to_numpy(dtype=np.int64),
        "direction": mine["direction"].to_numpy(dtype=object),
        "power_kw": mine["power_kw"].to_numpy(dtype=float),
        "price_eur_per_mwh": np.divide(received, energy_mwh, out=np.zeros_like(received),
                                       where=energy_mwh > 0),
        "cost_eur": received,
        "der_type": der_type,
        "buyer_id": mine["buyer_id"].to_numpy(dtype=object),
    })


def _intraday_book(setup: MarketSetup, up_kw: np.ndarray, down_kw: np.ndarray,
                   rng: np.random.Generator) -> OfferBook:
    scenario, env = setup.scenario, setup.envelope
    return build_offers(
        up_kw=up_kw, down_kw=down_kw,
        energy_up_max_kwh=env.energy_up_max_kwh, energy_down_max_kwh=env.energy_down_max_kwh,
        unit_bus=env.bus, unit_der_type=env.der_type, portfolio=setup.portfolio,
        min_bid_kw={a.name: a.min_bid_kw for a in scenario.aggregators},
        markup={a.name: a.price_markup for a in scenario.aggregators},
        rng=rng, isp_hours=setup.time_grid.isp_hours,
        cost_overrides={str(k): v for k, v in scenario.market.cost_eur_per_mwh.items()},
    )


def _overload_kwh(state, cps, isp_hours: float) -> np.ndarray:
    over = overload_kw(state, cps)
    return np.where(over > OVERLOAD_TOLERANCE_KW, over, 0.0) * isp_hours


def _settle(setup: MarketSetup, awards: pd.DataFrame, trades: pd.DataFrame,
            declared_kw: np.ndarray, metered_kw: np.ndarray, rules: DeliveryRules,
            dso_id: str, tso_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Delivery check of every aggregator award against the units' declared baseline
    ``declared_kw`` and the day's balanced ledger."""
    env, h = setup.envelope, setup.time_grid.isp_hours
    awards = awards.assign(award_id=award_ids(awards),
                           pool=pool_keys(awards["aggregator_id"], awards["bus"],
                                          awards["der_type"]))
    unit_pool = pool_keys(setup.portfolio.unit_aggregator, env.bus, env.der_type)
    base, meter = pooled_measurements(awards["pool"], awards["isp"], unit_pool,
                                      declared_kw, metered_kw)
    delivery = delivery_check(awards, base, meter, h, rules, buyer_id=dso_id)
    parts = [coded_delivery_transactions(delivery).frame()]
    by_hand = setup.offers.loc[setup.offers["pool"] < 0, "offer_id"]
    fallback = trades[trades["purpose"].isin([TradePurpose.CONTROL.value,
                                              TradePurpose.CURTAIL.value])
                      | trades["offer_id"].isin(by_hand)]  # hand-entered: as traded
    if len(fallback):
        parts.append(transactions_frame(
            fallback["buyer_id"].to_numpy(dtype=object),
            fallback["seller_id"].to_numpy(dtype=object), fallback["paid_eur"].to_numpy(),
            fallback["trade_id"].to_numpy(dtype=object), fallback["isp"].to_numpy(),
            fallback["purpose"].to_numpy(dtype=object)))
    parties: dict[str, Role] = {dso_id: Role.DSO, tso_id: Role.TSO}
    for seller in fallback.loc[~fallback["offer_id"].isin(by_hand), "seller_id"].unique():
        # contracted / curtailed customers
        parties[str(seller)] = Role.PROSUMER
    for frame in parts:
        for col in ("payer", "payee"):
            for party in frame[col].unique():
                parties.setdefault(str(party), Role.BRP if str(party).startswith("BRP")
                                   else Role.AGGREGATOR)
    return delivery, build_ledger(parts, parties, setup.time_grid)


def _net_eur(ledger: pd.DataFrame, mask: np.ndarray) -> float:
    """Net payments (positive = paid) of the parties in ``mask``, cents to EUR."""
    return -int(ledger.loc[mask, "amount_cents"].sum()) / 100.0


def _mixed_direction(awards: pd.DataFrame) -> np.ndarray:
    """Awards whose pool and ISP also carry an award in the other direction (DA up, ID
    down): the meter cannot tell them apart, so they are netted before the check."""
    keys = awards["aggregator_id"].astype(str) + "|" + awards["bus"].astype(str) + "|" + \
        awards["der_type"].astype(str) + "|" + awards["isp"].astype(str)
    return (awards.groupby(keys)["direction"].transform("nunique") > 1).to_numpy()


def _net_awards(awards: pd.DataFrame, isp_hours: float) -> pd.DataFrame:
    """Opposite awards of one pool and ISP netted into one (the larger side keeps its buyer,
    price and offer)."""
    mixed = _mixed_direction(awards)
    if not mixed.any():
        return awards
    keep = awards[~mixed]
    m = awards[mixed].copy()
    m["signed"] = np.where(m["direction"] == "up", 1.0, -1.0) * m["power_kw"]
    key = ["aggregator_id", "bus", "der_type", "isp"]
    net = m.groupby(key, sort=False)["signed"].transform("sum")
    m = m.assign(net=net).sort_values("power_kw", ascending=False, kind="stable")
    first = m.drop_duplicates(key)
    first = first.assign(direction=np.where(first["net"] >= 0, "up", "down"),
                         power_kw=first["net"].abs())
    first = first.assign(cost_eur=first["power_kw"] * first["price_eur_per_mwh"]
                         * isp_hours / 1000.0)
    first = first[first["power_kw"] > 1e-9]
    return pd.concat([keep, first.drop(columns=["signed", "net"])], ignore_index=True)


def _dso_day_welfare_eur(trades: pd.DataFrame, forecast_over_kw: np.ndarray,
                         residual_kwh: float, isp_hours: float, penalty_eur_per_mwh: float
                         ) -> float:
    """Welfare of the DSO's market day as ``market.designs.result`` defines it: the value of
    the overload removed on the forecast at the stated penalty − the sellers' cost (their
    ask: the DSO market day bids cost-based, a bidding strategy is refused with it)."""
    over = np.where(forecast_over_kw > OVERLOAD_TOLERANCE_KW, forecast_over_kw, 0.0)
    removed_kwh = float(over.sum() * isp_hours) - residual_kwh
    energy_mwh = trades["power_kw"].to_numpy(dtype=float) * isp_hours / 1000.0
    cost = float((trades["ask_eur_per_mwh"].to_numpy(dtype=float) * energy_mwh).sum())
    return penalty_eur_per_mwh * removed_kwh / 1000.0 - cost


def _market_kpis(trades: pd.DataFrame, isp_hours: float, welfare_eur: float
                 ) -> dict[str, float]:
    """Welfare, the DSO's day-ahead price and the concentration of the sales (paper §6.1:
    market power; the issue's sweep over aggregators and bidding strategies), as
    ``market.designs.result`` measures them for every design."""
    sellers, hhi = sales_concentration(trades, isp_hours)
    grid = (trades["purpose"] == TradePurpose.GRID.value).to_numpy()
    return {
        "welfare_eur": float(welfare_eur),
        "dso_price_eur_per_mwh": mean_price_eur_per_mwh(trades, grid, isp_hours),
        "sellers": float(sellers),
        "hhi_sales": hhi,
    }


def run_day(
    scenario: Scenario,
    day: date,
    design: str,
    params: DesignParams,
    rules: DeliveryRules,
    *,
    seed: int,
    intraday: bool = True,
    error_scale: float = 1.0,
    der_states: list[dict[str, np.ndarray]] | None = None,
    strategy=None,
    strategy_state=None,
    step=None,
    detail: bool = False,
    baseline: str = "intraday",
) -> DayOutcome:
    """One study day of ``design`` (module docstring); ``scenario`` is the cell's.

    ``design`` is a name of ``market.designs.DESIGNS`` or ``DSO_MARKET_DAY`` (the DSO's
    market day of ``sim.engine``: ``clear_day_ahead`` clears the forecast in verified
    rounds). ``der_states``: the DERs' start (the previous day's ``DayOutcome.der_states``);
    ``strategy`` (``aggregator.strategies``) with its ``strategy_state`` of the day before:
    the aggregators bid its markups and it learns from the day's trades. ``step`` is told
    each stage's name as it starts; ``detail`` keeps the day's record (``DayResult``) for a
    run folder."""
    if baseline not in BASELINES:
        raise InputError("delivery.baseline", baseline, f"one of {list(BASELINES)}")
    solved_before = solved_power_flows()
    scen = day_scenario(scenario, day, seed)
    setup = prepare_market(scen, step, der_states=der_states)
    grid, env, tg = setup.grid, setup.envelope, setup.time_grid
    h, n_isps = tg.isp_hours, tg.n_isps
    dseed = day_seed(seed, day)
    cps = congestion_points(grid)  # every point (inp.cps: the design's monitored ones)
    markups: dict[str, float] = {}
    da = None
    if design == DSO_MARKET_DAY:
        if strategy is not None:
            raise InputError("bidding.strategy", "a strategy",
                             f"'scenario' with the design {DSO_MARKET_DAY}")
        da = clear_day_ahead(setup, step=step,
                             max_price_eur_per_mwh=params.dso_price_cap_eur_per_mwh)
        dso_id, tso_id = scen.market.dso_name, "TSO"
        engine = scen.grid.power_flow_engine
        trades = day_ahead_trades(da.awards, dso_id)
        forecast_over_kw = overload_kw(da.before, cps)
        da_residual_kwh = da.residual_overload_kwh
        welfare_eur = _dso_day_welfare_eur(trades, forecast_over_kw, da_residual_kwh, h,
                                           params.overload_penalty_eur_per_mwh)
    else:
        inp = design_input_from_setup(setup, params, dseed)
        if strategy is not None:
            strategy_state = markups_for_day(inp, strategy, strategy_state, DESIGNS[design])
            markups = dict(strategy_state.markups)
            inp = inp.with_markups(markups)
        result = DESIGNS[design](inp)
        if strategy is not None:
            strategy_state = settle_day(strategy, strategy_state, inp, result)
        dso_id, tso_id, engine = inp.dso_id, inp.tso_id, inp.engine
        trades = result.trades
        forecast_over_kw = inp.on_every_point(inp.needs.overload_kw)
        da_residual_kwh = float(result.kpis["residual_overload_kwh"])
        welfare_eur = float(result.kpis["welfare_eur"])

    # reality: the same draw for every design of this seed and day
    rng = np.random.default_rng([dseed, 11])
    factor = realisation_factor(env.der_type, n_isps, rng, error_scale)
    baseline_kw = setup.baseline_kw
    real_baseline = baseline_kw * factor
    placed = setup.placed
    bg_factor = background_factor(n_isps, grid.n_buses, np.random.default_rng([dseed, 14]),
                                  error_scale)
    bg_error_p = placed.background_load_p_kw * (bg_factor - 1.0)  # reality − forecast
    real_background_q = (placed.background_q_kvar
                         + placed.background_load_q_kvar * (bg_factor - 1.0))
    up_real, down_real = env.up_kw * factor, env.down_kw * factor

    awards_da = _awards_from_trades(trades, setup.offers, h)
    requested = dispatch_awards(awards_da, setup.book, env.up_kw, env.down_kw)
    feasible = np.clip(requested, -down_real, up_real) + 0.0  # + 0.0: no -0.0 setpoints
    by_bus = trades[~trades["offer_id"].isin(awards_da["offer_id"])]  # control, curtail, extra
    bus_delta = bus_injection_delta_kw(by_bus, grid.bus_ids, n_isps)

    verified = (da is not None and bool((factor == 1.0).all())
                and bool((bg_factor == 1.0).all()))  # reality is the forecast

    def model_delta(delta_kw: np.ndarray) -> np.ndarray:
        """A real unit is its model times its factor (baseline and flexibility): it answers
        a request δ as factor × the model's answer to δ / factor."""
        return np.divide(delta_kw, factor, out=np.zeros_like(delta_kw), where=factor > 0)

    def realised_state(delta_kw: np.ndarray, before=None):
        """Units, bus loads and power flow of reality; ``before`` = (loads, state) of an
        earlier dispatch: only the ISPs whose loads changed are solved again."""
        if verified and np.array_equal(delta_kw, da.requested_kw):
            # the DSO market day verified this very dispatch on the forecast
            units = da.realised_kw
            loads = BusLoads(placed.net_load_per_bus(units, env.bus) - bus_delta,
                             placed.background_q_kvar)
            return units, loads, da.after
        units = real_baseline + factor * (_respond(setup, model_delta(delta_kw)) - baseline_kw)
        loads = BusLoads(placed.net_load_per_bus(units, env.bus) - bus_delta + bg_error_p,
                         real_background_q)
        state = (run_power_flow(grid, loads, engine=engine) if before is None
                 else rerun_power_flow(grid, loads, *before, engine=engine))
        return units, loads, state

    units, loads, state = realised_state(feasible)
    realised_over = final_over = _overload_kwh(state, cps, h)
    id_parts: list[pd.DataFrame] = []
    first_id_round = (int(awards_da["round"].max()) + 1
                      if "round" in awards_da and len(awards_da) else 2)
    # intraday: cleared again on what the last power flow still shows, up to the scenario's
    # market.max_rounds (as the market day of ``sim.engine``): the relief is linear around
    # one operating point and the units answer with their own dynamics
    for rnd in range(scen.market.max_rounds if intraday else 0):
        need_isp = (final_over > 0).any(axis=1)
        if not need_isp.any():
            break
        # only offers of ISPs with a need can serve one (prices are drawn per pool, so the
        # book of the other ISPs would change nothing but its size)
        free_up = np.where(need_isp[:, None],
                           np.maximum(up_real - np.maximum(feasible, 0.0), 0.0), 0.0)
        free_down = np.where(need_isp[:, None],
                             np.maximum(down_real - np.maximum(-feasible, 0.0), 0.0), 0.0)
        book = _intraday_book(setup, free_up, free_down, np.random.default_rng(
            [dseed, 12] if rnd == 0 else [dseed, 12, rnd]))
        if not len(book.offers):
            break
        # the engine's thermal needs on the realised state: monitored points x the
        # intraday offers' buses (grows with offers x needs, never with the grid squared)
        sens = sparse_sensitivity(
            grid, loads, np.unique(book.offers["bus"].to_numpy(dtype=np.int64)),
            cp_pos=monitored_points(grid, state).cp_pos,
            vm_bus_pos=np.empty(0, dtype=np.int64))
        needs = thermal_needs(state, cps, sens, h)
        # the units' energy over the day, in the model's scale (a real unit's δ is the
        # model's δ / factor): what the day-ahead dispatch and earlier rounds use is gone
        budgets = EnergyBudgets(*unit_energy_budgets(
            book, model_delta(free_up), model_delta(free_down), env.energy_up_max_kwh,
            env.energy_down_max_kwh, h, model_delta(feasible)))
        cleared = clear_dso_single_buyer(
            book.offers[list(OFFER_COLUMNS)], needs, n_isps=n_isps,
            max_price_eur_per_mwh=params.dso_price_cap_eur_per_mwh, energy_budgets=budgets)
        if not len(cleared.awards):
            break
        part = cleared.awards[list(AWARD_COLUMNS)].assign(buyer_id=dso_id)
        id_parts.append(part.assign(offer_id="id:" + part["offer_id"],
                                    round=first_id_round + rnd))
        extra = dispatch_awards(cleared.awards, book, free_up, free_down)
        feasible = feasible + extra
        units, loads, state = realised_state(feasible, (loads, state))
        final_over = _overload_kwh(state, cps, h)
    awards_id = (pd.concat(id_parts, ignore_index=True) if id_parts
                 else pd.DataFrame(columns=[*AWARD_COLUMNS, "buyer_id", "round"]))

    forecast_over = forecast_over_kw > OVERLOAD_TOLERANCE_KW
    if "round" not in awards_da:
        awards_da = awards_da.assign(round=1)
    parts = [a for a in (awards_da, awards_id) if len(a)]
    awards = (pd.concat(parts, ignore_index=True) if parts
              else awards_da.astype({"round": np.int64}))
    awards = _net_awards(awards.astype({"bus": np.int64, "isp": np.int64,
                                        "power_kw": float}), h)
    declared_kw = declared_baseline_kw(baseline, baseline_kw, real_baseline, env.der_type,
                                       np.random.default_rng([dseed, 13]), error_scale)
    delivery, ledger = _settle(setup, awards, trades, declared_kw, units, rules, dso_id,
                               tso_id)

    response = units - real_baseline
    asked = feasible != 0.0
    purpose = trades["purpose"].to_numpy()
    tkw = trades["power_kw"].to_numpy(dtype=float)
    party = ledger["party_id"].astype(str)
    role = ledger["role"].astype(str)
    awarded = float(delivery["awarded_kwh"].sum())
    delivered = float((delivery["delivered_kw"].clip(lower=0.0) * h).sum())
    kpis = {
        "forecast_overload_kwh": float(np.where(forecast_over, forecast_over_kw, 0.0)
                                       .sum() * h),
        "da_residual_overload_kwh": da_residual_kwh,
        "realised_overload_kwh": float(realised_over.sum()),
        "residual_overload_kwh": float(final_over.sum()),
        "new_overload_kwh": float(final_over[~forecast_over].sum()),
        "worst_loading_pct": float(np.nanmax(state.cp_loading_pct)),
        "da_grid_kwh": float(tkw[purpose == TradePurpose.GRID.value].sum() * h),
        "id_grid_kwh": float(awards_id["power_kw"].astype(float).sum() * h),
        "system_kwh": float(tkw[purpose == TradePurpose.SYSTEM.value].sum() * h),
        "market_kwh": float(tkw[purpose == TradePurpose.MARKET.value].sum() * h),
        "control_kwh": float(tkw[purpose == TradePurpose.CONTROL.value].sum() * h),
        "curtailed_kwh": float(tkw[purpose == TradePurpose.CURTAIL.value].sum() * h),
        "awarded_kwh": awarded,
        "delivered_kwh": delivered,
        "missing_kwh": float(delivery["missing_kwh"].sum()),
        "delivered_share": delivered / awarded if awarded > 0 else float("nan"),
        "rebound_kwh": float(np.abs(np.where(asked, 0.0, response)).sum() * h),
        "forecast_error_kwh": float(np.abs(real_baseline - baseline_kw).sum() * h),
        "load_forecast_error_kwh": float(np.abs(bg_error_p).sum() * h),
        "dso_cost_eur": _net_eur(ledger, (party == dso_id).to_numpy()),
        "tso_cost_eur": _net_eur(ledger, (party == tso_id).to_numpy()),
        "brp_cost_eur": _net_eur(ledger, (role == Role.BRP.value).to_numpy()),
        "aggregator_revenue_eur": -_net_eur(ledger, (role == Role.AGGREGATOR.value).to_numpy()),
        "penalty_eur": float(delivery["penalty_eur"].sum()),
        "mean_markup": float(np.mean(list(markups.values()))) if markups else 0.0,
        **_market_kpis(trades, h, welfare_eur),
    }
    kpis["power_flow_isps"] = float(solved_power_flows() - solved_before)
    record = (_record(setup, da, cps, state, awards, by_bus, delivery, real_baseline, units,
                      feasible, dso_id) if detail else None)
    return DayOutcome(kpis, ledger, setup.placed.end_states(tg, model_delta(feasible)),
                      strategy_state,
                      record)


def _record(setup: MarketSetup, da, cps: pd.DataFrame, state, awards: pd.DataFrame,
            by_bus: pd.DataFrame, delivery: pd.DataFrame, real_baseline: np.ndarray,
            units: np.ndarray, feasible: np.ndarray, dso_id: str) -> DayResult:
    """The day as a run folder shows it (``sim.outputs``): forecast and realised grid, the
    awards (pooled, netted per pool and ISP, and hand-entered), payments on delivery; the
    units' baseline is reality's (the forecast's under a perfect forecast)."""
    hand = by_bus[by_bus["offer_id"].isin(setup.offers.loc[setup.offers["pool"] < 0,
                                                           "offer_id"])]
    hand = hand.assign(aggregator_id=hand["seller_id"], der_type="mixed",
                       price_eur_per_mwh=hand["ask_eur_per_mwh"], cost_eur=hand["paid_eur"],
                       round=hand.get("round", 1))[[*AWARD_COLUMNS, "round"]]
    shown = awards[[*AWARD_COLUMNS, "round"]]
    if len(hand):
        shown = pd.concat([shown, hand], ignore_index=True) if len(shown) else hand
    if len(delivery):
        delivery = delivery.assign(offer_id=awards["offer_id"].to_numpy())
    payments = payments_from_delivery(delivery, hand[list(AWARD_COLUMNS)], dso_id)
    if da is None:  # a design of the registry: the forecast is its own power flow
        before = run_power_flow(setup.grid, setup.forecast_loads,
                                engine=setup.scenario.grid.power_flow_engine)
        empty = pd.DataFrame()
        rounds, shortfalls, v_short, merit, monitored = [], empty, empty, setup.offers.assign(
            accepted_kw=0.0), None
    else:
        before, rounds, shortfalls = da.before, da.rounds, da.shortfalls
        v_short, merit, monitored = da.voltage_shortfalls, da.merit_order, da.monitored
    return DayResult(
        scenario=setup.scenario, time_grid=setup.time_grid, grid=setup.grid,
        congestion_points=cps, voltage_limits=voltage_limits(setup.grid),
        envelope=setup.envelope, unit_aggregator=setup.portfolio.unit_aggregator,
        before=before, after=state, offers=setup.offers, awards=shown,
        shortfalls=shortfalls, merit_order=merit, payments=payments,
        baseline_kw=real_baseline, realised_kw=units, requested_delta_kw=feasible,
        rounds=rounds, voltage_shortfalls=v_short, monitored=monitored, delivery=delivery,
    )
