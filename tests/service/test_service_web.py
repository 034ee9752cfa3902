"""The web view in headless Chromium, clicking through each role's flow: the operator opens
and clears gates, a DSO posts and withdraws requests, an aggregator posts and withdraws
offers and sees its awards and activations; the chart of each congestion point's forecast
loading and cleared relief; a refused form answer names the field. The screenshot of the
final page is kept as test-artifacts/web-view.png (``web_view_screenshot.py`` copies it to
docs/web-view.png for the README)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from localflex.service import Settings, create_app
from support import ThreadServer, free_port, wait_healthy

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SHOT = ARTIFACTS / "web-view.png"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
DAY = "2030-06-21"


def _login(page, base: str, key: str) -> None:
    page.goto(f"{base}/?day={DAY}")
    if page.locator("text=log out").count():
        page.click("text=log out")
    page.fill("input[name=api_key]", key)
    page.click("#login")
    page.wait_for_selector("#caller")
    page.goto(f"{base}/?day={DAY}")


def _submit(page, button: str) -> str:
    page.click(button)
    page.wait_for_selector("#ok, #msg")
    if page.locator("#msg").count():
        return page.inner_text("#msg")
    return page.inner_text("#ok")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM),
                    reason=f"{CHROMIUM} is absent (apt-get install -y chromium)")
def test_service_web_each_role_works_in_chromium(sqlite_market):
    from playwright.sync_api import sync_playwright

    m = sqlite_market
    port = free_port()
    app = create_app(Settings(database_url=m.svc.db.url, run_scheduler=False,
                              web_refresh_s=30))
    n_cps = len(m.svc.grid.cp_rows())
    with ThreadServer(app, port):
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base)
        app.state.service.grid.wait()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                # public: traffic lights and the day's charts, no forms, no private tables
                page.goto(f"{base}/?day={DAY}")
                assert page.locator("#traffic-lights td").count() == 4 * n_cps
                assert page.locator("#charts svg.cp-chart").count() == n_cps
                assert page.locator("form.act").count() == 0
                assert page.locator("#offers").count() == 0

                # operator: open four more gates on the day
                _login(page, base, m.keys["operator"])
                page.fill("#open-gates input[name=start]", f"{DAY}T13:00")
                page.fill("#open-gates input[name=n_isps]", "4")
                assert "4 gates opened" in _submit(page, "#open-gates-submit")
                assert page.locator("#gates tr").count() == 1 + 8
                assert page.locator("#traffic-lights td").count() == 8 * n_cps
                # a refused form names the field, the value and what was expected
                page.fill("#open-gates input[name=start]", f"{DAY}T13:07")
                refused = _submit(page, "#open-gates-submit")
                assert "start" in refused and "grid" in refused, refused

                # DSO: post two requests on the first gate, withdraw one
                _login(page, base, m.keys["dso1"])
                assert page.inner_text("#caller") == "dso1"
                page.select_option("#post-request select[name=gate_id]", m.gates[0])
                page.select_option("#post-request select[name=congestion_point]", "trafo:0")
                page.fill("#post-request input[name=power_kw]", "40")
                assert "posted" in _submit(page, "#post-request-submit")
                page.fill("#post-request input[name=power_kw]", "5")
                assert "posted" in _submit(page, "#post-request-submit")
                assert page.locator("#requests tr").count() == 3
                page.locator("#requests button.withdraw").last.click()
                page.wait_for_selector("#ok")
                assert "withdrawn" in page.inner_text("#ok")
                assert page.locator("#requests tr").count() == 2
                page.fill("#post-request input[name=power_kw]", "-5")
                assert "power_kw" in _submit(page, "#post-request-submit")

                # aggregators: offers on the first gate; agg1 withdraws one of its own
                for party, offers in (("agg1", [(15, 80), (12, 300)]), ("agg2", [(30, 95)])):
                    _login(page, base, m.keys[party])
                    for kw, price in offers:
                        page.select_option("#post-offer select[name=gate_id]", m.gates[0])
                        page.select_option("#post-offer select[name=bus]", str(m.buses[2]))
                        page.fill("#post-offer input[name=max_power_kw]", str(kw))
                        page.fill("#post-offer input[name=price_eur_per_mwh]", str(price))
                        assert "posted" in _submit(page, "#post-offer-submit")
                    assert page.locator("#offers tr").count() == 1 + len(offers)
                    assert ("agg2" if party == "agg1" else "agg1") not in page.inner_text(
                        "#offers")
                page.fill("#post-offer input[name=max_power_kw]", "0")
                assert "max_power_kw" in _submit(page, "#post-offer-submit")
                _login(page, base, m.keys["agg1"])
                page.locator("#offers button.withdraw").last.click()
                page.wait_for_selector("#ok")
                assert page.locator("#offers tr").count() == 2

                # operator clears the first gate
                _login(page, base, m.keys["operator"])
                page.click(f"button.clear[data-gate='{m.gates[0]}']")
                page.wait_for_selector("#ok")
                assert "cleared" in page.inner_text("#ok"), page.inner_text("#ok")
                assert page.locator(f"button.clear[data-gate='{m.gates[0]}']").count() == 0
                assert "0.00 EUR" in page.inner_text("#ledger-balance")
                # the chart shows the relief cleared at trafo:0
                relief = page.locator("svg.cp-chart[data-cp='trafo:0'] rect.relief")
                assert relief.count() == 1
                assert page.locator("svg.cp-chart polyline.loading").count() >= 1
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(SHOT), full_page=True)
                assert SHOT.stat().st_size > 10_000

                # agg1 sees its award and activation, nobody else's
                _login(page, base, m.keys["agg1"])
                awards = page.inner_text("#awards")
                assert "agg1" in awards and "agg2" not in awards
                assert page.locator("#activations tr").count() >= 2
                assert "agg2" not in page.inner_text("#activations")
                # the DSO sees its request covered (no longer open) and its award
                _login(page, base, m.keys["dso1"])
                assert page.locator("#requests").count() == 0
                assert page.locator("#awards tr").count() >= 2
            finally:
                browser.close()
