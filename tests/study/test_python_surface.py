"""``import localflex as lf``: a thin, lazy surface that a notebook can drive."""

import subprocess
import sys

import pandas as pd
import pytest
from study_builders import EXAMPLES, small_study

import localflex as lf


def test_import_is_lazy_and_documented():
    code = ("import sys, localflex; "
            "print(any(m.split('.')[0] in {'pandas', 'numpy', 'dask'} for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
    for name in lf.__all__:
        obj = getattr(lf, name)
        assert name == "__version__" or obj.__doc__, name
    with pytest.raises(AttributeError):
        _ = lf.no_such_function


def test_study_from_python(tmp_path):
    study = lf.load_study(small_study(designs=["sequential_dso_first"], seeds=[3],
                                      dates=[{"start": "2016-06-21", "end": "2016-06-21"}]))
    results = lf.run_study(study, tmp_path / "s", scheduler="serial")
    assert isinstance(results.kpis, pd.DataFrame) and len(results.kpis) == 1
    assert set(results.statistics["kpi"]) >= {"dso_cost_eur", "residual_overload_kwh"}
    again = lf.study_results(tmp_path / "s")
    pd.testing.assert_frame_equal(again.kpis, results.kpis)
    stats = lf.kpi_statistics(results.kpis, ["dso_cost_eur"])
    assert stats["mean"].iloc[0] == results.kpis["dso_cost_eur"].iloc[0]


def test_load_study_resolves_the_scenario_next_to_the_file(tmp_path, monkeypatch):
    path = tmp_path / "s.yaml"
    (tmp_path / "demo.yaml").write_text((EXAMPLES / "demo.yaml").read_text())
    path.write_text("name: s\nscenario: demo.yaml\ndates: [{start: 2016-06-21, "
                    "end: 2016-06-21}]\n")
    monkeypatch.chdir(EXAMPLES)
    study = lf.load_study(path)
    assert study.scenario == str(tmp_path / "demo.yaml")
    assert "sequential_dso_first" in lf.designs()
