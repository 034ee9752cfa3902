"""The two arrays the DSO's power flows exchange: net bus loads in, flows and voltages out.

Paper §5: the DSO forecasts its grid (net load per bus and ISP) and checks congestion points
and voltages on the result. These plain containers live apart from the solver
(``powerflow``) and the limits (``congestion``), so that both can use them without importing
each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BusLoads", "PowerFlowResult"]


@dataclass(frozen=True, slots=True)
class BusLoads:
    """Net load per bus, consumption positive: ``p_kw`` and ``q_kvar`` [T, B] (bus axis)."""

    p_kw: np.ndarray
    q_kvar: np.ndarray

    @property
    def n_isps(self) -> int:
        return int(self.p_kw.shape[0])


@dataclass(frozen=True, slots=True)
class PowerFlowResult:
    """Power flow results for T ISPs.

    Bus axis B = ``grid.bus_ids``; line/trafo axes = ``net.line``/``net.trafo`` rows; CP axis =
    rows of ``congestion_points(grid)``. ``cp_p_kw``/``cp_q_kvar``/``cp_s_kva`` are measured at
    the from (hv) side, + from→to (hv→lv). Unsupplied buses have NaN voltage.
    """

    bus_vm_pu: np.ndarray  # [T, B]
    line_loading_pct: np.ndarray  # [T, n_line]
    trafo_loading_pct: np.ndarray  # [T, n_trafo]
    cp_loading_pct: np.ndarray  # [T, CP]
    cp_p_kw: np.ndarray  # [T, CP]
    cp_s_kva: np.ndarray  # [T, CP]
    engine: str
    converged: bool
    cp_q_kvar: np.ndarray | None = None  # [T, CP]

    @property
    def n_isps(self) -> int:
        return int(self.bus_vm_pu.shape[0])
