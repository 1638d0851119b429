"""The presenter's control side: session requests (estop, pause, resume) from keys and lost
tracking, midline calibration, and the therapist overlay's lines.

:class:`PresenterControl` is a mixin of :class:`~mirrorvr.render.presenter.PandaPresenter`,
which sets every attribute declared here in its ``__init__``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mirrorvr.config.plan import SessionPlan
from mirrorvr.render.presenter_seams import PresenterOptions, RemoteStatus, SessionControl
from mirrorvr.render.scene import MirrorScene
from mirrorvr.session.clock import Clock
from mirrorvr.tracking import midline
from mirrorvr.tracking.midline import MidlineResult
from mirrorvr.tracking.mirror import CalibrationError, MidlinePlane, reflect_positions
from mirrorvr.tracking.pipeline import MirrorPipeline, gain_from_settings
from mirrorvr.tracking.pose import LimbPose, TrackingFrame
from mirrorvr.tracking.watch import TrackingWatch

if TYPE_CHECKING:
    from mirrorvr.render.frame import FrameInfo


class PresenterControl:
    """Session control, lost tracking, midline calibration and overlay lines of the presenter."""

    clock: Clock
    plan: SessionPlan
    options: PresenterOptions
    scene: MirrorScene
    pipeline: MirrorPipeline
    midline: MidlineResult
    watch: TrackingWatch
    tracking_lost: bool
    control: SessionControl | None
    requests: list[tuple[str, Any]]
    remote_status: RemoteStatus | None
    _tracking: TrackingFrame
    _hands: tuple[LimbPose | None, LimbPose | None]
    _interrupted: bool
    _recalibrate: bool

    if TYPE_CHECKING:

        def _frame(
            self, min_gap: float | None = None, notes: dict[str, object] | None = None
        ) -> FrameInfo: ...

    def attach_control(self, control: SessionControl) -> None:
        """Hand session keys and lost tracking to ``control`` from now on; with
        ``[tracking] midline = "calibrate"``, run the midline hold first (before the session's
        first step) and log it in ``control``'s event log."""
        self.control = control
        for what, why in self.requests:
            self._dispatch(what, why)
        self.requests.clear()
        tr = self.plan.tracking
        if tr.midline == "calibrate" or (tr.midline == "stored" and tr.midline_plane is None):
            self.calibrate_midline()
        else:
            self._log_midline({"t": self.clock.now(), **self.midline.to_event()})

    # ---- midline ---------------------------------------------------------------------------
    def _set_plane(self, plane: MidlinePlane) -> None:
        """Mirror across ``plane`` from the next frame (the gain's home follows it)."""
        s = self.plan.scene
        home = reflect_positions(plane, self.scene.home(self.plan.patient.intact_side))
        self.pipeline.plane = plane
        self.pipeline.gain = gain_from_settings(s.mirror_gain, s.mirror_offset_m, home)
        self.pipeline.filter.reset()

    def calibrate_midline(self) -> dict[str, object]:
        """Run the calibration hold (:meth:`hold_for_midline`) and log its ``midline`` event."""
        data = self.hold_for_midline()
        self._log_midline(data)
        return data

    def hold_for_midline(self) -> dict[str, object]:
        """The calibration hold: the patient sits upright looking ahead for ``midline_hold_s``
        while frames are rendered (midline shown); the plane then mirrors from the next frame.

        Returns the ``midline`` event's fields (``method`` ``failed`` and ``reason`` if the
        hold was refused: the previous plane stays)."""
        tr = self.plan.tracking
        self.scene.show_cue("Sit upright and look straight ahead:\ncalibrating your midline")
        self.scene.show_midline(self.midline.plane)
        frames: list[TrackingFrame] = []
        start = self._frame().t
        frames.append(self._tracking)
        while self.clock.now() < start + tr.midline_hold_s:
            self._frame(min_gap=min(0.1, self.options.stride_s))
            frames.append(self._tracking)
        data: dict[str, object]
        try:
            result = midline.from_hold(frames, tr.midline_x_m)
        except CalibrationError as e:
            data = {"method": "failed", "reason": str(e)}
        else:
            self.midline = result
            self._set_plane(result.plane)
            data = result.to_event()
        self.scene.show_midline(self.midline.plane)
        self._frame()  # one frame shows the calibrated midline
        self.scene.show_midline(None)
        self.scene.clear_cue()
        t = self.clock.now()
        if not self.clock.realtime:
            # the simulated session then starts on a whole second of the frame grid, as it
            # does without a hold (planned times and frame times stay comparable)
            self.clock.sleep_until(float(math.ceil(t - 1e-9)))
        return {"t": t, **data}

    def _log_midline(self, data: dict[str, object]) -> None:
        log = getattr(self.control, "log", None)
        if log is not None:
            fields = dict(data)
            t = float(fields.pop("t", self.clock.now()))  # type: ignore[arg-type]
            log.append("midline", t, durable=True, **fields)
        else:
            self.requests.append(("midline", data))

    def request(self, what: str, why: str) -> None:
        """Ask the session to ``estop``, ``pause`` or ``resume`` (queued until attached)."""
        if self.control is None:
            self.requests.append((what, why))
        else:
            self._dispatch(what, why)

    def _dispatch(self, what: str, why: str) -> None:
        assert self.control is not None
        # a simulated-clock idle returns at once, so the runner sees the pause now
        self._interrupted = what in ("estop", "pause")
        if what == "estop":
            self.control.estop(why)
        elif what == "pause":
            self.control.pause(why)
        elif what == "resume":
            self.control.resume()

    def _watch_tracking(self, t: float, tracked: bool) -> None:
        change = self.watch.update(t, tracked)
        if change is None:
            return
        self.tracking_lost = change == "lost"
        reaction = self.plan.tracking.on_lost
        if change == "lost" and reaction != "ignore":
            side, limb = self.plan.patient.intact_side, self.scene.limb_word
            why = (
                f"pose source lost ({self.plan.devices.tracking}): no tracked {side} {limb} "
                f"for {self.plan.tracking.lost_after_s:g} s"
            )
            self.request(reaction, why)

    def overlay_lines(self) -> list[str]:
        """What the therapist's overlay shows now."""
        from mirrorvr.render.overlay import KEYS_LINE

        control: object = self.control if self.control is not None else self.remote_status
        state = str(getattr(control, "state", "") or "").removeprefix("State.")
        block = self.scene.progress.label.get_text()
        cue = self.scene.cue.showing.replace("\n", " ")
        p = self.plan
        limb = f"{p.patient.intact_side} {self.scene.limb_word}"
        tracked = (
            "LOST"
            if self.tracking_lost
            else ("tracked" if self._hands[0] is not None else "not tracked")
        )
        pulses = getattr(control, "pulses_delivered", None)
        lines = [
            f"session: {state or 'starting'}   {block}".rstrip(),
            f"cue: {cue or '-'}",
            f"tracking ({p.devices.tracking}): {limb} {tracked}",
            f"midline: {self.midline.method}, x = {float(self.midline.plane.point[0]):+.3f} m",
            f"pulses delivered: {pulses if pulses is not None else 'n/a'}",
            KEYS_LINE,
        ]
        return lines
