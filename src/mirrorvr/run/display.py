"""Display assembly: the one place a session's display is chosen and built.

:func:`assemble_display` turns the display choice (``--display/--frames/--size``, else the
plan's ``devices.display``) into what :func:`~mirrorvr.run.session.run_session` needs: a
presenter factory (``None``: headless) and how to launch the session (an OpenXR headset
session runs its own frame loop, so it launches through :mod:`mirrorvr.run.headset`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import MirrorVRError
from mirrorvr.run.session import LaunchOptions, run_session
from mirrorvr.session.runner import RunResult

Launcher = Callable[[SessionPlan, LaunchOptions], tuple[RunResult, dict[str, Any]]]


@dataclass
class DisplayChoice:
    """The --display/--frames/--size options together."""

    kind: str | None = None
    frames: Path | None = None
    size: str = "1280x720"


def display_kind(plan: SessionPlan, choice: DisplayChoice | None) -> str:
    """The display a session uses: ``--display``, else the plan's ``devices.display``."""
    return (choice.kind if choice else None) or str(plan.devices.display)


def presenter_factory_for(plan: SessionPlan, choice: DisplayChoice | None, simulated: bool) -> Any:
    """``LaunchOptions.presenter_factory`` for the chosen display (``None``: headless)."""
    kind = display_kind(plan, choice)
    if choice is not None and choice.frames is not None and kind == "none":
        raise MirrorVRError("--frames needs a display: add --display offscreen (or window)")
    if kind == "none":
        return None
    from mirrorvr.render.backends import presenter_factory
    from mirrorvr.render.display import parse_size

    assert choice is not None
    return presenter_factory(
        kind,
        plan,
        size=parse_size(choice.size),
        frames_dir=choice.frames,
        simulated_input=simulated,
    )


def launcher(display: str, simulated: bool, note: Callable[[str], None] | None = None) -> Launcher:
    """How to launch a session: in the headset (``openxr``) or through ``run_session``."""
    if display != "openxr":
        return run_session

    def launch(plan: SessionPlan, opts: LaunchOptions) -> tuple[RunResult, dict[str, Any]]:
        from mirrorvr.run.headset import launch_openxr

        return launch_openxr(plan, opts, simulated, note)

    return launch


@dataclass(frozen=True)
class DisplaySetup:
    """A session's display: the presenter factory and how the session is launched."""

    kind: str
    presenter_factory: Any
    launch: Launcher


def assemble_display(
    plan: SessionPlan,
    choice: DisplayChoice | None,
    simulated: bool,
    note: Callable[[str], None] | None = None,
) -> DisplaySetup:
    """Check and build the display of a session (errors come before any folder is made)."""
    return DisplaySetup(
        display_kind(plan, choice),
        presenter_factory_for(plan, choice, simulated),
        launcher(display_kind(plan, choice), simulated, note),
    )
