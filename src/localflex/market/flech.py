"""FLECH: the DSO market in two phases, reservation then activation (paper §5.3, refs [54,55]).

"The market is structured in two phases: firstly, a reservation market, where DSO establishes
contracts with aggregators that are committed to providing flexibility for a determined number
of time-steps during the contracted timeframe; and secondly, an activation market where DSO
can call for flexibility activation and other aggregators, which, even if they are not
involved in the reservation phase, can bid at a lower price than the established price in the
reservation phase (considered as a cap)."

Reservation phase (``reserve_flexibility``)
    Aggregators offer availability (``AVAILABILITY_OFFER_COLUMNS``): up to ``max_power_kw``
    at a bus and direction, held for every ISP of ``first_isp..last_isp``, at an availability
    price (EUR/MW/h) and a committed activation price (EUR/MWh). Each availability offer
    becomes a linked block of per-ISP offers of the single-buyer engine
    (``dso_single_buyer``), so the reserved kW is one figure for the whole window; an offer
    with ``min_power_kw > 0`` is all-or-nothing. The DSO reserves the cheapest set that covers
    its *forecast* needs times ``1 + reserve_margin`` (network-aware: relief sensitivities and
    headroom as in the single-buyer clearing, the reserve counted as if fully activated).
    Merit price of a block member = availability price + ``activation_weight`` x activation
    price (``activation_weight`` = expected share of the reserved energy that is called; 0
    = reserve on availability price alone). Reservation is paid pay-as-bid:
    ``reserved_kw x window ISPs x isp_hours x availability price / 1000``.

Activation phase (``activate_flexibility``)
    With the needs known closer to delivery, the DSO clears the single-buyer market over
    (a) the reserved contracts, offered per ISP of their window at their committed activation
    price, up to the reserved kW, and (b) spot offers of any aggregator. The activation cap of
    ISP ``t`` is the highest activation price among the contracts reserved for ``t`` (or
    ``max_price_eur_per_mwh`` where no contract covers ``t``); a spot offer is admitted only if
    it undercuts that cap strictly. Contract holders are not obliged to be called; they are
    paid their activation price (or the location price with ``pricing="pay_as_clear"``,
    never above the cap since only offers at or under the cap are admitted).

Cost of FLECH = reservation cost + activation cost; both are reported. In the common outcome
(``FlechResult.outcome``) reservation fills have product ``availability`` (kW per ISP at
EUR/MW/h), activation fills ``active_power``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from localflex.domain import (
    OFFER_COLUMNS,
    InputError,
    OfferError,
    empty_frame,
    validate_offers,
)
from localflex.market.dso_single_buyer import (
    ClearingResult,
    CongestionNeeds,
    EnergyBudgets,
    Pricing,
    clear_dso_single_buyer,
)
from localflex.market.outcome import (
    MarketOutcome,
    fills_frame,
    prices_frame,
    single_buyer_fills,
)

__all__ = [
    "AVAILABILITY_OFFER_COLUMNS",
    "CONTRACT_COLUMNS",
    "FlechActivation",
    "FlechReservation",
    "FlechResult",
    "activate_flexibility",
    "contract_offers",
    "flech_outcome",
    "reserve_flexibility",
    "run_flech",
]

AVAILABILITY_OFFER_COLUMNS: dict[str, tuple[str, str, str]] = {
    "offer_id": ("object", "-", "unique id of the availability offer"),
    "aggregator_id": ("object", "-", "the offering aggregator"),
    "bus": ("int64", "-", "grid bus index"),
    "direction": ("object", "-", "'up' or 'down'"),
    "first_isp": ("int64", "-", "first ISP of the contracted window"),
    "last_isp": ("int64", "-", "last ISP of the window (inclusive)"),
    "max_power_kw": ("float64", "kW", "largest volume held available"),
    "min_power_kw": ("float64", "kW", "> 0: all-or-nothing"),
    "availability_price_eur_per_mw_h": ("float64", "EUR/MW/h", "price of holding 1 MW for 1 h"),
    "activation_price_eur_per_mwh": ("float64", "EUR/MWh", "committed activation price"),
    "der_type": ("object", "-", "DER family (or 'mixed')"),
}
CONTRACT_COLUMNS: dict[str, tuple[str, str, str]] = {
    "contract_id": ("object", "-", "the availability offer that won"),
    "aggregator_id": ("object", "-", "who holds the flexibility available"),
    "bus": ("int64", "-", "grid bus index"),
    "direction": ("object", "-", "'up' or 'down'"),
    "first_isp": ("int64", "-", "window start"),
    "last_isp": ("int64", "-", "window end (inclusive)"),
    "reserved_kw": ("float64", "kW", "volume held available in every ISP of the window"),
    "availability_price_eur_per_mw_h": ("float64", "EUR/MW/h", "availability price (paid)"),
    "activation_price_eur_per_mwh": ("float64", "EUR/MWh", "activation price = cap"),
    "reservation_cost_eur": ("float64", "EUR", "reserved kW x window hours x price / 1000"),
    "der_type": ("object", "-", "DER family"),
}


@dataclass(frozen=True)
class FlechReservation:
    contracts: pd.DataFrame  # CONTRACT_COLUMNS
    clearing: ClearingResult  # the reservation clearing (block members per ISP)
    activation_cap_eur_per_mwh: np.ndarray  # [T]; NaN = no contract in that ISP
    reservation_cost_eur: float
    isp_hours: float


@dataclass(frozen=True)
class FlechActivation:
    clearing: ClearingResult  # awards of contracts ('<contract>@<isp>') and spot offers
    excluded_offers: pd.DataFrame  # spot offers not undercutting the cap (OFFER_COLUMNS)
    activation_cost_eur: float


@dataclass(frozen=True)
class FlechResult:
    reservation: FlechReservation
    activation: FlechActivation

    @property
    def reservation_cost_eur(self) -> float:
        return self.reservation.reservation_cost_eur

    @property
    def activation_cost_eur(self) -> float:
        return self.activation.activation_cost_eur

    @property
    def total_cost_eur(self) -> float:
        return self.reservation_cost_eur + self.activation_cost_eur

    def outcome(self, dso_id: str = "dso") -> MarketOutcome:
        return flech_outcome(self.reservation, self.activation, dso_id)


def _check_availability(offers: pd.DataFrame, n_isps: int) -> pd.DataFrame:
    optional = {"der_type": "mixed", "min_power_kw": 0.0}
    missing = [c for c in AVAILABILITY_OFFER_COLUMNS if c not in offers and c not in optional]
    if missing:
        raise OfferError("availability_offers", missing,
                         f"columns {list(AVAILABILITY_OFFER_COLUMNS)}")
    frame = offers.copy()
    for column, default in optional.items():
        if column not in frame:
            frame[column] = default
    if frame.empty:
        return empty_frame(AVAILABILITY_OFFER_COLUMNS)
    first = pd.to_numeric(frame["first_isp"], errors="coerce").to_numpy(dtype=float)
    last = pd.to_numeric(frame["last_isp"], errors="coerce").to_numpy(dtype=float)
    bad = ~((first >= 0) & (last >= first) & (last < n_isps) & (first == np.floor(first))
            & (last == np.floor(last)))
    if bad.any():
        row = frame.loc[bad].iloc[0]
        raise OfferError(f"offer[{row['offer_id']}].first_isp..last_isp",
                         (row["first_isp"], row["last_isp"]),
                         f"a window first <= last inside 0..{n_isps - 1}")
    for column in ("availability_price_eur_per_mw_h", "activation_price_eur_per_mwh"):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(values).all():
            row = frame.loc[~np.isfinite(values)].iloc[0]
            raise OfferError(f"offer[{row['offer_id']}].{column}", row[column], "a finite price")
        frame[column] = values
    if frame["offer_id"].astype(str).str.contains("@", regex=False).any():
        bad_id = frame.loc[frame["offer_id"].astype(str).str.contains("@"), "offer_id"].iloc[0]
        raise OfferError(f"offer[{bad_id}].offer_id", bad_id, "an id without '@'")
    return frame.astype({k: v[0] for k, v in AVAILABILITY_OFFER_COLUMNS.items()})[
        list(AVAILABILITY_OFFER_COLUMNS)
    ]


def reserve_flexibility(
    availability_offers: pd.DataFrame,
    forecast_needs: CongestionNeeds,
    *,
    n_isps: int,
    reserve_margin: float = 0.0,
    activation_weight: float = 0.0,
    max_availability_price_eur_per_mw_h: float | None = None,
) -> FlechReservation:
    """Reservation phase: contracts that cover the forecast needs (module docstring).

    Availability offers above ``max_availability_price_eur_per_mw_h`` are not considered.
    """
    if not (np.isfinite(reserve_margin) and reserve_margin >= 0):
        raise InputError("reserve_margin", reserve_margin, "a share >= 0")
    if not (np.isfinite(activation_weight) and 0 <= activation_weight <= 1):
        raise InputError("activation_weight", activation_weight, "a share in [0, 1]")
    avail = _check_availability(availability_offers, n_isps)
    if max_availability_price_eur_per_mw_h is not None:
        avail = avail[avail["availability_price_eur_per_mw_h"]
                      <= max_availability_price_eur_per_mw_h].reset_index(drop=True)
    length = (avail["last_isp"] - avail["first_isp"] + 1).to_numpy(dtype=np.int64)
    rep = np.repeat(np.arange(len(avail)), length)
    isp = (np.repeat(avail["first_isp"].to_numpy(dtype=np.int64), length)
           + np.arange(len(rep)) - np.repeat(np.cumsum(length) - length, length))
    src = avail.iloc[rep].reset_index(drop=True)
    merit_price = (src["availability_price_eur_per_mw_h"]
                   + activation_weight * src["activation_price_eur_per_mwh"])
    members = pd.DataFrame({
        "offer_id": src["offer_id"] + "@" + pd.Series(isp).astype(str),
        "aggregator_id": src["aggregator_id"],
        "bus": src["bus"],
        "isp": isp,
        "direction": src["direction"],
        "max_power_kw": src["max_power_kw"],
        "min_power_kw": src["min_power_kw"],
        "price_eur_per_mwh": merit_price,
        "der_type": src["der_type"],
        "block_id": src["offer_id"],
    })[list(OFFER_COLUMNS)]
    scaled = CongestionNeeds(
        cp_ids=forecast_needs.cp_ids,
        overload_kw=np.asarray(forecast_needs.overload_kw, dtype=float) * (1 + reserve_margin),
        headroom_kw=forecast_needs.headroom_kw,
        relief_kw_per_kw_up=forecast_needs.relief_kw_per_kw_up,
        bus_ids=forecast_needs.bus_ids,
        isp_hours=forecast_needs.isp_hours,
    )
    clearing = clear_dso_single_buyer(members, scaled, n_isps=n_isps)
    isp_hours = float(forecast_needs.isp_hours)
    won = clearing.awards.assign(contract_id=clearing.awards["offer_id"].str.split("@").str[0])
    reserved = won.groupby("contract_id")["power_kw"].max()
    contracts = avail[avail["offer_id"].isin(reserved.index)].copy()
    contracts["reserved_kw"] = contracts["offer_id"].map(reserved).to_numpy(dtype=float)
    contracts["reservation_cost_eur"] = (
        contracts["reserved_kw"] * (contracts["last_isp"] - contracts["first_isp"] + 1)
        * isp_hours * contracts["availability_price_eur_per_mw_h"] / 1000.0
    )
    contracts = contracts.rename(columns={"offer_id": "contract_id"})
    contracts = (contracts[list(CONTRACT_COLUMNS)].astype(
        {k: v[0] for k, v in CONTRACT_COLUMNS.items()}).reset_index(drop=True)
        if len(contracts) else empty_frame(CONTRACT_COLUMNS))
    cap = np.full(n_isps, -np.inf)
    for first, last, price in contracts[
        ["first_isp", "last_isp", "activation_price_eur_per_mwh"]
    ].itertuples(index=False):  # one pass per contract (not per ISP x resource)
        cap[first:last + 1] = np.maximum(cap[first:last + 1], price)
    cap[~np.isfinite(cap)] = np.nan
    return FlechReservation(
        contracts=contracts, clearing=clearing, activation_cap_eur_per_mwh=cap,
        reservation_cost_eur=float(contracts["reservation_cost_eur"].sum()),
        isp_hours=isp_hours,
    )


def contract_offers(contracts: pd.DataFrame) -> pd.DataFrame:
    """The reserved contracts as activation offers, one per ISP of each window."""
    if contracts.empty:
        return empty_frame(OFFER_COLUMNS)
    length = (contracts["last_isp"] - contracts["first_isp"] + 1).to_numpy(dtype=np.int64)
    rep = np.repeat(np.arange(len(contracts)), length)
    isp = (np.repeat(contracts["first_isp"].to_numpy(dtype=np.int64), length)
           + np.arange(len(rep)) - np.repeat(np.cumsum(length) - length, length))
    src = contracts.iloc[rep].reset_index(drop=True)
    return pd.DataFrame({
        "offer_id": src["contract_id"] + "@" + pd.Series(isp).astype(str),
        "aggregator_id": src["aggregator_id"],
        "bus": src["bus"],
        "isp": isp,
        "direction": src["direction"],
        "max_power_kw": src["reserved_kw"],
        "min_power_kw": 0.0,
        "price_eur_per_mwh": src["activation_price_eur_per_mwh"],
        "der_type": src["der_type"],
        "block_id": "",
    })[list(OFFER_COLUMNS)]


def activate_flexibility(
    reservation: FlechReservation,
    needs: CongestionNeeds,
    spot_offers: pd.DataFrame | None = None,
    *,
    n_isps: int,
    max_price_eur_per_mwh: float | None = None,
    pricing: Pricing | str = Pricing.PAY_AS_BID,
    energy_budgets: EnergyBudgets | None = None,
) -> FlechActivation:
    """Activation phase: call reserved contracts and cheaper spot offers (module docstring);
    ``energy_budgets``: the spot offers' inter-temporal limits (``clear_dso_single_buyer``)."""
    reserved = contract_offers(reservation.contracts)
    excluded = empty_frame(OFFER_COLUMNS)
    frames = [reserved]
    if spot_offers is not None and len(spot_offers):
        spot = validate_offers(spot_offers, n_isps=n_isps, valid_buses=needs.bus_ids)
        if spot["offer_id"].isin(reserved["offer_id"]).any():
            bad = spot.loc[spot["offer_id"].isin(reserved["offer_id"]), "offer_id"].iloc[0]
            raise OfferError(f"offer[{bad}].offer_id", bad, "an id not used by a contract")
        cap = reservation.activation_cap_eur_per_mwh[spot["isp"].to_numpy()]
        fallback = np.inf if max_price_eur_per_mwh is None else max_price_eur_per_mwh
        cap = np.where(np.isnan(cap), fallback, cap)
        # strictly undercut the cap where a contract sets it; at most the global cap elsewhere
        no_contract = np.isnan(reservation.activation_cap_eur_per_mwh[spot["isp"].to_numpy()])
        price = spot["price_eur_per_mwh"].to_numpy()
        ok = np.where(no_contract, price <= cap, price < cap)
        excluded = spot[~ok].reset_index(drop=True)
        frames.append(spot[ok])
    offers = pd.concat(frames, ignore_index=True) if len(frames) > 1 else reserved
    clearing = clear_dso_single_buyer(offers, needs, n_isps=n_isps,
                                      max_price_eur_per_mwh=max_price_eur_per_mwh,
                                      pricing=pricing, energy_budgets=energy_budgets)
    return FlechActivation(clearing=clearing, excluded_offers=excluded,
                           activation_cost_eur=clearing.total_cost_eur)


def run_flech(
    availability_offers: pd.DataFrame,
    forecast_needs: CongestionNeeds,
    needs: CongestionNeeds,
    spot_offers: pd.DataFrame | None = None,
    *,
    n_isps: int,
    reserve_margin: float = 0.0,
    activation_weight: float = 0.0,
    max_price_eur_per_mwh: float | None = None,
    pricing: Pricing | str = Pricing.PAY_AS_BID,
) -> FlechResult:
    """Both phases: reserve on the forecast, activate on the realised needs."""
    reservation = reserve_flexibility(availability_offers, forecast_needs, n_isps=n_isps,
                                      reserve_margin=reserve_margin,
                                      activation_weight=activation_weight)
    activation = activate_flexibility(reservation, needs, spot_offers, n_isps=n_isps,
                                      max_price_eur_per_mwh=max_price_eur_per_mwh,
                                      pricing=pricing)
    return FlechResult(reservation=reservation, activation=activation)


def flech_outcome(
    reservation: FlechReservation, activation: FlechActivation, dso_id: str = "dso"
) -> MarketOutcome:
    """Availability fills (one per contract and ISP) plus activation fills."""
    offers = contract_offers(reservation.contracts)
    c = reservation.contracts
    price = np.repeat(c["availability_price_eur_per_mw_h"].to_numpy(),
                      (c["last_isp"] - c["first_isp"] + 1).to_numpy())
    h = reservation.isp_hours
    avail_awards = pd.DataFrame({
        "offer_id": offers["offer_id"], "aggregator_id": offers["aggregator_id"],
        "bus": offers["bus"], "isp": offers["isp"], "direction": offers["direction"],
        "power_kw": offers["max_power_kw"], "price_eur_per_mwh": price,
        "cost_eur": offers["max_power_kw"].to_numpy() * h * price / 1000.0,
    })
    parts = [
        single_buyer_fills(avail_awards, mechanism="flech", product="availability",
                           buyer_id=dso_id, isp_hours=h),
        single_buyer_fills(activation.clearing.awards, mechanism="flech",
                           product="active_power", buyer_id=dso_id, isp_hours=h),
    ]
    fills = fills_frame(pd.concat(parts, ignore_index=True).to_dict("list"))
    cap = reservation.activation_cap_eur_per_mwh
    has = np.flatnonzero(np.isfinite(cap))
    prices = prices_frame({"mechanism": "flech", "product": "activation_cap", "location": "",
                           "isp": has, "price_eur_per_mwh": cap[has]})
    return MarketOutcome("flech", fills, prices,
                         reservation.reservation_cost_eur + activation.activation_cost_eur,
                         0.0, float("nan"))
