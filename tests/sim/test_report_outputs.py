"""The run report's inline SVG charts and the run folder's per-ISP tables on large grids."""

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from localflex.sim import outputs
from localflex.sim.engine import simulate
from localflex.sim.kpis import compute_kpis
from localflex.sim.report import render_report
from localflex.sim.scenario import load_scenario
from localflex.sim.svg_chart import Chart, nice_ticks

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.yaml"


@pytest.fixture(scope="module")
def demo_day():
    day = simulate(load_scenario(DEMO))
    return day, compute_kpis(day)


def test_report_draws_every_chart_as_wellformed_svg(demo_day):
    day, kpis = demo_day
    page = render_report(day, kpis)
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(svgs) >= 4
    for svg in svgs:
        ET.fromstring(svg)  # raises on malformed markup
    assert "data:image/png" not in page
    overloaded = day.congestion_points["cp_id"].iloc[
        int(np.argmax(day.before.cp_loading_pct.max(axis=0)))]
    assert overloaded in page  # the loading panel names its congestion point
    for aggregator in day.awards["aggregator_id"].unique():
        assert f">{aggregator}<" in page  # activations per aggregator
    for der_type in day.awards["der_type"].unique():
        assert f">{der_type}<" in page  # ... stacked by DER type
    assert "merit order of round 1" in page


def test_chart_maps_data_into_the_plot_area():
    chart = Chart((0.0, 10.0), (0.0, 100.0), width=200, height=100)
    x = chart.px(np.array([0.0, 10.0]))
    y = chart.py(np.array([0.0, 100.0]))
    assert x[0] == chart.left and x[1] == 200 - chart.right
    assert chart.top < y[1] < y[0] < 100 - chart.bottom
    assert list(nice_ticks(0.0, 100.0)) == [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]


def test_large_grid_tables_keep_watched_points_and_a_summary_of_all(demo_day, monkeypatch):
    day, _ = demo_day
    full = outputs.run_tables(day)
    monkeypatch.setattr(outputs, "LONG_TABLE_MAX_ELEMENTS", 0)
    small = outputs.run_tables(day)
    n_isps = day.time_grid.n_isps
    overloaded = set(full["cp_loading"].loc[full["cp_loading"]["overload_before_kw"] > 0, "cp_id"])
    assert overloaded and set(small["cp_loading"]["cp_id"]) >= overloaded
    assert len(small["cp_loading"]) < len(full["cp_loading"])
    assert len(small["cp_loading"]) % n_isps == 0
    assert len(small["cp_summary"]) == len(day.congestion_points)
    assert len(small["bus_summary"]) == day.grid.bus_ids.size
    worst = small["cp_summary"]["worst_loading_before_pct"].max()
    assert worst == pytest.approx(day.before.cp_loading_pct.max())
    assert small["bus_summary"]["isps_violated_before"].sum() == 0 or len(small["bus_voltage"])


def test_missing_values_break_the_line_instead_of_drawing_them():
    chart = Chart((0.0, 3.0), (0.0, 1.0))
    chart.line(np.arange(4.0), np.array([0.0, np.nan, 0.5, 1.0]), color="red")
    chart.band(np.arange(4.0), np.array([0.0, np.nan, 0.1, 0.2]),
               np.array([0.5, np.nan, 0.6, 0.7]), color="blue")
    svg = chart.svg()
    ET.fromstring(svg)
    assert not re.search(r"[\s,mlhvz]nan", svg.lower())
    path = re.search(r"<path d='([^']*)' fill='none' stroke='red'", svg).group(1)
    assert path.count("M") == 2  # two pieces: before and after the gap
