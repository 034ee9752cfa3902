"""One result shape for every market mechanism, so market designs can compare them (paper §6).

The mechanisms of ``localflex.market`` differ in who buys (the DSO alone, §5.3; or everyone,
§6.2 and ref. [67]) and in what is bought (active power, reactive power, availability), but
each one ends in money changing hands for volumes at buses and ISPs. ``MarketOutcome`` is that
end: a table of fills, one row per (order, product) that traded, with the money it moved, and
the prices that were formed.

Sign and money conventions
--------------------------
* ``side = "sell"``: the party delivers the volume and *receives* ``amount_eur``;
  ``side = "buy"``: the party takes the volume and *pays* ``amount_eur``. Amounts are >= 0
  except for negatively priced fills.
* ``amount_eur = volume * isp_hours * price / 1000`` for every product: active power in kW
  at EUR/MWh, reactive power in kvar at EUR/Mvarh, availability in kW at EUR/MW/h (a
  reservation held for one ISP is worth price x MW x hours).
* Money balances: ``sum(buy amounts) == sum(sell amounts) + operator_surplus_eur``. The
  operator surplus is zero for a single buyer (the DSO pays exactly what the sellers get) and
  the congestion rent of a locationally priced double auction.
* ``welfare_eur`` = buyers' value minus sellers' asked cost of the traded volume, where the
  buyers state a value (a double auction); NaN for single-buyer mechanisms, whose buyer states
  a need, not a value. ``cost_eur`` = what the buyers pay in total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from localflex.domain import empty_frame

__all__ = ["FILL_COLUMNS", "PRICE_COLUMNS", "MarketOutcome", "money_balance_eur"]

FILL_COLUMNS: dict[str, tuple[str, str, str]] = {
    "mechanism": ("object", "-", "which mechanism produced the fill"),
    "product": ("object", "-", "'active_power', 'reactive_power' or 'availability'"),
    "order_id": ("object", "-", "the offer or bid that traded ('' for an aggregate buyer)"),
    "party_id": ("object", "-", "who delivers (sell) or takes (buy)"),
    "side": ("object", "-", "'sell' (receives money) or 'buy' (pays)"),
    "bus": ("int64", "-", "grid bus (-1 for a buyer without a location)"),
    "isp": ("int64", "-", "ISP index"),
    "direction": ("object", "-", "'up' / 'down' ('' where not meaningful)"),
    "volume": ("float64", "kW | kvar", "traded volume, unit in 'unit'"),
    "unit": ("object", "-", "'kW' or 'kvar'"),
    "price_eur_per_mwh": ("float64", "EUR/MWh", "price of the fill (EUR/Mvarh for kvar, "
                          "EUR/MW/h for availability)"),
    "amount_eur": ("float64", "EUR", "money received (sell) or paid (buy)"),
}
PRICE_COLUMNS: dict[str, tuple[str, str, str]] = {
    "mechanism": ("object", "-", "which mechanism formed the price"),
    "product": ("object", "-", "as in FILL_COLUMNS"),
    "location": ("object", "-", "congestion point, 'bus:<id>', area, or '' (whole market)"),
    "isp": ("int64", "-", "ISP index"),
    "price_eur_per_mwh": ("float64", "EUR/MWh", "the price formed there"),
}


@dataclass(frozen=True)
class MarketOutcome:
    """Fills, prices and money of one mechanism run (see the module docstring)."""

    mechanism: str
    fills: pd.DataFrame  # FILL_COLUMNS
    prices: pd.DataFrame  # PRICE_COLUMNS
    cost_eur: float
    operator_surplus_eur: float
    welfare_eur: float

    @property
    def buyer_payments_eur(self) -> float:
        return float(self.fills.loc[self.fills["side"] == "buy", "amount_eur"].sum())

    @property
    def seller_revenue_eur(self) -> float:
        return float(self.fills.loc[self.fills["side"] == "sell", "amount_eur"].sum())


def money_balance_eur(outcome: MarketOutcome) -> float:
    """Buyers' payments − sellers' revenue − operator surplus (0 up to rounding)."""
    return outcome.buyer_payments_eur - outcome.seller_revenue_eur - outcome.operator_surplus_eur


def fills_frame(rows: dict[str, object]) -> pd.DataFrame:
    """A fill table from column arrays/scalars, canonical dtypes and column order."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return empty_frame(FILL_COLUMNS)
    return frame[list(FILL_COLUMNS)].astype({k: v[0] for k, v in FILL_COLUMNS.items()})


def prices_frame(rows: dict[str, object]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if frame.empty:
        return empty_frame(PRICE_COLUMNS)
    return frame[list(PRICE_COLUMNS)].astype({k: v[0] for k, v in PRICE_COLUMNS.items()})


def single_buyer_fills(
    awards: pd.DataFrame,
    *,
    mechanism: str,
    product: str,
    buyer_id: str,
    isp_hours: float,
    unit: str = "kW",
    volume_column: str = "power_kw",
) -> pd.DataFrame:
    """Sell fills for the awards plus one aggregate buy fill per (ISP, direction)."""
    if awards.empty:
        return empty_frame(FILL_COLUMNS)
    sell = fills_frame({
        "mechanism": mechanism,
        "product": product,
        "order_id": awards["offer_id"].to_numpy(),
        "party_id": awards["aggregator_id"].to_numpy(),
        "side": "sell",
        "bus": awards["bus"].to_numpy(dtype=np.int64),
        "isp": awards["isp"].to_numpy(dtype=np.int64),
        "direction": awards["direction"].to_numpy(),
        "volume": awards[volume_column].to_numpy(dtype=float),
        "unit": unit,
        "price_eur_per_mwh": awards["price_eur_per_mwh"].to_numpy(dtype=float),
        "amount_eur": awards["cost_eur"].to_numpy(dtype=float),
    })
    agg = sell.groupby(["isp", "direction"], as_index=False).agg(
        volume=("volume", "sum"), amount_eur=("amount_eur", "sum")
    )
    hours_volume = agg["volume"].to_numpy() * isp_hours / 1000.0
    buy = fills_frame({
        "mechanism": mechanism,
        "product": product,
        "order_id": "",
        "party_id": buyer_id,
        "side": "buy",
        "bus": -1,
        "isp": agg["isp"].to_numpy(dtype=np.int64),
        "direction": agg["direction"].to_numpy(),
        "volume": agg["volume"].to_numpy(),
        "unit": unit,
        "price_eur_per_mwh": np.divide(agg["amount_eur"].to_numpy(), hours_volume,
                                       out=np.zeros(len(agg)), where=hours_volume > 0),
        "amount_eur": agg["amount_eur"].to_numpy(),
    })
    return pd.concat([sell, buy], ignore_index=True)
