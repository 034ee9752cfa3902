"""PV systems as a flexibility source: curtailment only (paper §2, Fig. 1 "DG", Fig. 2).

§2: "PV systems can provide only [one-directional] regulation via the curtailment of
production". In localflex's sign convention (``Direction``: UP = more injection) curtailment
*lowers* the injection, so a PV unit offers only ``DOWN`` flexibility: ``down_kw`` = its
generation in the ISP, ``up_kw`` = 0 (it is already at its maximum power point). The paper
calls this "upward regulation" in the sense of a load-like service; the code keeps the one
sign convention of DESIGN.md.

Baseline net load = −generation (meter convention: consumption positive). Curtailment has no
state, hence no rebound and no inter-temporal coupling.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from localflex.der import _validate as v
from localflex.der.envelope import FlexEnvelope
from localflex.domain import DerType, InputError, TimeGrid

__all__ = ["PvFleet", "clear_sky_profile_pu"]


def clear_sky_profile_pu(
    time_grid: TimeGrid, solar_noon_utc_h: float = 12.0, day_length_h: float = 12.0
) -> np.ndarray:
    """A parametric clear-sky PV profile [T] in per unit of peak power.

    ``p(h) = max(0, sin(pi * (h - sunrise) / day_length_h))`` with
    ``sunrise = solar_noon_utc_h - day_length_h / 2`` and ``h`` the UTC hour at the middle of
    the ISP. A stand-in when no measured or SimBench profile is given.
    """
    hour = v.isp_mid_hour_utc(time_grid)
    sunrise = solar_noon_utc_h - day_length_h / 2.0
    return np.clip(np.sin(np.pi * (hour - sunrise) / day_length_h), 0.0, None) * (
        (hour > sunrise) & (hour < sunrise + day_length_h)
    )


class PvFleet:
    """``N`` PV systems: baseline −generation, DOWN flexibility by curtailment.

    ``generation_kw`` [T, N] is the forecast/available generation; if omitted, the generation
    is ``peak_kw`` times ``clear_sky_profile_pu`` of the time grid.
    """

    der_type = DerType.PV
    DEFAULT_RAMP_FRACTION_PER_MIN = 6.0  # inverter setpoint: full range in ~10 s (assumption)

    def __init__(
        self,
        der_id: Any,
        bus: Any,
        peak_kw: Any,
        generation_kw: Any | None = None,
        *,
        ramp_kw_per_min: Any | None = None,
        notification_min: Any = 1.0,
        response_min: Any = 0.5,
    ) -> None:
        self.der_id = v.ids("der_id", der_id)
        n = self.der_id.size
        self.bus = v.vector("bus", bus, n, dtype=int, lo=0)
        self.peak_kw = v.vector("peak_kw", peak_kw, n, lo=0.0)
        self.generation_kw: np.ndarray | None = None
        if generation_kw is not None:
            gen = v.matrix("generation_kw", generation_kw, n, lo=0.0)
            over = gen > self.peak_kw * (1.0 + 1e-9) + 1e-12
            if over.any():
                t, i = np.argwhere(over)[0]
                raise InputError(f"generation_kw[{t}, {i}]", float(gen[t, i]),
                                 f"at most peak_kw = {self.peak_kw[i]}")
            self.generation_kw = gen
        self.ramp_kw_per_min, self.notification_min, self.response_min = v.timing(
            n, self.peak_kw, ramp_kw_per_min=ramp_kw_per_min,
            default_ramp_fraction_per_min=self.DEFAULT_RAMP_FRACTION_PER_MIN,
            notification_min=notification_min, response_min=response_min,
        )

    @classmethod
    def from_profile(
        cls, der_id: Any, bus: Any, profile: Any, peak_kw: Any | None = None, **kwargs: Any
    ) -> PvFleet:
        """Build from a per-unit (one column per DER unit) generation profile [T, N].

        Without ``peak_kw`` the profile is in kW and ``peak_kw`` is its column maximum; with
        ``peak_kw`` the profile is in p.u. of it (e.g. a SimBench PV profile times the sgen's
        installed power).
        """
        n = np.asarray(der_id).size
        prof = v.matrix("profile", profile, n, lo=0.0, allow_1d=True)
        if peak_kw is None:
            return cls(der_id, bus, prof.max(axis=0), prof, **kwargs)
        peak = v.vector("peak_kw", peak_kw, n, lo=0.0)
        return cls(der_id, bus, peak, prof * peak, **kwargs)

    @property
    def n_units(self) -> int:
        return int(self.der_id.size)

    def generation(self, time_grid: TimeGrid) -> np.ndarray:
        """Available generation [T, N] kW (>= 0)."""
        if self.generation_kw is None:
            return clear_sky_profile_pu(time_grid)[:, None] * self.peak_kw[None, :]
        v.rows_match("generation_kw", self.generation_kw, time_grid)
        return self.generation_kw

    def baseline_kw(self, time_grid: TimeGrid) -> np.ndarray:
        """Net load [T, N] kW: −generation."""
        return -self.generation(time_grid)

    def envelope(self, time_grid: TimeGrid) -> FlexEnvelope:
        gen = self.generation(time_grid)
        n, t = self.n_units, time_grid.n_isps
        return FlexEnvelope(
            der_id=self.der_id,
            der_type=np.full(n, self.der_type.value),
            bus=self.bus,
            up_kw=np.zeros_like(gen),
            down_kw=gen.copy(),
            energy_up_max_kwh=np.zeros(n),
            energy_down_max_kwh=gen.sum(axis=0) * time_grid.isp_hours,
            ramp_kw_per_min=self.ramp_kw_per_min,
            min_duration_isps=np.ones(n, dtype=np.int64),
            max_duration_isps=np.full(n, t, dtype=np.int64),
            notification_min=self.notification_min,
            response_min=self.response_min,
            earliest_start_isp=np.zeros(n, dtype=np.int64),
        )

    def respond(self, time_grid: TimeGrid, delta_injection_kw: Any) -> np.ndarray:
        """Realised net load [T, N]: the delta clipped to [−generation, 0]; no rebound."""
        gen = self.generation(time_grid)
        delta = v.matrix("delta_injection_kw", delta_injection_kw, self.n_units,
                         n_isps=time_grid.n_isps)
        realised = np.clip(delta, -gen, 0.0)
        return -gen - realised
