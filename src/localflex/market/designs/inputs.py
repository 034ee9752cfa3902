"""The one scenario every market design runs on (paper §6, Table 2).

To compare designs, each one must see the same grid, the same forecast, the same offers and
the same buyers. ``DesignInput`` holds them:

* the grid, its congestion points, the forecast power flow and the forecast net loads;
* the sensitivities (``DesignRelief``: relief of one kW of UP at a bus, indexed like a
  [T, CP, B] array but stored factored — ``scale`` [T, CPm] × ``dp`` [CPm, B] — on the
  monitored points only, issue 10's ``monitored_points`` / ``sparse_sensitivity``; the design
  CP axis (``cps``) is that monitored set, so memory grows with offers × needs, never with
  the grid squared);
* the DSO's congestion needs (``CongestionNeeds``, grid use, §5.3);
* the aggregators' offers (OFFER_COLUMNS), the only sellers, with their inter-temporal
  limits (``energy_budgets``, ``EnergyBudgets``: what the units behind a pool can shift over
  the day; None for offers made by hand without a book = no limit). Every stage that takes
  offers respects them (``ledger.OfferPool`` / ``EnergyUse``): a unit is never sold more
  energy than it has;
* location-free buy requests (``REQUEST_FRAME_COLUMNS``): BRPs' imbalance requests for
  market use — seeded, without location, at prices below what the DSO pays (§6.2: "they are
  willing to pay a lower price") — and the TSO's balancing requests for system use;
* what the DSO can force by direct control of contracted resources (orange regime) and by
  emergency curtailment / load shedding (red regime), per ISP and bus, with their prices.

``make_design_input`` builds it from grid-level objects (no simulator import: ``market``
knows nothing of ``sim``); ``localflex.cli.compare`` builds one from a scenario file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd

from localflex.domain import (
    OFFER_COLUMNS,
    Direction,
    InputError,
    Purpose,
    empty_frame,
    validate_offers,
)
from localflex.grid import (
    BusLoads,
    FlowSensitivity,
    GridModel,
    PowerFlowResult,
    congestion_points,
    headroom_kw,
    monitored_points,
    overload_kw,
    relief_scale,
    run_power_flow,
    sparse_sensitivity,
)
from localflex.grid.sensitivity import DEFAULT_LOADING_MARGIN_PCT
from localflex.grid.traffic_light import LightThresholds
from localflex.market.dso_single_buyer import (
    CongestionNeeds,
    EnergyBudgets,
    FactoredRelief,
    checked_energy_budgets,
)

__all__ = [
    "REQUEST_FRAME_COLUMNS",
    "DesignInput",
    "DesignParams",
    "DesignRelief",
    "aggregator_requests",
    "brp_offers",
    "brp_requests",
    "design_params_from_mapping",
    "make_design_input",
    "tso_requests",
]

REQUEST_FRAME_COLUMNS: dict[str, tuple[str, str, str]] = {
    "request_id": ("object", "-", "unique id"),
    "party_id": ("object", "-", "the buyer (a BRP or the TSO)"),
    "purpose": ("object", "-", "'market' (BRP) or 'system' (TSO)"),
    "isp": ("int64", "-", "ISP index"),
    "direction": ("object", "-", "'up' (more injection wanted) or 'down'"),
    "power_kw": ("float64", "kW", "volume wanted over the ISP"),
    "price_eur_per_mwh": ("float64", "EUR/MWh", "the most the buyer pays"),
}


@dataclass(frozen=True)
class DesignParams:
    """Knobs of the comparison; every figure is a documented assumption, not market data.

    BRPs: ``n_brps`` parties, each with an imbalance request in a share ``brp_active_share``
    of the ISPs, volume |N(0, ``brp_imbalance_kw``)| kW, direction from the sign, price
    uniform in ``brp_price_eur_per_mwh`` — below the DSO's willingness to pay (the DSO takes
    every offer up to its cap; §6.2). TSO: a balancing request in a share
    ``tso_active_share`` of the ISPs, volume uniform in ``tso_power_kw``, price uniform in
    ``tso_price_eur_per_mwh``. Direct control (orange) is compensated at
    ``control_price_eur_per_mwh`` (a regulated price); curtailment / shedding (red) costs
    ``curtailment_price_eur_per_mwh`` (compensation plus penalty).

    Table 2's other roles (off by default): BRPs as sellers — each BRP offers flexibility
    of its portfolio in a share ``brp_offer_share`` of the ISPs, |N(0, ``brp_imbalance_kw``)|
    kW, direction from the sign, price uniform in ``brp_offer_price_eur_per_mwh``, delivered
    at the grid's connection (slack) bus: its resources lie outside the area, so it touches
    no congestion point; aggregators as buyers — each aggregator asks, in a share
    ``aggregator_buy_share`` of the ISPs, for up to ``aggregator_buy_kw`` kW (uniform) to
    cover a shortfall of its portfolio, at the BRPs' price range. FLECH's reservation
    (``designs.reservation``) pays ``availability_price_eur_per_mw_h`` for held capacity
    (an assumption: no market data). Welfare charges every
    kWh of overload left after all trades at ``overload_penalty_eur_per_mwh``: the DSO's
    stated value of one MWh of overload avoided (welfare counts the overload the trades
    remove at this value; overload they create counts against it).
    """

    n_brps: int = 2
    brp_active_share: float = 0.6
    brp_imbalance_kw: float = 15.0
    brp_price_eur_per_mwh: tuple[float, float] = (60.0, 110.0)
    tso_active_share: float = 0.3
    tso_power_kw: tuple[float, float] = (5.0, 25.0)
    tso_price_eur_per_mwh: tuple[float, float] = (100.0, 180.0)
    control_price_eur_per_mwh: float = 250.0
    curtailment_price_eur_per_mwh: float = 1000.0
    overload_penalty_eur_per_mwh: float = 3000.0
    dso_price_cap_eur_per_mwh: float | None = None
    thresholds: LightThresholds = field(default_factory=LightThresholds)
    brp_offer_share: float = 0.0
    brp_offer_price_eur_per_mwh: tuple[float, float] = (70.0, 130.0)
    aggregator_buy_share: float = 0.0
    aggregator_buy_kw: float = 10.0
    availability_price_eur_per_mw_h: float = 5.0

    def __post_init__(self) -> None:
        if not (isinstance(self.n_brps, int) and self.n_brps >= 0):
            raise InputError("n_brps", self.n_brps, "an integer >= 0")
        for name in ("brp_active_share", "tso_active_share", "brp_offer_share",
                     "aggregator_buy_share"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise InputError(name, value, "a share in [0, 1]")
        for name in ("brp_price_eur_per_mwh", "tso_price_eur_per_mwh", "tso_power_kw",
                     "brp_offer_price_eur_per_mwh"):
            lo, hi = getattr(self, name)
            if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
                raise InputError(name, (lo, hi), "a finite range (low, high) with low <= high")
        for name in ("brp_imbalance_kw", "aggregator_buy_kw", "control_price_eur_per_mwh",
                     "availability_price_eur_per_mw_h",
                     "curtailment_price_eur_per_mwh", "overload_penalty_eur_per_mwh"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise InputError(name, value, "a finite value >= 0")


def design_params_from_mapping(data: object, source: str = "params") -> DesignParams:
    """``DesignParams`` from a parsed YAML mapping: the field names of ``DesignParams``, with
    ``thresholds`` a mapping of ``LightThresholds`` fields. Unknown keys raise InputError."""
    from dataclasses import fields

    if data is None:
        return DesignParams()
    if not isinstance(data, dict):
        raise InputError(source, type(data).__name__, "a mapping of design parameters")
    known = {f.name for f in fields(DesignParams)}
    values = dict(data)
    for key in values:
        if key not in known:
            raise InputError(f"{source}.{key}", values[key], f"one of {', '.join(sorted(known))}")
    th = values.get("thresholds")
    if th is not None:
        th_known = {f.name for f in fields(LightThresholds)}
        if not isinstance(th, dict) or set(th) - th_known:
            bad = sorted(set(th) - th_known) if isinstance(th, dict) else th
            raise InputError(f"{source}.thresholds", bad, f"keys among {sorted(th_known)}")
        values["thresholds"] = LightThresholds(**th)
    for key in ("brp_price_eur_per_mwh", "tso_price_eur_per_mwh", "tso_power_kw",
                "brp_offer_price_eur_per_mwh"):
        if key in values:
            pair = values[key]
            if not (isinstance(pair, list | tuple) and len(pair) == 2):
                raise InputError(f"{source}.{key}", pair, "a pair [low, high]")
            values[key] = (float(pair[0]), float(pair[1]))
    try:
        return DesignParams(**values)
    except TypeError as exc:
        raise InputError(source, str(exc), "design parameters of the right type") from None


@dataclass(frozen=True)
class DesignRelief(FactoredRelief):
    """Relief per kW of UP, ``relief[t, cp, b] = scale[t, cp] · dp[cp, b]``, on the design's
    (monitored) CP axis and the grid's bus axis, indexed like the dense [T, CP, B] array it
    replaces for the forms the stages use — ``[isp, :, pos]`` ([N, CP]), ``[t, c, :]``
    ([B] or [N, B]), ``[isp, c, pos]`` ([N]) — without ever forming T·CP·B floats."""

    def __getitem__(self, key: tuple) -> np.ndarray:
        t, c, b = key
        s = self.scale[t, c]
        d = self.dp_kw_per_kw[c, b]
        if isinstance(c, slice) and np.ndim(b) > 0:  # [N, CP]
            return s * d.T if np.ndim(s) == 2 else (s[:, None] * d).T
        if isinstance(b, slice) and np.ndim(s) > 0:  # [N, B]
            return s[:, None] * d
        return s * d

    def positive_sum_kw(self, up_kw: np.ndarray, down_kw: np.ndarray) -> np.ndarray:
        """[T, CP] Σ_b max(0, relief)·up_kw[t, b] + max(0, −relief)·down_kw[t, b]: relief
        that capacities at every bus give (sign split of the factored form)."""
        dp_pos, dp_neg = np.maximum(self.dp_kw_per_kw, 0.0), np.maximum(-self.dp_kw_per_kw, 0.0)
        s_pos, s_neg = np.maximum(self.scale, 0.0), np.maximum(-self.scale, 0.0)
        return (s_pos * (up_kw @ dp_pos.T + down_kw @ dp_neg.T)
                + s_neg * (up_kw @ dp_neg.T + down_kw @ dp_pos.T))


@dataclass(frozen=True)
class DesignInput:
    """The shared scenario of every design (module docstring). Arrays are on the grid's bus
    axis (``grid.bus_ids``) and the design's congestion-point axis (``cps`` rows: the
    monitored points, rows ``cp_pos`` of ``congestion_points(grid)``; ``forecast``'s cp_*
    arrays are on that axis too, its bus/line/trafo arrays are the whole grid's)."""

    grid: GridModel
    cps: pd.DataFrame
    forecast_loads: BusLoads
    forecast: PowerFlowResult
    relief: DesignRelief  # [T, CP, B] factored
    needs: CongestionNeeds
    offers: pd.DataFrame  # OFFER_COLUMNS
    requests: pd.DataFrame  # REQUEST_FRAME_COLUMNS (BRP + TSO)
    control_up_kw: np.ndarray  # [T, B]
    control_down_kw: np.ndarray  # [T, B]
    curtail_up_kw: np.ndarray  # [T, B] load that can be shed
    curtail_down_kw: np.ndarray  # [T, B] generation that can be curtailed
    isp_hours: float
    params: DesignParams
    seed: int
    dso_id: str = "DSO"
    tso_id: str = "TSO"
    engine: str = "pgm"
    costs_eur_per_mwh: pd.Series | None = None  # offer_id -> the seller's true cost
    cp_pos: np.ndarray | None = None  # rows of congestion_points(grid) in cps (None = all)
    forecast_all: PowerFlowResult | None = None  # ``forecast`` on every congestion point
    energy_budgets: EnergyBudgets | None = None  # the offers' inter-temporal limits

    @property
    def offer_costs(self) -> pd.Series:
        """offer_id -> the seller's cost per MWh (welfare, profits): ``costs_eur_per_mwh``
        where given, else the ask (cost-based bidding)."""
        ask = self.offers.set_index("offer_id")["price_eur_per_mwh"].astype(float)
        if self.costs_eur_per_mwh is None:
            return ask
        return self.costs_eur_per_mwh.reindex(ask.index).fillna(ask)

    def costs_of(self, offer_ids: pd.Series | np.ndarray) -> np.ndarray:
        """[n] ``offer_costs`` of ``offer_ids`` (NaN for an id that is no offer of the
        input), looked up for those ids only."""
        ids = np.asarray(offer_ids, dtype=object)
        row = self.offer_index.get_indexer(ids)
        ask = np.where(row >= 0, self.offers["price_eur_per_mwh"].to_numpy(dtype=float)[row],
                       np.nan)
        if self.costs_eur_per_mwh is None:
            return ask
        if self._costs_by_row is not None:  # the costs in the offers' order: by row
            cost = np.where(row >= 0, self._costs_by_row[row], np.nan)
        else:
            cost = self.costs_eur_per_mwh.reindex(ids).to_numpy(dtype=float)
        return np.where(row >= 0, np.where(np.isnan(cost), ask, cost), np.nan)

    @cached_property
    def _costs_by_row(self) -> np.ndarray | None:
        """``costs_eur_per_mwh`` as an array on the offers' rows when it is indexed by the
        offers' ids in their order (as ``sim.setup`` builds it), else None."""
        costs = self.costs_eur_per_mwh
        if costs is None or not costs.index.equals(self.offer_index):
            return None
        return costs.to_numpy(dtype=float)

    @cached_property
    def offer_index(self) -> pd.Index:
        """The offers' ids (unique) as an Index, built once per input: its hash table, built
        at the first look-up, serves every look-up of offers by id (pools, budgets, costs)."""
        return pd.Index(self.offers["offer_id"])

    @cached_property
    def budget_offer_rows(self) -> np.ndarray:
        """[E] the row in ``offers`` of each energy-budget entry's offer (empty: no budgets)."""
        if self.energy_budgets is None:
            return np.zeros(0, dtype=np.int64)
        return self.offer_index.get_indexer(self.energy_budgets.offer_id)

    def on_every_point(self, values: np.ndarray) -> np.ndarray:
        """[T, CP] values on the design's (monitored) points -> [T, every congestion point
        of the grid], zero at the unmonitored ones (none of them is overloaded)."""
        n_all = len(congestion_points(self.grid))
        if self.cp_pos is None:
            return np.asarray(values, dtype=float)
        out = np.zeros((np.shape(values)[0], n_all))
        out[:, self.cp_pos] = values
        return out

    @property
    def n_isps(self) -> int:
        return int(self.forecast_loads.n_isps)

    @property
    def bus_ids(self) -> np.ndarray:
        return self.grid.bus_ids

    @property
    def brp_requests(self) -> pd.DataFrame:
        return self.requests[self.requests["purpose"] == Purpose.MARKET.value]

    @property
    def tso_requests(self) -> pd.DataFrame:
        return self.requests[self.requests["purpose"] == Purpose.SYSTEM.value]

    def with_offers(self, offers: pd.DataFrame) -> DesignInput:
        """The same scenario with other offers (validated)."""
        frame = validate_offers(offers[list(OFFER_COLUMNS)], n_isps=self.n_isps,
                                valid_buses=self.bus_ids).reset_index(drop=True)
        return _replace(self, offers=frame)

    def with_requests(self, requests: pd.DataFrame) -> DesignInput:
        return _replace(self, requests=_check_requests(requests, self.n_isps))

    def with_markups(self, markups: dict[str, float]) -> DesignInput:
        """The same scenario with every aggregator's asks at its true cost × (1 + markup)
        (``aggregator.strategies.apply_markups``); the costs stay what they were."""
        from localflex.aggregator.strategies import apply_markups

        costs = self.offer_costs
        marked = _replace(self, costs_eur_per_mwh=costs)
        return marked.with_offers(apply_markups(self.offers, costs, markups))


def _replace(inp: DesignInput, **changes) -> DesignInput:
    return replace(inp, **changes)


def _requests_frame(rows: dict[str, object]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if frame.empty:
        return empty_frame(REQUEST_FRAME_COLUMNS)
    return frame[list(REQUEST_FRAME_COLUMNS)].astype(
        {k: v[0] for k, v in REQUEST_FRAME_COLUMNS.items()})


def _check_requests(requests: pd.DataFrame, n_isps: int) -> pd.DataFrame:
    missing = [c for c in REQUEST_FRAME_COLUMNS if c not in requests.columns]
    if missing:
        raise InputError("requests", missing, f"columns {list(REQUEST_FRAME_COLUMNS)}")
    frame = requests[list(REQUEST_FRAME_COLUMNS)].reset_index(drop=True)
    if frame["request_id"].duplicated().any():
        bad = frame.loc[frame["request_id"].duplicated(), "request_id"].iloc[0]
        raise InputError("requests.request_id", bad, "unique request ids")
    checks = (
        ("isp", ~frame["isp"].between(0, n_isps - 1), f"an ISP index in 0..{n_isps - 1}"),
        ("direction", ~frame["direction"].isin(["up", "down"]), "'up' or 'down'"),
        ("purpose", ~frame["purpose"].isin(["market", "system"]), "'market' or 'system'"),
        ("power_kw", ~(frame["power_kw"] > 0) | ~np.isfinite(frame["power_kw"]),
         "a finite volume > 0 kW"),
        ("price_eur_per_mwh", ~np.isfinite(frame["price_eur_per_mwh"]), "a finite price"),
    )
    for name, bad, expected in checks:
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"requests[{row}].{name}", frame[name].iloc[row], expected)
    return frame.astype({k: v[0] for k, v in REQUEST_FRAME_COLUMNS.items()})


def brp_requests(rng: np.random.Generator, n_isps: int, params: DesignParams) -> pd.DataFrame:
    """Seeded BRP imbalance requests, without location (see ``DesignParams``)."""
    n = params.n_brps
    active = rng.random((n, n_isps)) < params.brp_active_share
    imbalance = rng.normal(0.0, params.brp_imbalance_kw, (n, n_isps))
    price = rng.uniform(*params.brp_price_eur_per_mwh, (n, n_isps))
    keep = active & (np.abs(imbalance) >= 0.1)
    brp, isp = np.nonzero(keep)
    names = np.array([f"BRP{i + 1}" for i in range(n)], dtype=object)
    return _requests_frame({
        "request_id": [f"BRP{b + 1}/t{t}" for b, t in zip(brp, isp, strict=True)],
        "party_id": names[brp] if brp.size else [],
        "purpose": Purpose.MARKET.value,
        "isp": isp.astype(np.int64),
        "direction": np.where(imbalance[brp, isp] > 0, Direction.UP.value, Direction.DOWN.value),
        "power_kw": np.round(np.abs(imbalance[brp, isp]), 3),
        "price_eur_per_mwh": np.round(price[brp, isp], 2),
    })


def tso_requests(
    rng: np.random.Generator, n_isps: int, params: DesignParams, tso_id: str = "TSO"
) -> pd.DataFrame:
    """Seeded TSO balancing requests for the distribution area (system use)."""
    active = rng.random(n_isps) < params.tso_active_share
    up = rng.random(n_isps) < 0.5
    power = rng.uniform(*params.tso_power_kw, n_isps)
    price = rng.uniform(*params.tso_price_eur_per_mwh, n_isps)
    isp = np.flatnonzero(active)
    return _requests_frame({
        "request_id": [f"{tso_id}/t{t}" for t in isp],
        "party_id": tso_id,
        "purpose": Purpose.SYSTEM.value,
        "isp": isp.astype(np.int64),
        "direction": np.where(up[isp], Direction.UP.value, Direction.DOWN.value),
        "power_kw": np.round(power[isp], 3),
        "price_eur_per_mwh": np.round(price[isp], 2),
    })


def brp_offers(rng: np.random.Generator, n_isps: int, params: DesignParams,
               connection_bus: int) -> pd.DataFrame:
    """Seeded BRP sell offers at the grid's connection bus (see ``DesignParams``)."""
    n = params.n_brps
    active = rng.random((n, n_isps)) < params.brp_offer_share
    volume = rng.normal(0.0, params.brp_imbalance_kw, (n, n_isps))
    price = rng.uniform(*params.brp_offer_price_eur_per_mwh, (n, n_isps))
    brp, isp = np.nonzero(active & (np.abs(volume) >= 0.1))
    frame = pd.DataFrame({
        "offer_id": [f"BRP{b + 1}/sell/t{t}" for b, t in zip(brp, isp, strict=True)],
        "aggregator_id": [f"BRP{b + 1}" for b in brp],
        "bus": np.full(brp.size, int(connection_bus), dtype=np.int64),
        "isp": isp.astype(np.int64),
        "direction": np.where(volume[brp, isp] > 0, Direction.UP.value, Direction.DOWN.value),
        "max_power_kw": np.round(np.abs(volume[brp, isp]), 3),
        "min_power_kw": 0.0,
        "price_eur_per_mwh": np.round(price[brp, isp], 2),
        "der_type": "mixed",
        "block_id": "",
    })
    return frame[list(OFFER_COLUMNS)] if len(frame) else empty_frame(OFFER_COLUMNS)


def aggregator_requests(rng: np.random.Generator, n_isps: int, params: DesignParams,
                        aggregators: list[str]) -> pd.DataFrame:
    """Seeded buy requests of the aggregators (market use; see ``DesignParams``)."""
    n = len(aggregators)
    active = rng.random((n, n_isps)) < params.aggregator_buy_share
    up = rng.random((n, n_isps)) < 0.5
    power = rng.uniform(1.0, max(params.aggregator_buy_kw, 1.0), (n, n_isps))
    price = rng.uniform(*params.brp_price_eur_per_mwh, (n, n_isps))
    a, isp = np.nonzero(active)
    names = np.array(aggregators, dtype=object)
    return _requests_frame({
        "request_id": [f"{names[i]}/buy/t{t}" for i, t in zip(a, isp, strict=True)],
        "party_id": names[a] if a.size else [],
        "purpose": Purpose.MARKET.value,
        "isp": isp.astype(np.int64),
        "direction": np.where(up[a, isp], Direction.UP.value, Direction.DOWN.value),
        "power_kw": np.round(power[a, isp], 3),
        "price_eur_per_mwh": np.round(price[a, isp], 2),
    })


def make_design_input(
    grid: GridModel,
    forecast_loads: BusLoads,
    offers: pd.DataFrame,
    *,
    isp_hours: float,
    seed: int,
    params: DesignParams | None = None,
    control_up_kw: np.ndarray | None = None,
    control_down_kw: np.ndarray | None = None,
    requests: pd.DataFrame | None = None,
    sensitivity: FlowSensitivity | None = None,
    engine: str = "pgm",
    dso_id: str = "DSO",
    tso_id: str = "TSO",
    offer_cost_eur_per_mwh: pd.Series | None = None,
    energy_budgets: EnergyBudgets | None = None,
) -> DesignInput:
    """Forecast power flow, sensitivities, needs and seeded requests for ``offers``.

    ``control_*_kw`` [T, B] default to zero (no contracted resources). ``requests`` default
    to ``brp_requests`` + ``tso_requests`` drawn from ``seed``. ``offer_cost_eur_per_mwh``
    (offer_id -> EUR/MWh) is the sellers' true cost where their asks carry a markup.
    ``energy_budgets`` are the offers' inter-temporal limits (``aggregator.dispatch.
    unit_energy_budgets``; None = none): their entries must name offers of ``offers``.
    The design CP axis is the monitored set (``monitored_points`` with a margin of at least
    the yellow band); with a dense ``sensitivity`` (every point × every bus, small grids
    only) it is every congestion point — the reference the sparse input is tested against.
    """
    params = params or DesignParams()
    if not (np.isfinite(isp_hours) and isp_hours > 0):
        raise InputError("isp_hours", isp_hours, "a positive ISP length in hours")
    n_isps, n_bus = forecast_loads.n_isps, grid.n_buses
    full = run_power_flow(grid, forecast_loads, engine=engine)
    margin = max(DEFAULT_LOADING_MARGIN_PCT, params.thresholds.yellow_margin_pct)
    cp_pos = (np.arange(len(congestion_points(grid))) if sensitivity is not None  # dense
              else monitored_points(grid, full, loading_margin_pct=margin).cp_pos)
    cps = congestion_points(grid).iloc[cp_pos].reset_index(drop=True)
    forecast = replace(full, **{k: getattr(full, k)[:, cp_pos] for k in _CP_FIELDS
                                if getattr(full, k) is not None})
    control = {}
    for name, arr in (("control_up_kw", control_up_kw), ("control_down_kw", control_down_kw)):
        arr = np.zeros((n_isps, n_bus)) if arr is None else np.asarray(arr, dtype=float)
        if arr.shape != (n_isps, n_bus) or not np.isfinite(arr).all() or (arr < 0).any():
            raise InputError(name, arr.shape, f"a finite array [{n_isps}, {n_bus}] >= 0 kW")
        control[name] = arr
    aggregators = sorted(set(pd.unique(offers["aggregator_id"].to_numpy())))
    if params.brp_offer_share > 0:  # Table 2: BRPs sell too
        slack = int(grid.net.ext_grid.loc[grid.net.ext_grid["in_service"].astype(bool),
                                          "bus"].iloc[0])
        offers = pd.concat([offers[list(OFFER_COLUMNS)], brp_offers(
            np.random.default_rng([seed, 63]), n_isps, params, slack)], ignore_index=True)
    # validate_offers copies the frame and keeps OFFER_COLUMNS only; numbered rows without
    # another copy of 10⁵ offers
    frame = validate_offers(offers, n_isps=n_isps, valid_buses=grid.bus_ids).copy(deep=False)
    frame.index = pd.RangeIndex(len(frame))
    if requests is None:
        rng = np.random.default_rng([seed, 61])
        parts = [brp_requests(rng, n_isps, params), tso_requests(rng, n_isps, params, tso_id)]
        if params.aggregator_buy_share > 0:  # Table 2: aggregators buy too
            parts.append(aggregator_requests(np.random.default_rng([seed, 62]), n_isps,
                                             params, aggregators))
        requests = pd.concat(parts, ignore_index=True)
    requests = _check_requests(requests, n_isps)
    offer_index = pd.Index(frame["offer_id"])
    budgets, budget_rows = _check_budgets(energy_budgets, offer_index)
    p = forecast_loads.p_kw
    relief = _design_relief(grid, forecast_loads, forecast, cp_pos, cps, sensitivity,
                            frame, (control["control_up_kw"], control["control_down_kw"], p))
    needs = CongestionNeeds(
        cp_ids=cps["cp_id"].to_numpy(),
        overload_kw=overload_kw(forecast, cps),
        headroom_kw=headroom_kw(forecast, cps),
        relief_kw_per_kw_up=relief,
        bus_ids=grid.bus_ids,
        isp_hours=float(isp_hours),
    )
    inp = DesignInput(
        grid=grid,
        cps=cps,
        forecast_loads=forecast_loads,
        forecast=forecast,
        relief=relief,
        needs=needs,
        offers=frame,
        requests=requests,
        control_up_kw=control["control_up_kw"],
        control_down_kw=control["control_down_kw"],
        curtail_up_kw=np.maximum(p, 0.0),
        curtail_down_kw=np.maximum(-p, 0.0),
        isp_hours=float(isp_hours),
        params=params,
        seed=int(seed),
        dso_id=dso_id,
        tso_id=tso_id,
        engine=engine,
        costs_eur_per_mwh=_check_costs(offer_cost_eur_per_mwh),
        cp_pos=cp_pos,
        forecast_all=full,
        energy_budgets=budgets,
    )
    # the look-ups made here, kept for the input's stages (``DesignInput.offer_index``)
    inp.__dict__.update(offer_index=offer_index, budget_offer_rows=budget_rows)
    return inp


def _check_budgets(budgets: EnergyBudgets | None, offer_index: pd.Index
                   ) -> tuple[EnergyBudgets | None, np.ndarray]:
    """(the budgets checked, [E] the row of each entry's offer in ``offer_index``)."""
    if budgets is None:
        return None, np.zeros(0, dtype=np.int64)
    budgets = checked_energy_budgets(budgets)
    # hash lookups: np.isin on object arrays is quadratic-slow on an area's 10^5 offers
    rows = offer_index.get_indexer(budgets.offer_id)
    unknown = rows < 0
    if unknown.any():
        raise InputError("energy_budgets.offer_id", budgets.offer_id[unknown][0],
                         "the id of an offer of the input")
    return budgets, rows


_CP_FIELDS = ("cp_loading_pct", "cp_p_kw", "cp_s_kva", "cp_q_kvar")
DESIGN_MEMORY_SHARE = 0.5
"""The per-offer relief ([O, CPm] floats, a few copies per stage) may use at most this share
of the memory available when the input is built; beyond it ``make_design_input`` refuses."""
_COPIES = 8  # [O, CPm] arrays alive at once in a stage (relief, sign-scaled, masks, ...)


def _design_relief(grid: GridModel, loads: BusLoads, forecast: PowerFlowResult,
                   cp_pos: np.ndarray, cps: pd.DataFrame, sensitivity: FlowSensitivity | None,
                   offers: pd.DataFrame, capacities: tuple[np.ndarray, ...]) -> DesignRelief:
    """Relief on the monitored points × the buses where a stage can act (offers, direct
    control, curtailment; zero elsewhere), from issue 10's ``sparse_sensitivity`` (or the
    rows ``cp_pos`` of a given dense ``sensitivity``); refuses inputs whose per-offer relief
    would not fit in memory (one-line ``InputError``)."""
    _check_memory(len(offers), cp_pos.size)
    rated = cps["rated_kva"].to_numpy(dtype=float)
    scale = relief_scale(forecast, np.arange(cp_pos.size), rated)
    dp = np.zeros((cp_pos.size, grid.n_buses))
    if sensitivity is not None:
        dp[:] = sensitivity.dp_kw_per_kw[cp_pos]
    elif cp_pos.size:
        acting = np.zeros(grid.n_buses, dtype=bool)
        acting[np.searchsorted(grid.bus_ids, offers["bus"].to_numpy(dtype=np.int64))] = True
        for cap in capacities:
            acting |= (np.abs(cap) > 0).any(axis=0)
        sens = sparse_sensitivity(grid, loads, grid.bus_ids[acting], cp_pos=cp_pos,
                                  vm_bus_pos=np.zeros(0, dtype=np.int64))
        dp[:, np.searchsorted(grid.bus_ids, sens.injection_bus_ids)] = sens.dp_kw_per_kw
    return DesignRelief(scale=scale, dp_kw_per_kw=dp)


def _check_memory(n_offers: int, n_points: int) -> None:
    import psutil

    need = _COPIES * 8 * n_offers * max(n_points, 1)
    avail = psutil.virtual_memory().available * DESIGN_MEMORY_SHARE
    if need > avail:
        raise InputError("offers", f"{n_offers} offers x {n_points} monitored points",
                         f"per-offer relief within {avail / 1e9:.1f} GB of free memory "
                         f"(needs ~{need / 1e9:.1f} GB; fewer offers or a smaller area)")


def _check_costs(costs: pd.Series | None) -> pd.Series | None:
    if costs is None:
        return None
    costs = pd.Series(costs, dtype=float)
    if not np.isfinite(costs.to_numpy()).all():
        bad = costs[~np.isfinite(costs.to_numpy())].index[0]
        raise InputError(f"offer_cost_eur_per_mwh[{bad}]", costs[bad], "a finite cost")
    return costs
