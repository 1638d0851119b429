"""A session in an OpenXR headset: the headset presenter and its safety policy around
:func:`~mirrorvr.run.session.run_session`."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import MirrorVRError
from mirrorvr.render.openxr_presenter import (
    HeadsetPolicy,
    HeadsetPresenter,
    HeadsetSafety,
    check_runtime,
)
from mirrorvr.run.session import run_session
from mirrorvr.session.runner import SessionRunner


def run_headset_session(
    plan: SessionPlan, opts: Any, *, policy: HeadsetPolicy | None = None
) -> tuple[Any, dict[str, Any]]:
    """Run ``plan`` with ``opts`` (:class:`~mirrorvr.run.session.LaunchOptions`) in the
    headset of the active OpenXR runtime (``XR_RUNTIME_JSON``)."""
    check_runtime()
    safety = HeadsetSafety(policy or HeadsetPolicy(on_pose_lost=plan.tracking.on_lost))
    user_on_runner = opts.on_runner
    if opts.operator is None:
        # our hook below is not an operator: a pause the headset cannot lift itself (lost
        # tracking, a device fault) waits only if someone else can resume it
        opts.operator = user_on_runner is not None

    def on_runner(runner: SessionRunner) -> None:
        safety.attach_runner(runner)
        if user_on_runner is not None:
            user_on_runner(runner)

    opts.on_runner = on_runner
    opts.presenter_factory = lambda clock, patient: HeadsetPresenter(
        clock, patient, plan, safety, simulated=opts.simulated
    )
    result: tuple[Any, dict[str, Any]] = run_session(plan, opts)
    return result


def launch_openxr(
    plan: SessionPlan,
    opts: Any,
    simulated: bool,
    note: Callable[[str], None] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Run the session in an OpenXR headset; in simulation, in mirrorvr's simulated headset
    (built on first use) unless XR_RUNTIME_JSON already names a runtime."""
    from mirrorvr.sim.xvfb import Xvfb

    with ExitStack() as stack:
        if simulated and not os.environ.get("XR_RUNTIME_JSON"):
            from mirrorvr.sim.xr_runtime import build_runtime, simulated_headset_for_plan

            headset = simulated_headset_for_plan(plan, opts.out, build_runtime())
            os.environ.update(headset.env())
            if note is not None:
                note(f"simulated headset: {headset.manifest}")
        if not os.environ.get("DISPLAY"):
            if not simulated:
                raise MirrorVRError(
                    "the OpenXR display renders through GLX: run mirrorvr in your desktop "
                    "session (DISPLAY is not set)"
                )
            os.environ["DISPLAY"] = stack.enter_context(Xvfb()).display
        return run_headset_session(plan, opts)
