"""Starting a plain session from a plan name: check the plan, fit the options, pick the display.

The CLI's ``sim`` and ``run`` parse their options into a :class:`StartRequest` and call
:func:`prepare_session`; the result's ``launch()`` runs the session (the display from
:func:`~mirrorvr.run.display.assemble_display`, stimulation assembled inside
:func:`~mirrorvr.run.session.run_session` by :mod:`mirrorvr.run.stimulation`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mirrorvr.config.loader import load_plan, resolve_plan_path
from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import MirrorVRError, PlanError, Problem
from mirrorvr.run.display import DisplayChoice, Launcher, assemble_display
from mirrorvr.run.session import LaunchOptions, with_seed
from mirrorvr.run.stimulation import run_on
from mirrorvr.session.folder import new_session_folder
from mirrorvr.session.runner import RunResult
from mirrorvr.session.timeline import Timeline, compile_timeline
from mirrorvr.stim import governor


def checked_plan(
    plan_arg: str | None, today: dt.date | None = None, stimulator_kind: str | None = None
) -> tuple[SessionPlan, Timeline, Path]:
    """Load, compile and governor-check a plan; raise PlanError with every problem.

    ``stimulator_kind``: the stimulator the session will use instead of the plan's
    (``--stimulator KIND:PORT``); the check then judges what that kind can do (e.g. paired
    pulses only on a BiStim²).
    """
    path = resolve_plan_path(plan_arg)
    plan = load_plan(path)
    try:
        timeline = compile_timeline(plan)
    except PlanError as e:
        raise PlanError([Problem(f"{path}:{p.where}", p.message) for p in e.problems]) from None
    day = today or (
        plan.stimulation.motor_threshold.measured_on
        if plan.stimulation.motor_threshold
        else dt.date.today()
    )
    problems = governor.check_plan(run_on(plan, stimulator_kind), timeline, today=day)
    if problems:
        raise PlanError([Problem(f"{path}:{p.where}", p.message) for p in problems])
    return plan, timeline, path


def stimulator_option(value: str | None) -> tuple[str | None, str | None]:
    """(kind, port) from ``--stimulator KIND:PORT``, or (None, None) when not given."""
    from mirrorvr.stim.factory import parse_stimulator_option

    return parse_stimulator_option(value) if value else (None, None)


def with_threshold_estimate(plan: SessionPlan, method: str | None) -> SessionPlan:
    """The plan with a [stimulation.threshold_estimate] table for ``method`` (None: as is)."""
    if method is None:
        return plan
    from mirrorvr.config.plan import ThresholdEstimation

    if method not in ("ml-pest", "5-10"):
        raise MirrorVRError(f"--estimate-mt: '{method}' is not a method (use ml-pest or 5-10)")
    cfg = plan.stimulation.threshold_estimate or ThresholdEstimation()
    cfg = cfg.model_copy(update={"method": method})
    stim = plan.stimulation.model_copy(update={"threshold_estimate": cfg})
    return plan.model_copy(update={"stimulation": stim})


def simulated_body(true_mt: float | None) -> Any:
    """The simulated patient's body with this true motor threshold (``None``: the default)."""
    if true_mt is None:
        return None
    from mirrorvr.sim.emg import BodyModel

    if not 1 <= true_mt <= 150:
        raise MirrorVRError(f"--true-mt: {true_mt:g} % MSO is outside 1..150")
    return BodyModel(true_threshold_pct_mso=true_mt)


@dataclass
class StartRequest:
    """A plain session as the CLI asks for it."""

    plan: str | None
    out: Path | None = None
    realtime: bool = False
    seed: int | None = None
    stimulator: str | None = None
    simulated: bool = True
    session_date: dt.date | None = None
    display: DisplayChoice | None = None
    estimate_mt: str | None = None
    true_mt: float | None = None


@dataclass
class PreparedSession:
    """A checked plan, its launch options and how to launch it."""

    plan: SessionPlan
    timeline: Timeline
    folder: Path
    opts: LaunchOptions
    launch_with: Launcher
    extra: dict[str, Any] = field(default_factory=dict)

    def launch(self) -> tuple[RunResult, dict[str, Any]]:
        """Run the session (blocks until it ends)."""
        return self.launch_with(self.plan, self.opts)


def prepare_session(
    req: StartRequest, note: Callable[[str], None] | None = None
) -> PreparedSession:
    """Check the plan and build the launch options of a plain (not store-backed) session."""
    kind, port = stimulator_option(req.stimulator)
    plan, timeline, _ = checked_plan(req.plan, stimulator_kind=kind)
    plan = with_threshold_estimate(with_seed(plan, req.seed), req.estimate_mt)
    if not req.simulated and port is None and plan.devices.stimulator.port:
        port = plan.devices.stimulator.port
    display = assemble_display(plan, req.display, req.simulated, note)
    body = simulated_body(req.true_mt)
    folder = req.out if req.out is not None else new_session_folder(plan.patient.id)
    opts = LaunchOptions(
        out=folder,
        realtime=req.realtime,
        stimulator_port=port,
        stimulator_kind=kind,
        simulated=req.simulated,
        session_date=req.session_date,
        body=body,
    )
    opts.presenter_factory = display.presenter_factory
    return PreparedSession(plan, timeline, folder, opts, display.launch)
