"""The pulse scheduler and executor in real time, against the emulated TTL box over a real pty.

No timing assertions: these check what happened (which pulses, in which order, on which
thread, what the device received), waiting generously for events on a loaded machine.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mirrorvr.config.loader import plan_from_dict
from mirrorvr.session.clock import RealClock, local_clock
from mirrorvr.session.eventlog import EventLog, read_events
from mirrorvr.session.timeline import compile_timeline
from mirrorvr.sim.emulate import EmulatorProcess
from mirrorvr.stim.base import Capabilities, TrainSpec
from mirrorvr.stim.executor import StimulationExecutor
from mirrorvr.stim.scheduler import PulseScheduler
from mirrorvr.stim.ttl_box import TTLBox
from tests.stim.helpers import plan_dict, rtms


@dataclass
class Rig:
    executor: StimulationExecutor
    log: EventLog
    box: TTLBox
    emu_log: Path
    folder: Path
    timeline: object

    def events(self):
        return read_events(self.folder / "events.jsonl").events

    def emulated(self) -> list[dict]:
        return [json.loads(x) for x in self.emu_log.read_text().splitlines()]

    def wait_emulated_pulses(self, n: int, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            got = sum(1 for f in self.emulated() if f.get("action") == "pulse")
            if got >= n or time.monotonic() > deadline:
                return got
            time.sleep(0.05)


class DeviceTimedBox(TTLBox):
    """A trigger box in front of a stimulator that runs trains from its own settings.

    Thin double for the device-timed path until the Magstim/MagVenture drivers land: the start
    of a train is one trigger byte, which the emulator sees as one rising edge.
    """

    kind = "device-timed-box"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(sets_intensity=False, device_timed_trains=True, max_host_rate_hz=1.0)

    def start_train(self, train: TrainSpec) -> float:
        self.started = train
        return self.trigger()


def _rig(tmp_path: Path, protocol: dict, box_cls: type[TTLBox] = TTLBox) -> Iterator[Rig]:
    plan = plan_from_dict(plan_dict(protocol))
    tl = compile_timeline(plan)
    emu_log = tmp_path / "emu.jsonl"
    with (
        EmulatorProcess("ttl-box", tmp_path / "box", emu_log),
        EventLog(tmp_path / "events.jsonl") as log,
        box_cls(str(tmp_path / "box")) as box,
        PulseScheduler() as sched,
    ):
        box.arm()
        ex = StimulationExecutor(
            stimulator=box,
            log=log,
            clock=RealClock(),
            plan=plan,
            timeline=tl,
            budget=tl.total_pulses,
            scheduler=sched,
        )
        yield Rig(ex, log, box, emu_log, tmp_path, tl)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    yield from _rig(tmp_path, rtms(20, 10, 2, 8.0))


def test_trains_run_on_the_scheduler_thread_and_every_trigger_is_stamped(rig: Rig) -> None:
    threads: list[str] = []
    rig.log.add_sink(lambda e: threads.append(threading.current_thread().name))
    steps = rig.timeline.stim_steps
    t0 = local_clock() + 0.3
    rig.executor.submit(steps[0], t0)  # returns at once: the runner keeps going
    assert threading.current_thread().name not in threads or not threads
    assert rig.executor.wait_idle(30)
    events = rig.events()
    pulses = [e for e in events if e.kind == "pulse"]
    assert [e["i"] for e in pulses] == list(range(10))
    assert [e["planned"] for e in pulses] == pytest.approx([t0 + k * 0.05 for k in range(10)])
    # never before the deadline by more than the write head start (see executor.MAX_LEAD_S)
    assert all(e.t >= e["planned"] - 0.0005 for e in pulses)
    intent = next(e for e in events if e.kind == "train_intent")
    assert intent["timing"] == "host" and intent["pattern"] == "rtms"
    assert set(threads) == {"mirrorvr-pulses"}
    assert rig.wait_emulated_pulses(10) == 10
    assert rig.executor.delivered == 10


def test_estop_cancels_pending_pulses_and_disarms_at_once(rig: Rig) -> None:
    first = threading.Event()
    rig.log.add_sink(lambda e: first.set() if e.kind == "pulse" else None)
    slow = plan_from_dict(plan_dict(rtms(1, 10, 2, 20.0)))
    steps = compile_timeline(slow).stim_steps
    rig.executor.plan, rig.executor.budget = slow, 20
    t0 = local_clock() + 0.3
    rig.executor.submit(steps[0], t0)
    rig.executor.submit(steps[1], t0 + 20.0)
    assert first.wait(30)
    t_stop = local_clock()
    rig.executor.estop("test button")
    assert not rig.box.status().armed
    assert rig.executor.wait_idle(30)
    events = rig.events()
    estop = next(e for e in events if e.kind == "estop")
    assert estop["cause"] == "test button" and estop["disarmed"] is True
    outcome = next(e for e in events if e.kind == "train_outcome")
    assert outcome["status"] == "stopped" and "test button" in outcome["reason"]
    assert any(e.kind == "stim_skipped" and "cancelled" in e["reason"] for e in events)
    delivered = [e for e in events if e.kind == "pulse"]
    assert 1 <= len(delivered) < 10
    assert all(e.t < t_stop for e in delivered)
    time.sleep(0.3)
    frames = rig.emulated()
    assert frames[-1]["lines"] == 0  # lines low: nothing can fire
    assert sum(1 for f in frames if f.get("action") == "pulse") == len(delivered)
    # nothing goes out until an explicit resume
    rig.executor.submit(steps[1], local_clock() + 0.2)
    assert rig.executor.wait_idle(30)
    assert len([e for e in rig.events() if e.kind == "pulse"]) == len(delivered)


def test_a_pulse_past_its_deadline_is_missed_never_fired(rig: Rig) -> None:
    step = rig.timeline.stim_steps[0]
    rig.executor.submit(step, local_clock() - 1.0)
    assert rig.executor.wait_idle(30)
    events = rig.events()
    missed = [e for e in events if e.kind == "pulse_missed"]
    assert len(missed) == 10 and all(e["late_s"] > 0.5 for e in missed)
    assert not [e for e in events if e.kind == "pulse"]
    outcome = next(e for e in events if e.kind == "train_outcome")
    assert outcome["delivered"] == 0 and outcome["missed"] == 10
    assert rig.executor.ledger.session == 0  # given back: they certainly did not go out


def test_run_time_gate_refuses_a_train_too_soon_after_the_last(rig: Rig) -> None:
    a, b = rig.timeline.stim_steps
    t0 = local_clock() + 0.3
    rig.executor.submit(a, t0)
    rig.executor.submit(b, t0 + 2.0)  # planned 8 s later: 1.55-s gap < 5 s minimum
    assert rig.executor.wait_idle(30)
    refused = [e for e in rig.events() if e.kind == "stim_refused"]
    assert len(refused) == 1 and "minimum gap between trains is 5 s" in refused[0]["reason"]
    assert rig.executor.delivered == 10


def test_device_timed_train_is_one_start_and_the_log_says_so(tmp_path: Path) -> None:
    for r in _rig(tmp_path, rtms(10, 20, 1, 10.0), DeviceTimedBox):
        step = r.timeline.stim_steps[0]
        t0 = local_clock() + 0.3
        r.executor.submit(step, t0)
        assert r.executor.wait_idle(30)
        events = r.events()
        intent = next(e for e in events if e.kind == "train_intent")
        assert intent["timing"] == "device"
        pulses = [e for e in events if e.kind == "pulse"]
        assert len(pulses) == 20 and all(e["expected"] for e in pulses)
        assert pulses[1].t - pulses[0].t == pytest.approx(0.1)
        assert r.box.started == TrainSpec(20, 10.0, 45.0)
        assert r.wait_emulated_pulses(1) == 1  # one start command, the device times the rest


def test_realtime_priority_failure_is_reported_not_hidden() -> None:
    # out of range: refused like a missing permission would be
    with pytest.warns(RuntimeWarning, match="normal priority"):
        s = PulseScheduler(realtime_priority=1000).start()
    try:
        assert not s.realtime and "missed" in s.rt_status and "CAP_SYS_NICE" in s.rt_status
    finally:
        s.stop()
