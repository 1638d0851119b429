"""The console shows a patient's course — and never the trial arm — in a real headless Chromium.

The store comes from a simulated blinded trial whose arm ids and labels are marker strings; the
test opens the page of every randomised patient, as the blinded therapist the console serves,
and checks the course is shown and that neither the rendered page nor any API answer contains a
marker. A rating entered in the console outside any session moves the course's latest pain.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mirrorvr.clinic.console.auth import Access, generate_token
from mirrorvr.clinic.console.server import ConsoleServer, free_port
from mirrorvr.clinic.store import ClinicStore
from mirrorvr.clinic.trial_store import TrialStore
from mirrorvr.run.trial_sim import simulate_trial
from tests.clinic.test_console_browser import CHROMIUM, CHROMIUM_ARGS, WAIT_MS
from tests.clinic.test_trial_sim import MARKERS, _marked_trial


@pytest.fixture
def trial_console(tmp_path: Path) -> Iterator[tuple[ConsoleServer, ClinicStore]]:
    out = tmp_path / "trial"
    simulate_trial(_marked_trial(tmp_path), 6, out, unblind_at_end=False, seed=5)
    store = ClinicStore(out / "clinic.sqlite3")
    server = ConsoleServer(
        store,
        Access("127.0.0.1", generate_token()),
        port=free_port(),
        sessions_dir=tmp_path / "sessions",
    ).start()
    yield server, store
    server.stop()
    store.close()


def test_console_shows_the_course_and_never_the_arm(
    trial_console: tuple[ConsoleServer, ClinicStore], tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run scripts/bootstrap as root")
    from playwright.sync_api import Response, expect, sync_playwright

    server, store = trial_console
    ts = TrialStore(store)
    tid = ts.trials()[0]
    randomised = [e.patient_id for e in ts.enrolments(tid) if e.stage == "randomised"]
    arms = ts._all_arms(tid)
    assert set(arms.values()) == set(MARKERS[:2])  # both arms are present among them
    bodies: list[str] = []

    def keep(r: Response) -> None:
        if "/api/" in r.url:
            bodies.append(r.text())

    shots = Path(os.environ.get("MIRRORVR_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        pg = browser.new_page(viewport={"width": 1280, "height": 1100})
        pg.set_default_timeout(WAIT_MS)
        expect.set_options(timeout=WAIT_MS)
        pg.on("response", keep)
        pg.goto(server.url)
        for pid in randomised:
            pg.goto(server.url.split("#")[0] + f"#/patient/{pid}")
            pg.reload()
            expect(pg.locator("h1")).to_contain_text(f"Patient {pid}")
            expect(pg.locator("#course-summary")).to_contain_text("Malavera 10-session")
            expect(pg.locator("#trial")).to_contain_text("allocation blinded")
            expect(pg.locator("#course-responders")).to_contain_text("immpact-moderate@1")
            html = pg.content()
            for m in MARKERS:
                assert m not in html, f"{m} on the page of {pid}"
        first = randomised[0]
        pg.goto(server.url.split("#")[0] + f"#/patient/{first}")
        pg.reload()
        expect(pg.locator("#course-summary")).to_be_visible()
        pg.screenshot(path=str(shots / "console-course.png"), full_page=True)
        # a rating outside any session counts: the course's latest pain becomes it
        pg.fill("#rating-form input[name=value]", "9")
        pg.select_option("#rating-form select[name=timepoint]", "pre")
        pg.click("#rating-form button[type=submit]")
        expect(pg.locator("#course-summary")).to_contain_text("latest 9")
        browser.close()
    assert bodies, "no API answer was seen"
    for b in bodies:
        for m in MARKERS:
            assert m not in b, f"{m} in an API answer"
