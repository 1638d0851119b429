"""SIGKILL of the session process, of the stimulation process, or of both, at a random moment
of a real-time session: no pulse record is lost, the budget holds, the device is disarmed.

Real processes throughout: the session runs in a subprocess (real time, stimulation process
of its own), the TTL box emulator serves a real pty from this test process so it outlives
both. The kill moment is random (printed, so a failure can be replayed).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mirrorvr.config.loader import load_plan
from mirrorvr.run.resume import resume_session
from mirrorvr.run.session import LaunchOptions
from mirrorvr.session.clock import local_clock
from mirrorvr.session.eventlog import read_events
from mirrorvr.session.summary import delivered_pulses
from mirrorvr.sim.emulate import EmulatorProcess
from mirrorvr.stim import governor

_SESSION = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from mirrorvr.config.loader import load_plan
    from mirrorvr.run.session import LaunchOptions, run_session
    run_session(load_plan(sys.argv[1]), LaunchOptions(
        out=Path(sys.argv[2]), realtime=True, stimulator_port=sys.argv[3],
        stimulator_kind="ttl-box", simulated=True, xdf=False, lsl=False))
    """
)


def _events(folder: Path) -> list:
    return read_events(folder / "events.jsonl").events


def _wait_for(pred, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout  # generous: a loaded machine, not a timing check
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("victim", ["session", "stim", "both"])
def test_kill_at_a_random_moment_loses_no_pulse_record(
    tmp_path: Path, short_plan: Path, victim: str
) -> None:
    rng = random.Random()
    after_pulses = rng.randint(1, 90)  # the kill comes after this many pulses went out
    extra_s = rng.uniform(0.0, 0.05)  # ... and a random fraction of a pulse interval later
    print(f"victim={victim} after_pulses={after_pulses} extra_s={extra_s:.4f}")
    out, emu_log = tmp_path / "s", tmp_path / "emu.jsonl"

    def emulated_pulses() -> list[dict]:
        rec = [json.loads(x) for x in emu_log.read_text().splitlines() if x.strip()]
        return [r for r in rec if r.get("action") == "pulse"]

    with EmulatorProcess("ttl-box", tmp_path / "box", emu_log):
        session = subprocess.Popen(
            [sys.executable, "-c", _SESSION, str(short_plan), str(out), str(tmp_path / "box")]
        )
        try:
            _wait_for(lambda: len(emulated_pulses()) >= after_pulses)
            time.sleep(extra_s)
            child = next(e["pid"] for e in _events(out) if e.kind == "stim_process")
            t_kill = local_clock()
            if victim in ("stim", "both"):
                os.kill(child, signal.SIGKILL)
            if victim in ("session", "both"):
                session.send_signal(signal.SIGKILL)
            session.wait(60)
        finally:
            if session.poll() is None:
                session.kill()
                session.wait()
        time.sleep(0.3)  # let the emulator read what is still in the pty
        emitted = emulated_pulses()
        rx = [json.loads(x) for x in emu_log.read_text().splitlines() if '"rx"' in x]

    # the device was disarmed after the kill (TTL box: its line driven idle); with both
    # processes dead there is no one left to write, and a box has no state of its own
    if victim != "both":
        after = [r for r in rx if r["t"] >= t_kill]
        assert after and after[-1]["rx"] == "00"
        print(f"disarm byte {1000 * (after[-1]['t'] - t_kill):.1f} ms after the kill")
    # no pulse reached the device after the kill
    assert not [p for p in emitted if p["t"] > t_kill + 0.01]

    plan = load_plan(short_plan)
    budget = governor.session_budget(plan, 120)
    if victim == "stim":
        # the session process survived: it logged the death, recovered the journal, disarmed
        # and ended the session (no operator to resume it)
        events = _events(out)
        assert any(e.get("what") == "stim_process_died" for e in events)
        end = next(e for e in events if e.kind == "session_end")
        assert end["state"] == "aborted"
    else:
        # resume (on the simulated clock, an emulator of its own) folds the journal in first
        resume_session(out, LaunchOptions(out=out, stimulator_kind="ttl-box"))
        events = _events(out)
    records = [e for e in events if e.kind == "pulse" and e.t <= t_kill + 0.01]
    assert len(records) == len(emitted), "a pulse reached the device without a record"
    assert delivered_pulses(events)[1] <= budget
    assert sum(e.kind == "pulse" for e in events) <= budget
