"""The therapist console end to end in a real headless Chromium (Debian's), driven by playwright.

One story, as a therapist lives it: register a patient, record screening and motor threshold,
be refused an unsafe intensity with the reason shown beside the field, start a short simulated
session in real time, watch live status, emergency-stop with the keyboard and see the emulated
stimulator disarmed (checked in the emulator's own log and the event log), resume, let it end,
then write notes and an adverse event and see the pain trend across sessions.

Screenshots of each page go to ``$MIRRORVR_SCREENSHOTS`` (``docs/images`` when regenerating
the docs) or the test's temporary folder.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mirrorvr.clinic.console.auth import Access, generate_token
from mirrorvr.clinic.console.server import ConsoleServer, free_port
from mirrorvr.clinic.store import ClinicStore
from mirrorvr.config.loader import load_plan, plan_to_toml
from mirrorvr.run.session import LaunchOptions, run_session
from mirrorvr.session.eventlog import read_events

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: generous: two engineers' test suites may share this machine's 2 cores
WAIT_MS = 90_000


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[ConsoleServer, ClinicStore]]:
    store = ClinicStore(tmp_path / "clinic.sqlite3")
    server = ConsoleServer(
        store,
        Access("127.0.0.1", generate_token()),
        port=free_port(),
        sessions_dir=tmp_path / "sessions",
    ).start()
    yield server, store
    server.stop()
    store.close()


@pytest.fixture
def page() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run scripts/bootstrap as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        yield pg
        browser.close()


def _shots(tmp_path: Path) -> Path:
    d = Path(os.environ.get("MIRRORVR_SCREENSHOTS") or tmp_path / "shots")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _earlier_session(store: ClinicStore, tmp_path: Path, pid: str) -> None:
    """A finished session from an earlier day, run for real on the simulated clock."""
    plan = load_plan("console-demo")
    sid = store.create_session(
        pid,
        plan_name=plan.session.name,
        plan_toml=plan_to_toml(plan),
        folder=tmp_path / "earlier",
        pulses_planned=80,
        date=dt.date.today() - dt.timedelta(days=7),
    )
    run_session(plan, LaunchOptions(out=tmp_path / "earlier"))  # simulated clock: instant
    store.import_session_log(sid)


def test_therapist_runs_a_session_from_the_console(
    console: tuple[ConsoleServer, ClinicStore], page: object, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, expect

    server, store = console
    assert isinstance(page, Page)
    pg: Page = page
    shots = _shots(tmp_path)
    pg.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    pg.goto(server.url)

    # register a patient
    pg.fill("#new-patient input[name=id]", "PLP-001")
    pg.select_option("#new-patient select[name=amputation_side]", "left")
    pg.fill("#new-patient textarea[name=notes]", "traumatic, 2019")
    pg.click("#new-patient button[type=submit]")
    expect(pg.locator("h1")).to_contain_text("Patient PLP-001")
    _earlier_session(store, tmp_path, "PLP-001")

    # screening (all no) and today's motor threshold
    pg.reload()
    expect(pg.locator("#screening-status")).to_contain_text("Not cleared")
    pg.click("#screening-form button[type=submit]")  # an empty form is refused
    expect(pg.locator("#screening-msg")).to_contain_text("empty form")
    pg.click("#screening-all-no")
    pg.click("#screening-form button[type=submit]")
    expect(pg.locator("#screening-status")).to_contain_text("Cleared")
    pg.fill("#mt-form input[name=rmt_pct_mso]", "50")
    pg.click("#mt-form button[type=submit]")
    expect(pg.locator("#latest-mt")).to_contain_text("50 % MSO (5-10")

    # the plan editor refuses an unsafe intensity, with the governor's reason beside the field
    pg.click("#plan-session")
    pg.select_option("#plan-form select[name=preset]", "console-demo")
    pg.fill("#plan-form input[name=intensity_pct_rmt]", "130")
    reason = pg.locator('.field-problems[data-for="stimulation.intensity_pct_rmt"] .problem')
    expect(reason).to_contain_text("above the profile's limit of 120 %")
    expect(pg.locator("#start")).to_be_disabled()
    pg.screenshot(path=str(shots / "console-plan-refused.png"), full_page=True)
    pg.fill("#plan-form input[name=intensity_pct_rmt]", "90")
    expect(reason).to_have_count(0)
    expect(pg.locator("#start")).to_be_enabled()
    expect(pg.locator("#plan-summary")).to_contain_text("90 % RMT = 45 % MSO")
    pg.screenshot(path=str(shots / "console-plan.png"), full_page=True)

    # start; live status arrives over the websocket
    pg.click("#start")
    expect(pg.locator("h1")).to_have_text("Live session")
    expect(pg.locator("#st-pulses")).to_have_text(re.compile(r"^[1-9]\d* / 80$"))
    expect(pg.locator("#st-device")).to_have_text("ARMED")
    expect(pg.locator("#st-block")).to_contain_text("mirror movements")
    expect(pg.locator("#st-rating")).to_contain_text("(pre)")
    pg.screenshot(path=str(shots / "console-live.png"), full_page=True)

    # emergency stop from the keyboard: the stimulator is disarmed at once
    pg.keyboard.press("Escape")
    expect(pg.locator("#st-estops")).to_have_text("1")
    expect(pg.locator("#st-device")).to_have_text("disarmed")
    expect(pg.locator("#st-state")).to_contain_text("paused")
    pg.screenshot(path=str(shots / "console-estop.png"), full_page=True)
    folder = Path(store.sessions("PLP-001")[-1].folder)
    events = read_events(folder / "events.jsonl").events
    assert any(e.kind == "estop" for e in events)

    def emulated() -> list[dict]:
        text = (folder / "emulator-ttl-box.jsonl").read_text()
        return [json.loads(x) for x in text.splitlines() if x.strip()]

    # a trigger already on the line when Esc was pressed may still complete; after the
    # disarm nothing may reach the box while the session is paused
    before = sum(r.get("action") == "pulse" for r in emulated())
    time.sleep(1.5)
    emu = emulated()
    assert emu[-1].get("lines") == 0, "the trigger lines must be low after the e-stop"
    assert sum(r.get("action") == "pulse" for r in emu) == before, "pulse while e-stopped"

    # P resumes; the session runs to its end and its log lands in the store
    pg.keyboard.press("p")
    expect(pg.locator("#st-state")).to_contain_text(
        "completed · session over, recorded", timeout=120_000
    )
    rec = store.sessions("PLP-001")[-1]
    assert rec.status == "completed" and rec.estops == 1
    log = read_events(folder / "events.jsonl").events
    assert rec.pulses_delivered == sum(1 for e in log if e.kind == "pulse")
    emu_text = (folder / "emulator-ttl-box.jsonl").read_text()
    assert emu_text.count('"action":"pulse"') == rec.pulses_delivered

    # post-session notes, an adverse event, and the trend across both sessions
    pg.goto(server.url.split("#")[0] + "#/patient/PLP-001")
    row = pg.locator(f'tr[data-session="{rec.id}"]')
    expect(row).to_contain_text("completed")
    row.locator("textarea[name=notes]").fill("tolerated well; e-stop was a test")
    row.locator(".notes-form button").click()
    expect(row).to_contain_text("notes saved")
    row = pg.locator(f'tr[data-session="{rec.id}"]')
    row.locator("input[name=description]").fill("mild headache after session")
    row.locator(".ae-form button").click()
    expect(pg.locator(f'tr[data-session="{rec.id}"]')).to_contain_text("mild headache")
    expect(pg.locator("#trend circle.post")).to_have_count(2)
    pg.fill("#rating-form input[name=value]", "3")
    pg.select_option("#rating-form select[name=timepoint]", "follow-up-1m")
    pg.click("#rating-form button[type=submit]")
    expect(pg.locator("#trend circle.post")).to_have_count(3)
    expect(pg.locator("#pulses-today")).to_have_text(str(rec.pulses_delivered))
    assert store.session(rec.id).notes == "tolerated well; e-stop was a test"
    pg.screenshot(path=str(shots / "console-patient.png"), full_page=True)

    pg.click("#nav-patients")
    expect(pg.locator("#patients")).to_contain_text("PLP-001")
    pg.screenshot(path=str(shots / "console-patients.png"), full_page=True)

    # every stimulation-affecting action is in the audit log
    pg.click("#nav-audit")
    expect(pg.locator("#audit")).to_contain_text("estop")
    actions = [a["action"] for a in store.audit_log()]
    for a in ("screening_recorded", "threshold_recorded", "session_start", "estop", "resume"):
        assert a in actions
    pg.screenshot(path=str(shots / "console-audit.png"), full_page=True)
