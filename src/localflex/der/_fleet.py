"""What every DER fleet shares (private): unit ids and buses, the timing attributes of the
paper's Figure 2 (ramp rate, notification and response time), and the assembly of the
``FlexEnvelope`` (§2, Fig. 2) from what is a family's own — its headroom and energy bounds.

A family class subclasses ``Fleet``, sets ``der_type`` and ``DEFAULT_RAMP_FRACTION_PER_MIN``,
calls ``_init_units`` first and ``_init_timing`` where its size (kW) is known, checks an
activation request with ``_delta`` and builds its envelope with ``_envelope``. The physics
(state equations, controllers, headroom) stays in the family's module. ``sample_args``,
``draw_buses`` and ``unit_ids`` are the parts of the seeded ``sample`` constructors that do not
depend on the family.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np

from localflex.der import _validate as v
from localflex.der.envelope import FlexEnvelope
from localflex.domain import DerType, InputError, TimeGrid

__all__ = ["Fleet", "draw_buses", "sample_args", "unit_ids"]


class Fleet:
    """Base of the fleet classes: ``N`` units with ids, buses and timing attributes."""

    der_type: ClassVar[DerType]
    DEFAULT_RAMP_FRACTION_PER_MIN: ClassVar[float]  # of the unit's size (kW) per minute

    STATE_ATTR: ClassVar[str | None] = None
    """The attribute holding the state a horizon starts from (room/tank temperature, stored
    energy), which is ``simulate(...)[1][0]``; ``None``: the family keeps no state across
    horizons (PV, wind, appliances). A family whose state is more than one array (EVs: the
    need and departure of a session still plugged at the horizon's end) overrides
    ``end_state`` and ``with_state``."""

    der_id: np.ndarray
    bus: np.ndarray
    ramp_kw_per_min: np.ndarray
    notification_min: np.ndarray
    response_min: np.ndarray

    def _init_units(self, der_id: Any, bus: Any) -> int:
        """Set the unique unit ids and the bus per unit; returns ``N``."""
        self.der_id = v.ids("der_id", der_id)
        n = self.der_id.size
        self.bus = v.vector("bus", bus, n, dtype=int, lo=0)
        return n

    def _init_timing(
        self, size_kw: np.ndarray, ramp_kw_per_min: Any, notification_min: Any,
        response_min: Any,
    ) -> None:
        """Set ramp (default: ``size_kw`` × the family's fraction per minute), notification
        and response time per unit."""
        self.ramp_kw_per_min, self.notification_min, self.response_min = v.timing(
            self.n_units, size_kw, ramp_kw_per_min=ramp_kw_per_min,
            default_ramp_fraction_per_min=self.DEFAULT_RAMP_FRACTION_PER_MIN,
            notification_min=notification_min, response_min=response_min,
        )

    def end_state(self, time_grid: TimeGrid, delta_injection_kw: Any | None = None
                  ) -> dict[str, np.ndarray]:
        """The state at the end of ``time_grid`` after the activation ``delta_injection_kw``
        (None: the baseline), as ``{STATE_ATTR: [N]}``: the next horizon's initial state
        (``with_state``). Empty for a family without state."""
        if self.STATE_ATTR is None:
            return {}
        delta = None if delta_injection_kw is None else self._delta(time_grid,
                                                                   delta_injection_kw)
        trajectory = self.simulate(time_grid, delta)[1]  # type: ignore[attr-defined]
        return {self.STATE_ATTR: np.array(trajectory[-1], dtype=float)}

    def with_state(self, state: dict[str, np.ndarray]) -> Fleet:
        """A copy of the fleet starting from ``state`` (an ``end_state`` of the same units)."""
        new = copy.copy(self)
        for name, value in state.items():
            if name != self.STATE_ATTR:
                raise InputError("der_state", name, f"{self.STATE_ATTR!r} of a {self.der_type}")
            setattr(new, name, v.vector(name, value, self.n_units))
        return new

    @property
    def n_units(self) -> int:
        return int(self.der_id.size)

    def _delta(self, time_grid: TimeGrid, delta_injection_kw: Any) -> np.ndarray:
        """The requested change of injection [T, N], checked against fleet and horizon."""
        return v.matrix("delta_injection_kw", delta_injection_kw, self.n_units,
                        n_isps=time_grid.n_isps)

    def _envelope(
        self,
        time_grid: TimeGrid,
        up_kw: np.ndarray,
        down_kw: np.ndarray,
        energy_up_max_kwh: np.ndarray,
        energy_down_max_kwh: np.ndarray,
        *,
        max_duration_isps: np.ndarray | None = None,
        min_duration_isps: np.ndarray | None = None,
        earliest_start_isp: np.ndarray | None = None,
    ) -> FlexEnvelope:
        """The fleet's envelope from its headroom [T, N] and energy bounds [N].

        Defaults: an activation may last the whole horizon (``max_duration_isps``) and one
        ISP at least (``min_duration_isps`` = ``min(1, max_duration_isps)``: 0 for a unit that
        cannot sustain any), starting at the first ISP.
        """
        n = self.n_units
        if max_duration_isps is None:
            max_duration_isps = np.full(n, time_grid.n_isps, dtype=np.int64)
        return FlexEnvelope(
            der_id=self.der_id,
            der_type=np.full(n, self.der_type.value),
            bus=self.bus,
            up_kw=up_kw,
            down_kw=down_kw,
            energy_up_max_kwh=energy_up_max_kwh,
            energy_down_max_kwh=energy_down_max_kwh,
            ramp_kw_per_min=self.ramp_kw_per_min,
            min_duration_isps=(np.minimum(1, max_duration_isps) if min_duration_isps is None
                               else min_duration_isps),
            max_duration_isps=max_duration_isps,
            notification_min=self.notification_min,
            response_min=self.response_min,
            earliest_start_isp=(np.zeros(n, dtype=np.int64) if earliest_start_isp is None
                                else earliest_start_isp),
        )


def sample_args(n: int, buses: Any, what: str) -> np.ndarray:
    """Check a ``sample`` call's unit count and bus pool; returns the buses as an array."""
    if n <= 0:
        raise InputError("n", n, f"a positive number of {what}")
    buses = np.asarray(buses)
    if buses.ndim != 1 or buses.size == 0:
        raise InputError("buses", buses.shape, "a non-empty 1-D array of bus indices")
    return buses


def draw_buses(buses: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """One bus per unit: ``buses`` in order if it has length ``n``, else drawn uniformly."""
    return buses if buses.size == n else rng.choice(buses, size=n)


def unit_ids(id_prefix: str, n: int) -> np.ndarray:
    """``id_prefix`` + running number, for ``n`` units."""
    return np.char.add(str(id_prefix), np.arange(n).astype(str))
