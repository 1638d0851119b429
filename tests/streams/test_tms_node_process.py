"""The TMS node drives its stimulator through the stimulation process, on one machine.

The test plays the VR node: it publishes ``mirrorvr-markers`` (cue events, an e-stop, the
session's end) on real LSL; ``run_tms_node`` follows them in a thread of this process and
stimulates an emulated TTL box on a real pty through a real stimulation process — the same
child, guard and journal as a real-time session — and publishes ``mirrorvr-tms-pulses`` from it.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pylsl
import pytest

from mirrorvr.config.loader import load_plan
from mirrorvr.run.tms_node import NodeOptions, NodeResult, run_tms_node
from mirrorvr.session.clock import local_clock
from mirrorvr.session.eventlog import read_events
from mirrorvr.session.timeline import compile_timeline
from mirrorvr.stim.journal import read_journal
from mirrorvr.streams.layout import MARKERS

PLAN = textwrap.dedent(
    """
    [session]
    name = "tms node, stimulation process"
    seed = 8

    [patient]
    id = "T-3"
    amputation_side = "left"

    [[blocks]]
    kind = "imagery"
    movements = ["fist"]
    repetitions = 3
    cue_s = 0.3
    imagery_s = 0.5
    rest_s = 0.7

    [stimulation]
    mode = "cue-locked"
    intensity_pct_rmt = 100

    [stimulation.cue_locked]
    delay_ms = 250

    [stimulation.motor_threshold]
    rmt_pct_mso = 50
    measured_on = "2026-01-10"

    [devices]
    stimulator = { kind = "ttl-box" }

    [screening]
    completed_on = "2026-01-10"
    completed_by = "test nurse"

    [[safety.overrides]]
    rule = "min_intertrain_interval_s"
    value = 1.0
    reason = "test plan: short gaps keep real-time tests fast"
    approved_by = "test suite"
    approved_on = "2026-01-10"
    """
)

pytestmark = pytest.mark.slow


def test_tms_node_stimulates_through_the_stimulation_process(tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text(PLAN, encoding="utf-8")
    plan = load_plan(plan_file)
    timeline = compile_timeline(plan)
    cue_steps = [s.index for s in timeline.steps if s.kind == "cue"]
    assert len(cue_steps) == 3
    third_pulse = next(
        s.index
        for s in timeline.steps
        if s.kind == "cue_pulse" and s.data["cue_step"] == cue_steps[2]
    )
    vr = f"vr-{uuid.uuid4().hex[:8]}"
    out = tmp_path / f"tms-{uuid.uuid4().hex[:8]}"
    outlet = pylsl.StreamOutlet(MARKERS.stream_info(vr), chunk_size=1)
    ready = threading.Event()
    result: list[NodeResult] = []
    node = threading.Thread(
        target=lambda: result.append(
            run_tms_node(
                plan,
                NodeOptions(
                    out=out, vr_session=vr, connect_timeout_s=60, timeout_s=120,
                    on_ready=ready.set,
                ),
            )
        ),
        daemon=True,
    )  # fmt: skip
    node.start()
    assert ready.wait(90), "the TMS node did not follow the markers"
    # recover=False: a pull after the node (and its outlet) is gone must not wait for it
    pulses_in = pylsl.StreamInlet(
        pylsl.resolve_byprop("source_id", f"mirrorvr-{out.name}-tms-pulses", 1, 30)[0],
        recover=False,
    )
    pulses_in.open_stream(30)
    seq = iter(range(1, 1000))

    def marker(kind: str, t: float, **data: object) -> None:
        ev = {"seq": next(seq), "t": t, "kind": kind, **data}
        outlet.push_sample([json.dumps(ev)], t)

    # two cues drive a pulse each (250 ms after the cue's display time) ...
    for step in cue_steps[:2]:
        marker("cue", local_clock() + 0.1, step=step)
        time.sleep(1.6)
    # ... an e-stop on the VR node disarms through the child's e-stop channel ...
    t_estop = local_clock()
    marker("estop", t_estop, cause="test")
    time.sleep(0.5)
    # ... so the third cue's pulse is not fired; then the VR session ends
    marker("cue", local_clock() + 0.1, step=cue_steps[2])
    time.sleep(1.0)
    got, stamps = pulses_in.pull_chunk(timeout=5.0)  # while the node's outlet still exists
    pulses_in.close_stream()
    marker("session_end", local_clock(), state="completed")
    node.join(60)
    assert not node.is_alive()
    assert result and result[0].reason == "VR session ended (completed)"

    events = read_events(out / "events.jsonl").events
    proc = next(e for e in events if e.kind == "stim_process")
    assert proc["pulse_stream"] == "mirrorvr-tms-pulses"
    pulses = [e for e in events if e.kind == "pulse"]
    missed = [e for e in events if e.kind == "pulse_missed"]
    assert len(pulses) + len(missed) == 2 and pulses  # a loaded machine may miss one
    # every pulse came through the stimulation process: its journal, its push to LSL
    journal = [r for r in read_journal(out / "stim-journal.jsonl") if r["kind"] == "pulse"]
    # (the log keeps t to 0.1 µs; the journal and LSL the full stamp)
    assert [r["t"] for r in journal] == pytest.approx([p.t for p in pulses], rel=0, abs=1e-7)
    assert all("lsl_s" in p.data for p in pulses)
    assert stamps == pytest.approx([p.t for p in pulses], rel=0, abs=1e-7)
    assert [int(g[1]) for g in got] == [int(p["i"]) for p in pulses]
    # the third cue's train was not handed over: stimulation is stopped after the e-stop
    skipped = [e for e in events if e.kind == "stim_skipped"]
    assert skipped and skipped[-1]["step"] == third_pulse
    assert result[0].pulses_delivered == len(pulses)
    # what the emulated box received: one rising edge per pulse, and the disarm after the e-stop
    frames = [
        json.loads(x) for x in (out / "emulator-ttl-box.jsonl").read_text("utf-8").splitlines()
    ]
    assert len([f for f in frames if f.get("action") == "pulse"]) == len(pulses)
    assert any(f.get("rx") == "00" and f["t"] >= t_estop for f in frames)
