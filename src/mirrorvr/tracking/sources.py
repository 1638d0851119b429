"""The plan's pose source: one factory for every display (window, offscreen, headset).

``devices.tracking`` names the source and ``[tracking]`` configures it (docs/scene.md):
``synthetic`` → :class:`~mirrorvr.tracking.synthetic.SyntheticSource`, ``lsl`` →
:class:`~mirrorvr.tracking.lsl_source.LSLPoseSource`, ``replay`` →
:class:`~mirrorvr.tracking.replay.ReplaySource`. ``openxr`` is the headset's own tracking: a
window or offscreen display has none, so it is refused there with what to use instead.
"""

from __future__ import annotations

from pathlib import Path

from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import MirrorVRError
from mirrorvr.tracking.lsl_source import LSLPoseSource, PoseLayout
from mirrorvr.tracking.replay import ReplaySource
from mirrorvr.tracking.source import PoseSource
from mirrorvr.tracking.synthetic import SyntheticSource


class SourceError(MirrorVRError):
    """The plan's pose source cannot be used here (says why and what to do)."""


def layout_from_plan(plan: SessionPlan) -> PoseLayout:
    """The LSL channel layout the plan describes."""
    t = plan.tracking
    return PoseLayout(
        kind=t.lsl_layout,
        limb=plan.patient.limb,
        side=t.lsl_side or plan.patient.intact_side,
        quat_order=t.lsl_quat_order,
        axes=t.lsl_axes,
        units=t.lsl_units,
    )


def open_source(plan: SessionPlan, *, display: str = "offscreen") -> PoseSource:
    """The pose source ``plan`` names, opened (an LSL stream is resolved here)."""
    kind = plan.devices.tracking
    if kind == "synthetic":
        return SyntheticSource(
            plan.patient.intact_side, seed=plan.session.seed, limb=plan.patient.limb
        )
    if kind == "lsl":
        return LSLPoseSource(
            plan.tracking.lsl_stream,
            layout=layout_from_plan(plan),
            timeout=plan.tracking.lsl_timeout_s,
        )
    if kind == "replay":
        assert plan.tracking.replay_file is not None  # the plan model checks it
        return ReplaySource(Path(plan.tracking.replay_file), loop=plan.tracking.replay_loop)
    raise SourceError(
        f'devices.tracking = "{kind}" needs a headset: run with --display openxr, or use '
        f'"lsl", "replay" or "synthetic" with --display {display}'
    )
