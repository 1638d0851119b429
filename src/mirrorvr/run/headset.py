"""A session in an OpenXR headset: the headset presenter and its safety policy around
:func:`~mirrorvr.run.session.run_session`."""

from __future__ import annotations

from typing import Any

from mirrorvr.config.plan import SessionPlan
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
    safety = HeadsetSafety(policy)
    user_on_runner = opts.on_runner

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

