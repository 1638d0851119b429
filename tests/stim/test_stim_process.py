"""The stimulation process: a real child process, a real emulator on a real pty, real time."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mirrorvr.config.loader import load_plan
from mirrorvr.session.clock import RealClock
from mirrorvr.session.eventlog import EventLog, read_events
from mirrorvr.session.timeline import Step, Timeline, compile_timeline
from mirrorvr.sim.emulate import EmulatorProcess
from mirrorvr.stim import governor
from mirrorvr.stim.guard import GuardLimits, PulseGuard
from mirrorvr.stim.journal import read_journal
from mirrorvr.stim.process import ProcessExecutor, StimulationProcess, guard_limits

# ---- the guard (pure) ------------------------------------------------------------------------


def test_guard_refuses_disarmed_too_strong_too_fast_and_too_many() -> None:
    g = PulseGuard(GuardLimits(max_intensity_pct_mso=50, max_rate_hz=20, max_pulses=2))
    assert "disarmed" in (g.check(0.0, 40) or "")
    g.armed = True
    assert g.check(0.0, 40) is None
    assert "above" in (g.check(0.0, 51) or "")
    g.fired_at(0.0)
    assert "faster than 20 Hz" in (g.check(0.02, 40) or "")  # 50 Hz asked
    assert g.check(0.05, 40) is None
    g.fired_at(0.05)
    assert "used up" in (g.check(1.0, 40) or "")


def test_guard_allows_a_pulse_fired_late_by_the_tolerance_before_an_on_time_one() -> None:
    g = PulseGuard(GuardLimits(max_intensity_pct_mso=50, max_rate_hz=20, max_pulses=9))
    g.armed = True
    g.fired_at(0.004)  # 4 ms late
    assert g.check(0.05, 40) is None


def test_a_pulse_too_soon_after_a_late_one_is_skipped_but_a_train_planned_too_fast_is_not() -> None:
    # oracle: 20 Hz guard, 5 ms tolerance → pulses at least 45 ms apart
    g = PulseGuard(GuardLimits(max_intensity_pct_mso=50, max_rate_hz=20, max_pulses=9))
    g.armed = True
    g.fired_at(0.008)  # planned at 0.0, went out 8 ms late (a stall inside the write)
    assert "faster than 20 Hz" in (g.check(0.05, 40) or "")  # 42 ms after it
    assert g.late_gap(0.05, previous_planned=0.0)  # planned 50 ms apart: lateness, skip it
    assert g.check(0.05, 40, rate=False) is None
    assert not g.late_gap(0.02, previous_planned=0.0)  # planned 20 ms apart: refuse the train
    assert not g.late_gap(0.05, previous_planned=None)
    assert g.check(0.1, 40) is None  # the next one, 92 ms after the late pulse, fires
    assert "above" in (g.check(0.05, 51, rate=False) or "")  # other rules still apply


# ---- the process ------------------------------------------------------------------------------


def _setup(tmp_path: Path, short_plan: Path) -> tuple[object, Timeline, int, list[Step]]:
    plan = load_plan(short_plan)
    tl = compile_timeline(plan)
    budget = governor.session_budget(plan, tl.total_pulses)
    trains = [s for s in tl.steps if s.kind == "train"]
    return plan, tl, budget, trains


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Path]:
    with EmulatorProcess("ttl-box", tmp_path / "box", tmp_path / "emu.jsonl"):
        yield tmp_path / "box"


def _emu(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "emu.jsonl").read_text().splitlines()]


def _executor(tmp_path: Path, short_plan: Path, box: Path, log: EventLog) -> ProcessExecutor:
    plan, tl, budget, _ = _setup(tmp_path, short_plan)
    sp = StimulationProcess(
        plan.devices.stimulator,  # type: ignore[attr-defined]
        str(box),
        tmp_path,
        guard_limits(plan, tl, budget, 0, 0.005),
    ).start()
    return ProcessExecutor(
        process=sp, log=log, clock=RealClock(), plan=plan, timeline=tl, budget=budget
    )


@contextmanager
def _armed(
    tmp_path: Path, short_plan: Path, box: Path
) -> Iterator[tuple[ProcessExecutor, EventLog]]:
    """An executor over the box, its stimulator armed; the child is closed on the way out."""
    with EventLog(tmp_path / "events.jsonl") as log:
        ex = _executor(tmp_path, short_plan, box, log)
        try:
            ex.stimulator.arm()
            yield ex, log
        finally:
            ex.process.close()


def test_trains_run_in_the_child_and_every_pulse_is_logged_journaled_and_delivered(
    tmp_path: Path, short_plan: Path, box: Path
) -> None:
    _, _, _, trains = _setup(tmp_path, short_plan)
    with EventLog(tmp_path / "events.jsonl") as log:
        ex = _executor(tmp_path, short_plan, box, log)
        try:
            assert ex.process.pid != os.getpid() and ex.process.ready["ok"]
            ex.stimulator.arm()
            t0 = RealClock().now() + 0.3 - trains[0].t
            for s in trains[:2]:
                RealClock().sleep_until(t0 + s.t - 0.2)
                ex.submit(s, t0 + s.t)
            assert ex.wait_idle(30)
        finally:
            ex.stimulator.close()
    events = read_events(tmp_path / "events.jsonl").events
    pulses = [e for e in events if e.kind == "pulse"]
    journal = [r for r in read_journal(tmp_path / "stim-journal.jsonl") if r["kind"] == "pulse"]
    assert len(pulses) + sum(e.kind == "pulse_missed" for e in events) == 40
    # the session log holds the child's stamps (the log keeps microseconds)
    assert [e["i"] for e in pulses] == [r["i"] for r in journal]
    assert [e.t for e in pulses] == pytest.approx([r["t"] for r in journal], abs=1e-6)
    assert sum(f.get("action") == "pulse" for f in _emu(tmp_path)) == len(pulses)
    outcomes = [e for e in events if e.kind == "train_outcome"]
    assert [o["delivered"] for o in outcomes] == [
        sum(p["train"] == o["train"] for p in pulses) for o in outcomes
    ]


def test_the_childs_guard_refuses_a_train_the_session_never_authorized(
    tmp_path: Path, short_plan: Path, box: Path
) -> None:
    # two gates: a train sent past the governor (too fast, too strong) stops at the guard
    _, _, _, trains = _setup(tmp_path, short_plan)
    with _armed(tmp_path, short_plan, box) as (ex, log):
        now = RealClock().now()
        request = governor.request_from_step(trains[0], now)
        ex._open[(99, 99)] = (Step(99, 0.0, 0.0, "train", 0, {"train": 99}), request, 3, "host")
        ex._idle.clear()
        ex.process.send(
            {
                "op": "train",
                "step": 99,
                "train": 99,
                "times": [now + 0.2, now + 0.201, now + 0.202],
                "intensity_pct_mso": 99.0,
                "frequency_hz": 1000.0,
                "timing": "host",
            }
        )
        deadline = time.monotonic() + 10
        while not any(e.kind == "guard_refused" for e in log) and time.monotonic() < deadline:
            time.sleep(0.01)
    events = read_events(tmp_path / "events.jsonl").events
    refused = [e for e in events if e.kind == "guard_refused"]
    assert refused and "above the guard's 45 % MSO" in refused[0]["reason"]
    assert not any(f.get("action") == "pulse" for f in _emu(tmp_path))


def test_estop_channel_disarms_ahead_of_a_queued_train(
    tmp_path: Path, short_plan: Path, box: Path
) -> None:
    _, _, _, trains = _setup(tmp_path, short_plan)
    with _armed(tmp_path, short_plan, box) as (ex, _log):
        ex.submit(trains[0], RealClock().now() + 5.0)  # queued in the child, waiting
        ex.estop("test: patient moved")
        assert ex.wait_idle(10)
        ex.submit(trains[1], RealClock().now() + 0.1)  # stopped: not even authorized
    events = read_events(tmp_path / "events.jsonl").events
    estop = next(e for e in events if e.kind == "estop")
    assert estop["disarmed"] is True and estop["cause"] == "test: patient moved"
    outcome = next(e for e in events if e.kind == "train_outcome")
    assert outcome["status"] == "stopped" and outcome["delivered"] == 0
    assert any(e.kind == "stim_skipped" for e in events)
    assert not any(f.get("action") == "pulse" for f in _emu(tmp_path))


def _train_outcome_after(sp: StimulationProcess, during_wait: str) -> list[dict]:
    """One host-timed pulse 1 s ahead; ``during_wait`` happens while the child waits for it
    (it has already taken the guard's verdict on the pulse); the messages that followed."""
    msgs: list[dict] = []
    done = threading.Event()

    def on_message(m: dict) -> None:
        msgs.append(m)
        if m.get("ev") == "train_outcome":
            done.set()

    sp.on_message = on_message
    sp.call("arm")
    now = time.monotonic()
    sp.send({"op": "train", "step": 1, "train": 0, "times": [now + 1.0],
             "intensity_pct_mso": 40.0, "frequency_hz": 1.0, "timing": "host"})  # fmt: skip
    time.sleep(0.3)  # the child holds the train and waits for its pulse
    if during_wait == "single pulse":
        sp.call("trigger")
    else:
        assert sp.request_disarm("D") is not None
    assert done.wait(10)
    return msgs


@pytest.mark.parametrize("during_wait", ["single pulse", "disarm"])
def test_the_guard_decides_again_when_its_state_changed_while_the_child_waited(
    tmp_path: Path, short_plan: Path, box: Path, during_wait: str
) -> None:
    # the guard's verdict on a pulse is taken before the wait for its deadline (so only the
    # trigger runs after it); a single pulse that uses up the count, or a disarm, arriving
    # during that wait must still stop the pulse, as the guard's refusal (oracle: a one-pulse
    # count is used up by one pulse; a disarmed guard refuses every pulse)
    plan = load_plan(short_plan)
    limits = GuardLimits(max_intensity_pct_mso=50, max_rate_hz=20, max_pulses=1)
    sp = StimulationProcess(plan.devices.stimulator, str(box), tmp_path, limits).start()
    try:
        msgs = _train_outcome_after(sp, during_wait)
    finally:
        sp.close()
    refused = [m for m in msgs if m.get("ev") == "guard_refused"]
    outcome = next(m for m in msgs if m.get("ev") == "train_outcome")
    assert outcome["status"] == "refused" and outcome["delivered"] == 0
    reason = "used up" if during_wait == "single pulse" else "disarmed"
    assert len(refused) == 1 and reason in refused[0]["reason"]
    singles = 1 if during_wait == "single pulse" else 0
    assert sum(f.get("action") == "pulse" for f in _emu(tmp_path)) == singles


_PARENT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from mirrorvr.config.loader import load_plan
    from mirrorvr.stim.guard import GuardLimits
    from mirrorvr.stim.process import StimulationProcess
    plan = load_plan(sys.argv[1])
    sp = StimulationProcess(plan.devices.stimulator, sys.argv[2], Path(sys.argv[3]),
                            GuardLimits(50, 20, 10)).start()
    sp.call("arm")
    print(sp.pid, flush=True)
    time.sleep(60)
    """
)


def test_the_child_disarms_and_exits_when_the_session_process_is_killed(
    tmp_path: Path, short_plan: Path, box: Path
) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, str(short_plan), str(box), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10  # generous: a loaded machine (not a timing check)
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _alive(child_pid)
    journal = read_journal(tmp_path / "stim-journal.jsonl")
    assert journal[-1]["kind"] == "disarmed" and journal[-1]["cause"] == "parent died"
    # the emulator is a process of its own: on a loaded machine it may read the disarm byte a
    # little after the child exited, so wait for it (generous; not a timing check)
    rx: list[str] = []
    deadline = time.monotonic() + 10
    while not (rx and rx[-1] == "00") and time.monotonic() < deadline:
        time.sleep(0.02)
        rx = [f["rx"] for f in _emu(tmp_path) if "rx" in f]
    assert rx and rx[-1] == "00", rx


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by init) counts as gone
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def test_pulse_stream_values_follow_the_stream_layout() -> None:
    from mirrorvr.stim.pulse_outlet import PULSE_FIELDS, pulse_values
    from mirrorvr.streams.layout import PULSES, pulse_sample

    assert len(PULSE_FIELDS) == PULSES.channel_count
    host = {"step": 3, "train": 2, "i": 7, "planned": 12.5, "intensity_pct_mso": 55.0}
    assert pulse_values(host) == [2.0, 7.0, 12.5, 55.0, 0.0]
    assert pulse_sample({**host, "expected": True})[-1] == 1.0
    assert math.isnan(pulse_values({"train": None, "i": True})[0])
    assert math.isnan(pulse_values({"train": None, "i": True})[1])  # a flag is not an index


def test_warm_up_pushes_go_to_the_private_outlet_never_to_the_pulse_stream(lsl_name: str) -> None:
    """The warm-up before each pulse (pulse_outlet.warm) must not put a sample on the pulse
    stream: a real inlet on the pulse stream receives the one real pulse only; the warm-up
    outlet exists under its own name, type and a source id the session recorder never follows."""
    import pylsl

    from mirrorvr.stim.pulse_outlet import PulseOutlet

    sid = f"mirrorvr-{lsl_name}-pulses"
    out = PulseOutlet(
        {"name": lsl_name, "type": "StimulationPulses", "channel_count": 5,
         "channel_format": "double64", "source_id": sid, "desc": {}}
    )  # fmt: skip
    try:
        warm = pylsl.resolve_byprop("name", f"{lsl_name}-warmup", 1, 5.0)
        assert warm and warm[0].type() == "Warmup"
        assert warm[0].source_id() == f"warmup-{sid}"
        assert not warm[0].source_id().startswith("mirrorvr-")  # the recorder's selection
        inlet = pylsl.StreamInlet(pylsl.resolve_byprop("name", lsl_name, 1, 5.0)[0])
        inlet.open_stream(5.0)
        deadline = time.monotonic() + 5.0
        while not out.have_consumers() and time.monotonic() < deadline:
            time.sleep(0.01)
        record = {"train": 4, "i": 2, "planned": 9.5, "intensity_pct_mso": 50.0}
        out.prepare(record)
        for _ in range(5):
            out.warm(time.monotonic())
        t = time.monotonic()
        assert out.push_prepared(t) >= 0.0
        got, stamps = inlet.pull_chunk(timeout=2.0)
        deadline = time.monotonic() + 2.0
        while not got and time.monotonic() < deadline:
            got, stamps = inlet.pull_chunk(timeout=0.5)
        time.sleep(0.3)
        more, _ = inlet.pull_chunk(timeout=0.2)
        assert len(got) + len(more) == 1 and got[0][:3] == [4.0, 2.0, 9.5]
        assert stamps[0] == pytest.approx(t, abs=1e-6)
    finally:
        out.close()


def test_pin_cpu_binds_the_calling_thread_and_the_threads_it_starts() -> None:
    from mirrorvr.stim.priority import LAST_CPU, pin_cpu

    allowed = sorted(os.sched_getaffinity(0))
    seen: dict[str, object] = {}

    def pinned() -> None:  # a thread of its own: the test process's mask stays as it was
        seen["result"] = pin_cpu(LAST_CPU)
        seen["mask"] = os.sched_getaffinity(0)
        inner = threading.Thread(target=lambda: seen.update(inner=os.sched_getaffinity(0)))
        inner.start()
        inner.join()
        seen["bad"] = pin_cpu(max(allowed) + 1000)

    t = threading.Thread(target=pinned)
    t.start()
    t.join()
    assert os.sched_getaffinity(0) == set(allowed)
    assert pin_cpu(None) == (None, "not requested")
    cpu, why = seen["bad"]  # type: ignore[misc]
    assert cpu is None and why.startswith("not bound") and "not among" in why
    if len(allowed) < 2:
        assert seen["result"] == (None, "not bound (one CPU allowed)")
        want = set(allowed)
    else:
        assert seen["result"] == (allowed[-1], f"bound to CPU {allowed[-1]}")
        want = {allowed[-1]}
    assert seen["mask"] == want and seen["inner"] == want


def test_the_cpu_latency_request_holds_while_its_descriptor_is_open(tmp_path: Path) -> None:
    from mirrorvr.stim.priority import CPU_LATENCY_FILE, hold_cpu_latency

    fd, why = hold_cpu_latency(0, str(tmp_path / "missing" / "cpu_dma_latency"))
    assert fd is None and why.startswith("not held") and "missing" in why
    if not os.access(CPU_LATENCY_FILE, os.W_OK):
        pytest.skip(f"{CPU_LATENCY_FILE} is not writable here (not root)")
    fd, why = hold_cpu_latency(7)
    assert fd is not None and why == "held at 7 µs"
    try:
        # the file reads back the machine's current bound: at most ours while we hold it
        with open(CPU_LATENCY_FILE, "rb") as f:
            assert int.from_bytes(f.read(4), sys.byteorder, signed=True) <= 7
    finally:
        os.close(fd)
