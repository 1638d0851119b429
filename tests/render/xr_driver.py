"""Runs a headset session in its own process and scripts the simulated runtime from the
session's own events (so the script follows the session, however loaded the machine is).

``python -m tests.render.xr_driver MODE PLAN OUT`` (cwd: the checkout; the simulated runtime
takes live commands through ``XRSIM_CONTROL_DIR``, since it runs in the headset's process):

``events``
    the first cue takes the headset's focus away, the pause brings it back, the resume loses
    tracking, that emergency stop restores tracking and presses the right controller's menu
    button, and the second emergency stop makes the runtime end the session (simulated
    patient, as in ``mirrorvr sim``).
``unattended``
    as ``events`` up to the first cue, which loses tracking; no one can resume the emergency
    stop, so the session must end by itself, disarmed (it used to wait forever).
``answers``
    a real (not simulated) session: when the rating question appears the patient presses the
    right controller's trigger twice (slider +2) and then squeezes (confirm).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from mirrorvr.config.loader import load_plan
from mirrorvr.run.headset import run_headset_session
from mirrorvr.run.session import LaunchOptions
from mirrorvr.session.events import Event
from mirrorvr.sim.xr_runtime import send_commands


def main(mode: str, plan_path: str, out: str) -> int:
    """Run the scripted session; exit code 0 if it ran to any end without crashing."""
    control = Path(os.environ["XRSIM_CONTROL_DIR"])
    done: set[str] = set()

    def once(name: str, *commands: str) -> None:
        if name not in done:
            done.add(name)
            send_commands(control, *commands)

    def events_script(e: Event) -> None:
        if e.kind == "cue":
            once("unfocus", "unfocus")
        elif e.kind == "state" and e["to"] == "paused" and "focus lost" in e["reason"]:
            once("focus", "focus")
        elif e.kind == "state" and e["to"] == "running" and e["reason"] == "resumed":
            once("tracking", "tracking_lost")
        elif e.kind == "estop" and "tracking" in e["cause"]:
            once("button", "tracking_ok", "press right menu")
        elif e.kind == "estop" and "menu" in e["cause"]:
            once("stop", "release right menu", "stop")

    def unattended_script(e: Event) -> None:
        if e.kind == "cue":
            once("tracking", "tracking_lost")

    def patient_presses() -> None:
        for button in ("select", "select", "squeeze"):
            # held for many frames, so even a slow, loaded machine's loop sees each press
            send_commands(control, f"press right {button}")
            time.sleep(0.5)
            send_commands(control, f"release right {button}")
            time.sleep(0.5)

    def answers_script(e: Event) -> None:
        if e.kind == "rating_prompt" and "answer" not in done:
            done.add("answer")
            threading.Thread(target=patient_presses, daemon=True).start()

    plan = load_plan(Path(plan_path))
    real = mode == "answers"
    scripts = {"events": events_script, "unattended": unattended_script}
    opts = LaunchOptions(
        out=Path(out),
        realtime=True,
        simulated=not real,
        sinks=[answers_script if real else scripts[mode]],
        # ``events`` stands for a therapist at the console: an emergency stop waits for them
        operator=True if mode == "events" else None,
    )
    result, _ = run_headset_session(plan, opts)
    print(result.state, result.reason)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
