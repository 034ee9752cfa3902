"""The flexibility envelope of a fleet of DERs: the attributes of the paper's Figure 2 (§2).

For ``N`` units over ``T`` ISPs the envelope says, per ISP, how far each unit can move away from
its baseline in either direction (capacity), and per unit the energy content, ramp rate,
minimum/maximum activation duration, notification time, response time, earliest start and
location (bus) — the dimensions §2 lists: "capacity, duration, ramp rate, direction, energy
content, response time, and location".

Sign convention (``localflex.domain.Direction``): ``up_kw`` is extra *injection* (net load goes
down), ``down_kw`` is reduced injection (net load goes up). Both are magnitudes ``>= 0``.

The envelope is columnar (numpy arrays, not a list of objects); every field is described once,
as data, in ``ENVELOPE_FIELDS`` and ``__post_init__`` validates from that table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from localflex.domain import DerType, InputError

__all__ = ["ENVELOPE_FIELDS", "FlexEnvelope"]

# name -> (shape, dtype, unit, meaning). shape "N": one value per unit; "TN": [T, N].
ENVELOPE_FIELDS: dict[str, tuple[str, str, str, str]] = {
    "der_id": ("N", "str", "-", "unit id"),
    "der_type": ("N", "str", "-", "DerType value of the unit's family"),
    "bus": ("N", "int64", "-", "grid bus index of the connection point (location)"),
    "up_kw": ("TN", "float64", "kW", "max extra injection in the ISP (UP capacity), >= 0"),
    "down_kw": ("TN", "float64", "kW", "max reduced injection in the ISP (DOWN capacity), >= 0"),
    "energy_up_max_kwh": ("N", "float64", "kWh",
                          "largest cumulative UP energy over the horizon before a state bound "
                          "binds (inf = unbounded)"),
    "energy_down_max_kwh": ("N", "float64", "kWh",
                            "largest cumulative DOWN energy over the horizon before a state "
                            "bound binds (inf = unbounded)"),
    "ramp_kw_per_min": ("N", "float64", "kW/min", "ramp rate of the setpoint change"),
    "min_duration_isps": ("N", "int64", "ISP", "shortest activation the unit accepts"),
    "max_duration_isps": ("N", "int64", "ISP",
                          "longest activation the unit can sustain (its comfort or plug-in "
                          "limit; energy limits are in energy_*_max_kwh)"),
    "notification_min": ("N", "float64", "min", "advance notice needed before the start"),
    "response_min": ("N", "float64", "min", "time from the start signal to full response"),
    "earliest_start_isp": ("N", "int64", "ISP", "first ISP an activation can start"),
}
_NON_NEGATIVE = {name for name, spec in ENVELOPE_FIELDS.items() if spec[1] != "str"}
_MAY_BE_INF = {"energy_up_max_kwh", "energy_down_max_kwh"}


@dataclass(frozen=True, eq=False)
class FlexEnvelope:
    """Flexibility envelope of ``N`` units over ``T`` ISPs (columns: ``ENVELOPE_FIELDS``)."""

    der_id: np.ndarray
    der_type: np.ndarray
    bus: np.ndarray
    up_kw: np.ndarray
    down_kw: np.ndarray
    energy_up_max_kwh: np.ndarray
    energy_down_max_kwh: np.ndarray
    ramp_kw_per_min: np.ndarray
    min_duration_isps: np.ndarray
    max_duration_isps: np.ndarray
    notification_min: np.ndarray
    response_min: np.ndarray
    earliest_start_isp: np.ndarray

    def __post_init__(self) -> None:
        der_id = np.asarray(self.der_id)
        if der_id.ndim != 1:
            raise InputError("der_id", der_id.shape, "a 1-D array of unit ids")
        n = der_id.size
        up = np.asarray(self.up_kw)
        if up.ndim != 2 or up.shape[1] != n:
            raise InputError("up_kw", up.shape, f"shape [T, {n}]")
        t = up.shape[0]
        for name, (shape, dtype, _unit, _meaning) in ENVELOPE_FIELDS.items():
            arr = np.asarray(getattr(self, name))
            want = (n,) if shape == "N" else (t, n)
            if arr.shape != want:
                raise InputError(name, arr.shape, f"shape {list(want)}")
            if dtype == "str":
                arr = arr.astype(str)
            else:
                if arr.dtype.kind not in "biuf":
                    raise InputError(name, arr.dtype.name, "a numeric array")
                if dtype == "int64":
                    if arr.dtype.kind == "f" and np.any(arr != np.round(arr)):
                        raise InputError(name, arr[arr != np.round(arr)][0].item(), "an integer")
                    arr = arr.astype(np.int64)
                else:
                    arr = arr.astype(float)
                ok = ~np.isnan(arr) if name in _MAY_BE_INF else np.isfinite(arr)
                if not ok.all():
                    raise InputError(name, arr[~ok][0].item(), "a finite number")
                if name in _NON_NEGATIVE and (arr < 0).any():
                    raise InputError(name, arr[arr < 0][0].item(), "a value >= 0")
            object.__setattr__(self, name, arr)
        known = {d.value for d in DerType}
        bad = ~np.isin(self.der_type, list(known))
        if bad.any():
            raise InputError("der_type", self.der_type[bad][0], f"one of {sorted(known)}")
        late = self.min_duration_isps > self.max_duration_isps
        if late.any():
            raise InputError("min_duration_isps", int(self.min_duration_isps[late][0]),
                             "at most max_duration_isps")

    @property
    def n_units(self) -> int:
        return int(self.der_id.size)

    @property
    def n_isps(self) -> int:
        return int(self.up_kw.shape[0])

    @classmethod
    def concat(cls, envelopes: Sequence[FlexEnvelope]) -> FlexEnvelope:
        """The envelopes of several fleets side by side (units appended; same horizon)."""
        envelopes = list(envelopes)
        if not envelopes:
            raise InputError("envelopes", [], "at least one FlexEnvelope")
        n_isps = {e.n_isps for e in envelopes}
        if len(n_isps) != 1:
            raise InputError("envelopes", sorted(n_isps), "envelopes over the same ISPs")
        return cls(**{
            f.name: np.concatenate(
                [getattr(e, f.name) for e in envelopes],
                axis=1 if ENVELOPE_FIELDS[f.name][0] == "TN" else 0,
            )
            for f in fields(cls)
        })
