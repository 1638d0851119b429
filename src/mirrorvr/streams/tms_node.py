"""The TMS node of a multi-machine session: stimulation driven by the VR node's LSL markers.

The VR node (``mirrorvr node vr PLAN``) runs the session, renders and publishes
``mirrorvr-markers``; this node (``mirrorvr node tms PLAN``) compiles the same plan, follows
those markers and delivers the plan's stimulation on its own stimulator:

* cue-locked pulses at the cue's display time (mapped to this machine's clock by liblsl's
  clock correction) + the plan's delay;
* concurrent / priming / post trains at their planned offset from the marker of the timeline
  step before them (the rest, block start or cue that anchors them), so a pause or a slow
  rating on the VR node moves them exactly as it moves the VR node's own timeline.

Every train goes through the safety governor and the executor; a deadline that has passed
(e.g. a marker held up by a cut link) is never fired late: its pulses are logged as missed.
An ``estop``, pause or abort marker disarms at once. The offset between the two clocks is
measured every 5 s and logged (``clock_offset`` events), and so are connection gaps
(``stream`` events).
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import SessionError
from mirrorvr.session.clock import RealClock
from mirrorvr.session.eventlog import EventLog
from mirrorvr.session.timeline import Step, Timeline
from mirrorvr.stim.executor import StimulationExecutor
from mirrorvr.streams.inlets import StreamFollower, predicate_for

#: timeline step kinds whose marker carries the time later stimulation steps are planned from
ANCHOR_KINDS = ("block_start", "cue", "window", "rest", "rating", "laterality_trial")
#: marker kind -> what the VR node's event log calls the event of an anchoring step
_EVENT_OF_STEP = {"rating": "rating_prompt"}
STOP_STATES = ("paused", "aborted")


def stim_schedule(timeline: Timeline) -> dict[int, list[tuple[Step, float]]]:
    """For each anchoring step index: the stimulation steps that follow it, with their delay.

    Cue-locked pulses hang on their cue (delay = the plan's ``delay_s``); trains on the
    nearest earlier anchoring step (delay = the difference of planned times). Pure.
    """
    out: dict[int, list[tuple[Step, float]]] = {}
    anchor: Step | None = None
    for step in timeline.steps:
        if step.kind == "cue_pulse":
            cue = int(step.data["cue_step"])
            out.setdefault(cue, []).append((step, float(step.data["delay_s"])))
        elif step.kind == "train":
            if anchor is None:
                raise SessionError(
                    f"stimulation step {step.index} has no earlier step to anchor it to"
                )
            out.setdefault(anchor.index, []).append((step, step.t - anchor.t))
        elif step.kind in ANCHOR_KINDS:
            anchor = step
    return out


class TmsNode:
    """Follows the VR node's markers and stimulates; see the module docstring."""

    def __init__(
        self,
        plan: SessionPlan,
        timeline: Timeline,
        log: EventLog,
        executor: StimulationExecutor | None,
        predicate: str,
    ) -> None:
        self.plan = plan
        self.timeline = timeline
        self.log = log
        self.executor = executor
        self.clock = RealClock()
        self.schedule = stim_schedule(timeline)
        self.predicate = predicate
        self.done = threading.Event()
        self.end_reason = ""
        self.markers = 0
        self.trains = 0
        self.offsets: list[float] = []
        self._seen: set[int] = set()
        self._queued: set[int] = set()
        self._work: queue.Queue[tuple[Step, float] | None] = queue.Queue()
        if executor is not None:
            # a fault found between trains (the stimulation process's health check, a lost
            # link, the child's death) ends the node as a fault during a train does
            executor.on_fault = self._device_fault
        self.follower = StreamFollower(
            predicate, self._on_markers, on_status=self._on_status, clock_sync=True,
            label="vr-markers",
        )  # fmt: skip

    # -- marker handling (follower thread) -------------------------------------------------
    def _on_status(self, f: StreamFollower, what: str, d: dict[str, Any]) -> None:
        now = self.clock.now()
        name = f.description.name if f.description else f.label
        host = f.description.hostname if f.description else ""
        if what == "offset":
            self.offsets.append(float(d["offset"]))
            self.log.append("clock_offset", now, stream=name, host=host, offset=d["offset"])
        else:
            self.log.append("stream", now, **{**d, "what": what, "stream": name, "host": host})

    def _on_markers(self, f: StreamFollower, stamps: np.ndarray, values: Any) -> None:
        for t_local, row in zip(stamps.tolist(), values, strict=True):
            raw = row[0]
            try:
                ev = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
                seq, kind = int(ev["seq"]), str(ev["kind"])
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                self.log.append("stream", self.clock.now(), what="bad_marker", data=repr(raw)[:200])
                continue
            if seq in self._seen:
                continue
            self._seen.add(seq)
            self.markers += 1
            self._act(ev, kind, float(t_local))

    def _act(self, ev: dict[str, Any], kind: str, t_local: float) -> None:
        step = ev.get("step")
        now = self.clock.now()
        if kind == "estop" or (kind == "state" and ev.get("to") in STOP_STATES):
            self._halt(f"VR node: {kind} {ev.get('cause') or ev.get('reason') or ev.get('to')}")
        elif kind == "state" and ev.get("to") == "running" and self.executor is not None:
            self.executor.resume()
            self.executor.stimulator.arm()
        elif kind == "session_end":
            self.end_reason = f"VR session ended ({ev.get('state')})"
            self._log_marker(ev, kind, t_local, now)
            self.done.set()
            return
        if step is None or kind in ("block_end", "rating", "laterality_response"):
            return
        # the event that carries an anchoring step's time (a rating step's is its prompt)
        plan_step = self.timeline.steps[int(step)] if int(step) < len(self.timeline.steps) else None
        if plan_step is None or _EVENT_OF_STEP.get(plan_step.kind, plan_step.kind) != kind:
            return
        todo = self.schedule.get(int(step), [])
        if not todo:
            return
        self._log_marker(ev, kind, t_local, now)
        for stim_step, delay in todo:
            if stim_step.index not in self._queued:
                self._queued.add(stim_step.index)
                self._work.put((stim_step, t_local + delay))

    def _log_marker(self, ev: dict[str, Any], kind: str, t_local: float, now: float) -> None:
        self.log.append(
            "remote_marker", now, remote_seq=ev.get("seq"), marker=kind, step=ev.get("step"),
            remote_t=ev.get("t"), marker_t=t_local, latency_s=now - t_local,
        )  # fmt: skip

    def _halt(self, reason: str) -> None:
        if self.executor is not None:
            self.executor.halt(reason)
            self.log.append("device", self.clock.now(), what="disarmed", reason=reason)

    def _device_fault(self, reason: str) -> None:
        """Any thread: e-stop (the log says what the device confirmed) and end the node."""
        if self.executor is not None:
            self.executor.estop(reason)
        if not self.done.is_set():
            self.end_reason = reason if reason.startswith("device fault") else f"fault: {reason}"
            self.done.set()

    # -- stimulation (worker thread) --------------------------------------------------------
    def _worker(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            step, onset = item
            if self.executor is None:
                self.log.append(
                    "stim_skipped", self.clock.now(), step=step.index,
                    reason="no stimulator on this node",
                )  # fmt: skip
                continue
            self.trains += 1
            result = self.executor.execute(step, onset)
            if result.status == "fault":
                self._halt(f"device fault: {result.reason}")
                self.end_reason = f"device fault: {result.reason}"
                self.done.set()
                return

    def run(
        self, *, connect_timeout_s: float, timeout_s: float | None,
        on_ready: Callable[[], None] | None = None,
    ) -> str:  # fmt: skip
        """Follow markers and stimulate until the VR session ends (or a timeout)."""
        worker = threading.Thread(target=self._worker, name="tms-node-stim", daemon=True)
        worker.start()
        self.follower.start()
        try:
            if not self.follower.connected.wait(connect_timeout_s):
                return (
                    f"no VR node markers found within {connect_timeout_s:.0f} s ({self.predicate})"
                )
            if on_ready is not None:
                on_ready()
            if not self.done.wait(timeout_s):
                return f"stopped after {timeout_s} s without the VR session's end"
            return self.end_reason
        finally:
            self.follower.stop()
            self._work.put(None)
            worker.join(timeout=60)
            if self.executor is not None:
                self.executor.halt("node stopping")


def markers_predicate(vr_session: str | None) -> str:
    """The VR node's marker stream: by session key if given, else any ``mirrorvr-markers``."""
    if vr_session:
        return predicate_for(source_id=f"mirrorvr-{vr_session}-markers")
    return predicate_for(name="mirrorvr-markers", type="Markers")
