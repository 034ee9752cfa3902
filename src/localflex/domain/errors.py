"""The one error hierarchy of localflex (DESIGN.md, conventions).

Every error raised for bad input names the field, the value and what was expected, so a CLI
can print it and a service can turn it into a 4xx without further work.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ClearingError",
    "GridError",
    "HorizonError",
    "InputError",
    "LocalflexError",
    "OfferError",
    "ScenarioError",
    "UnknownGridCode",
]


class LocalflexError(Exception):
    """Root of every error localflex raises on purpose."""


class InputError(LocalflexError, ValueError):
    """Bad input: names the field, the value received and what was expected."""

    def __init__(self, field: str, value: Any, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"{field}: got {value!r}, expected {expected}")


class ScenarioError(InputError):
    """A scenario file (YAML) that does not validate."""


class HorizonError(InputError):
    """An ISP index or timestamp outside the time grid of the run."""


class OfferError(InputError):
    """A flexibility offer or request that breaks the market's rules."""


class UnknownGridCode(InputError):
    """A SimBench code that the simbench package does not know."""


class GridError(LocalflexError):
    """A grid that cannot be computed (power flow diverged, isolated buses, ...)."""


class ClearingError(LocalflexError):
    """The market could not be cleared for a reason other than a shortfall of offers."""
