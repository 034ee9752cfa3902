"""The objects traded in a local flexibility market (paper §5–6; DESIGN.md glossary).

A single object (``FlexOffer``, ``FlexRequest``, ``Award``, ``Activation``) is a frozen
dataclass for APIs and tests. In hot paths many of them travel as a pandas DataFrame whose
columns are described once, as data, in ``OFFER_COLUMNS``, ``REQUEST_COLUMNS`` and
``AWARD_COLUMNS``; ``offers_frame`` / ``validate_offers`` build and check such a frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from localflex.domain.enums import DerType, Direction, Purpose, Role
from localflex.domain.errors import OfferError

__all__ = [
    "AWARD_COLUMNS",
    "OFFER_COLUMNS",
    "REQUEST_COLUMNS",
    "Activation",
    "Award",
    "FlexOffer",
    "FlexRequest",
    "Party",
    "empty_frame",
    "offers_frame",
    "validate_offers",
]


@dataclass(frozen=True, slots=True)
class Party:
    party_id: str
    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class FlexOffer:
    """An aggregator's offer of flexibility at one bus, in one ISP and one direction.

    ``min_power_kw`` > 0 makes the offer indivisible below that volume (0 = fully divisible).
    A non-empty ``block_id`` links offers (see OFFER_COLUMNS).
    """

    offer_id: str
    aggregator_id: str
    bus: int
    isp: int
    direction: Direction
    max_power_kw: float
    price_eur_per_mwh: float
    der_type: DerType | str = "mixed"
    min_power_kw: float = 0.0
    block_id: str = ""


@dataclass(frozen=True, slots=True)
class FlexRequest:
    """A buyer's need for flexibility: the DSO at a congestion point, a BRP, or the TSO."""

    request_id: str
    requester_id: str
    purpose: Purpose
    congestion_point: str
    isp: int
    direction: Direction
    power_kw: float
    max_price_eur_per_mwh: float | None = None


@dataclass(frozen=True, slots=True)
class Award:
    """Accepted (part of) an offer: the aggregator must deliver ``power_kw`` in ``isp``."""

    offer_id: str
    aggregator_id: str
    bus: int
    isp: int
    direction: Direction
    power_kw: float
    price_eur_per_mwh: float
    cost_eur: float
    der_type: DerType | str = "mixed"


@dataclass(frozen=True, slots=True)
class Activation:
    """A setpoint change of one DER in one ISP; positive ``delta_injection_kw`` is UP."""

    der_id: str
    isp: int
    delta_injection_kw: float


# Column tables: name -> (dtype, unit, meaning). The one description of each frame.
OFFER_COLUMNS: dict[str, tuple[str, str, str]] = {
    "offer_id": ("object", "-", "unique id of the offer"),
    "aggregator_id": ("object", "-", "the offering aggregator"),
    "bus": ("int64", "-", "grid bus index of the connection point"),
    "isp": ("int64", "-", "ISP index on the run's TimeGrid"),
    "direction": ("object", "-", "'up' (more injection) or 'down'"),
    "max_power_kw": ("float64", "kW", "largest volume the aggregator will deliver"),
    "min_power_kw": ("float64", "kW", "smallest accepted volume if awarded (0 = divisible)"),
    "price_eur_per_mwh": ("float64", "EUR/MWh", "activation price asked"),
    "der_type": ("object", "-", "DER family behind the offer (or 'mixed')"),
    "block_id": ("object", "-", "offers sharing a non-empty block id are accepted at one "
                 "common fraction of their max_power_kw (a linked profile, e.g. an activation "
                 "and its rebound); '' = a single offer"),
}
REQUEST_COLUMNS: dict[str, tuple[str, str, str]] = {
    "request_id": ("object", "-", "unique id of the request"),
    "requester_id": ("object", "-", "the buyer"),
    "purpose": ("object", "-", "'grid', 'system' or 'market'"),
    "congestion_point": ("object", "-", "congestion point id (grid purpose) or '' "),
    "isp": ("int64", "-", "ISP index"),
    "direction": ("object", "-", "'up' or 'down'"),
    "power_kw": ("float64", "kW", "volume needed"),
    "max_price_eur_per_mwh": ("float64", "EUR/MWh", "price cap (NaN = none)"),
}
AWARD_COLUMNS: dict[str, tuple[str, str, str]] = {
    "offer_id": ("object", "-", "the awarded offer"),
    "aggregator_id": ("object", "-", "who delivers"),
    "bus": ("int64", "-", "grid bus index"),
    "isp": ("int64", "-", "ISP index"),
    "direction": ("object", "-", "'up' or 'down'"),
    "power_kw": ("float64", "kW", "awarded volume"),
    "price_eur_per_mwh": ("float64", "EUR/MWh", "price paid"),
    "cost_eur": ("float64", "EUR", "payment for the ISP (power x ISP hours x price)"),
    "der_type": ("object", "-", "DER family behind the offer"),
}


def empty_frame(columns: dict[str, tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=spec[0]) for name, spec in columns.items()})


def offers_frame(offers: list[FlexOffer]) -> pd.DataFrame:
    """A list of FlexOffer as a frame with OFFER_COLUMNS."""
    if not offers:
        return empty_frame(OFFER_COLUMNS)
    names = [f.name for f in fields(FlexOffer)]
    frame = pd.DataFrame([asdict(o) for o in offers], columns=names)
    frame["direction"] = frame["direction"].map(str)
    frame["der_type"] = frame["der_type"].map(str)
    return frame[list(OFFER_COLUMNS)].astype({k: v[0] for k, v in OFFER_COLUMNS.items()})


def validate_offers(
    offers: pd.DataFrame,
    *,
    n_isps: int,
    valid_buses: np.ndarray | None = None,
) -> pd.DataFrame:
    """Check an offer frame against the market's rules; raise OfferError naming the field.

    Returns the frame with canonical dtypes. Checks: required columns, unique ids, known
    direction, ISP inside the horizon, bus on the grid, non-negative and finite volumes with
    min <= max, finite prices.
    """
    optional = {"der_type": "mixed", "block_id": ""}
    missing = [c for c in OFFER_COLUMNS if c not in offers.columns and c not in optional]
    if missing:
        raise OfferError("offers", missing, f"columns {list(OFFER_COLUMNS)}")
    frame = offers.copy()
    for column, default in optional.items():
        if column not in frame:
            frame[column] = default
    frame["block_id"] = frame["block_id"].fillna("").astype(str)
    if frame.empty:
        return empty_frame(OFFER_COLUMNS)

    def first_bad(mask: np.ndarray, column: str, expected: str) -> None:
        if mask.any():
            row = frame.loc[mask].iloc[0]
            raise OfferError(f"offer[{row['offer_id']}].{column}", row[column], expected)

    dup = frame["offer_id"].duplicated().to_numpy()
    first_bad(dup, "offer_id", "a unique offer id")
    direction_ok = frame["direction"].astype(str).isin([d.value for d in Direction]).to_numpy()
    first_bad(~direction_ok, "direction", "'up' or 'down'")
    isp = pd.to_numeric(frame["isp"], errors="coerce").to_numpy(dtype=float)
    first_bad(~((isp >= 0) & (isp < n_isps) & (isp == np.floor(isp))), "isp",
              f"an ISP index in 0..{n_isps - 1}")
    bus = pd.to_numeric(frame["bus"], errors="coerce").to_numpy(dtype=float)
    bus_ok = np.isfinite(bus)
    if valid_buses is not None:
        bus_ok &= np.isin(bus, np.asarray(valid_buses))
    first_bad(~bus_ok, "bus", "a bus of the grid")
    for column in ("max_power_kw", "min_power_kw", "price_eur_per_mwh"):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        first_bad(~np.isfinite(values), column, "a finite number")
        frame[column] = values
    first_bad(frame["max_power_kw"].to_numpy() < 0, "max_power_kw", "a volume >= 0 kW")
    first_bad(frame["min_power_kw"].to_numpy() < 0, "min_power_kw", "a volume >= 0 kW")
    first_bad(
        frame["min_power_kw"].to_numpy() > frame["max_power_kw"].to_numpy(),
        "min_power_kw",
        "at most max_power_kw",
    )
    frame["direction"] = frame["direction"].astype(str)
    out = frame[list(OFFER_COLUMNS)]
    cast = {k: v[0] for k, v in OFFER_COLUMNS.items() if out[k].dtype != np.dtype(v[0])}
    return out.astype(cast) if cast else out  # only the columns not yet canonical
