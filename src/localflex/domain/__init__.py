"""Plain types of the market: vocabularies, the time grid, market objects and errors.

``domain`` imports nothing else of localflex (DESIGN.md).
"""

from localflex.domain.enums import DerType, Direction, Purpose, Role, TrafficLight
from localflex.domain.errors import (
    ClearingError,
    GridError,
    HorizonError,
    InputError,
    LocalflexError,
    OfferError,
    ScenarioError,
    UnknownGridCode,
)
from localflex.domain.market_objects import (
    AWARD_COLUMNS,
    OFFER_COLUMNS,
    REQUEST_COLUMNS,
    Activation,
    Award,
    FlexOffer,
    FlexRequest,
    Party,
    empty_frame,
    offers_frame,
    validate_offers,
)
from localflex.domain.time_grid import TimeGrid

__all__ = [
    "AWARD_COLUMNS",
    "OFFER_COLUMNS",
    "REQUEST_COLUMNS",
    "Activation",
    "Award",
    "ClearingError",
    "DerType",
    "Direction",
    "FlexOffer",
    "FlexRequest",
    "GridError",
    "HorizonError",
    "InputError",
    "LocalflexError",
    "OfferError",
    "Party",
    "Purpose",
    "Role",
    "ScenarioError",
    "TimeGrid",
    "TrafficLight",
    "UnknownGridCode",
    "empty_frame",
    "offers_frame",
    "validate_offers",
]
