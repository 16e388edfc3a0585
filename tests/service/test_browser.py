"""A real headless Chromium (Debian's) logs in, uploads and records, and sees the assessments.

Playwright drives the system browser (``executable_path``); no browser is downloaded.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from service_helpers import ADMIN_PASSWORD, LiveServer, make_settings, tone_wav

from vocalmind.service import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         # a fake microphone (a beep) for MediaRecorder, granted without a prompt
         "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]

playwright_sync = pytest.importorskip("playwright.sync_api",
                                      reason="pip install playwright (no `playwright install`)")


@pytest.fixture
def browser_page():  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian chromium not installed (apt-get install chromium)")
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page()
        page.set_default_timeout(60_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page, errors
        browser.close()


def test_browser_login_upload_record_and_trend(browser_page, tmp_path: Path,  # type: ignore[no-untyped-def]
                                               tiny_run: Path) -> None:
    page, errors = browser_page
    wav = tone_wav(tmp_path / "visit.wav", 420, loud=0.5, seconds=2.0)
    app = create_app(make_settings(tmp_path, models=[tiny_run]))
    with LiveServer(app) as srv:
        page.goto(srv.url + "/")
        assert page.url.endswith("/login")
        page.fill("#username", "admin")
        page.fill("#password", "wrong password")
        page.click("#login-button")
        page.wait_for_selector("#login-error:has-text('wrong username or password')")
        page.fill("#password", ADMIN_PASSWORD)
        page.click("#login-button")
        page.wait_for_url(srv.url + "/")
        # a study made by the admin through the API (the page has no study form)
        r = page.request.post(srv.url + "/api/studies", data={"code": "WEB"})
        assert r.status == 201
        page.reload()
        page.wait_for_selector("#study option:has-text('WEB')", state="attached")
        page.fill("#new-code", "P042")
        page.click("#add-participant")
        page.wait_for_selector("#participant option:has-text('P042')", state="attached")
        page.set_input_files("#file", str(wav))
        page.click("#upload")
        page.wait_for_selector("#assessment-status:has-text('done')")
        assert page.inner_text("#prediction").endswith(": high")
        assert "high" in page.inner_text("#probabilities")
        assert "mean pitch (F0)" in page.inner_text("#markers")
        assert "Research measurement, not a diagnosis." in page.inner_text("#disclaimer")

        # record with MediaRecorder (fake microphone) into a second session
        page.select_option("#session", "")
        page.click("#record")
        page.wait_for_selector("#record-state:has-text('recording')")
        page.wait_for_timeout(1500)
        page.click("#record")
        page.wait_for_selector("#assessment-id:has-text('#2')")
        page.wait_for_selector("#assessment-status:has-text('done'), "
                               "#assessment-status:has-text('failed')")
        assert page.inner_text("#assessment-status") == "done", page.inner_text("#assessment-body")

        # participant page: chart (Chart.js) over the two sessions and the statistics note
        page.click("#participant-link")
        page.wait_for_selector("#sessions-table tr:nth-child(3)")
        assert page.evaluate("typeof Chart") == "function"
        n_points = page.evaluate("Chart.getChart('trend-chart').data.labels.length")
        assert n_points == 2
        assert "at least 3 participants" in page.inner_text("#stats-note")
    assert errors == []
