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
from localflex.der._fleet import Fleet
from localflex.der.envelope import FlexEnvelope
from localflex.domain import DerType, TimeGrid

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


class PvFleet(Fleet):
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
        n = self._init_units(der_id, bus)
        self.peak_kw = v.vector("peak_kw", peak_kw, n, lo=0.0)
        self.generation_kw: np.ndarray | None = None
        if generation_kw is not None:
            gen = v.matrix("generation_kw", generation_kw, n, lo=0.0)
            v.first_bad("generation_kw", gen, gen > self.peak_kw * (1.0 + 1e-9) + 1e-12,
                        lambda ti: f"at most peak_kw = {self.peak_kw[ti[1]]}")
            self.generation_kw = gen
        self._init_timing(self.peak_kw, ramp_kw_per_min, notification_min, response_min)

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
        return self._envelope(time_grid, np.zeros_like(gen), gen.copy(), np.zeros(self.n_units),
                              gen.sum(axis=0) * time_grid.isp_hours)

    def respond(self, time_grid: TimeGrid, delta_injection_kw: Any) -> np.ndarray:
        """Realised net load [T, N]: the delta clipped to [−generation, 0]; no rebound."""
        gen = self.generation(time_grid)
        realised = np.clip(self._delta(time_grid, delta_injection_kw), -gen, 0.0)
        return -gen - realised
