"""The time axis of a market run: imbalance settlement periods (ISPs) on a fixed grid.

Edges are timezone-aware UTC timestamps; inside the engine an ISP is an integer index
``0 .. n_isps-1`` (DESIGN.md, conventions). The default ISP is 15 minutes, the European
imbalance settlement period that the paper's markets trade in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from localflex.domain.errors import HorizonError, InputError

__all__ = ["TimeGrid"]


@dataclass(frozen=True, slots=True)
class TimeGrid:
    """``n_isps`` periods of ``isp_minutes`` each, starting at ``start`` (UTC)."""

    start: datetime
    n_isps: int
    isp_minutes: int = 15

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise InputError("time.start", self.start, "a timezone-aware timestamp")
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        if self.isp_minutes <= 0 or 1440 % self.isp_minutes != 0:
            raise InputError("time.isp_minutes", self.isp_minutes, "a divisor of 1440 (e.g. 15)")
        if self.n_isps <= 0:
            raise InputError("time.n_isps", self.n_isps, "a positive number of ISPs")

    @classmethod
    def for_day(cls, day: str | datetime, isp_minutes: int = 15, days: int = 1) -> TimeGrid:
        """The ISPs of ``days`` whole UTC days starting at ``day`` (``YYYY-MM-DD``)."""
        start = pd.Timestamp(day)
        start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
        return cls(start.to_pydatetime(), days * 1440 // isp_minutes, isp_minutes)

    @property
    def isp_hours(self) -> float:
        return self.isp_minutes / 60.0

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.isp_minutes * self.n_isps)

    def isp_starts(self) -> pd.DatetimeIndex:
        """Start timestamp of every ISP, tz-aware UTC."""
        return pd.date_range(self.start, periods=self.n_isps, freq=f"{self.isp_minutes}min")

    def isp_of(self, timestamp: datetime) -> int:
        """The ISP containing ``timestamp``; raises HorizonError outside the horizon."""
        if timestamp.tzinfo is None:
            raise InputError("timestamp", timestamp, "a timezone-aware timestamp")
        offset_min = (timestamp - self.start).total_seconds() / 60.0
        isp = int(np.floor(offset_min / self.isp_minutes))
        if not 0 <= isp < self.n_isps:
            raise HorizonError(
                "timestamp", timestamp.isoformat(), f"within [{self.start}, {self.end})"
            )
        return isp

    def check_isps(self, isps: np.ndarray | list[int] | int, field: str = "isp") -> None:
        """Raise HorizonError naming ``field`` if any ISP index lies outside the horizon."""
        arr = np.atleast_1d(np.asarray(isps))
        if arr.size == 0:
            return
        if not np.issubdtype(arr.dtype, np.integer):
            raise HorizonError(field, arr[0], "an integer ISP index")
        bad = arr[(arr < 0) | (arr >= self.n_isps)]
        if bad.size:
            raise HorizonError(field, int(bad[0]), f"an ISP index in 0..{self.n_isps - 1}")
