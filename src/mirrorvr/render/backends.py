"""Display backends by name, and the presenter factory ``mirrorvr sim/run --display`` uses.

``none`` keeps the headless presenter; ``offscreen`` and ``window`` are built here. ``openxr``
is not a presenter made here: a headset needs its frame loop on the main thread, so the CLI
runs such sessions through :func:`mirrorvr.run.headset.run_headset_session`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from mirrorvr.config.plan import SessionPlan
from mirrorvr.render.display import BACKENDS, DisplayError
from mirrorvr.session.clock import Clock
from mirrorvr.session.presenter import Answering, Presenter

DISPLAY_KINDS = ("none", "offscreen", "window", "openxr")


def check_display(kind: str) -> None:
    """Fail early, before a session folder is made, if ``kind`` cannot work here."""
    if kind not in DISPLAY_KINDS:
        raise DisplayError(
            f"--display: unknown display '{kind}' (choose {', '.join(DISPLAY_KINDS)})"
        )
    if kind in ("none", "openxr"):
        return
    if kind not in BACKENDS:
        raise DisplayError(
            f"--display {kind}: this backend is not available in this build (the OpenXR "
            "headset backend is being added separately); use --display window or offscreen"
        )
    if kind == "window" and not os.environ.get("DISPLAY"):
        raise DisplayError(
            "--display window needs an X display: set DISPLAY, or run under "
            "`xvfb-run -s '-screen 0 1920x1080x24'`, or use --display offscreen"
        )


def presenter_factory(
    kind: str,
    plan: SessionPlan,
    *,
    size: tuple[int, int] = (1280, 720),
    frames_dir: Path | None = None,
    simulated_input: bool = True,
    fps: float = 90.0,
) -> Callable[[Clock, Answering | None], Presenter] | None:
    """A ``LaunchOptions.presenter_factory`` for display ``kind`` (``None`` for ``none``)."""
    check_display(kind)
    if kind in ("none", "openxr"):
        return None  # openxr: run_headset_session brings its own presenter
    make_display = BACKENDS[kind]

    def factory(clock: Clock, patient: Answering | None) -> Presenter:
        """Stepped in the runner's thread on a simulated clock (deterministic); a display
        process in real time (drawing must never delay a pulse)."""
        from mirrorvr.render.display_process import ProcessPresenter
        from mirrorvr.render.presenter import PandaPresenter, PresenterOptions

        answering = patient if simulated_input else None
        if clock.realtime:
            return ProcessPresenter(
                clock, answering, plan, kind, size, frames_dir=frames_dir, fps=fps
            )
        options = PresenterOptions(fps=fps, frames_dir=frames_dir, simulated_input=simulated_input)
        return PandaPresenter(clock, answering, plan, make_display(size), options=options)

    return factory
