"""The planning page end to end in a real headless Chromium (Debian's package, driven by
Playwright): the built-in plan, every chart, the what-if slider, a bad value, a shared URL,
and no request leaving the machine. Screenshots go to artifacts/web/."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:  # .ci/run installs Debian's chromium; a bare checkout may not have it
    pytest.skip(
        "the system chromium is not installed (apt-get install chromium)", allow_module_level=True
    )

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "web"
CHARTS = ("chart-pareto", "chart-volume", "chart-batch", "chart-budget")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    import uvicorn

    from fleetplan.web import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "the web app did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: object, server: str) -> Iterator[object]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1700})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    pg.outside = []  # any request that would leave the machine is recorded and refused
    pg.errors = []

    def route(r: object) -> None:
        url = r.request.url
        if url.startswith(server) or url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            pg.outside.append(url)
            r.abort()

    pg.route("**/*", route)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    ctx.close()


def _shot(pg: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _painted(pg: object, canvas_id: str) -> bool:
    """The chart drew something: its canvas holds pixels that are not transparent."""
    return pg.evaluate(
        """(id) => { const c = document.getElementById(id);
        if (!c || c.dataset.rendered !== '1' || !c.width) return false;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
        return n > 500; }""",
        canvas_id,
    )


def _wait_charts(pg: object, ids: tuple[str, ...]) -> None:
    for cid in ids:
        pg.wait_for_function(f"document.getElementById('{cid}').dataset.rendered === '1'")
        assert _painted(pg, cid), cid


def test_builtin_plan_and_every_chart(page: object, server: str) -> None:
    import httpx

    plan = httpx.post(f"{server}/api/plan", timeout=60).json()
    expected = plan["recommended"]
    page.goto(server + "/")
    page.wait_for_selector("#rec-gpu")
    assert page.inner_text("#rec-gpu") == expected["gpu"]
    assert page.inner_text("#rec-replicas") == str(expected["replicas"])
    # the model's out-of-sample error beside the recommendation, as the plan's JSON gives it
    ttft = plan["expected_error"]["metrics"]["ttft_ms"]
    assert f"TTFT {ttft['median_abs_pct']:g} % (p90 {ttft['p90_abs_pct']:g} %)" in page.inner_text(
        "#rec-error"
    )
    _wait_charts(page, CHARTS)
    page.click("#b-verify")
    _wait_charts(page, ("chart-timeline",))
    assert "Simulated" in page.inner_text("#status")
    _shot(page, "plan")
    assert page.outside == [] and page.errors == []


def test_qps_slider_replans(page: object, server: str) -> None:
    page.goto(server + "/")
    page.wait_for_selector("#rec-replicas")
    before = page.inner_text("#rec-replicas")
    slider = page.locator("#s-peak")
    slider.focus()
    slider.press("End")  # the keyboard moves a slider to its maximum, as a user would
    page.wait_for_function(
        f"document.querySelector('#rec-replicas') && "
        f"document.querySelector('#rec-replicas').textContent !== '{before}'"
    )
    assert page.input_value("#f-peak") == slider.get_attribute("max")
    assert "#s=" in page.url  # the what-if is in the URL
    _shot(page, "slider")
    assert page.outside == []


def test_bad_value_shows_the_fields_message(page: object, server: str) -> None:
    page.goto(server + "/")
    page.wait_for_selector("#rec-gpu")
    page.fill("#f-ttft", "-5")
    page.click("#b-plan")
    msg = page.locator('.err[data-field="slo.ttft_p95_ms"]')
    msg.wait_for(state="visible")
    assert "ttft_p95_ms" in msg.inner_text()
    assert "bad" in (page.get_attribute("#f-ttft", "class") or "")
    _shot(page, "bad-value")


def test_shared_url_gives_the_same_plan(page: object, browser: object, server: str) -> None:
    page.goto(server + "/")
    page.wait_for_selector("#rec-gpu")
    page.fill("#f-peak", "120")
    page.fill("#f-tpot", "40")
    page.click("#b-plan")
    page.wait_for_function("location.hash.length > 3")
    page.wait_for_function("!document.querySelector('#status').textContent.startsWith('Planning')")
    url = page.url
    gpu, replicas = page.inner_text("#rec-gpu"), page.inner_text("#rec-replicas")
    other = browser.new_page()
    other.set_default_timeout(60_000)
    other.goto(url)
    other.wait_for_selector("#rec-gpu")
    assert other.input_value("#f-peak") == "120"
    assert (other.inner_text("#rec-gpu"), other.inner_text("#rec-replicas")) == (gpu, replicas)
    other.close()
