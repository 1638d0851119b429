"""The phantom motor execution engine: calibrate, fit, then let decoded EMG move the phantom.

:class:`PmeEngine` is described in :mod:`mirrorvr.session.pme` (the overview); its
inputs are in :mod:`mirrorvr.session.pme_feed` and the presenter that runs it while the
runner waits in :mod:`mirrorvr.session.pme_presenter`.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from mirrorvr.config.plan import PME_MOTION_CODES, PhantomMotorExecutionBlock, SessionPlan
from mirrorvr.decoding.decoder import (
    Decoder,
    TrainedDecoder,
    WindowStream,
    train_decoder,
    trained_from_dict,
)
from mirrorvr.decoding.evaluate import cross_validate
from mirrorvr.session.clock import Clock
from mirrorvr.session.eventlog import EventLog
from mirrorvr.session.folder import SessionFolder
from mirrorvr.session.pme_feed import EmgFeed, FeedFactory, PmePatient, _Calibration, settings_of
from mirrorvr.session.timeline import Step
from mirrorvr.tracking.phantom import (
    PhantomState,
    TaskResult,
    TaskScorer,
    TaskTarget,
    advance,
    phantom_params,
    pursue,
    step_target,
    target_posture,
)
from mirrorvr.tracking.skeleton import HandParams

#: the simulated patient reacts to what the phantom does after this long
PATIENT_REACTION_S = 0.25


class PmeEngine:
    """Runs the PME blocks of one session (see the module docstring)."""

    def __init__(
        self,
        plan: SessionPlan,
        clock: Clock,
        feeds: FeedFactory,
        *,
        folder: SessionFolder | None = None,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.plan = plan
        self.clock = clock
        self.feeds = feeds
        self.folder = folder
        self.on_lost = on_lost
        self.log: EventLog | None = None
        self.block: int | None = None
        self.spec: PhantomMotorExecutionBlock | None = None
        self.feed: EmgFeed | None = None
        self.patient: PmePatient | None = None
        self.windows: WindowStream | None = None
        self.calibration = _Calibration()
        self.trained: TrainedDecoder | None = None
        self.decoder: Decoder | None = None
        self.state = PhantomState()
        self.history: deque[tuple[float, PhantomState]] = deque(maxlen=4000)
        self.target: TaskTarget | None = None
        self.task: dict[str, Any] | None = None
        self.scorer: TaskScorer | None = None
        self.phase = ""
        self.lost: str | None = None
        self.decisions = 0
        self._t = 0.0  # stream time processed up to
        self._next_lost_call = -np.inf

    # ---- lifecycle -------------------------------------------------------------------------
    def attach(self, log: EventLog) -> None:
        """The session's event log (set once it is open)."""
        self.log = log

    def _append(self, kind: str, t: float, *, durable: bool = False, **data: Any) -> None:
        if self.log is not None:
            self.log.append(kind, t, durable=durable, **data)

    def close(self) -> None:
        """End any block under way and release its feed."""
        self._end_block()

    def _start_block(self, index: int, spec: PhantomMotorExecutionBlock, t: float) -> None:
        self._end_block()
        self.block, self.spec = index, spec
        self.feed, self.patient = self.feeds(index, spec)
        self.windows = WindowStream(self.feed.fs, self.feed.channels, settings_of(spec))
        self.calibration = _Calibration()
        self.trained = self.decoder = None
        self.state = PhantomState()
        self.history.clear()
        self.history.append((t, self.state))
        self._t = t
        self._append(
            "pme_start",
            t,
            block=index,
            classes=spec.classes,
            channels=self.feed.channels,
            fs=self.feed.fs,
            stream=spec.emg_stream,
        )

    def _end_block(self) -> None:
        if self.block is None:
            return
        self._finish_task(self.clock.now())
        if self.feed is not None:
            self.feed.close()
        self.block = self.spec = self.feed = self.patient = None
        self.windows = self.decoder = None
        self.phase = ""

    # ---- steps -----------------------------------------------------------------------------
    def on_present(self, step: Step, onset: float) -> None:
        """The runner presented ``step`` at ``onset``."""
        d = step.data
        if d.get("exercise") != "pme" or step.block is None:
            self._end_block()
            return
        spec = self.plan.blocks[step.block]
        assert isinstance(spec, PhantomMotorExecutionBlock)
        if self.block != step.block:
            self._start_block(step.block, spec, onset)
            if d.get("phase") == "task":  # a resumed session enters the block after its fit
                self._reload_model(spec, onset)
        self.advance(onset)
        phase = str(d.get("phase", ""))
        self.phase = phase
        if phase == "calibration":
            if step.kind in ("window", "rest"):
                label = str(d["movement"]) if step.kind == "window" else "rest"
                group = len(self.calibration.spans)
                span = (label, onset + spec.settle_s, onset + step.duration, group)
                self.calibration.spans.append(span)
            if step.kind == "window" and self.patient is not None:
                self.patient.cued(str(d["movement"]), onset, step.duration, spec.classes)
        elif phase == "fit":
            self._fit(spec, onset)
        elif phase == "task":
            self._finish_task(onset)
            if step.kind == "cue":
                self._reset_phantom(onset)
                if self.patient is not None:
                    self.patient.act("rest", onset)
            if step.kind == "window":
                self.target = step_target(d, step.duration)
                assert self.target is not None
                self.task = {
                    "task": int(d["task"]),
                    "movement": str(d["movement"]),
                    "target_value": float(d["target_value"]),
                }
                self.scorer = TaskScorer(self.target, onset)

    def _reload_model(self, spec: PhantomMotorExecutionBlock, t: float) -> None:
        """Load the decoder this block fitted before a crash (resume), if it was saved."""
        assert self.feed is not None and self.block is not None
        path = self.folder.pme_model(self.block) if self.folder is not None else None
        if path is None or not path.exists():
            self._append(
                "pme_model",
                t,
                durable=True,
                block=self.block,
                ok=False,
                error="resumed after the fit, and no fitted model was saved: no decoding",
                windows={},
            )
            return
        self.trained = trained_from_dict(json.loads(path.read_text(encoding="utf-8")))
        if self.trained.settings != settings_of(spec):
            self.trained = None  # the plan changed since: the saved model does not fit it
            return
        self.decoder = Decoder(self.trained, self.feed.fs, self.feed.channels)
        self._append(
            "pme_model",
            t,
            durable=True,
            block=self.block,
            ok=True,
            reloaded=True,
            classes=list(self.trained.model.classes),
            model_file=path.name,
        )

    def _reset_phantom(self, t: float) -> None:
        self.state = PhantomState()
        self.history.append((t, self.state))

    def _finish_task(self, t: float) -> None:
        """The task's window is over: log it if it was not decided yet, and forget it."""
        if self.scorer is None or self.task is None:
            return
        if self.scorer.result is None:
            self._log_task(self.scorer.finish(), t)
        self.scorer = self.task = self.target = None
        if self.patient is not None:
            self.patient.act("rest", t)

    def _log_task(self, r: TaskResult, t: float) -> None:
        assert self.task is not None
        self._append(
            "pme_task",
            t,
            durable=True,
            block=self.block,
            **self.task,
            completed=r.completed,
            completion_s=r.completion_s,
            time_in_target_s=round(r.time_in_target_s, 4),
        )

    def _fit(self, spec: PhantomMotorExecutionBlock, t: float) -> None:
        assert self.windows is not None and self.feed is not None
        settings = settings_of(spec)
        cal = self.calibration
        width = len(settings.features) * self.feed.channels
        rows = cal.rows(width)
        counts = {c: cal.labels.count(c) for c in spec.classes}
        try:
            self.trained = train_decoder(rows, cal.labels, settings, spec.classes)
        except ValueError as e:
            self._append(
                "pme_model",
                t,
                durable=True,
                block=self.block,
                ok=False,
                error=str(e),
                windows=counts,
            )
            return
        cv = cross_validate(
            rows.x, cal.labels, cal.groups, shrinkage=settings.shrinkage, classes=spec.classes
        )
        self.decoder = Decoder(self.trained, self.feed.fs, self.feed.channels)
        files: dict[str, str] = {}
        if self.folder is not None and self.block is not None:
            self.folder.pme_model(self.block).write_text(
                json.dumps(self.trained.to_dict(), indent=1) + "\n", encoding="utf-8"
            )
            np.savez_compressed(
                self.folder.pme_calibration(self.block),
                x=rows.x,
                activity=rows.activity,
                labels=np.asarray(cal.labels),
                groups=np.asarray(cal.groups),
            )
            files = {
                "model_file": self.folder.pme_model(self.block).name,
                "calibration_file": self.folder.pme_calibration(self.block).name,
            }
        self._append(
            "pme_model",
            t,
            durable=True,
            block=self.block,
            ok=True,
            classes=list(spec.classes),
            windows=counts,
            cv_accuracy=round(cv.accuracy, 4),
            confusion=cv.confusion.tolist(),
            folds=cv.folds,
            rest_threshold_uv=round(self.trained.levels.threshold, 4),
            window_s=settings.window_s,
            increment_s=settings.increment_s,
            features=list(settings.features),
            **files,
        )

    # ---- the stream --------------------------------------------------------------------------
    def advance(self, until: float) -> None:
        """Process EMG up to ``until`` (simulated clock: in steps of one window increment, so
        the simulated patient can react to what the phantom does)."""
        if self.feed is None or self.windows is None:
            return
        problem = self.feed.problem()
        if problem is not None:
            now = self.clock.now()
            if self.lost is None:
                self.lost = problem
                self._append("pme_stream", now, durable=True, what="lost", problem=problem)
                # no window may span the gap, and the vote must not carry stale decisions
                if self.decoder is not None:
                    self.decoder.reset()
                self.windows.reset()
            # still lost (again after a resume): ask for the pause again, once a second
            if self.on_lost is not None and now >= self._next_lost_call:
                self._next_lost_call = now + 1.0
                self.on_lost(f"EMG for phantom motor execution: {problem}")
            return
        if self.lost is not None:
            now = self.clock.now()
            self._append("pme_stream", now, durable=True, what="restored", problem=self.lost)
            self.lost = None
            # start afresh from now: what arrived while the session was paused is not replayed
            self.feed.poll(now)
            self.windows.reset()
            if self.decoder is not None:
                self.decoder.reset()
            self._t = now
        step = self.windows.settings.increment_s
        while True:
            t = until if self.clock.realtime else min(until, self._t + step)
            self._process(t)
            self._t = t
            if t >= until:
                break

    def _process(self, until: float) -> None:
        assert self.feed is not None and self.windows is not None
        x, ts = self.feed.poll(until)
        if not len(ts):
            return
        rows = self.windows.push(x, ts)
        if self.phase == "calibration":
            self.calibration.take(rows)
        if self.decoder is None or not len(rows):
            return
        inc = self.windows.settings.increment_s
        for d in self.decoder.decide(rows):
            self.state = advance(self.state, d.motion, d.speed, inc)
            self.history.append((d.t, self.state))
            self.decisions += 1
            decoded_at = self.clock.now() if self.clock.realtime else d.t
            self._append(
                "pme",
                d.t,
                motion=d.motion,
                code=PME_MOTION_CODES.get(d.motion, -1),
                confidence=round(d.confidence, 4),
                speed=round(d.speed, 4),
                raw=d.raw,
                activity_uv=round(d.activity, 3),
                hand=round(self.state.hand, 4),
                wrist=round(self.state.wrist, 4),
                rotation=round(self.state.rotation, 4),
                latency_s=round(decoded_at - d.t, 6),
            )
            if self.scorer is None or self.scorer.result is not None:
                continue
            result = self.scorer.update(d.t, self.state)
            done = result is not None
            if result is not None:  # decided now: completed (held long enough) or out of time
                self._log_task(result, d.t)
            if self.patient is None or self.target is None:
                continue
            # the simulated patient steers by what the phantom shows, a reaction time later
            trained = self.trained.model.classes if self.trained is not None else ()
            want = "rest" if done else pursue(self.state, self.target, available=trained)
            # effort graded by the distance still to go (slower near the target)
            error = abs(self.target.value - self.state.get(self.target.dof))
            effort = min(0.9, max(0.3, 1.5 * error))
            self.patient.act(want, d.t + PATIENT_REACTION_S, effort)

    # ---- what the scene shows ----------------------------------------------------------------
    def phantom_at(self, t: float) -> HandParams | None:
        """The phantom's posture at display time ``t`` (``None`` outside PME blocks)."""
        if self.block is None:
            return None
        state = self.history[0][1] if self.history else self.state
        for ht, hs in reversed(self.history):
            if ht <= t:
                state = hs
                break
        return phantom_params(state)

    def target_params(self) -> HandParams | None:
        """The posture the current task asks for (``None`` when no task is shown)."""
        return None if self.target is None else target_posture(self.target)
