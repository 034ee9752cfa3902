"""``localflex plan``: the flexibility-versus-reinforcement answer on the demo grid, and bad
options or files that exit with code 2 naming the field and write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from localflex.cli import app
from localflex.cli.run import DEMO_SCENARIO

runner = CliRunner()


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def demo_plan(tmp_path_factory):
    out = tmp_path_factory.mktemp("plan") / "figs" / "plan.png"
    result = runner.invoke(app, ["plan", str(DEMO_SCENARIO), "--years", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, _flat(result.output)


def test_plan_gives_a_decision_with_its_numbers(demo_plan):
    out, text = demo_plan
    assert "Answer: reinforce when overloaded" in text
    # 39.3 → 53.6 MWh/yr, 206 kW peak: a 400 kVA unit, 10,000 + 40 · 400 EUR
    for needle in ("trafo:0", "160 → 400", "26,000", "flex_only", "curtail", "cheapest_mix",
                   "capex_biased", "totex", "scenario day 2016-06-21"):
        assert needle in text, needle
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".plan-")]


def test_plan_options_change_the_answer(tmp_path):
    costs = tmp_path / "costs.yaml"
    # very expensive transformers and cheap curtailment: curtailing becomes the answer
    costs.write_text(yaml.safe_dump({"transformer_eur_per_kva": 5000,
                                     "curtailment_eur_per_mwh": 20}))
    out = tmp_path / "p.svg"
    result = runner.invoke(app, ["plan", str(DEMO_SCENARIO), "--years", "2", "--costs",
                                 str(costs), "--der-growth", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Answer: curtail RES" in _flat(result.output)
    assert "DER +0.0%/yr" in _flat(result.output)
    assert out.read_text().lstrip().startswith("<?xml")


def _scenario(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(DEMO_SCENARIO.read_text())
    change(data)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--years", "0"], "years"),
        (["--years", "51"], "years"),
        (["--wacc", "-0.5"], "wacc"),
        (["--der-growth", "3"], "der_growth_per_year"),
        (["--flex-activation", "-1"], "flex_activation_eur_per_mwh"),
        (["--years", "ten"], "--years"),
    ],
)
def test_bad_options_exit_2_naming_the_field(tmp_path, args, needle):
    out = tmp_path / "plan.png"
    result = runner.invoke(app, ["plan", str(DEMO_SCENARIO), *args, "--out", str(out)])
    assert result.exit_code == 2
    assert needle in result.output
    assert not out.exists()


def test_bad_files_exit_2_naming_the_field(tmp_path):
    out = tmp_path / "plan.png"
    costs = tmp_path / "costs.yaml"
    costs.write_text(yaml.safe_dump({"wacc": 0.05, "transformer_lifetime": 30}))
    result = runner.invoke(app, ["plan", str(DEMO_SCENARIO), "--costs", str(costs),
                                 "--out", str(out)])
    assert result.exit_code == 2
    assert "transformer_lifetime" in result.output
    costs.write_text("- just\n- a list\n")
    result = runner.invoke(app, ["plan", str(DEMO_SCENARIO), "--costs", str(costs)])
    assert result.exit_code == 2
    assert "costs" in result.output
    result = runner.invoke(app, ["plan", str(DEMO_SCENARIO), "--costs",
                                 str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    bad = _scenario(tmp_path, lambda d: d["grid"].update(lod_scale=2))
    result = runner.invoke(app, ["plan", str(bad), "--out", str(out)])
    assert result.exit_code == 2
    assert "grid.lod_scale" in result.output
    result = runner.invoke(app, ["plan", str(DEMO_SCENARIO), "--out", str(tmp_path / "p.txt")])
    assert result.exit_code == 2
    assert "out" in result.output
    assert not out.exists()


def test_tariff_command_reports_before_and_after():
    result = runner.invoke(app, ["tariff", str(DEMO_SCENARIO), "--tariff", "dynamic",
                                 "--tariff", "volumetric"])
    assert result.exit_code == 0, result.output
    text = _flat(result.output)
    assert "dynamic" in text and "volumetric" in text and "time_of_use" not in text
    assert "698.7 → 698.7" in text  # a flat tariff moves nothing on the PV day
    assert "698.7 → 680.5" in text  # the dynamic tariff draws load into the PV overload


@pytest.mark.parametrize(("args", "needle"), [
    (["--tariff", "bogus"], "tariff"),
    (["--elasticity", "0.5"], "elasticity"),
    (["--flexible-share", "2"], "flexible_share"),
])
def test_tariff_command_bad_options_exit_2(args, needle):
    result = runner.invoke(app, ["tariff", str(DEMO_SCENARIO), *args])
    assert result.exit_code == 2
    assert needle in result.output
