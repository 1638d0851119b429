"""Session summary: figures computed from the event log alone (pure)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from mirrorvr.session.events import Event


def delivered_pulses(events: list[Event]) -> tuple[int, int]:
    """(certainly delivered, possibly delivered) pulses according to the log.

    A train whose intent was logged but whose outcome was not (a crash mid-train) counts in
    full as *possibly* delivered: resume budgets against that number, never the lower one.
    """
    intents: dict[tuple[int, int], int] = {}
    outcomes: dict[tuple[int, int], int] = {}
    for e in events:
        if e.kind == "train_intent":
            intents[(e["step"], e["train"])] = int(e["n_pulses"])
        elif e.kind == "train_outcome":
            outcomes[(e["step"], e["train"])] = int(e["delivered"])
    certain = sum(outcomes.values())
    possible = certain + sum(n for k, n in intents.items() if k not in outcomes)
    return certain, possible


#: how a failed or unconfirmed disarm is shown (CLI, console): loudly, never as "disarmed"
DISARM_WARNING = "check the stimulator: disarm not confirmed"


#: events that carry a disarm outcome (``device`` only for a device-fault pause's disarm)
DISARM_KINDS = ("estop", "session_end", "device")


def disarm_warnings(events: list[Event]) -> list[str]:
    """Every e-stop, device-fault pause or session end whose disarm the device did not
    confirm, as a warning."""
    out = []
    for e in events:
        if e.kind in DISARM_KINDS and e.get("disarm") in ("failed", "unknown"):
            step = f" at '{e['disarm_step']}'" if e.get("disarm_step") else ""
            why = f": {e['disarm_detail']}" if e.get("disarm_detail") else ""
            out.append(f"{DISARM_WARNING} ({e.kind} at {e.t:.2f} s: {e['disarm']}{step}{why})")
    return out


def device_fault_reactions(events: list[Event]) -> list[dict[str, Any]]:
    """What the session did about each device fault: ``pause`` (the plan's
    ``stimulation.on_device_fault``) or ``estop``, when, why, and the disarm's outcome."""
    out: list[dict[str, Any]] = []
    faulted = False
    for e in events:
        if e.kind == "device" and e.get("what") in ("fault", "stim_process_died"):
            faulted = True
        elif e.kind == "device" and e.get("what") == "fault_disarm":
            out.append(_reaction("pause", e))
            faulted = False
        elif e.kind == "estop" and faulted:
            out.append(_reaction("estop", e))
            faulted = False
        elif e.kind == "device" and e.get("what") == "reconnected" and out:
            out[-1]["reconnected_t"] = e.t
    return out


def _reaction(action: str, e: Event) -> dict[str, Any]:
    return {
        "action": action,
        "t": e.t,
        "cause": str(e.get("cause", "")),
        "disarm": e.get("disarm", "unknown"),
    }


def summarize(events: list[Event], planned_pulses: int) -> dict[str, Any]:
    """Totals a therapist or researcher reads first."""
    kinds = Counter(e.kind for e in events)
    certain, possible = delivered_pulses(events)
    ratings = {e["timepoint"]: e["value"] for e in events if e.kind == "rating"}
    lat = [e for e in events if e.kind == "laterality_response"]
    rts = sorted(e["rt_s"] for e in lat if e.get("rt_s") is not None)
    end = next((e for e in reversed(events) if e.kind == "session_end"), None)
    pulses = [e for e in events if e.kind == "pulse"]
    errors = sorted(abs(e.t - e["planned"]) for e in pulses)
    pre, post = ratings.get("pre"), ratings.get("post")
    return {
        "state": end["state"] if end else "incomplete",
        "reason": end["reason"] if end else "no session_end event (crashed or still running)",
        "events": len(events),
        "duration_s": (events[-1].t - events[0].t) if events else 0.0,
        "pulses_planned": planned_pulses,
        "pulses_delivered": certain,
        "pulses_possibly_delivered": possible,
        "pulses_missed": kinds["pulse_missed"],
        "trains_refused": kinds["stim_refused"],
        "estops": kinds["estop"],
        "cues": kinds["cue"],
        "ratings": ratings,
        "pain_change": (post - pre) if isinstance(pre, int) and isinstance(post, int) else None,
        "laterality": {
            "trials": len(lat),
            "correct": sum(1 for e in lat if e.get("correct")),
            "median_rt_s": rts[len(rts) // 2] if rts else None,
        },
        "pulse_timing_error_s": {
            "median": errors[len(errors) // 2] if errors else None,
            "max": errors[-1] if errors else None,
        },
        "resumes": kinds["resume"],
        "motor_threshold": _motor_threshold(events),
        "disarm_warnings": disarm_warnings(events),
        "device_faults": device_fault_reactions(events),
        "phantom_motor_execution": _pme(events),
    }


def _pme(events: list[Event]) -> dict[str, Any] | None:
    """Phantom motor execution at a glance: calibration accuracy and target tasks."""
    models = [e for e in events if e.kind == "pme_model" and not e.get("reloaded")]
    tasks = [e for e in events if e.kind == "pme_task"]
    if not models and not tasks:
        return None
    done = [e for e in tasks if e.get("completed")]
    times = sorted(float(e["completion_s"]) for e in done if e.get("completion_s") is not None)
    return {
        "cv_accuracy": [e.get("cv_accuracy") for e in models],
        "tasks": len(tasks),
        "completed": len(done),
        "median_completion_s": round(times[len(times) // 2], 3) if times else None,
        "lost_stream": sum(1 for e in events if e.kind == "pme_stream" and e["what"] == "lost"),
    }


def _motor_threshold(events: list[Event]) -> dict[str, Any] | None:
    """The threshold measured in this session, if one was (see docs/motor-threshold.md)."""
    mt = next((e for e in reversed(events) if e.kind == "motor_threshold"), None)
    res = next((e for e in reversed(events) if e.kind == "threshold_result"), None)
    if mt is None and res is None:
        return None
    out: dict[str, Any] = {}
    if res is not None:
        out.update(
            method=res["method"],
            estimate_pct_mso=res["mt_pct_mso"],
            pulses=res["pulses"],
            rejected=res["rejected"],
            status=res["status"],
            stop_reason=res["stop_reason"],
        )
    if mt is not None:
        out["rmt_pct_mso"] = mt["rmt_pct_mso"]
    return out
