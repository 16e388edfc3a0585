"""A study nurse's full flow in a real headless Chromium (Debian's), with screenshots.

Log in, create a study, add participants, pick an existing one by typing its code, upload
(and record) over three dated sessions, read the trend chart and the pre/post table,
change the password. Playwright drives the system browser (``executable_path``); no browser
is downloaded. Screenshots are saved as test artifacts in ``$VOCALMIND_ARTIFACTS`` if set,
else in the test's temporary folder (the path is printed).
"""

from __future__ import annotations

import json
import os
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
def browser_page(tmp_path: Path):  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian chromium not installed (apt-get install chromium)")
    # the fake microphone plays a voiced tone (its default beep is not speech, and the
    # upload's quality gate rightly refuses it)
    voice = tone_wav(tmp_path / "microphone.wav", 190, loud=0.4, seconds=4.0, seed=99)
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=[*FLAGS, f"--use-file-for-fake-audio-capture={voice}"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.set_default_timeout(90_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # refused requests (the test makes some on purpose) are logged by Chromium as
        # "Failed to load resource"; anything else on the console is a page bug
        page.on("console", lambda m: errors.append(m.text) if m.type == "error"
                and not m.text.startswith("Failed to load resource") else None)
        yield page, errors
        browser.close()


@pytest.fixture
def demo_like_run(tiny_run: Path, tmp_path: Path) -> Path:
    """The tiny model relabelled as trained on the demo's synthetic cohort."""
    run = tmp_path / "demo-run"
    shutil.copytree(tiny_run, run)
    card = run / "model" / "model.json"
    info = json.loads(card.read_text())
    info["corpus"] = "vocalmind-demo"
    card.write_text(json.dumps(info))
    return run


def test_nurse_flow_three_dated_sessions_trend_and_prepost(  # type: ignore[no-untyped-def]
        browser_page, tmp_path: Path, tiny_run: Path, demo_like_run: Path) -> None:
    page, errors = browser_page
    shots = Path(os.environ.get("VOCALMIND_ARTIFACTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {shots}")

    def shot(name: str) -> None:
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    app = create_app(make_settings(tmp_path, models=[tiny_run, demo_like_run]))
    with LiveServer(app) as srv:
        # ---- log in (a wrong password first: a friendly message)
        page.goto(srv.url + "/")
        assert page.url.endswith("/login")
        page.fill("#username", "admin")
        page.fill("#password", "wrong password")
        page.click("#login-button")
        page.wait_for_selector("#login-error:has-text('Wrong username or password')")
        page.fill("#password", ADMIN_PASSWORD)
        page.click("#login-button")
        page.wait_for_url(srv.url + "/studies")
        shot("01-studies-empty")

        # ---- create a study on the page; a bad code gets a sentence, not JSON
        page.fill("#study-code", "bad code!")
        page.click("#create-study-button")
        page.wait_for_selector("#create-study-error:has-text('Code:')")
        assert "{" not in page.inner_text("#create-study-error")
        page.fill("#study-code", "ICBT-1")
        page.click("#create-study-button")
        page.wait_for_url("**/studies/1")
        page.wait_for_selector("#study-code:has-text('ICBT-1')")

        # ---- add participants; a name is refused in words
        page.fill("#participant-code", "Jane Doe")
        page.click("#add-participant-button")
        page.wait_for_selector("#participant-error:has-text('pseudonyms')")
        for code in ("P001", "P002", "P003"):
            page.fill("#participant-code", code)
            page.click("#add-participant-button")
            page.wait_for_selector(f"#participants-table a:has-text('{code}')")
        shot("02-study-participants")

        # ---- assess page: typing an existing code selects it (the reported bug)
        page.click("#nav-assess")
        page.wait_for_selector("#participant option:has-text('P001')", state="attached")
        models = page.locator("#model option").all_inner_texts()
        assert any("synthetic demo - not for real speech" in m for m in models), models
        assert "synthetic" not in page.locator("#model option:checked").inner_text()
        page.fill("#new-code", "P003")
        page.click("#add-participant")
        page.wait_for_selector("#upload-notice:has-text('P003 already exists and is now selected')")
        assert page.locator("#participant option:checked").inner_text() == "P003"
        assert "participant P003" in page.inner_text("#upload-target")

        def upload(code: str, f0: float, date: str, k: int) -> None:
            page.select_option("#participant", label=code)
            page.wait_for_selector(f"#upload-target:has-text('participant {code}')")
            page.select_option("#session", "")
            page.fill("#session-date", date)
            page.dispatch_event("#session-date", "change")
            wav = tone_wav(tmp_path / f"{code}-{k}.wav", f0, loud=0.4, seconds=2.0, seed=k)
            page.set_input_files("#file", str(wav))
            page.click("#upload")
            page.wait_for_selector(f"#assessment-id:has-text('#{k}')")
            page.wait_for_selector("#assessment-status:has-text('done'), "
                                   "#assessment-status:has-text('failed')")
            assert page.inner_text("#assessment-status") == "done", \
                page.inner_text("#assessment-body")

        k = 0
        for week, date in enumerate(("2026-03-02", "2026-03-09", "2026-03-16")):
            k += 1
            upload("P003", 330 - 40 * week, date, k)
            if week == 0:
                assert "mean pitch (F0)" in page.inner_text("#markers")
                shot("03-first-assessment")
        for code, base in (("P001", 240), ("P002", 300)):
            for week, date in enumerate(("2026-03-03", "2026-03-17")):
                k += 1
                upload(code, base - 50 * week, date, k)
        # a recording with the (fake) microphone, into a new session of P001
        page.select_option("#participant", label="P001")
        page.select_option("#session", "")
        page.fill("#session-date", "2026-03-24")
        page.click("#record")
        page.wait_for_selector("#record-state:has-text('recording')")
        page.wait_for_timeout(2500)
        page.click("#record")
        k += 1
        page.wait_for_selector(f"#assessment-id:has-text('#{k}'), #upload-error:not(:empty)")
        shot("04-recorded")
        assert page.inner_text("#upload-error") == ""
        page.wait_for_selector("#assessment-status:has-text('done'), "
                               "#assessment-status:has-text('failed')")
        assert page.inner_text("#assessment-status") == "done", page.inner_text("#assessment-body")

        # ---- P003's page: the trend over dated sessions, and the pre/post table
        page.select_option("#participant", label="P003")
        page.wait_for_selector("#upload-target:has-text('participant P003')")
        page.click("#participant-link")
        page.wait_for_selector("#sessions-table tr:nth-child(4)")
        page.wait_for_function("Chart.getChart('trend-chart') !== undefined")
        page.select_option("#value", "F0_mean")
        chart = page.evaluate("""() => { const c = Chart.getChart('trend-chart');
            return {n: c.data.datasets[0].data.length, x: c.options.scales.x.title.text,
                    y: c.options.scales.y.title.text, tension: c.data.datasets[0].tension,
                    ticks: c.scales.x.ticks.map((t) => t.label)}; }""")
        assert chart["n"] == 3 and chart["x"] == "session date" and chart["tension"] == 0
        assert chart["y"] == "mean pitch (F0) (Hz)"
        assert all(t.startswith("2026-03") for t in chart["ticks"]), chart["ticks"]
        shot("05-trend-f0")
        page.select_option("#value", "p_high")
        scale = page.evaluate("""() => { const c = Chart.getChart('trend-chart');
            return [c.scales.y.min, c.scales.y.max, c.options.scales.y.title.text]; }""")
        assert scale[:2] == [0, 1] and "probability" in scale[2]
        rows = page.locator("#sessions-table tr").all_inner_texts()
        assert "2026-03-02" in page.locator("#sessions-table input").first.input_value()
        assert len(rows) == 4
        prepost = page.inner_text("#prepost-table")
        assert "mean pitch (F0)" in prepost and "3" in prepost, prepost
        assert "observations" not in page.inner_text("main")
        # the table stays inside its card
        overflow = page.evaluate("""() => [...document.querySelectorAll('.card')].every(
            (c) => c.scrollWidth <= c.clientWidth + 1)""")
        assert overflow
        shot("06-trend-probability-and-prepost")

        # ---- a session date set afterwards moves the point
        page.locator("#sessions-table input").first.fill("2026-02-27")
        page.locator("#sessions-table button").first.click()
        page.wait_for_function("""() => Chart.getChart('trend-chart').scales.x.ticks
            .some((t) => t.label.startsWith('2026-02'))""")

        # ---- password change on the page
        page.click("#nav-account")
        page.fill("#old-password", ADMIN_PASSWORD)
        page.fill("#new-password", "a-new-long-password")
        page.fill("#new-password-2", "a-new-long-password")
        page.click("#password-button")
        page.wait_for_selector("#password-done:has-text('password changed')")
        shot("07-password-changed")
    assert errors == []


def _log_in_and_create_study(page, url: str, code: str) -> None:  # type: ignore[no-untyped-def]
    """Log in as the admin and create study ``code`` (id 1); ends on its page."""
    page.goto(url + "/login")
    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#login-button")
    page.wait_for_url(url + "/studies")
    page.fill("#study-code", code)
    page.click("#create-study-button")
    page.wait_for_url("**/studies/1")


def test_assessment_page_shows_domain_warnings(  # type: ignore[no-untyped-def]
        browser_page, tmp_path: Path, tiny_run: Path) -> None:
    """A recording much longer than the model's training recordings: the assessment on the
    page lists the domain warning in words (the API's ``result.warnings``)."""
    page, errors = browser_page
    app = create_app(make_settings(tmp_path, models=[tiny_run], markers=False))
    with LiveServer(app) as srv:
        _log_in_and_create_study(page, srv.url, "W-1")
        page.fill("#participant-code", "P001")
        page.click("#add-participant-button")
        page.wait_for_selector("#participants-table a:has-text('P001')")
        page.click("#nav-assess")
        page.wait_for_selector("#participant option:has-text('P001')", state="attached")
        for k, seconds in ((1, 1.2), (2, 4.0)):
            page.select_option("#session", "")
            wav = tone_wav(tmp_path / f"w{k}.wav", 200, loud=0.4, seconds=seconds, seed=k)
            page.set_input_files("#file", str(wav))
            page.click("#upload")
            page.wait_for_selector(f"#assessment-id:has-text('#{k}')")
            page.wait_for_selector("#assessment-status:has-text('done')")
            if k == 1:  # like the training data: no warning
                assert page.locator("#domain-warnings").count() == 0
        text = page.inner_text("#domain-warnings")
        assert "duration 4.0 s is much longer than the training recordings" in text, text
        assert "differs from the model's training data" in page.inner_text("#assessment-body")
        page.screenshot(path=str(tmp_path / "domain-warnings.png"), full_page=True)
    assert errors == []


def test_form_sent_before_the_page_is_ready_is_not_submitted_natively(  # type: ignore[no-untyped-def]
        browser_page, tmp_path: Path) -> None:
    """CI once clicked "Add participant" while the study page still waited for its data; the
    form had no handler yet, so the browser sent it natively (``/studies/1?``, a reload) and
    the participant never arrived. Hold the study's data back: the button stays disabled,
    Enter in the field does not navigate, and once the data arrives the same form works."""
    page, errors = browser_page
    app = create_app(make_settings(tmp_path, models=[], markers=False))
    with LiveServer(app) as srv:
        _log_in_and_create_study(page, srv.url, "W-2")
        held: list = []
        page.route("**/api/studies/1", lambda route: held.append(route))
        page.reload()
        for _ in range(600):  # the page asks for the study after /api/auth/me
            if held:
                break
            page.wait_for_timeout(50)
        assert held, "the study page never asked for its study"
        assert page.is_disabled("#add-participant-button")
        page.fill("#participant-code", "P001")
        page.press("#participant-code", "Enter")
        page.wait_for_timeout(300)
        assert page.url == srv.url + "/studies/1"
        held[0].continue_()
        page.unroute("**/api/studies/1")
        page.click("#add-participant-button")  # waits until enabled
        page.wait_for_selector("#participants-table a:has-text('P001')")
        assert page.url == srv.url + "/studies/1"
    assert errors == []
