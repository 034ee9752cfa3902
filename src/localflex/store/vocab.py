"""Closed vocabularies of the stored market records (values stored as plain strings)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["AwardSource", "GateStatus", "OfferStatus", "RequestStatus"]


class GateStatus(StrEnum):
    """A gate's state: the first three follow from the clock, ``CLEARED`` is stored."""

    SCHEDULED = "scheduled"  # before opens_at
    OPEN = "open"  # opens_at <= now < closes_at: submissions accepted
    CLOSED = "closed"  # closes_at passed, not cleared yet
    CLEARED = "cleared"


class OfferStatus(StrEnum):
    OPEN = "open"
    AWARDED = "awarded"  # (part of) it was awarded
    NOT_AWARDED = "not_awarded"
    WITHDRAWN = "withdrawn"


class RequestStatus(StrEnum):
    OPEN = "open"
    COVERED = "covered"
    PARTLY_COVERED = "partly_covered"
    CANCELLED = "cancelled"


class AwardSource(StrEnum):
    CLEARING = "clearing"  # the DSO single-buyer clearing at gate closure
    FLEX_ORDER = "flex_order"  # a DSO's direct order on an offer (UFTP FlexOrder)
