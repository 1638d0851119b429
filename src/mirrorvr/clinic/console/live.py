"""A live session run from the console: a background thread, its controls and its status.

The session runs through the ordinary :func:`~mirrorvr.run.session.run_session` (governor,
executor, crash-safe log) in a thread. ``LaunchOptions.on_runner`` hands us the runner for
pause/resume/stop/e-stop; an event sink keeps a few counters up to date. The sink runs on the
session's own threads, so it only updates numbers under a lock and bumps a version: the web
server builds and pushes the status from its own loop, never slowing a pulse.
"""

from __future__ import annotations

import datetime as dt
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mirrorvr.clinic.store import ClinicStore
from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import MirrorVRError
from mirrorvr.run.patient import run_recorded_session
from mirrorvr.run.session import LaunchOptions
from mirrorvr.session.events import Event
from mirrorvr.session.runner import SessionRunner
from mirrorvr.session.summary import DISARM_KINDS, device_fault_reactions, disarm_warnings
from mirrorvr.session.timeline import Timeline, compile_timeline


@dataclass
class _Counters:
    state: str = "starting"
    reason: str = ""
    step: int = -1
    block: int | None = None
    pulses: int = 0
    estops: int = 0
    #: every e-stop or session end whose disarm the device did not confirm (shown loudly)
    disarm_warnings: list[str] = field(default_factory=list)
    #: the events that say what a device fault did (pause or e-stop, disarm outcome, reconnect)
    fault_events: list[Event] = field(default_factory=list)
    last_rating: dict[str, Any] | None = None
    device_event: str = "not connected"
    frames: int = 0
    late_frames: int = 0
    last_event: str = ""
    tail: list[str] = field(default_factory=list)


class LiveSession:
    """One console-started session, observed and controlled from the web server's threads."""

    def __init__(
        self,
        *,
        store: ClinicStore,
        session_id: int,
        patient_id: str,
        plan: SessionPlan,
        folder: Path,
        pulses_today: int,
        realtime: bool = True,
        on_end: Callable[[LiveSession], None] | None = None,
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.patient_id = patient_id
        self.plan = plan
        self.folder = folder
        self.pulses_today = pulses_today
        self.realtime = realtime
        self.timeline: Timeline = compile_timeline(plan)
        self.runner: SessionRunner | None = None
        self.version = 0
        self.ended = threading.Event()
        self.error: str | None = None
        self._on_end = on_end
        self._lock = threading.Lock()
        self._c = _Counters()
        self._runner_ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-session", daemon=True)

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the session thread and wait until its runner can be controlled."""
        self._thread.start()
        self._runner_ready.wait(30)

    def _run(self) -> None:
        opts = LaunchOptions(
            out=self.folder,
            realtime=self.realtime,
            simulated=True,
            session_date=dt.date.today(),
            sinks=[self._sink],
            on_runner=self._got_runner,
            pulses_today=self.pulses_today,
        )
        try:  # the same path as the CLI's --patient sessions (run/patient.py)
            run_recorded_session(
                self.store, self.session_id, self.patient_id, self.plan, opts, actor="console"
            )
        except MirrorVRError as e:
            self.error = "; ".join([str(e), *getattr(e, "__notes__", [])])
        except Exception as e:  # shown to the therapist; the runner already disarmed
            self.error = f"{type(e).__name__}: {e}"
            traceback.print_exc()
        finally:
            self._runner_ready.set()
            with self._lock:
                if self.error:
                    self._c.reason = self.error
                    if self._c.state not in ("completed", "aborted"):
                        self._c.state = "aborted"
                self.ended.set()  # before the version bump, so the last push says "ended"
                self.version += 1
            if self._on_end is not None:
                self._on_end(self)

    def _got_runner(self, runner: SessionRunner) -> None:
        self.runner = runner
        self._runner_ready.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the session thread."""
        self._thread.join(timeout)

    # ---- controls (any thread) ---------------------------------------------------------------
    def _need_runner(self) -> SessionRunner:
        if self.runner is None or self.ended.is_set():
            raise MirrorVRError("no session is running")
        return self.runner

    def pause(self) -> None:
        """Pause before the next step; a running train stops."""
        self._need_runner().pause("paused by therapist")

    def resume(self) -> None:
        """Continue after a pause or an emergency stop (the governor checks every later train)."""
        self._need_runner().resume()

    def stop(self) -> None:
        """End the session now (disarmed)."""
        self._need_runner().abort("stopped by therapist")

    def estop(self) -> None:
        """Emergency stop: disarm at once and pause."""
        self._need_runner().estop("console emergency stop")

    # ---- observing ------------------------------------------------------------------------
    def _sink(self, e: Event) -> None:
        with self._lock:
            c = self._c
            if "step" in e.data and isinstance(e.data["step"], int):
                c.step = max(c.step, e.data["step"])
            if "block" in e.data and isinstance(e.data["block"], int):
                c.block = e.data["block"]
            k = e.kind
            if k == "state":
                c.state, c.reason = str(e["to"]), str(e.get("reason", ""))
            elif k == "pulse":
                c.pulses += 1
            elif k == "estop":
                c.estops += 1
            if k in DISARM_KINDS:
                c.disarm_warnings += disarm_warnings([e])
            if k == "estop" or (
                k == "device"
                and e.get("what") in ("fault", "stim_process_died", "fault_disarm", "reconnected")
            ):
                c.fault_events.append(e)
            if k == "rating":
                c.last_rating = {"timepoint": e["timepoint"], "value": e.get("value")}
            elif k == "device":
                c.device_event = str(e.get("what", ""))
            elif k == "frame":  # from a display backend, when one runs
                c.frames += 1
                if e.get("late"):
                    c.late_frames += 1
            if k not in ("pulse", "pme"):  # per-pulse / per-EMG-window events would crowd it
                c.last_event = k
                c.tail = [*c.tail[-7:], f"{k} {_brief(e)}".strip()]
            self.version += 1

    def status(self) -> dict[str, Any]:
        """Everything the live panel shows."""
        with self._lock:
            c = self._c
            steps = self.timeline.steps
            block = None
            if c.block is not None and c.block < len(self.plan.blocks):
                b = self.plan.blocks[c.block]
                block = {"index": c.block, "kind": b.kind, "label": b.label or b.kind}
            nxt = next((s for s in steps[c.step + 1 :] if s.kind == "cue"), None)
            now_t = steps[c.step].t if 0 <= c.step < len(steps) else 0.0
            device = self._device_state(c.device_event)
            if c.frames:
                frames = f"{c.frames} frames, {c.late_frames} late"
            else:
                frames = "no display in this session (headless simulated patient)"
            return {
                "session_id": self.session_id,
                "patient_id": self.patient_id,
                "plan": self.plan.session.name,
                "folder": str(self.folder),
                "state": c.state,
                "reason": c.reason,
                "ended": self.ended.is_set(),
                "block": block,
                "blocks": len(self.plan.blocks),
                "next_cue": {
                    "movement": nxt.data.get("movement"),
                    "in_s": round(max(0.0, nxt.t - now_t), 1),
                }
                if nxt is not None
                else None,
                "pulses_delivered": c.pulses,
                "pulses_planned": self.timeline.total_pulses,
                "estops": c.estops,
                "disarm_warnings": list(c.disarm_warnings),
                # the last device fault and what the session did about it (pause or e-stop)
                "device_fault": next(iter(device_fault_reactions(c.fault_events)[-1:]), None),
                "device": device,
                "last_rating": c.last_rating,
                "frame_health": frames,
                "tail": list(c.tail),
                "version": self.version,
            }

    def _device_state(self, last_event: str) -> str:
        runner = self.runner
        ex = runner.executor if runner is not None else None
        if ex is None:
            return "no stimulator" if self.timeline.total_pulses == 0 else last_event
        if self.ended.is_set():
            return "disarmed (session over)"
        if runner is not None and runner.device_down:
            return "FAULT: paused, waiting for the stimulator to answer again"
        st = ex.stimulator.status()
        if not st.connected:
            return "disconnected"
        return "ARMED" if st.armed else "disarmed"


def _brief(e: Event) -> str:
    keys = ("to", "movement", "timepoint", "value", "what", "cause", "reason", "n_pulses")
    return " ".join(f"{k}={e.data[k]}" for k in keys if e.data.get(k) not in (None, ""))
