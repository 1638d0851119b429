"""An emergency stop while a train waits for its next pulse ends the train as stopped, not faulted.

The e-stop sets the executor's stop event and disarms the device from another thread; the train
thread, waking for its next pulse, finds the trigger refused. That refusal is the e-stop doing
its job: it must not be reported as a device fault (which would log a second e-stop).
"""

from __future__ import annotations

import threading
from pathlib import Path

from mirrorvr.config.loader import plan_from_dict
from mirrorvr.session.clock import RealClock
from mirrorvr.session.eventlog import EventLog, read_events
from mirrorvr.session.timeline import Step, compile_timeline
from mirrorvr.sim.emulate import EmulatorProcess
from mirrorvr.stim.executor import StimulationExecutor
from mirrorvr.stim.ttl_box import TTLBox
from tests.stim.helpers import plan_dict, rtms


def test_estop_during_the_wait_for_a_pulse_is_a_stop(tmp_path: Path) -> None:
    clock = RealClock()
    step = Step(
        index=0,
        t=0.0,
        duration=1.0,
        kind="train",
        block=None,
        data={
            "offsets": [0.0],
            "intensity_pct_mso": 45.0,
            "intensity_pct_rmt": 90.0,
            "frequency_hz": 1.0,
            "train": 0,
            "phase": "concurrent",
        },
    )
    plan = plan_from_dict(plan_dict(rtms(1, 1, 1, 10.0)))
    with (
        EmulatorProcess("ttl-box", tmp_path / "box", tmp_path / "emu.jsonl"),
        TTLBox(str(tmp_path / "box")) as box,
        EventLog(tmp_path / "events.jsonl") as log,
    ):
        box.arm()
        ex = StimulationExecutor(
            stimulator=box,
            log=log,
            clock=clock,
            plan=plan,
            timeline=compile_timeline(plan),
            budget=10,
        )
        onset = clock.now() + 3.0  # the train thread is asleep until then

        def estop() -> None:
            ex.cancel("e-stop")
            box.disarm()

        timer = threading.Timer(0.1, estop)
        timer.start()
        result = ex.execute(step, onset)
        timer.join()
    assert (result.status, result.delivered) == ("stopped", 0), result
    outcome = next(
        e for e in read_events(tmp_path / "events.jsonl").events if e.kind == "train_outcome"
    )
    assert outcome["status"] == "stopped"
    assert '"action":"pulse"' not in (tmp_path / "emu.jsonl").read_text()
