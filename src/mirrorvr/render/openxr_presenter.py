"""Running a session in an OpenXR headset: display process, presenter and safety policy.

A headset needs a frame every display period whatever the session does — also while it is
paused — and drawing must never delay a pulse (a render loop sharing the session's process
competes for the GIL: see :mod:`mirrorvr.render.display_process`). So the headset runs in a
child process: :class:`~mirrorvr.render.headset_loop.HeadsetLoop` on its main thread, serving
the session's :class:`HeadsetPresenter` over a pipe. ``present(step)`` returns when the first
frame showing the step has been submitted, with that frame's predicted display time on the LSL
clock (CLOCK_MONOTONIC, shared by both processes) as the onset.

Headset events come back over a second pipe and become session actions through
:class:`HeadsetSafety` and its :class:`HeadsetPolicy`: focus lost (headset taken off, system
menu) pauses and focus regained resumes; tracking lost and the controller's menu button are
emergency stops (disarm at once, pause until the operator resumes); a runtime that stops or
loses the session ends it (abort: disarmed, logged, resumable).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from types import MappingProxyType
from typing import Any, Literal

from mirrorvr.child_signals import (
    die_with_spawning_parent,
    ignore_sigint,
    sigint_ignored_while_starting,
)
from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import MirrorVRError
from mirrorvr.render.headset_loop import READY_TIMEOUT_S, HeadsetLoop, ShowRequest
from mirrorvr.render.openxr_display import NO_RUNTIME_HELP, DisplayEvent, HeadsetError
from mirrorvr.session.clock import Clock
from mirrorvr.session.presenter import Answer, Answering, ToneOutcome
from mirrorvr.session.runner import SessionRunner
from mirrorvr.session.timeline import Step

Reaction = Literal["pause", "estop", "ignore"]

#: how often a wait for the patient's answer asks the display process
POLL_S = 0.01


@dataclass(frozen=True)
class HeadsetPolicy:
    """How the session reacts to the headset (defaults follow the safety principle)."""

    on_focus_lost: Reaction = "pause"
    on_tracking_lost: Reaction = "estop"
    on_menu_button: Reaction = "estop"
    #: the plan's own pose source (LSL, replay) lost the intact limb: ``[tracking] on_lost``
    on_pose_lost: Reaction = "pause"
    #: resume automatically when focus returns after a pause that focus loss caused
    resume_on_focus: bool = True


class HeadsetSafety:
    """Applies :class:`HeadsetPolicy` to the session runner and logs every headset event."""

    def __init__(self, policy: HeadsetPolicy | None = None) -> None:
        self.policy = policy or HeadsetPolicy()
        self.runner: SessionRunner | None = None
        self._lock = threading.Lock()
        self._backlog: list[DisplayEvent] = []
        self._closed = False
        self._focused_once = False
        self._paused_by_focus = False
        self._ending = False

    def attach_runner(self, runner: SessionRunner) -> None:
        """Route headset events to ``runner`` (and log the ones seen before it existed)."""
        with self._lock:
            self.runner = runner
            backlog, self._backlog = self._backlog, []
            for ev in backlog:
                self._log(runner, ev)

    def detach_runner(self) -> None:
        """Stop routing events: the session is over (its log is about to close)."""
        with self._lock:
            self.runner = None
            self._backlog.clear()
            self._closed = True

    def handle(self, ev: DisplayEvent) -> None:
        """One headset event (from any thread)."""
        if ev.what == "state" and ev.detail.get("state") == "focused":
            self._focused_once = True
        # under the lock: the session may be ending on its own thread (detach_runner)
        with self._lock:
            if self.runner is None:
                if not self._closed:
                    self._backlog.append(ev)
                return
            self._log(self.runner, ev)
            self._react(self.runner, ev)

    @staticmethod
    def _log(runner: SessionRunner, ev: DisplayEvent) -> None:
        runner.log.append("display", ev.t, what=ev.what, **ev.detail)

    def _react(self, runner: SessionRunner, ev: DisplayEvent) -> None:
        p = self.policy
        state = ev.detail.get("state", "")
        if self._ending:
            return  # the session is being ended: later transitions change nothing
        if ev.what == "state":
            if state in ("stopping", "exiting", "loss_pending", "instance_loss_pending"):
                self._ending = True
                runner.abort(f"the headset's OpenXR session ended ({state})")
            elif state in ("visible", "synchronized", "idle") and self._focused_once:
                cause = f"headset focus lost ({state})"
                if p.on_focus_lost == "pause" and p.resume_on_focus:
                    runner.pause(cause, resumable=True)  # lifted below when focus returns
                else:
                    self._apply(runner, p.on_focus_lost, cause)
                self._paused_by_focus = p.on_focus_lost == "pause"
            elif state == "focused" and self._paused_by_focus and p.resume_on_focus:
                self._paused_by_focus = False
                runner.resume()
        elif ev.what == "tracking_lost":
            self._apply(runner, p.on_tracking_lost, "headset tracking lost")
            self._paused_by_focus = False
        elif ev.what == "pose_lost":
            cause = f"pose source lost ({ev.detail.get('source', '')}): no tracked intact limb"
            self._apply(runner, p.on_pose_lost, cause)
            self._paused_by_focus = False
        elif ev.what == "estop_button":
            side = ev.detail.get("side", "")
            self._apply(runner, p.on_menu_button, f"{side} controller menu button")
            self._paused_by_focus = False

    @staticmethod
    def _apply(runner: SessionRunner, reaction: Reaction, cause: str) -> None:
        if reaction == "estop":
            runner.estop(cause)
        elif reaction == "pause":
            runner.pause(cause)


# ---- the display process -------------------------------------------------------------------


def _step_to_wire(step: Step) -> tuple[Any, ...]:
    return (step.index, step.t, step.duration, step.kind, step.block, dict(step.data))


def _step_from_wire(w: tuple[Any, ...]) -> Step:
    return Step(w[0], w[1], w[2], w[3], w[4], MappingProxyType(w[5]))


def _serve(conn: Connection, events: Connection, plan: SessionPlan) -> None:
    """The headset process: open the headset, then run frames and answer requests."""
    ignore_sigint()  # Ctrl-C is the session's to handle; it closes this process
    die_with_spawning_parent()  # a killed session leaves no orphan drawing on
    # the session's process times pulses: drawing comes second for the CPU, and Mesa's software
    # rasteriser (CI, no GPU) keeps to one thread; set before the GL context exists
    os.environ.setdefault("LP_NUM_THREADS", "1")
    with contextlib.suppress(OSError):
        os.nice(5)
    from mirrorvr.render.xr_scene import MirrorHeadsetScene

    def forward(ev: DisplayEvent) -> None:
        with contextlib.suppress(OSError, ValueError):
            events.send((ev.what, ev.t, ev.detail))

    try:
        source = _plan_source(plan)
    except MirrorVRError as e:
        conn.send(("error", str(e)))
        return
    loop = HeadsetLoop(
        lambda: MirrorHeadsetScene(plan),
        on_event=forward,
        source=source,
        source_kind=plan.devices.tracking,
        lost_after_s=plan.tracking.lost_after_s,
        controllers_on_feet=plan.tracking.controllers == "feet",
    )
    try:
        loop.open()
        loop.wait_ready()
    except MirrorVRError as e:
        conn.send(("error", str(e)))
        loop.close()
        return
    display = loop.display
    assert display is not None
    conn.send(("ready", display.runtime_name, display.input_mode))
    waiting_show: ShowRequest | None = None
    waiting_frame: int | None = None
    publisher: Any = None
    try:
        while True:
            while waiting_show is None and waiting_frame is None and conn.poll(0):
                msg = conn.recv()
                op = msg[0]
                if op == "present":
                    waiting_show = loop.request_show(_step_from_wire(msg[1]))
                elif op == "frame":
                    waiting_frame = loop.frame_count + 1
                elif op == "answer":
                    a = loop.scene.answer
                    conn.send(None if a is None else (a.value, a.t))
                elif op == "expire":
                    loop.call(loop.scene.expire)
                    conn.send(None)
                elif op == "publish":
                    if publisher is None:
                        publisher, reply = _publish(loop, plan, msg[1])
                    else:
                        reply = ("ok", publisher.streams.names)
                    conn.send(reply)
                elif op == "midline":
                    conn.send(hold_for_midline(loop, plan))
                elif op == "close":
                    conn.send(display.frames_submitted)
                    return
            loop.step()
            if waiting_show is not None and waiting_show.done.is_set():
                f = waiting_show.frame
                conn.send(None if f is None else f.display_time)
                waiting_show = None
            if waiting_frame is not None and (loop.frame_count >= waiting_frame or loop.ended):
                conn.send(not loop.ended)
                waiting_frame = None
    except (EOFError, BrokenPipeError):
        pass  # the session's process went away: end the headset session
    finally:
        if publisher is not None:
            publisher.close()
        loop.close()
        events.close()


def hold_for_midline(loop: HeadsetLoop, plan: SessionPlan) -> dict[str, object]:
    """The midline calibration hold in the headset (on the loop's thread): the patient sits
    upright looking ahead for ``midline_hold_s`` while frames run and the head poses are
    collected; the plane (through the mean head, normal its horizontal right axis) then mirrors
    from the next frame. Returns the ``midline`` event's fields (``method`` ``failed`` and
    ``reason`` if the head moved; the mark without a tracked head), as the other displays log."""
    import time

    from mirrorvr.tracking import midline
    from mirrorvr.tracking.mirror import CalibrationError

    tr = plan.tracking
    scene = loop.scene
    mirror = scene.scene
    mirror.show_cue("Sit upright and look straight ahead:\ncalibrating your midline")
    mirror.show_midline(scene.plane)
    frames = []
    end = time.monotonic() + tr.midline_hold_s
    while time.monotonic() < end and not loop.ended:
        loop.step()
        assert loop.display is not None
        if loop.display.tracking is not None:
            frames.append(loop.display.tracking)
    data: dict[str, object]
    try:
        result = midline.from_hold(frames, tr.midline_x_m)
    except CalibrationError as e:
        data = {"method": "failed", "reason": str(e)}
    else:
        scene.set_plane(result.plane)
        data = result.to_event()
    mirror.show_midline(scene.plane)
    loop.step()  # one frame shows the calibrated midline
    mirror.show_midline(None)
    mirror.clear_cue()
    return data


def _plan_source(plan: SessionPlan) -> Any:
    """The plan's pose source when it is not the headset's own tracking (``lsl``, ``replay``:
    opened here, in the headset's process, through the factory every display uses), else None."""
    if plan.devices.tracking not in ("lsl", "replay"):
        return None
    from mirrorvr.streams.session_io import apply_plan_lsl
    from mirrorvr.tracking.sources import open_source

    apply_plan_lsl(plan)  # liblsl is configured per process, before its first use
    return open_source(plan, display="openxr")


def _publish(loop: HeadsetLoop, plan: SessionPlan, session: str) -> tuple[Any, tuple[str, Any]]:
    """Publish every submitted frame's poses and timing on LSL from this process (see
    :mod:`mirrorvr.render.frame_streams`): ``(publisher, ("ok", names))`` or
    ``(None, ("error", why))``."""
    from mirrorvr.render.frame_streams import HeadsetFramePublisher
    from mirrorvr.streams.session_io import apply_plan_lsl

    display = loop.display
    assert display is not None
    try:
        apply_plan_lsl(plan)  # liblsl is configured per process, like the session's own
        publisher = HeadsetFramePublisher.for_display(
            session,
            display,
            loop.scene,
            plan.patient.intact_side,
            plan_source=(
                loop.source_kind
                if loop.source is not None
                else "openxr_foot_controllers"
                if loop.controllers_on_feet
                else None
            ),
        )
    except Exception as e:  # reported to the session's process as a HeadsetError
        return None, ("error", str(e))
    display.frame_listeners.append(publisher)
    return publisher, ("ok", publisher.streams.names)


class HeadsetPresenter:
    """The :class:`~mirrorvr.session.presenter.Presenter` of a headset (in a child process).

    With a real-time clock a step's onset is the predicted display time of the first frame
    that shows it; with the simulated clock (``mirrorvr sim --fast``) frames are still real but
    the session's time is simulated, so the onset is the simulated time at which it was shown.
    Answers: in simulation the simulated patient answers; otherwise the patient answers in the
    scene with the controllers (:data:`~mirrorvr.render.headset_loop.ACTIONS`), stamped with
    the frame's display time.
    """

    def __init__(
        self,
        clock: Clock,
        patient: Answering | None,
        plan: SessionPlan,
        safety: HeadsetSafety,
        *,
        simulated: bool = True,
        start_timeout_s: float = READY_TIMEOUT_S + 100.0,
    ) -> None:
        self.clock = clock
        self.patient = patient
        self.safety = safety
        self.simulated = simulated
        self.plan = plan
        ctx = mp.get_context("spawn")  # a clean interpreter: no inherited GL state or threads
        self._conn, child = ctx.Pipe()
        events_in, events_out = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=_serve, args=(child, events_out, plan), name="mirrorvr-headset", daemon=True
        )
        with sigint_ignored_while_starting():
            self._proc.start()
        child.close()
        events_out.close()
        self._events = threading.Thread(
            target=self._read_events, args=(events_in,), name="mirrorvr-headset-events", daemon=True
        )
        self._events.start()
        if not self._conn.poll(start_timeout_s):
            self._proc.kill()
            raise HeadsetError(f"the headset did not start within {start_timeout_s:g} s")
        try:
            reply = self._conn.recv()
        except EOFError:
            reply = ("error", "its process exited (see its messages above)")
        if reply[0] != "ready":
            self._proc.join(timeout=10)
            raise HeadsetError(reply[1])
        self.runtime_name, self.input_mode = reply[1], reply[2]
        self.frames = 0
        self._tone: ToneOutcome | None = None

    def attach_control(self, control: Any) -> None:
        """Before the first block: with ``[tracking] midline = "calibrate"`` (or a stored
        plane the plan lacks) run the calibration hold in the headset (:func:`hold_for_midline`,
        with the headset's head pose); log the midline the headset mirrors across as the other
        displays do (``display: "openxr"``; the clinic store keeps it for the patient)."""
        from mirrorvr.tracking.midline import from_plan

        tr = self.plan.tracking
        log = getattr(control, "log", None)
        if tr.midline == "calibrate" or (tr.midline == "stored" and tr.midline_plane is None):
            t = self.clock.now()
            event = dict(self._ask("midline"))
        else:
            t, event = self.clock.now(), from_plan(tr).to_event()
        if log is not None:
            log.append("midline", t, durable=True, **event, display="openxr")

    def _read_events(self, conn: Connection) -> None:
        try:
            while True:
                what, t, detail = conn.recv()
                self.safety.handle(DisplayEvent(what, t, detail))
        except (EOFError, OSError):
            pass

    def _ask(self, *msg: Any) -> Any:
        try:
            self._conn.send(msg)
            return self._conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            raise HeadsetError("the headset process stopped; see its messages above") from None

    def present(self, step: Step) -> float:
        """Show ``step``; its onset (see the class docstring)."""
        self._tone = (
            ToneOutcome(False, reason="the headset display does not play cue tones yet")
            if "tone" in step.data
            else None
        )
        shown = self._ask("present", _step_to_wire(step))
        if shown is not None and self.clock.realtime:
            return float(shown)
        return self.clock.now()

    def cue_tone(self) -> ToneOutcome | None:
        """Cue tones are not played in the headset yet (see docs/scene.md): reported so."""
        return self._tone

    def publish_frames(self, session: str) -> list[str]:
        """Publish every submitted frame's timing and the tracked and mirrored poses on LSL
        (source ids under ``mirrorvr-<session>-``); returns the stream names. Call before
        recording starts. On the simulated clock nothing is published (frame times are LSL
        times, the session's are simulated): returns ``[]``."""
        if not self.clock.realtime:
            return []
        status, detail = self._ask("publish", session)
        if status != "ok":
            raise HeadsetError(f"the headset could not open its LSL streams: {detail}")
        return list(detail)

    def _simulated_answer(self, value: int | str, rt: float, deadline: float) -> Answer | None:
        t = self.clock.now() + rt
        if t > deadline:
            self.idle(deadline)
            return None
        self.idle(t)
        return Answer(value, t)

    def _scene_answer(self, deadline: float) -> Answer | None:
        while True:
            got = self._ask("answer")
            if got is not None:
                return Answer(got[0], got[1]) if got[1] <= deadline else None
            if self.clock.now() >= deadline:
                self._ask("expire")
                return None
            self.clock.sleep_until(min(deadline, self.clock.now() + POLL_S))

    def ask_rating(self, step: Step, deadline: float) -> Answer | None:
        """The patient's 0–10 rating (or ``None`` at the deadline)."""
        if not self.simulated or self.patient is None:
            return self._scene_answer(deadline)
        if step.kind == "embodiment":
            value, rt = self.patient.embodiment_rating(str(step.data["item"]))
        else:
            value, rt = self.patient.pain_rating(str(step.data.get("timepoint", "")))
        return self._simulated_answer(value, rt, deadline)

    def ask_laterality(self, step: Step, deadline: float) -> Answer | None:
        """The patient's left/right judgement (or ``None`` at the deadline)."""
        if not self.simulated or self.patient is None:
            return self._scene_answer(deadline)
        side, rt = self.patient.laterality_answer(
            str(step.data["side"]), int(step.data["angle_deg"])
        )
        return self._simulated_answer(side, rt, deadline)

    def idle(self, until: float) -> None:
        """The headset process keeps drawing; in simulated time, let one frame through."""
        if not self.clock.realtime:
            self._ask("frame")
        self.clock.sleep_until(until)

    def close(self) -> None:
        """End the headset session and its process."""
        self.safety.detach_runner()
        if self._proc.is_alive():
            with contextlib.suppress(HeadsetError):
                self.frames = int(self._ask("close"))
            self._proc.join(timeout=30)
            if self._proc.is_alive():
                self._proc.kill()
        self._conn.close()
        self._events.join(timeout=5)


def check_runtime() -> None:
    """Fail early with :data:`NO_RUNTIME_HELP` when no OpenXR runtime can be loaded."""
    try:
        import xr
    except ImportError as e:  # pragma: no cover - pyopenxr is a core dependency
        raise HeadsetError(f"pyopenxr is not installed ({e}): pip install pyopenxr") from None
    try:
        xr.enumerate_instance_extension_properties()
    except xr.XrException as e:
        raise HeadsetError(f"{NO_RUNTIME_HELP} ({e})") from None
