"""Clinical and task outcomes of one recording: pain, responder status, laterality, dose,
deviations, MEPs. Pure functions over a :class:`~mirrorvr.analysis.recording.Recording`.

"Responder" is never stored: it is derived from the raw pre/post ratings by a named, versioned
:class:`ResponderRule` (clinical-workflow.md §4), and the rule's id is reported with the result.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from mirrorvr.analysis.embodiment import embodiment_outcomes
from mirrorvr.analysis.pme import pme_outcomes
from mirrorvr.analysis.recording import Recording, Signal
from mirrorvr.errors import MirrorVRError


@dataclass(frozen=True)
class ResponderRule:
    """Responder if the pain change meets every set criterion (negative = less pain)."""

    name: str
    version: int
    description: str
    max_pct_change: float | None = None  # responder if % change <= this (e.g. -30)
    max_change: float | None = None  # responder if point change <= this (e.g. -2)

    @property
    def id(self) -> str:
        """``name@version``, reported with every responder figure."""
        return f"{self.name}@{self.version}"

    def judge(self, pre: float | None, post: float | None) -> bool | None:
        """True / False, or None when it cannot be decided (missing rating, zero baseline)."""
        if pre is None or post is None or not (math.isfinite(pre) and math.isfinite(post)):
            return None
        change = post - pre
        if self.max_pct_change is not None:
            if pre == 0:
                return None
            if 100.0 * change / pre > self.max_pct_change:
                return False
        return not (self.max_change is not None and change > self.max_change)


#: IMMPACT benchmarks for change in pain intensity (Dworkin 2008; Farrar 2001).
RESPONDER_RULES: dict[str, ResponderRule] = {
    r.id: r
    for r in (
        ResponderRule(
            "immpact-moderate",
            1,
            "IMMPACT: >= 30 % decrease in pain intensity (moderately important)",
            max_pct_change=-30.0,
        ),
        ResponderRule(
            "immpact-substantial",
            1,
            "IMMPACT: >= 50 % decrease in pain intensity (substantial)",
            max_pct_change=-50.0,
        ),
        ResponderRule(
            "immpact-2point",
            1,
            "IMMPACT / Farrar 2001: >= 2-point decrease on the 0-10 NRS",
            max_change=-2.0,
        ),
    )
}
DEFAULT_RULE = "immpact-moderate@1"


def responder_rule(name: str | None) -> ResponderRule:
    """A rule by ``name@version`` or bare name (latest version); raises naming the choices."""
    key = name or DEFAULT_RULE
    if key in RESPONDER_RULES:
        return RESPONDER_RULES[key]
    versions = [r for r in RESPONDER_RULES.values() if r.name == key]
    if versions:
        return max(versions, key=lambda r: r.version)
    raise MirrorVRError(
        f"--responder-rule {key!r}: unknown; one of {', '.join(sorted(RESPONDER_RULES))}"
    )


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def pain(rec: Recording, rule: ResponderRule) -> dict[str, Any]:
    """Pre/post NRS, change, % change and responder status by ``rule``."""
    r = rec.ratings
    pre = (
        _num(r[r["timepoint"] == "pre"]["value"].iloc[0])
        if (r["timepoint"] == "pre").any()
        else None
    )
    post = (
        _num(r[r["timepoint"] == "post"]["value"].iloc[-1])
        if (r["timepoint"] == "post").any()
        else None
    )
    change = (post - pre) if pre is not None and post is not None else None
    pct = 100.0 * change / pre if change is not None and pre else None
    return {
        "pre": pre,
        "post": post,
        "change": change,
        "pct_change": pct,
        "responder": rule.judge(pre, post),
        "rule": rule.id,
        "rule_description": rule.description,
        "during": [
            v for v in r[r["timepoint"] == "during"]["value"].tolist() if _num(v) is not None
        ],
        "unanswered": int(r["value"].isna().sum()),
    }


def laterality(rec: Recording) -> dict[str, Any]:
    """Accuracy and reaction time overall, per side, per rotation angle and per side × angle.

    RT is over answered trials (median and mean, s); accuracy counts unanswered trials as wrong.
    """
    lat = rec.laterality
    if not len(lat):
        return {"trials": 0}

    def summ(g: pd.DataFrame) -> dict[str, Any]:
        rt = g["rt_s"].dropna().to_numpy(float)
        correct_rt = g[g["correct"]]["rt_s"].dropna().to_numpy(float)
        return {
            "trials": len(g),
            "answered": int(g["answer"].notna().sum()),
            "accuracy": float(g["correct"].mean()),
            "median_rt_s": float(np.median(rt)) if len(rt) else None,
            "mean_rt_s": float(np.mean(rt)) if len(rt) else None,
            "median_rt_correct_s": float(np.median(correct_rt)) if len(correct_rt) else None,
        }

    return {
        **summ(lat),
        "by_side": {str(k): summ(g) for k, g in lat.groupby("side")},
        "by_angle": {str(k): summ(g) for k, g in lat.groupby("angle_deg")},
        "by_side_angle": {f"{s}/{a}": summ(g) for (s, a), g in lat.groupby(["side", "angle_deg"])},
    }


def dose(rec: Recording) -> dict[str, Any]:
    """Pulses planned vs delivered, trains, intensity."""
    planned = rec.meta.get("planned_pulses")
    start = rec.of_kind("session_start")
    if planned is None and len(start):
        planned = start.iloc[0]["data"].get("planned_pulses")
    outcomes = rec.of_kind("train_outcome")
    delivered = len(rec.pulses)
    return {
        "pulses_planned": int(planned) if planned is not None else None,
        "pulses_delivered": delivered,
        "pulses_missed": len(rec.missed),
        "delivered_pct": (100.0 * delivered / planned) if planned else None,
        "trains_started": len(rec.of_kind("train_intent")),
        "trains_completed": int(sum(1 for d in outcomes["data"] if d.get("status") == "completed")),
        "intensity_pct_mso": _num(rec.pulses["intensity_pct_mso"].median()) if delivered else None,
    }


def deviations(rec: Recording) -> dict[str, Any]:
    """Everything that did not go to plan: e-stops, pauses, refusals, skips, misses, end state."""
    ev = rec.events
    end = rec.of_kind("session_end")
    state = end.iloc[-1]["data"].get("state") if len(end) else "incomplete"
    reason = end.iloc[-1]["data"].get("reason") if len(end) else "no session_end event"

    def rows(kind: str, *fields: str) -> list[dict[str, Any]]:
        out = []
        for _, r in rec.of_kind(kind).iterrows():
            out.append(
                {"t_s": round(float(r["t"] - rec.t0), 3)} | {f: r["data"].get(f) for f in fields}
            )
        return out

    pauses = [
        {"t_s": round(float(r["t"] - rec.t0), 3), "reason": r["data"].get("reason")}
        for _, r in ev[ev["kind"] == "state"].iterrows()
        if r["data"].get("to") == "paused"
    ]
    return {
        "end_state": state,
        "end_reason": reason or "",
        "estops": rows("estop", "cause"),
        "pauses": pauses,
        "stim_refused": rows("stim_refused", "reason"),
        "stim_skipped": rows("stim_skipped", "reason"),
        "pulses_missed": len(rec.missed),
        "resumes": len(rec.of_kind("resume")),
        "device_faults": [d for d in rows("device", "what", "error") if d.get("what") == "fault"],
        # older logs wrote a failed sink as device/sink_failed: a sink error, not a device fault
        "sink_errors": rows("sink_error", "sink", "error")
        + [d for d in rows("device", "what", "error") if d.get("what") == "sink_failed"],
    }


_UV = {
    "uv": 1.0,
    "µv": 1.0,
    "microvolts": 1.0,
    "mv": 1e3,
    "millivolts": 1e3,
    "v": 1e6,
    "volts": 1e6,
}


def _unit(sig: Signal, channel: int = 0) -> str:
    return (sig.units[channel] if channel < len(sig.units) else "").strip().lower()


def emg_in_uv(sig: Signal, channel: int = 0) -> np.ndarray:
    """One EMG channel in µV, from the unit in the stream header (µV assumed if none)."""
    return np.asarray(sig.data[:, channel], dtype=float) * _UV.get(_unit(sig, channel), 1.0)


def mep_channel(rec: Recording) -> tuple[str, int] | None:
    """(EMG stream, channel index) of the headline MEP: the plan's ``stimulation.mep_channel``
    if an EMG stream has a channel of that label, else the first EMG stream's first channel."""
    if not rec.emg:
        return None
    want = rec.plan.stimulation.mep_channel if rec.plan is not None else None
    if want:
        for name, sig in rec.emg.items():
            for i, ch in enumerate(sig.channels):
                if ch.lower() == want.lower():
                    return name, i
    return next(iter(rec.emg)), 0


def meps(rec: Recording) -> dict[str, Any]:
    """Peak-to-peak MEP per delivered pulse on every EMG channel; the headline channel is the
    plan's ``mep_channel`` (else the first EMG stream's first channel).

    The measurement itself is :mod:`mirrorvr.analysis.mep` (windows, relaxation gate,
    artefact rejection); this only chooses the data and collects the results. ``summary`` and
    ``per_pulse`` are the headline channel's; ``channels`` has one entry per EMG channel.
    """
    if not rec.emg:
        return {"available": False, "reason": "no EMG stream in the recording"}
    if not len(rec.pulses):
        return {"available": False, "reason": "no pulses delivered"}
    from mirrorvr.analysis import mep as mep_mod

    settings = mep_mod.MepSettings()
    # Measure each pulse on a slice of EMG around it: the measure works on whole arrays, and
    # an hour at 2 kHz per pulse would cost time and memory for nothing.
    lo = min(settings.baseline_ms[0], 0.0) / 1000.0 - 0.05
    hi = settings.window_ms[1] / 1000.0 + 0.05
    pulse_t = rec.pulses["t"].to_numpy(float)
    head = mep_channel(rec)
    want = rec.plan.stimulation.mep_channel if rec.plan is not None else None
    channels: list[dict[str, Any]] = []
    headline: dict[str, Any] = {}
    for name, sig in rec.emg.items():
        ts = sig.timestamps
        a_idx = np.searchsorted(ts, pulse_t + lo).tolist()
        b_idx = np.searchsorted(ts, pulse_t + hi).tolist()
        # only the windows around pulses are read (a lazy signal reads just their chunks)
        windows = [sig.rows(a, b) for a, b in zip(a_idx, b_idx, strict=True)]
        for c, label in enumerate(sig.channels or ["ch0"]):
            scale = _UV.get(_unit(sig, c), 1.0)
            results = [
                mep_mod.measure_mep(w[:, c].astype(float) * scale, ts[a:b], p, settings)
                for p, a, b, w in zip(pulse_t.tolist(), a_idx, b_idx, windows, strict=True)
            ]
            entry = {
                "stream": name,
                "channel": label,
                "summary": asdict(mep_mod.summarize_meps(results)),
                "per_pulse": [r.to_dict() for r in results],
            }
            channels.append(entry)
            if (name, c) == head:
                headline = entry
    note = ""
    if want and head is not None and headline["channel"].lower() != want.lower():
        note = (
            f"plan's mep_channel {want!r} is not an EMG channel here; using {headline['channel']}"
        )
    return {
        "available": True,
        **headline,
        "chosen_by": "plan" if want and not note else "first channel",
        "note": note,
        "channels": [
            {k: v for k, v in ch.items() if k != "per_pulse"} | {"headline": ch is headline}
            for ch in channels
        ],
    }


def run_outcomes(rec: Recording, rule: ResponderRule | None = None) -> dict[str, Any]:
    """Every outcome of one recording."""
    r = rule or responder_rule(None)
    return {
        "pain": pain(rec, r),
        "laterality": laterality(rec),
        "dose": dose(rec),
        "deviations": deviations(rec),
        "mep": meps(rec),
        "pme": pme_outcomes(rec),
        "embodiment": embodiment_outcomes(rec),
    }
