"""Closed vocabularies of the market (paper §2 and §6; DESIGN.md glossary).

``Direction`` follows the one sign convention of localflex: ``UP`` raises the net injection at
the connection point (less consumption or more generation), ``DOWN`` lowers it. Meter data is
positive for consumption, so an ``UP`` activation of +1 kW lowers the metered power by 1 kW.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DerType", "Direction", "Purpose", "Role", "TrafficLight"]


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"

    @property
    def injection_sign(self) -> int:
        """+1 for UP (more injection), -1 for DOWN."""
        return 1 if self is Direction.UP else -1


class Purpose(StrEnum):
    """The three service layers of flexibility (paper §2): grid, system and market use."""

    GRID = "grid"  # DSO: congestion and voltage
    SYSTEM = "system"  # TSO: balancing and ancillary services
    MARKET = "market"  # BRP: portfolio imbalance


class Role(StrEnum):
    DSO = "dso"
    TSO = "tso"
    BRP = "brp"
    AGGREGATOR = "aggregator"
    MARKET_OPERATOR = "market_operator"
    PROSUMER = "prosumer"


class TrafficLight(StrEnum):
    """Grid state per congestion point and ISP (USEF four regimes; BDEW uses three)."""

    GREEN = "green"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"


class DerType(StrEnum):
    """DER families of the paper's Figure 1 that localflex models."""

    PV = "pv"
    WIND = "wind"
    CHP = "chp"
    HEAT_PUMP = "heat_pump"
    WATER_HEATER = "water_heater"
    SMART_APPLIANCE = "smart_appliance"
    EV = "ev"
    BATTERY = "battery"
    THERMAL_STORAGE = "thermal_storage"
