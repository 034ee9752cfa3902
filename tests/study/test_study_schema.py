"""The study file: cells and their stable ids; a bad file refused naming the key."""

from pathlib import Path

import pytest
import yaml
from study_builders import small_study
from typer.testing import CliRunner

from localflex.cli import app
from localflex.study import StudyError, expand_cells, parse_study


def test_cells_are_the_product_with_stable_ids():
    study = parse_study(small_study(parameters={"ders.participation": [0.5, 0.9],
                                                "design.n_brps": [1, 3]}))
    cells = expand_cells(study)
    assert len(cells) == 2 * 2 * 2 * 2  # designs × seeds × participation × n_brps
    assert len({c.cell_id for c in cells}) == len(cells)
    again = expand_cells(parse_study(small_study(parameters={"ders.participation": [0.5, 0.9],
                                                             "design.n_brps": [1, 3]})))
    assert [c.cell_id for c in again] == [c.cell_id for c in cells]
    assert cells[0].scenario["ders"]["participation"] == 0.5
    assert {c.design_params["n_brps"] for c in cells} == {1, 3}
    # a changed base scenario makes new cells (a rerun never reuses stale results)
    other = expand_cells(parse_study(small_study(parameters={"ders.participation": [0.5, 0.9],
                                                             "design.n_brps": [1, 3]},
                                                 intraday=False)))
    assert not {c.cell_id for c in other} & {c.cell_id for c in cells}


def test_inline_scenario_and_grids():
    base = yaml.safe_load(Path(small_study()["scenario"]).read_text(encoding="utf-8"))
    study = parse_study(small_study(scenario=base, grids=["1-LV-rural1--2-sw",
                                                          "1-LV-semiurb4--2-sw"]))
    cells = expand_cells(study)
    assert {c.grid for c in cells} == {"1-LV-rural1--2-sw", "1-LV-semiurb4--2-sw"}
    assert {c.scenario["grid"]["simbench_code"] for c in cells} == {c.grid for c in cells}


@pytest.mark.parametrize(("change", "key"), [
    ({"desings": ["no_coupling"]}, "desings"),
    ({"designs": ["no_such_design"]}, "designs"),
    ({"seeds": [-1]}, "seeds"),
    ({"dates": [{"start": "2016-06-21", "end": "2016-06-20"}]}, "dates[0].end"),
    ({"dates": [{"start": "2016-01-01", "end": "2017-01-05"}]}, "dates[0].end"),
    ({"parameters": {"ders.ev_shares": [0.1]}}, "parameters.ders.ev_shares"),
    ({"parameters": {"ders.participation": [2.0]}}, "parameters.ders.participation"),
    ({"parameters": {"design.n_brpz": [1]}}, "design_params.n_brpz"),
    ({"grids": ["1-LV-nowhere--0-sw"]}, "grids[0]"),
    ({"delivery": {"under_delivery": "forgive"}}, "delivery.under_delivery"),
    ({"delivery": {"baseline": "yesterday"}}, "delivery.baseline"),
    ({"parameters": {"forecast.error_scale": [-1]}}, "parameters.forecast.error_scale"),
    ({"parameters": {"forecast.sigma": [1]}}, "parameters.forecast.sigma"),
    ({"forecast": {"error_scale": "big"}}, "forecast.error_scale"),
])
def test_bad_study_refused_naming_the_key(change, key):
    with pytest.raises(StudyError) as info:
        parse_study(small_study(**change))
    assert key in str(info.value)


def test_cli_refuses_bad_study_in_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(small_study(parameters={"ders.ev_shares": [0.1]})))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["study", str(path), "--out", str(out)])
    assert result.exit_code == 2
    message = result.output.strip()
    assert "parameters.ders.ev_shares" in message and "Traceback" not in message
    assert len(message.splitlines()) == 1
    assert not out.exists()


def test_cli_refuses_a_folder_that_is_not_ours(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(small_study()))
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = CliRunner().invoke(app, ["study", str(path), "--out", str(out)])
    assert result.exit_code == 2
    assert "--out" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "keep me"


def test_forecast_error_scale_is_a_parameter():
    cells = expand_cells(parse_study(small_study(parameters={"forecast.error_scale": [0, 1]})))
    assert len(cells) == 2 * 2 * 2
    assert sorted({c.forecast["error_scale"] for c in cells}) == [0, 1]
    # the default scale leaves the ids of studies that never name it unchanged
    plain = {c.cell_id for c in expand_cells(parse_study(small_study()))}
    assert plain == {c.cell_id for c in cells if c.forecast["error_scale"] == 1}


def test_cli_refuses_an_unreachable_scheduler(tmp_path, monkeypatch):
    import localflex.study.runner as runner_module
    from support import free_port

    monkeypatch.setattr(runner_module, "CONNECT_TIMEOUT_S", 2)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(small_study()))
    result = CliRunner().invoke(app, ["study", str(path), "--out", str(tmp_path / "o"),
                                      "--scheduler", f"tcp://127.0.0.1:{free_port()}"])
    assert result.exit_code == 2, result.output
    assert "--scheduler" in result.output and "Traceback" not in result.output


def test_the_dso_market_day_is_named_in_a_study():
    cells = expand_cells(parse_study(small_study(designs=["dso_market_day", "no_coupling"])))
    assert {c.design for c in cells} == {"dso_market_day", "no_coupling"}
    with pytest.raises(StudyError, match=r"bidding\.strategy"):
        expand_cells(parse_study(small_study(designs="dso_market_day",
                                             bidding={"strategy": "learn"})))
