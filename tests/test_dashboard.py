"""The classroom dashboard in a real browser: headless Chromium driven by Playwright.

Needs Debian's chromium and the dashboard extra (``bash tests/setup_browser.sh``).
"""

import os
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is missing: run tests/setup_browser.sh")
    port = _free_port()
    solara = ROOT / ".venv" / "bin" / "solara"
    cmd = [str(solara), "run", "sim/app.py", "--host", "localhost", "--port", str(port), "--production", "--no-open"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://localhost:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail("the dashboard did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def _week(page) -> int:
    return int(re.search(r"Week (\d+)", page.inner_text("body")).group(1))


def _ladder(page) -> str:
    return page.locator("table").first.inner_text()


def test_dashboard_steps_reacts_to_sliders_and_moments(app_url, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        page.goto(app_url, timeout=120_000)
        page.get_by_text("Week 0").wait_for(timeout=120_000)
        assert "giving (giving)" in _ladder(page)
        assert re.search(r"showing 1,000 of 2,000 customers", page.inner_text("body"))

        # A slider: population size, one notch up with the keyboard, then Reset rebuilds the market.
        slider = page.get_by_role("slider").last
        slider.focus()
        slider.press("ArrowRight")
        page.get_by_role("button", name="Reset").click()
        page.get_by_text("showing 1,000 of 2,200 customers").wait_for(timeout=60_000)
        start = _ladder(page)

        for _ in range(3):
            page.get_by_role("button", name="Step").click()
            page.wait_for_timeout(700)
        page.get_by_text("Week 3").wait_for(timeout=60_000)
        assert _week(page) == 3
        assert _ladder(page) != start  # the counts moved

        page.get_by_role("button", name="Outage at giving").click()
        page.get_by_text("week 4: giving suffers a four-week outage").wait_for(timeout=30_000)
        page.get_by_role("button", name="Step").click()
        page.get_by_text("Week 4").wait_for(timeout=60_000)

        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
        assert shot.stat().st_size > 10_000
        browser.close()


def test_a_preset_arrives_whole_and_a_moved_slider_applies():
    """Untouched sliders (at the default's values) leave each chosen preset whole; a moved one overrides it."""
    pytest.importorskip("solara")
    from sim.app import SLIDERS, ClassroomMarket, default
    from sim.config import load

    untouched = {name: default(key) for name, (_, key, *_) in SLIDERS.items()}
    m = ClassroomMarket(first_policy="taking", second_policy="giving", customers=200, **untouched)
    presets = load(["policy@firms.giving=taking", "policy@firms.taking=giving"]).firms
    for firm in m.firms:
        assert firm.levers == presets[firm.name].levers, firm.name
    moved = ClassroomMarket(first_policy="taking", customers=200, **{**untouched, "generosity": 0.9})
    assert moved.firms[0].levers.generosity == 0.9
