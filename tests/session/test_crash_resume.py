"""SIGKILL a real-time simulated session at random moments; the log survives and resume
finishes the session without exceeding the pulse budget."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from mirrorvr.session.eventlog import read_events
from tests.conftest import mirrorvr_cmd

BUDGET = 120  # the short plan's pulses


@pytest.mark.slow
@pytest.mark.parametrize("run", range(3))
def test_kill9_then_resume_stays_within_budget(tmp_path: Path, short_plan: Path, run: int) -> None:
    folder = tmp_path / "session"
    delay = random.Random(1000 + run).uniform(1.5, 11.0)
    proc = subprocess.Popen(
        mirrorvr_cmd("sim", str(short_plan), "--realtime", "--out", str(folder)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.3)  # the emulator child gets SIGTERM when its parent dies; let it log

    raw = (folder / "events.jsonl").read_bytes()
    complete = raw[: raw.rfind(b"\n") + 1].decode()
    for line in complete.splitlines():
        json.loads(line)  # every complete line is valid JSON
    before = read_events(folder / "events.jsonl").events
    assert before and not any(e.kind == "session_end" for e in before)

    res = subprocess.run(
        mirrorvr_cmd("resume", str(folder)), capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    events = read_events(folder / "events.jsonl").events
    assert [e.seq for e in events] == list(range(len(events)))
    assert events[-1].kind == "session_end" and events[-1]["state"] == "completed"
    resume = next(e for e in events if e.kind == "resume")
    assert resume["remaining_budget"] == BUDGET - resume["pulses_counted"]

    emulated = (folder / "emulator-ttl-box.jsonl").read_text().count('"action":"pulse"')
    summary = json.loads((folder / "summary.json").read_text())
    assert emulated <= BUDGET
    assert summary["pulses_possibly_delivered"] <= BUDGET
    # pulses the log knows went out are pulses the device saw, and no more
    assert summary["pulses_delivered"] <= emulated
