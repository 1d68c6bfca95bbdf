"""End to end in a real headless Chromium (Debian's ``chromium``): log in, read the compliance
page, open a unit's charts, save screenshots — and not one request leaves localhost."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from ihanoi.contract.registry import load_registry

from tests.test_dashboard_support import PASSWORDS, district, make_app, users  # noqa: F401

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (drives Debian's chromium)")
uvicorn = pytest.importorskip("uvicorn")

CHROMIUM = os.environ.get("IHANOI_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--lang=vi-VN"]


@pytest.fixture
def dashboard_url(district, registry, users, tmp_path):
    app = make_app(tmp_path, district, registry, users)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium: apt-get install -y chromium")
def test_a_user_logs_in_reads_compliance_and_a_units_chart_all_served_locally(dashboard_url, tmp_path):
    requests: list[str] = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
        context.on("request", lambda r: requests.append(r.url))
        page = context.new_page()

        page.goto(dashboard_url + "/compliance")
        assert "/login" in page.url
        page.fill("input[name=username]", "vanhoa")
        page.fill("input[name=password]", PASSWORDS["vanhoa"])
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_url("**/compliance")
        assert page.locator("html").get_attribute("lang") == "vi"
        assert page.locator("h1").inner_text().startswith("Tuân thủ")
        assert page.locator("#units tbody tr").count() == len(load_registry().units)
        # The stylesheet is the app's own and was applied.
        assert page.eval_on_selector("header.top", "e => getComputedStyle(e).backgroundColor") == "rgb(200, 16, 46)"
        page.screenshot(path=str(tmp_path / "compliance.png"), full_page=False)

        page.click("#units a:has-text('UBND phường Bạch Mai')")
        page.wait_for_url("**/units/phuong-bach-mai?campaign=ihanoi")     # the campaign shown goes along
        chart = page.locator("#chart-hourly svg")
        box = chart.bounding_box()
        assert box and box["width"] > 500 and box["height"] > 150
        assert page.locator("#chart-hourly svg rect.traffic").count() >= 8
        assert page.locator("#chart-daily svg path.quota").count() >= 1
        page.screenshot(path=str(tmp_path / "unit.png"), full_page=True)

        page.goto(dashboard_url + "/fleet")
        assert page.locator("#fleet tr.offline").count() >= 1
        page.screenshot(path=str(tmp_path / "fleet.png"))
        browser.close()

    for name in ("compliance.png", "unit.png", "fleet.png"):
        assert (tmp_path / name).stat().st_size > 10_000
        if os.environ.get("IHANOI_SCREENSHOTS"):
            shutil.copy(tmp_path / name, Path(os.environ["IHANOI_SCREENSHOTS"]) / name)
    assert requests, "the browser made no requests at all?"
    outside = [u for u in requests if not u.startswith(dashboard_url + "/")]
    assert outside == [], f"requests left localhost: {outside}"
    assert any(u.endswith("/static/style.css") for u in requests)
