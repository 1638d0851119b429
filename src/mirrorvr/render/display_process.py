"""Real-time display in its own process, so drawing never delays a pulse.

On the simulated clock the presenter is stepped in the runner's thread (deterministic). In real
time the scene must keep moving while the runner times pulses; in a thread of the same process
the render loop competes for the GIL and was measured to make ``sleep_until`` late by 5 ms
(median) on this 2-core machine with software GL — beyond the executor's 5 ms late tolerance.
So a real-time display runs in a child process (same LSL clock: CLOCK_MONOTONIC), which renders
continuously and answers the runner's requests over a pipe: ``present`` returns the display
time of the first frame that shows the step, answers are polled. The therapist's keys (Esc
e-stop, P pause, R resume) and a lost pose source travel the other way on a second pipe, read
by a thread of the session's process that calls the runner (whose controls are thread-safe).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mirrorvr.child_signals import (
    die_with_spawning_parent,
    ignore_sigint,
    sigint_ignored_while_starting,
)
from mirrorvr.config.plan import SessionPlan
from mirrorvr.render.display import DisplayError
from mirrorvr.session.clock import Clock, RealClock
from mirrorvr.session.presenter import Answer, Answering, ToneOutcome
from mirrorvr.session.timeline import Step

_POLL_S = 0.005


def _step_to_wire(step: Step) -> tuple[Any, ...]:
    return (step.index, step.t, step.duration, step.kind, step.block, dict(step.data))


def _step_from_wire(w: tuple[Any, ...]) -> Step:
    return Step(w[0], w[1], w[2], w[3], w[4], MappingProxyType(w[5]))


def _serve(
    conn: Connection,
    control: Connection,
    kind: str,
    size: tuple[int, int],
    plan: SessionPlan,
    patient: Answering | None,
    frames_dir: Path | None,
    fps: float,
) -> None:
    """The display process: build the scene, then render frames and answer requests."""
    ignore_sigint()  # Ctrl-C is the session's to handle; it closes this process
    die_with_spawning_parent()  # a killed session leaves no orphan drawing on
    # the session's process times pulses: drawing takes second place for the CPU, and Mesa's
    # software rasteriser keeps to one thread (set before the GL context exists)
    os.environ.setdefault("LP_NUM_THREADS", "1")
    with contextlib.suppress(OSError):
        os.nice(15)
    from mirrorvr.render.display import BACKENDS
    from mirrorvr.render.presenter import PandaPresenter, PresenterOptions

    try:
        display = BACKENDS[kind](size)
        core = PandaPresenter(
            RealClock(),
            patient,
            plan,
            display,
            options=PresenterOptions(fps=fps, frames_dir=frames_dir),
        )
        core.warm()  # before "ready": the session starts once the scene is in the renderer
    except Exception as e:  # reported to the session's process as a DisplayError
        conn.send(("error", str(e)))
        return
    conn.send(("ready", display.renderer))
    pme_view: Any = None
    try:
        while True:
            if core.requests:  # keys and lost tracking for the runner, in order
                for req in core.requests:
                    control.send(req)
                core.requests.clear()
            if not conn.poll(0):
                core._frame()
                continue
            msg = conn.recv()
            op = msg[0]
            if op == "present":
                if len(msg) > 2:  # the runner's state and pulses, for the therapist's overlay
                    from mirrorvr.render.presenter import RemoteStatus

                    core.remote_status = RemoteStatus(*msg[2])
                step = _step_from_wire(msg[1])
                onset = core.present(step)
                if pme_view is not None:
                    pme_view.on_step(step, onset)
                tone = core.cue_tone()
                conn.send((onset, None if tone is None else (tone.played, tone.t, tone.reason)))
            elif op == "answer":
                a = core.director.answer
                conn.send(None if a is None else (a.value, a.t))
            elif op == "withdraw":
                core.withdraw_question()
                conn.send(None)
            elif op == "calibrate":  # before the session's first step
                tr = plan.tracking
                if tr.midline == "calibrate" or (
                    tr.midline == "stored" and tr.midline_plane is None
                ):
                    conn.send(core.hold_for_midline())
                else:
                    conn.send({"t": core.clock.now(), **core.midline.to_event()})
            elif op == "publish":
                conn.send(_publish(core, plan, msg[1], fps))
                if pme_view is None and any(
                    b.kind == "phantom_motor_execution" for b in plan.blocks
                ):  # the decoded phantom arrives on the session's mirrorvr-pme stream
                    from mirrorvr.render.pme_view import PmeStreamView

                    pme_view = core.phantom = PmeStreamView(msg[1])
            elif op == "close":
                conn.send(core.frames)
                break
    except (EOFError, BrokenPipeError):
        pass  # the session's process went away: just stop drawing
    finally:
        if pme_view is not None:
            pme_view.close()
        core.close()


def _publish(core: Any, plan: SessionPlan, session: str, fps: float) -> tuple[str, Any]:
    """Open this process's per-frame LSL outlets: ``("ok", names)`` or ``("error", why)``."""
    from mirrorvr.render.frame_streams import SOURCE_SIMULATED, FrameStreams
    from mirrorvr.streams.session_io import apply_plan_lsl
    from mirrorvr.tracking.synthetic import SyntheticSource

    if core.streams is not None:
        return ("ok", core.streams.names)
    try:
        apply_plan_lsl(plan)  # liblsl is configured per process, like the session's own
        from mirrorvr.render.frame_streams import LEG_JOINTS
        from mirrorvr.streams.layout import HAND_JOINTS

        simulated = isinstance(core.source, SyntheticSource)
        lower = plan.patient.limb == "lower"
        core.streams = FrameStreams(
            session,
            plan.patient.intact_side,
            plan.patient.amputation_side,
            fps,
            source=SOURCE_SIMULATED if simulated else type(core.source).__name__,
            joints=LEG_JOINTS if lower else HAND_JOINTS,
        )
    except Exception as e:  # reported to the session's process as a DisplayError
        return ("error", str(e))
    return ("ok", core.streams.names)


class ProcessPresenter:
    """The :class:`~mirrorvr.session.presenter.Presenter` of a display running in a child process."""

    def __init__(
        self,
        clock: Clock,
        patient: Answering | None,
        plan: SessionPlan,
        kind: str,
        size: tuple[int, int],
        *,
        frames_dir: Path | None = None,
        fps: float = 90.0,
        start_timeout: float = 120.0,
    ) -> None:
        self.clock = clock
        ctx = mp.get_context("spawn")  # a clean interpreter: no inherited GL state or threads
        self._conn, child = ctx.Pipe()
        self._control_in, control_out = ctx.Pipe(duplex=False)
        self.kind = kind
        self._proc = ctx.Process(
            target=_serve,
            args=(child, control_out, kind, size, plan, patient, frames_dir, fps),
            name="mirrorvr-display",
            daemon=True,
        )
        with sigint_ignored_while_starting():
            self._proc.start()
        child.close()
        control_out.close()
        if not self._conn.poll(start_timeout):
            self._proc.kill()
            raise DisplayError(f"the {kind} display did not start within {start_timeout:g} s")
        try:
            status, detail = self._conn.recv()
        except EOFError:
            status, detail = "error", "it exited (see its messages above)"
        if status != "ready":
            self._proc.join(timeout=10)
            raise DisplayError(f"the {kind} display could not start: {detail}")
        self.renderer = detail
        self.frames = 0
        self._control: Any = None
        self._tone: ToneOutcome | None = None

    def attach_control(self, control: Any) -> None:
        """Hand the display's session keys and lost-tracking requests to ``control`` (the
        runner), from a thread that reads them as they come."""

        def listen() -> None:
            while True:
                try:
                    what, why = self._control_in.recv()
                except (EOFError, OSError):
                    return  # the display process ended
                if what == "midline":  # a recalibration (C key) in the display
                    log_midline(why)
                elif what == "estop":
                    control.estop(why)
                elif what == "pause":
                    control.pause(why)
                elif what == "resume":
                    control.resume()

        def log_midline(data: dict[str, Any]) -> None:
            log = getattr(control, "log", None)
            if log is not None:
                fields = dict(data)
                log.append("midline", float(fields.pop("t")), durable=True, **fields)

        self._control = control
        if self.kind == "window" and hasattr(control, "operator_present"):
            control.operator_present = True  # the window's R key can resume a pause
        threading.Thread(target=listen, name="mirrorvr-display-keys", daemon=True).start()
        log_midline(self._ask("calibrate"))  # the hold, before the session's first step

    def _ask(self, *msg: Any) -> Any:
        try:
            self._conn.send(msg)
            return self._conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            raise DisplayError(
                "the display process stopped (window closed or crashed); see its messages above"
            ) from None

    def present(self, step: Step) -> float:
        """Show ``step``; returns the display time of the first frame showing it."""
        control = self._control
        status = (
            (str(getattr(control, "state", "")), getattr(control, "pulses_delivered", None))
            if control is not None
            else ("", None)
        )
        onset, tone = self._ask("present", _step_to_wire(step), status)
        self._tone = None if tone is None else ToneOutcome(*tone)
        return float(onset)

    def cue_tone(self) -> ToneOutcome | None:
        """The tone the display process started with the last presented step (or why not)."""
        return self._tone

    def publish_frames(self, session: str) -> list[str]:
        """Publish every rendered frame's poses and timing on LSL (source ids under
        ``mirrorvr-<session>-``); returns the stream names. Call before recording starts."""
        status, detail = self._ask("publish", session)
        if status != "ok":
            raise DisplayError(f"the display could not open its LSL streams: {detail}")
        return list(detail)

    def _await(self, deadline: float) -> Answer | None:
        while True:
            got = self._ask("answer")
            if got is not None:
                return Answer(got[0], got[1]) if got[1] <= deadline else None
            if self.clock.now() >= deadline:
                self._ask("withdraw")
                return None
            self.clock.sleep_until(min(deadline, self.clock.now() + _POLL_S))

    def ask_rating(self, step: Step, deadline: float) -> Answer | None:
        """Wait for the in-scene rating (keys → slider → confirm)."""
        return self._await(deadline)

    def ask_laterality(self, step: Step, deadline: float) -> Answer | None:
        """Wait for a left/right key."""
        return self._await(deadline)

    def idle(self, until: float) -> None:
        """The display process keeps drawing; just wait."""
        self.clock.sleep_until(until)

    def close(self) -> None:
        """Stop the display process."""
        if self._proc.is_alive():
            try:
                self.frames = int(self._ask("close"))
            except DisplayError:
                pass
            self._proc.join(timeout=30)
            if self._proc.is_alive():
                self._proc.kill()
        self._conn.close()
        self._control_in.close()
