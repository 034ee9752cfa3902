"""Conversion of a SimBench/pandapower net into a power-grid-model (PGM) input dataset.

Serves the batch power flow of the DSO's congestion management (paper §5): PGM solves all ISPs
of a horizon in one call. The converter is hand-written so that it reproduces pandapower's
``runpp`` defaults exactly (the reference engine, ``tests/reference``):

* closed bus-bus switches fuse buses into one PGM node (as pandapower does); open ones are
  ignored;
* an open line/transformer switch opens that branch end (``from_status``/``to_status`` = 0);
  the line's charging current still flows from the closed end, as in pandapower;
* lines: ``r, x`` per km × length / parallel, ``c`` and ``g`` × parallel, ``f = net.f_hz``;
* transformers: pandapower's default T equivalent circuit (leakage impedance split 50/50 around
  the magnetising branch) is turned into its exact, symmetric π equivalent, which PGM's
  π transformer then carries with the same terminal currents. The ratio tap follows pandapower
  3: ``tap_pos`` acts only for ``tap_changer_type`` "Ratio"/"Symmetrical" (SimBench nets
  carry ``None`` and pandapower ignores their ``tap_pos``); ``shift_degree`` becomes the clock;
* ext_grid → PGM source with ``u_ref = vm_pu``, ``u_ref_angle = va_degree`` and a short-circuit
  power of 1e15 VA (an ideal slack, like pandapower's);
* every bus gets one PGM ``sym_load`` (constant power) that carries the bus's net load, so a
  batch update is a dense ``[T, B]`` array;
* the dataset is checked once with PGM's ``validate_input_data`` (PGM does not validate by
  default) and a GridError lists the first problems;
* shunts → PGM shunts. Other in-service elements (gen, ward, impedance, trafo3w, ...) raise
  GridError: the SimBench LV/MV grids do not contain them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from power_grid_model import ComponentType, DatasetType, PowerGridModel, initialize_array
from power_grid_model.validation import validate_input_data

from localflex.domain.errors import GridError

__all__ = ["PgmNetwork", "build_pgm_network"]

SOURCE_SK_VA = 1e15  # short-circuit power of the slack source: ideal for all practical loads
_UNSUPPORTED = ("gen", "ward", "xward", "impedance", "trafo3w", "dcline", "svc", "tcsc", "ssc",
                "vsc", "motor", "asymmetric_load", "asymmetric_sgen")

# PGM enum values (power_grid_model.enum): WindingType, BranchSide
_WYE_N, _DELTA = 1, 2
_SIDE_FROM, _SIDE_TO = 0, 1


@dataclass(frozen=True, slots=True)
class PgmNetwork:
    """A PGM model of a grid plus the index maps between pandapower and PGM.

    ``bus_node_pos[b]`` is the PGM node row of bus axis position ``b`` (fused buses share one);
    ``load_ids`` are the ids of the one sym_load per bus (bus axis order). Line and transformer
    rows follow ``net.line`` / ``net.trafo`` row order.
    """

    input_data: dict
    node_ids: np.ndarray
    bus_node_pos: np.ndarray
    load_ids: np.ndarray
    line_ids: np.ndarray
    trafo_ids: np.ndarray
    f_hz: float

    def model(self) -> PowerGridModel:
        return PowerGridModel(self.input_data, system_frequency=self.f_hz)


def _fuse_buses(net, bus_ids: np.ndarray) -> np.ndarray:
    """Representative bus of every bus after fusing closed bus-bus switches (union-find)."""
    parent = {int(b): int(b) for b in bus_ids}

    def find(b: int) -> int:
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        return b

    sw = net.switch
    bb = sw[(sw["et"] == "b") & sw["closed"].astype(bool)]
    for a, b in zip(bb["bus"].to_numpy(), bb["element"].to_numpy(), strict=True):
        ra, rb = find(int(a)), find(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(int(b)) for b in bus_ids], dtype=np.int64)


def _open_ends(net, et: str, element_index: pd.Index, side_bus: np.ndarray) -> np.ndarray:
    """True where an open switch of type ``et`` sits at (element, side_bus)."""
    sw = net.switch
    open_sw = sw[(sw["et"] == et) & ~sw["closed"].astype(bool)]
    if open_sw.empty:
        return np.zeros(element_index.size, dtype=bool)
    keys = set(zip(open_sw["element"].astype(int), open_sw["bus"].astype(int), strict=True))
    return np.array(
        [(int(e), int(b)) in keys for e, b in zip(element_index, side_bus, strict=True)],
        dtype=bool,
    )


def _trafo_pi(trafo: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """PGM transformer parameters (sn, uk, pk, i0, p0) of pandapower's T model as a π.

    All quantities referred to the low-voltage side in ohm / siemens.
    """
    parallel = trafo["parallel"].to_numpy(dtype=float)
    sn_va = trafo["sn_mva"].to_numpy(dtype=float) * 1e6
    u2 = trafo["vn_lv_kv"].to_numpy(dtype=float) * 1e3
    z_base = u2**2 / sn_va
    z_abs = trafo["vk_percent"].to_numpy(dtype=float) / 100 * z_base
    r = trafo["vkr_percent"].to_numpy(dtype=float) / 100 * z_base
    z_sc = (r + 1j * np.sqrt(np.maximum(z_abs**2 - r**2, 0.0))) / parallel
    g_m = trafo["pfe_kw"].to_numpy(dtype=float) * 1e3 / u2**2
    y_abs = trafo["i0_percent"].to_numpy(dtype=float) / 100 * sn_va / u2**2
    b_m = -np.sqrt(np.maximum(y_abs**2 - g_m**2, 0.0))
    y_m = (g_m + 1j * b_m) * parallel

    z_series = z_sc.copy()
    y_shunt_total = np.zeros_like(z_sc)
    has_m = np.abs(y_m) > 0
    # star (T: z/2, 1/y_m, z/2) -> delta (π): symmetric, so both shunts are equal
    za = z_sc[has_m] / 2
    zc = 1 / y_m[has_m]
    z_sum = za * za + 2 * za * zc
    z_series[has_m] = z_sum / zc
    y_shunt_total[has_m] = 2 / (z_sum / za)

    sn_pgm = sn_va * parallel
    uk = np.abs(z_series) * sn_pgm / u2**2
    pk = z_series.real * sn_pgm**2 / u2**2
    i0 = np.abs(y_shunt_total) * u2**2 / sn_pgm
    p0 = y_shunt_total.real * u2**2
    if (pk < 0).any() or (p0 < -1e-9).any():
        raise GridError("transformer π equivalent has negative resistance or conductance")
    return sn_pgm, uk, pk, i0, np.maximum(p0, 0.0)


def _trafo_taps(trafo: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """PGM tap data following pandapower 3 (tap acts only for Ratio/Symmetrical changers)."""
    n = len(trafo)
    changer = trafo.get("tap_changer_type", pd.Series([None] * n, index=trafo.index))
    changer = changer.astype(object).where(changer.notna(), "").astype(str).to_numpy()
    active = np.isin(changer, ["Ratio", "Symmetrical"])
    step_deg = trafo["tap_step_degree"].fillna(0.0).to_numpy(dtype=float)
    if (active & (step_deg != 0)).any() or np.isin(changer, ["Ideal", "Tabular"]).any():
        raise GridError("phase-shifting tap changers are not supported by localflex.grid")
    pos = trafo["tap_pos"].fillna(0.0).to_numpy(dtype=float)
    neutral = trafo["tap_neutral"].fillna(0.0).to_numpy(dtype=float)
    pos = np.where(active, pos, neutral)
    if (pos != np.round(pos)).any():
        raise GridError("transformer tap_pos must be an integer step")
    side_lv = trafo["tap_side"].astype(str).to_numpy() == "lv"
    step_pct = trafo["tap_step_percent"].fillna(0.0).to_numpy(dtype=float)
    vn_side = np.where(side_lv, trafo["vn_lv_kv"], trafo["vn_hv_kv"]).astype(float) * 1e3
    tap_size = np.where(active, step_pct / 100 * vn_side, 0.0)
    tap_min = np.minimum(trafo["tap_min"].fillna(0.0).to_numpy(dtype=float), pos)
    tap_max = np.maximum(trafo["tap_max"].fillna(0.0).to_numpy(dtype=float), pos)
    if side_lv.any() and (active & side_lv).any():
        # pandapower rescales the impedance with the tapped lv voltage; PGM does not
        raise GridError("low-voltage-side tap changers are not supported by localflex.grid")
    side = np.where(side_lv, _SIDE_TO, _SIDE_FROM)
    return pos, neutral, tap_min, tap_max, tap_size, side


def build_pgm_network(net, bus_ids: np.ndarray) -> PgmNetwork:
    """Build the PGM input dataset of ``net`` (see the module docstring for the mapping)."""
    for element in _UNSUPPORTED:
        if element in net and len(net[element]) and net[element]["in_service"].astype(bool).any():
            raise GridError(f"grid element type {element!r} is not supported by localflex.grid")

    rep = _fuse_buses(net, bus_ids)
    node_bus = np.unique(rep)
    node_pos_of_rep = {int(b): i for i, b in enumerate(node_bus)}
    bus_node_pos = np.array([node_pos_of_rep[int(r)] for r in rep], dtype=np.int64)
    bus_pos = pd.Series(np.arange(bus_ids.size), index=bus_ids)

    def node_of(buses) -> np.ndarray:
        return bus_node_pos[bus_pos.loc[np.asarray(buses)].to_numpy()]

    next_id = 0

    def ids(n: int) -> np.ndarray:
        nonlocal next_id
        out = np.arange(next_id, next_id + n, dtype=np.int32)
        next_id += n
        return out

    vn_kv = net.bus["vn_kv"].reindex(node_bus).to_numpy(dtype=float)
    node = initialize_array(DatasetType.input, ComponentType.node, node_bus.size)
    node["id"] = ids(node_bus.size)
    node["u_rated"] = vn_kv * 1e3
    node_ids = node["id"].copy()

    line_df = net.line
    line = initialize_array(DatasetType.input, ComponentType.line, len(line_df))
    line["id"] = ids(len(line_df))
    fb, tb = line_df["from_bus"].to_numpy(), line_df["to_bus"].to_numpy()
    line["from_node"] = node_ids[node_of(fb)]
    line["to_node"] = node_ids[node_of(tb)]
    in_service = line_df["in_service"].astype(bool).to_numpy()
    line["from_status"] = in_service & ~_open_ends(net, "l", line_df.index, fb)
    line["to_status"] = in_service & ~_open_ends(net, "l", line_df.index, tb)
    self_loop = line["from_node"] == line["to_node"]
    line["from_status"][self_loop] = 0
    line["to_status"][self_loop] = 0
    par = line_df["parallel"].to_numpy(dtype=float)
    length = line_df["length_km"].to_numpy(dtype=float)
    line["r1"] = line_df["r_ohm_per_km"].to_numpy(dtype=float) * length / par
    line["x1"] = line_df["x_ohm_per_km"].to_numpy(dtype=float) * length / par
    c_f = line_df["c_nf_per_km"].to_numpy(dtype=float) * 1e-9 * length * par
    g_s = line_df.get("g_us_per_km", pd.Series(0.0, index=line_df.index)).fillna(0.0)
    g_s = g_s.to_numpy(dtype=float) * 1e-6 * length * par
    omega = 2 * np.pi * float(net.f_hz)
    line["c1"] = c_f
    line["tan1"] = np.divide(g_s, omega * c_f, out=np.zeros_like(g_s), where=c_f > 0)
    line["i_n"] = line_df["max_i_ka"].to_numpy(dtype=float) * 1e3 * par * line_df[
        "df"
    ].to_numpy(dtype=float)

    tr_df = net.trafo
    trafo = initialize_array(DatasetType.input, ComponentType.transformer, len(tr_df))
    trafo["id"] = ids(len(tr_df))
    hv, lv = tr_df["hv_bus"].to_numpy(), tr_df["lv_bus"].to_numpy()
    trafo["from_node"] = node_ids[node_of(hv)]
    trafo["to_node"] = node_ids[node_of(lv)]
    in_service = tr_df["in_service"].astype(bool).to_numpy()
    trafo["from_status"] = in_service & ~_open_ends(net, "t", tr_df.index, hv)
    trafo["to_status"] = in_service & ~_open_ends(net, "t", tr_df.index, lv)
    if len(tr_df):
        sn, uk, pk, i0, p0 = _trafo_pi(tr_df)
        trafo["u1"] = tr_df["vn_hv_kv"].to_numpy(dtype=float) * 1e3
        trafo["u2"] = tr_df["vn_lv_kv"].to_numpy(dtype=float) * 1e3
        trafo["sn"], trafo["uk"], trafo["pk"], trafo["i0"], trafo["p0"] = sn, uk, pk, i0, p0
        clock = np.round(tr_df["shift_degree"].fillna(0.0).to_numpy(dtype=float) / 30.0)
        clock = clock.astype(int) % 12
        trafo["clock"] = clock
        trafo["winding_from"] = _WYE_N
        trafo["winding_to"] = np.where(clock % 2 == 1, _DELTA, _WYE_N)
        pos, neutral, tmin, tmax, size, side = _trafo_taps(tr_df)
        trafo["tap_pos"], trafo["tap_nom"] = pos, neutral
        trafo["tap_min"], trafo["tap_max"] = tmin, tmax
        trafo["tap_size"], trafo["tap_side"] = size, side

    eg = net.ext_grid[net.ext_grid["in_service"].astype(bool)]
    if eg.empty:
        raise GridError("the grid has no in-service ext_grid (slack)")
    source = initialize_array(DatasetType.input, ComponentType.source, len(eg))
    source["id"] = ids(len(eg))
    source["node"] = node_ids[node_of(eg["bus"].to_numpy())]
    source["status"] = 1
    source["u_ref"] = eg["vm_pu"].to_numpy(dtype=float)
    source["u_ref_angle"] = np.deg2rad(eg["va_degree"].fillna(0.0).to_numpy(dtype=float))
    source["sk"] = SOURCE_SK_VA

    load = initialize_array(DatasetType.input, ComponentType.sym_load, bus_ids.size)
    load["id"] = ids(bus_ids.size)
    load["node"] = node_ids[bus_node_pos]
    load["status"] = 1
    load["type"] = 0  # const_power
    load["p_specified"] = 0.0
    load["q_specified"] = 0.0

    input_data = {
        ComponentType.node: node,
        ComponentType.line: line,
        ComponentType.transformer: trafo,
        ComponentType.source: source,
        ComponentType.sym_load: load,
    }
    if "shunt" in net and len(net.shunt):
        sh_df = net.shunt
        shunt = initialize_array(DatasetType.input, ComponentType.shunt, len(sh_df))
        shunt["id"] = ids(len(sh_df))
        shunt_node = node_of(sh_df["bus"].to_numpy())
        shunt["node"] = node_ids[shunt_node]
        shunt["status"] = sh_df["in_service"].astype(bool).to_numpy()
        vn_sh = sh_df.get("vn_kv", pd.Series(vn_kv[shunt_node], index=sh_df.index))
        u2 = (vn_sh.to_numpy(dtype=float) * 1e3) ** 2
        steps = sh_df.get("step", pd.Series(1, index=sh_df.index)).to_numpy(dtype=float)
        shunt["g1"] = sh_df["p_mw"].to_numpy(dtype=float) * 1e6 * steps / u2
        shunt["b1"] = -sh_df["q_mvar"].to_numpy(dtype=float) * 1e6 * steps / u2
        input_data[ComponentType.shunt] = shunt

    errors = validate_input_data(input_data, symmetric=True)
    if errors:
        shown = "; ".join(str(e) for e in errors[:5])
        raise GridError(f"the grid does not convert to a valid PGM model: {shown}")
    return PgmNetwork(
        input_data=input_data,
        node_ids=node_ids,
        bus_node_pos=bus_node_pos,
        load_ids=load["id"].copy(),
        line_ids=line["id"].copy(),
        trafo_ids=trafo["id"].copy(),
        f_hz=float(net.f_hz),
    )
