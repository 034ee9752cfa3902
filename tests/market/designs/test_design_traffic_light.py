"""The traffic light (grid/traffic_light.py): USEF's four regimes, BDEW's three, from numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from design_builders import small_input

from localflex.domain import InputError
from localflex.grid import overload_kw
from localflex.grid.traffic_light import (
    GREEN,
    ORANGE,
    RED,
    YELLOW,
    LightThresholds,
    escalate,
    forecast_lights,
    light_hours,
    state_lights,
)

CPS = pd.DataFrame({"cp_id": ["trafo:0", "line:0"], "rated_kva": [100.0, 200.0],
                    "max_loading_pct": [100.0, 80.0]})


def _lights(loading, market, control, scheme="usef", **kw):
    return forecast_lights(np.array(loading, float), CPS, market_relief_kw=np.array(market, float),
                           control_relief_kw=np.array(control, float), scheme=scheme,
                           thresholds=LightThresholds(**kw))


def test_usef_four_regimes_follow_the_documented_thresholds():
    # trafo (100 kVA, limit 100 %): need = loading - 100 kW; line: limit 80 %, 200 kVA
    loading = [[85.0, 10.0],    # green: below limit - 10
               [95.0, 75.0],    # yellow: in the margin band, no need
               [110.0, 10.0],   # need 10 kW, market 12 -> yellow
               [110.0, 10.0],   # need 10, market 5, control 20 -> orange
               [110.0, 10.0],   # need 10, market 5, control 2 -> red (measures exhausted)
               [151.0, 10.0]]   # far above the limit, but the market covers it -> yellow
    market = [[0, 0], [0, 0], [12, 0], [5, 0], [5, 0], [1e6, 0]]
    control = [[0, 0], [0, 0], [0, 0], [20, 0], [2, 0], [1e6, 0]]
    lights = _lights(loading, market, control)
    assert lights[:, 0].tolist() == [GREEN, YELLOW, YELLOW, ORANGE, RED, YELLOW]
    # the documented emergency condition (off by default) makes it red whatever is offered
    emergency = _lights(loading, market, control, emergency_factor=1.5)
    assert emergency[:, 0].tolist() == [GREEN, YELLOW, YELLOW, ORANGE, RED, RED]
    assert lights[1, 1] == YELLOW  # 75 % > 80 - 10 on the line
    assert lights[0, 1] == GREEN


def test_bdew_has_no_orange_and_cover_factor_asks_for_spare_liquidity():
    loading = [[110.0, 10.0]] * 2
    market = [[5, 0], [12, 0]]
    control = [[20, 0], [0, 0]]
    bdew = _lights(loading, market, control, scheme="bdew")
    assert bdew[:, 0].tolist() == [RED, YELLOW]
    strict = _lights(loading, market, control, cover_factor=1.5)  # wants 15 kW on offer
    assert strict[:, 0].tolist() == [ORANGE, RED]


@pytest.mark.parametrize("scheme", ["usef", "bdew"])
def test_a_need_the_market_covers_is_yellow_however_high_the_loading(scheme):
    # 160 % on a 100 kVA transformer: 60 kW need, 1,000 kW of market relief on offer
    lights = _lights([[160.0, 10.0]], [[1000.0, 0.0]], [[0.0, 0.0]], scheme)
    assert lights[0, 0] == YELLOW
    assert _lights([[160.0, 10.0]], [[59.0, 0.0]], [[0.0, 0.0]], scheme)[0, 0] == RED


def test_bdew_yellow_starts_at_a_forecast_problem_usef_at_the_margin():
    loading = [[95.0, 10.0]]  # within 10 points of the limit, no need
    assert _lights(loading, [[0, 0]], [[0, 0]], "usef")[0, 0] == YELLOW
    assert _lights(loading, [[0, 0]], [[0, 0]], "bdew")[0, 0] == GREEN


def test_escalation_follows_what_the_market_and_control_left():
    lights = np.array([[YELLOW, YELLOW, YELLOW, GREEN]], dtype=np.int8)
    market_left = np.array([[False, True, True, False]])
    control_left = np.array([[False, False, True, False]])
    usef = escalate(lights, market_left, control_left, "usef")
    bdew = escalate(lights, market_left, control_left, "bdew")
    assert usef.tolist() == [[YELLOW, ORANGE, RED, GREEN]]
    assert bdew.tolist() == [[YELLOW, RED, RED, GREEN]]


def test_state_lights_bands_and_hours_use_the_worst_point():
    loading = np.array([[50.0, 10.0], [95.0, 10.0], [100.5, 10.0], [160.0, 10.0]])
    lights = state_lights(loading, CPS)
    assert lights[:, 0].tolist() == [GREEN, YELLOW, ORANGE, RED]
    hours = light_hours(lights, 0.25)
    assert hours == {"green": 0.25, "yellow": 0.25, "orange": 0.25, "red": 0.25}
    lights[0, 1] = RED
    assert light_hours(lights, 0.25)["red"] == 0.5


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"scheme": "amber"}, "scheme"),
    ({"market": [[0.0]]}, "market_relief_kw"),
])
def test_bad_input_names_the_field(kwargs, field):
    args = {"loading": [[90.0, 10.0]], "market": [[0.0, 0.0]], "control": [[0.0, 0.0]],
            "scheme": "usef"} | kwargs
    with pytest.raises(InputError, match=field):
        _lights(args["loading"], args["market"], args["control"], args["scheme"])


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"yellow_margin_pct": -1.0}, "yellow_margin_pct"),
    ({"red_factor": 1.0}, "red_factor"),
    ({"cover_factor": 0.5}, "cover_factor"),
    ({"emergency_factor": 0.9}, "emergency_factor"),
])
def test_bad_thresholds_raise(kwargs, field):
    with pytest.raises(InputError, match=field):
        LightThresholds(**kwargs)


def test_lights_come_from_the_grid_forecast():
    inp = small_input()
    over = overload_kw(inp.forecast, inp.cps)
    big = np.full(over.shape, 1e9)
    lights = forecast_lights(inp.forecast.cp_loading_pct, inp.cps, market_relief_kw=big,
                             control_relief_kw=big)
    limit = inp.cps["max_loading_pct"].to_numpy()
    assert (lights[over > 0] >= YELLOW).all()
    assert (lights[inp.forecast.cp_loading_pct <= limit - 10.0] == GREEN).all()
    assert not (lights >= ORANGE).any()  # the market covers every need: nothing escalates
    scarce = forecast_lights(inp.forecast.cp_loading_pct, inp.cps,
                             market_relief_kw=np.zeros(over.shape),
                             control_relief_kw=np.zeros(over.shape))
    assert ((scarce == RED) == (over > 0)).all()
    assert (over[:, 0] > 0).any()  # the transformer is congested in this scenario
