"""How long a device fault takes to become a disarmed, paused session under
``stimulation.on_device_fault = "pause"``, measured with the real parts.

Each row: the family's emulator on a pty with one fault injected at the 2nd frame after arming,
the real driver connected, 50 % set and armed (or disarmed again: idle), and the real
:class:`~mirrorvr.stim.executor.StimulationExecutor` whose fault callback does what the session
runner does for a pause (:meth:`~mirrorvr.stim.executor.StimulationExecutor.pause_for_fault`).
Times run on the LSL clock from the emulator injecting the fault to the ``device`` ``fault``
event and to the end of the pause's disarm (``device`` ``fault_disarm``: its ``t`` is the call,
``disarm_s`` how long the disarm took to have an outcome, as the device confirmed it). ``scripts/fault_matrix.py`` writes the table into docs/fault-matrix.md.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from mirrorvr.config.loader import plan_from_dict
from mirrorvr.errors import DeviceError
from mirrorvr.session.clock import RealClock
from mirrorvr.session.eventlog import EventLog, read_events
from mirrorvr.session.timeline import compile_timeline
from mirrorvr.sim.emulate import EmulatorThread
from mirrorvr.sim.fault_matrix import FAMILIES, SUPERVISION_PERIOD_S, make_driver
from mirrorvr.sim.faults import Fault
from mirrorvr.stim.executor import StimulationExecutor

#: the faults a cable or a unit gives between trains that a pause is meant for
PAUSE_FAULTS = ("disconnect", "error-bits", "drop")

_DAY = "2026-01-10"
#: the smallest plan an executor needs (its safety profile); no train of it is run here
_PLAN = {
    "patient": {"id": "FAULT-MATRIX", "amputation_side": "left"},
    "blocks": [{"kind": "rest", "duration_s": 5.0}],
    "stimulation": {
        "mode": "priming",
        "intensity_pct_rmt": 100,
        "gap_s": 1.0,
        "on_device_fault": "pause",
        "motor_threshold": {"rmt_pct_mso": 50, "measured_on": _DAY},
        "protocol": {
            "pulse_repetition_interval_s": 2.0,
            "levels": [{"duration_s": 2.0, "repetition_interval_s": 2.0}],
        },
    },
    "screening": {"completed_on": _DAY, "completed_by": "fault matrix"},
}


@dataclass
class PauseReaction:
    """One row: when the session heard of the fault and when the pause's disarm was logged."""

    family: str
    fault: str
    armed: bool
    heard_s: float | None  # fault injected → ``device`` ``fault`` event; None: never
    disarm_done_s: float | None  # fault injected → the pause's disarm outcome known
    disarm: str  # the disarm outcome the log records: confirmed, failed or unknown
    message: str


def pause_reaction(
    family: str, kind: str, folder: Path, *, armed: bool = True, wait_s: float = 8.0
) -> PauseReaction:
    """Inject ``kind`` between trains and time the pause reaction (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{family}-{kind}-{'armed' if armed else 'idle'}-pause"
    link, emu_log, events = (folder / f"{stem}{ext}" for ext in (".pty", ".jsonl", ".events"))
    emu_log.unlink(missing_ok=True)
    events.unlink(missing_ok=True)
    plan = plan_from_dict(_PLAN)
    paused = threading.Event()
    with (
        EmulatorThread(
            family, link, emu_log, faults=[Fault(kind, 2)], line_delay=False, timing="fast"
        ),
        EventLog(events) as log,
    ):
        drv = make_driver(family, str(link))
        ex = StimulationExecutor(
            stimulator=drv,
            log=log,
            clock=RealClock(),
            plan=plan,
            timeline=compile_timeline(plan),
            budget=0,
        )

        def on_fault(cause: str) -> None:
            # what SessionRunner.device_fault does for a plan that pauses (then it pauses)
            ex.pause_for_fault(cause)
            paused.set()

        ex.on_fault = on_fault
        try:
            drv.connect()
            drv.set_intensity(50)
            drv.arm()
            if not armed:
                drv.disarm()
            paused.wait(wait_s)
        except DeviceError:
            pass
        finally:
            drv.fault_listener = None
            drv.close()
    recs = [json.loads(x) for x in emu_log.read_text().splitlines() if x.strip()]
    t_fault = next((float(r["t"]) for r in recs if "fault" in r), None)
    evs = read_events(events).events
    heard = next((e for e in evs if e.kind == "device" and e.get("what") == "fault"), None)
    disarm = next((e for e in evs if e.kind == "device" and e.get("what") == "fault_disarm"), None)
    if t_fault is None or heard is None:
        return PauseReaction(family, kind, armed, None, None, "", "")
    return PauseReaction(
        family,
        kind,
        armed,
        heard.t - t_fault,
        (disarm.t + float(disarm.get("disarm_s", 0.0)) - t_fault) if disarm is not None else None,
        str(disarm.get("disarm", "")) if disarm is not None else "",
        str(heard.get("error", "")),
    )


def run_pause_reactions(folder: Path) -> list[PauseReaction]:
    """Every family × the faults a pause is for, armed; and a pulled cable while idle."""
    out = []
    for fam in FAMILIES:
        for kind in PAUSE_FAULTS:
            out.append(pause_reaction(fam, kind, folder / fam))
        out.append(pause_reaction(fam, "disconnect", folder / fam, armed=False))
    return out


def pause_markdown(rows: list[PauseReaction], folder_note: str = "") -> str:
    """The pause-variant section of docs/fault-matrix.md."""
    lines = [
        '## Device fault with `on_device_fault = "pause"`',
        "",
        "Each row: the family's emulator with one fault at the 2nd frame after arming",
        "(`--fault KIND@2`) while nothing is triggered, the real driver and the real",
        "stimulation executor reacting as the session runner does for a plan that pauses",
        "(disarm at once, outcome logged, then the session pauses). *heard after*: fault",
        "injected → `device` `fault` event; *disarmed after*: → the pause's disarm has its",
        "outcome (`device` `fault_disarm`: `t` + `disarm_s`); *disarm*: the outcome as the",
        "device confirmed it (a pulled cable cannot confirm: `failed`, the unit's own watchdog",
        "disarms it). Supervision periods: "
        + "; ".join(f"{k}: {v}" for k, v in SUPERVISION_PERIOD_S.items())
        + ". The session-level behaviour (no pulse while paused, reconnect, resume, re-arm,",
        "a device that never comes back) is tested in `tests/session/test_device_fault_pause.py`.",
        "",
        "| family | fault | state | heard after | disarmed after | disarm | what the session heard |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        msg = r.message
        if folder_note:
            msg = re.sub(re.escape(folder_note) + r"/[^\s:)]+", "PORT", msg)
        msg = msg.replace("|", "\\|")[:120]
        heard = f"{r.heard_s:.3f} s" if r.heard_s is not None else "—"
        logged = f"{r.disarm_done_s:.3f} s" if r.disarm_done_s is not None else "—"
        state = "armed" if r.armed else "idle"
        lines.append(
            f"| {r.family} | `{r.fault}` | {state} | {heard} | {logged} | "
            f"{r.disarm or '—'} | {msg or '—'} |"
        )
    return "\n".join(lines) + "\n"
