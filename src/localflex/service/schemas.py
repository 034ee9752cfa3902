"""Request and response bodies of the REST API v1 (pydantic; units in field names).

Numbers are JSON numbers (strict: a string or a boolean is not coerced) and finite
(``allow_inf_nan=False``), timestamps timezone-aware UTC, unknown fields
rejected, so that bad input is a 422 naming the field before any state changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from localflex.domain import Direction, Purpose, Role
from localflex.market.continuous import OrderType, Side

__all__ = [
    "ActivationOut",
    "AwardOut",
    "ClearingOut",
    "FlexOrderIn",
    "GateIn",
    "GateOut",
    "KeyOut",
    "LedgerLineOut",
    "MeterReadingIn",
    "MeterReadingOut",
    "OfferIn",
    "OfferOut",
    "OrderIn",
    "OrderOut",
    "PartyCreated",
    "PartyIn",
    "PartyOut",
    "RequestIn",
    "RequestOut",
    "SettlementOut",
    "ShortfallOut",
    "TradeOut",
    "TrafficLightOut",
]



def _json_integer(value: object) -> object:
    """A JSON integer may be written ``3`` or ``3.0`` (JSON Schema); never ``"3"``/``true``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _text_datetime(value: object) -> object:
    """A timestamp is an ISO 8601 string (pydantic alone would read ``0`` as 1970)."""
    if isinstance(value, int | float):
        raise ValueError("an ISO 8601 date-time string with a time zone")
    return value


# an ISO 8601 string with a time zone (or a datetime, from Python)
UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_text_datetime)]
# a JSON integer: no string, no boolean, no fraction
JsonInt = Annotated[int, BeforeValidator(_json_integer), Field(strict=True)]
# strict: a JSON number only (no "30", no true); finite (no NaN, Infinity, 1e309)
PowerKw = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False, strict=True)]
PriceEurMwh = Annotated[float, Field(ge=-1e5, le=1e5, allow_inf_nan=False, strict=True)]
SignedKw = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False, strict=True)]
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PartyIn(In):
    party_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.\-]*$")]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Role
    congestion_points: list[Identifier] | None = Field(
        None, description="DSO only: the congestion points it operates (default: all that no "
        "other DSO operates)", max_length=10_000)


class PartyOut(Out):
    party_id: str
    name: str
    role: Role
    created_at: datetime
    congestion_points: list[str] = []


class KeyOut(Out):
    key_id: str
    api_key: str = Field(description="shown once; store it, the market keeps only a hash")


class PartyCreated(Out):
    party: PartyOut
    key: KeyOut


class GateIn(In):
    start: UtcDatetime = Field(description="start of the first ISP (UTC, on the ISP grid)")
    n_isps: Annotated[JsonInt, Field(ge=1, le=96 * 7)] = 1
    isp_minutes: Annotated[JsonInt, Field(ge=1, le=1440)] = 15
    opens_at: UtcDatetime | None = Field(None, description="default: now")
    lead_time_minutes: Annotated[JsonInt, Field(ge=0, le=7 * 1440)] = Field(
        15, description="gate closure this long before the ISP starts")


class GateOut(Out):
    gate_id: str
    isp_start: datetime
    isp_end: datetime
    isp_minutes: int
    opens_at: datetime
    closes_at: datetime
    status: str
    cleared_at: datetime | None = None
    clearing_summary: dict | None = None


class RequestIn(In):
    gate_id: Identifier
    congestion_point: Identifier
    direction: Direction
    power_kw: PowerKw
    max_price_eur_per_mwh: PriceEurMwh | None = None
    purpose: Purpose = Purpose.GRID


class RequestOut(Out):
    request_id: str
    requester_id: str
    gate_id: str
    purpose: str
    congestion_point: str
    direction: str
    power_kw: float
    max_price_eur_per_mwh: float | None
    status: str
    covered_kw: float
    created_at: datetime


class OfferIn(In):
    gate_id: Identifier
    bus: Annotated[JsonInt, Field(ge=0, le=2**31 - 1)]
    direction: Direction
    max_power_kw: PowerKw
    min_power_kw: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False,
                                          strict=True)] = 0.0
    price_eur_per_mwh: PriceEurMwh
    der_type: Annotated[str, Field(min_length=1, max_length=32,
                                   pattern=r"^[a-z_]+$")] = "mixed"


class OfferOut(Out):
    offer_id: str
    aggregator_id: str
    gate_id: str
    bus: int
    direction: str
    max_power_kw: float
    min_power_kw: float
    price_eur_per_mwh: float
    der_type: str
    status: str
    awarded_kw: float
    created_at: datetime


class FlexOrderIn(In):
    offer_id: Identifier
    power_kw: PowerKw


class AwardOut(Out):
    award_id: str
    offer_id: str
    gate_id: str
    buyer_id: str
    aggregator_id: str
    bus: int
    direction: str
    power_kw: float
    price_eur_per_mwh: float
    cost_cents: int = Field(description="what the buyer pays, integer cents (booked amount)")
    cost_eur: float = Field(description="cost_cents / 100 (for reading; sums use cents)")
    source: str
    created_at: datetime


class ShortfallOut(Out):
    gate_id: str
    dso_id: str
    cp_id: str
    need_kw: float
    covered_kw: float
    shortfall_kw: float
    cause: str


class ClearingOut(Out):
    gate: GateOut
    awards: list[AwardOut]
    shortfalls: list[ShortfallOut]
    total_cost_cents: int = Field(description="sum of the awards' cost_cents")
    total_cost_eur: float = Field(description="total_cost_cents / 100")


class ActivationOut(Out):
    activation_id: str
    award_id: str
    aggregator_id: str
    buyer_id: str
    bus: int
    direction: str
    power_kw: float
    start: datetime
    end: datetime


class MeterReadingIn(In):
    award_id: Identifier
    baseline_kw: SignedKw = Field(
        description="power the resources would have had, consumption positive")
    metered_kw: SignedKw = Field(
        description="metered power over the ISP, consumption positive")


class MeterReadingOut(Out):
    reading_id: str
    award_id: str
    party_id: str
    baseline_kw: float
    metered_kw: float
    delivered_kw: float = Field(description="flexibility delivered in the awarded direction")


class LedgerLineOut(Out):
    entry_id: str
    party_id: str
    counterparty_id: str
    gate_id: str | None
    award_id: str | None
    trade_id: str | None
    amount_cents: int = Field(description="+ received, − paid; integer cents (booked)")
    amount_eur: float = Field(description="amount_cents / 100 (for reading)")
    description: str
    created_at: datetime


class SettlementOut(Out):
    party_id: str
    gate_id: str | None
    lines: list[LedgerLineOut]
    total_cents: int = Field(description="sum of the lines' amount_cents")
    total_eur: float = Field(description="total_cents / 100")
    awarded_kwh: float
    delivered_kwh: float | None = Field(description="None until meter data covers every award")


class OrderIn(In):
    gate_id: Identifier
    area: Identifier = "market"
    direction: Direction
    side: Side
    price_eur_per_mwh: PriceEurMwh
    quantity_kw: PowerKw
    order_type: OrderType = OrderType.LIMIT


class OrderOut(Out):
    order_id: str
    party_id: str
    gate_id: str
    area: str
    direction: str
    side: str
    order_type: str
    price_eur_per_mwh: float
    quantity_kw: float
    filled_kw: float
    status: str
    created_at: datetime


class TradeOut(Out):
    trade_id: str
    gate_id: str
    area: str
    direction: str
    buy_order_id: str
    sell_order_id: str
    buyer_id: str
    seller_id: str
    price_eur_per_mwh: float
    quantity_kw: float
    value_cents: int = Field(description="what the buyer pays, integer cents (booked)")
    value_eur: float = Field(description="value_cents / 100")
    created_at: datetime


class TrafficLightOut(Out):
    gate_id: str
    isp_start: datetime
    cp_id: str
    light: str
    forecast_loading_pct: float | None
    max_loading_pct: float
    reason: str
