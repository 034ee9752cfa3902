"""A scenario up to the market: grid, DERs on it, their baselines and the aggregators' offers.

Every driver that starts from a scenario file — the market day (``engine.simulate``), the
design comparison (``localflex compare``), market access (``localflex access``) and
settlement of a run (``localflex settle``) — builds the same things in the same seeded order
here, so the same scenario gives the same DERs, portfolios and offers everywhere (paper §2
DERs, §4 aggregators).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from localflex.aggregator import (
    AggregatorRule,
    OfferBook,
    Portfolio,
    assign_portfolios,
    build_offers,
)
from localflex.der import FlexEnvelope
from localflex.domain import OFFER_COLUMNS, HorizonError, OfferError, TimeGrid
from localflex.grid import BusLoads, GridModel, load_simbench_grid
from localflex.sim.placement import PlacedDers, place_ders
from localflex.sim.scenario import Scenario

__all__ = [
    "MarketSetup",
    "aggregator_rules",
    "design_input_from_setup",
    "extra_offers",
    "prepare_market",
    "scenario_time_grid",
]


@dataclass
class MarketSetup:
    """What a scenario puts on the market before anyone clears it."""

    scenario: Scenario
    time_grid: TimeGrid
    grid: GridModel
    placed: PlacedDers
    envelope: FlexEnvelope
    baseline_kw: np.ndarray  # [T, N] units' baseline net load, consumption positive
    portfolio: Portfolio
    book: OfferBook
    offers: pd.DataFrame  # OFFER_COLUMNS + pool (the aggregators' and the hand-entered)

    @property
    def forecast_loads(self) -> BusLoads:
        """Net load per bus with every DER at its baseline: what the DSO forecasts."""
        placed = self.placed
        return BusLoads(placed.net_load_per_bus(self.baseline_kw, self.envelope.bus),
                        placed.background_q_kvar)

    @property
    def unit_slices(self) -> list[slice]:
        return self.placed.unit_slices(self.time_grid)


def scenario_time_grid(scenario: Scenario) -> TimeGrid:
    return TimeGrid.for_day(scenario.time.day, scenario.time.isp_minutes, scenario.time.days)


def aggregator_rules(scenario: Scenario) -> list[AggregatorRule]:
    return [AggregatorRule(a.name, a.share,
                           None if a.der_types is None else frozenset(map(str, a.der_types)))
            for a in scenario.aggregators]


def extra_offers(scenario: Scenario, grid: GridModel, time_grid: TimeGrid) -> pd.DataFrame:
    """Offers entered by hand in the scenario, checked against the grid and the horizon."""
    rows = []
    buses = set(grid.bus_ids.tolist())
    for i, offer in enumerate(scenario.market.extra_offers):
        where = f"market.extra_offers[{i}]"
        if offer.bus not in buses:
            raise OfferError(f"{where}.bus", offer.bus,
                             f"a bus of grid {scenario.grid.simbench_code}")
        if not 0 <= offer.isp < time_grid.n_isps:
            raise HorizonError(f"{where}.isp", offer.isp,
                               f"an ISP index in 0..{time_grid.n_isps - 1}")
        rows.append({
            "offer_id": f"{offer.aggregator}/extra{i}",
            "aggregator_id": offer.aggregator,
            "bus": offer.bus,
            "isp": offer.isp,
            "direction": offer.direction.value,
            "max_power_kw": offer.power_kw,
            "min_power_kw": 0.0,
            "price_eur_per_mwh": offer.price_eur_per_mwh,
            "der_type": "mixed",
            "block_id": "",
            "pool": -1,
        })
    return pd.DataFrame(rows, columns=[*OFFER_COLUMNS, "pool"])


def prepare_market(
    scenario: Scenario, step: Callable[[str], None] | None = None,
    der_states: list[dict[str, np.ndarray]] | None = None,
) -> MarketSetup:
    """Load the grid, place the DERs, pool them and build the offers (seeded by the scenario).

    ``step`` is told "load grid", "place DERs" and "build offers" as each starts.
    ``der_states``: the fleets' initial states (``PlacedDers.end_states`` of the day
    before, same scenario and seed); default: each family's own initial state.
    """
    report = step or (lambda _name: None)
    time_grid = scenario_time_grid(scenario)
    report("load grid")
    grid = load_simbench_grid(scenario.grid.simbench_code)
    by_hand = extra_offers(scenario, grid, time_grid)

    report("place DERs")
    placed = place_ders(grid, scenario, time_grid)
    if der_states is not None:
        placed = placed.with_states(der_states)
    envelope = placed.envelope(time_grid)
    baseline = np.hstack(placed.baselines_kw(time_grid))

    report("build offers")
    rng = np.random.default_rng([scenario.seed, 2])
    portfolio = assign_portfolios(envelope.der_type, aggregator_rules(scenario),
                                  scenario.ders.participation, rng)
    book = build_offers(
        up_kw=envelope.up_kw,
        down_kw=envelope.down_kw,
        energy_up_max_kwh=envelope.energy_up_max_kwh,
        energy_down_max_kwh=envelope.energy_down_max_kwh,
        unit_bus=envelope.bus,
        unit_der_type=envelope.der_type,
        portfolio=portfolio,
        min_bid_kw={a.name: a.min_bid_kw for a in scenario.aggregators},
        markup={a.name: a.price_markup for a in scenario.aggregators},
        rng=rng,
        cost_overrides={str(k): v for k, v in scenario.market.cost_eur_per_mwh.items()},
    )
    offers = (pd.concat([book.offers, by_hand], ignore_index=True) if len(by_hand)
              else book.offers)
    return MarketSetup(scenario, time_grid, grid, placed, envelope, baseline, portfolio, book,
                       offers)


def design_input_from_setup(setup: MarketSetup, params=None, seed: int | None = None):
    """The market designs' shared input (``market.designs.DesignInput``) of a prepared day:
    forecast, sensitivities, needs, seeded requests, the offers with their true cost (the
    scenario's ``price_markup`` is a multiplier on the DER cost model) and every DER's
    envelope as contracted control, and the offers' energy budgets as the DSO's market day
    builds them (``unit_energy_budgets`` on the book and envelope, nothing requested yet).
    ``params`` default to the scenario's price cap,
    ``seed`` to the scenario's. ``localflex compare`` and a study day both start here."""
    from localflex.aggregator import unit_energy_budgets
    from localflex.der import total_by_bus
    from localflex.market import EnergyBudgets
    from localflex.market.designs import DesignParams, make_design_input

    scenario, grid, envelope = setup.scenario, setup.grid, setup.envelope
    if params is None:
        params = DesignParams(dso_price_cap_eur_per_mwh=scenario.market.price_cap_eur_per_mwh)
    offers = setup.offers  # make_design_input keeps OFFER_COLUMNS (no copy of 10⁵ offers here)
    markup = {a.name: a.price_markup for a in scenario.aggregators}
    costs = pd.Series((offers["price_eur_per_mwh"] / offers["aggregator_id"].map(markup)
                       .fillna(1.0)).to_numpy(dtype=float), index=offers["offer_id"].to_numpy())
    return make_design_input(
        grid, setup.forecast_loads, offers,
        isp_hours=setup.time_grid.isp_hours,
        seed=scenario.seed if seed is None else seed, params=params,
        control_up_kw=total_by_bus(envelope.up_kw, envelope.bus, grid.bus_ids),
        control_down_kw=total_by_bus(envelope.down_kw, envelope.bus, grid.bus_ids),
        engine=scenario.grid.power_flow_engine, dso_id=scenario.market.dso_name,
        offer_cost_eur_per_mwh=costs,
        energy_budgets=EnergyBudgets(*unit_energy_budgets(
            setup.book, envelope.up_kw, envelope.down_kw, envelope.energy_up_max_kwh,
            envelope.energy_down_max_kwh, setup.time_grid.isp_hours)),
    )
