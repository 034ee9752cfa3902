"""The web view in headless Chromium: traffic lights, open requests and offers, awards,
activations and statements; a screenshot is kept under test-artifacts/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from localflex.service import Settings, create_app
from support import ThreadServer, free_port, wait_healthy

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DOCS_SHOT = Path(__file__).resolve().parents[2] / "docs" / "web-view.png"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def _fill_market(m) -> None:
    g0, g1 = m.gates[0], m.gates[1]
    m.post("dso1", "/requests", {"gate_id": g0, "congestion_point": "trafo:0",
                                 "direction": "down", "power_kw": 40})
    for i, bus in enumerate(m.buses[1:7]):
        m.offer("agg1" if i % 2 else "agg2", gate=0, bus=bus, kw=15 + i, price=80 + 7 * i)
    m.post("operator", f"/gates/{g0}/clear")
    m.post("dso1", "/requests", {"gate_id": g1, "congestion_point": "trafo:0",
                                 "direction": "down", "power_kw": 20})
    m.offer("agg1", gate=1, kw=12, price=95)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM),
                    reason=f"{CHROMIUM} is absent (apt-get install -y chromium)")
def test_service_web_view_in_chromium(sqlite_market):
    from playwright.sync_api import sync_playwright

    m = sqlite_market
    _fill_market(m)
    port = free_port()
    app = create_app(Settings(database_url=m.svc.db.url, run_scheduler=False,
                              web_refresh_s=30))
    with ThreadServer(app, port):
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base)
        app.state.service.grid.wait()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{base}/?day=2030-06-21")
                # public part: the traffic lights, no private tables
                assert page.locator("#traffic-lights td").count() == 4 * len(m.svc.grid
                                                                          .cp_rows())
                assert page.locator("#offers").count() == 0
                page.fill("input[name=api_key]", m.keys["operator"])
                page.click("#login")
                page.wait_for_selector("#awards")
                assert page.inner_text("#caller") == "operator"
                assert page.locator("#traffic-lights td.yellow").count() >= 2
                assert page.locator("#requests tr").count() == 2  # header + the open one
                assert page.locator("#offers tr").count() == 2
                assert page.locator("#awards tr").count() >= 2
                assert page.locator("#activations tr").count() >= 2
                assert "0.000000 EUR" in page.inner_text("#ledger-balance")
                ARTIFACTS.mkdir(exist_ok=True)
                shot = ARTIFACTS / "web-view.png"
                page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000
                if os.environ.get("LOCALFLEX_UPDATE_DOCS_SCREENSHOT"):  # refresh the README's
                    shutil.copyfile(shot, DOCS_SHOT)
                # an aggregator sees its own offers only
                page.click("text=log out")
                page.fill("input[name=api_key]", m.keys["agg2"])
                page.click("#login")
                page.wait_for_selector("#statements")
                offers = page.inner_text("#offers") if page.locator("#offers").count() else ""
                assert "agg1" not in offers
                assert "agg1" not in page.inner_text("#awards")
            finally:
                browser.close()
