"""Report figures: matplotlib on the Agg backend (no display), returned as base64 PNG so the
HTML report is one self-contained file readable offline.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot state), so they
are safe to make from any thread and never open a window.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mirrorvr.analysis.qa import frame_intervals, frame_source
from mirrorvr.analysis.recording import Recording

_COLORS = {"pass": "#2e7d32", "warn": "#ef6c00", "fail": "#c62828", "n/a": "#757575"}


def to_png_base64(fig: Figure) -> str:
    """Render ``fig`` to PNG (96 dpi) and return it base64-encoded."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _hist(ax: Any, values: np.ndarray, title: str, unit: str, limits: Sequence[float] = ()) -> None:
    v = values[np.isfinite(values)]
    if len(v):
        ax.hist(v, bins=min(60, max(10, int(np.sqrt(len(v))))), color="#1565c0", alpha=0.85)
        for lim, col in zip(limits, ("#ef6c00", "#c62828"), strict=False):
            if lim is not None and v.min() - 1 <= lim <= v.max() * 1.5 + 1:
                ax.axvline(lim, color=col, ls="--", lw=1)
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(unit)
    ax.set_ylabel("count")


def timing_histograms(rec: Recording, thresholds: dict[str, Any]) -> str:
    """Four histograms: pulse timing error, IPI error, cue→pulse latency, frame time."""
    fig = Figure(figsize=(10, 6.2))
    axes = fig.subplots(2, 2)

    def lims(name: str) -> list[float]:
        t = thresholds.get(name)
        return [t.warn, t.fail] if t is not None else []

    err = rec.pulses["error_s"].to_numpy(float) * 1000.0
    _hist(axes[0][0], err, "Pulse timing error (actual − planned)", "ms")
    ipi: list[float] = []
    p = rec.pulses.sort_values(["step", "train", "i"]) if len(rec.pulses) else rec.pulses
    for _, g in p.groupby(["step", "train"], sort=False):
        ipi += (
            (np.diff(g["t"].to_numpy(float)) - np.diff(g["planned"].to_numpy(float))) * 1000
        ).tolist()
    _hist(axes[0][1], np.array(ipi, float), "Inter-pulse interval error", "ms")
    lat = _cue_pulse_latencies(rec)
    _hist(axes[1][0], lat, "Cue display → pulse latency (cue-locked)", "ms")
    sig = frame_source(rec)
    ft = frame_intervals(sig)[0] * 1000.0 if sig is not None and len(sig) > 1 else np.zeros(0)
    _hist(
        axes[1][1],
        ft,
        "Frame time" + (f" ({sig.name})" if sig else ""),
        "ms",
        lims("frame_time_ms"),
    )
    if len(ft):
        axes[1][1].set_yscale("log")
    fig.tight_layout()
    return to_png_base64(fig)


def _cue_pulse_latencies(rec: Recording) -> np.ndarray:
    p = rec.pulses[rec.pulses["phase"] == "cue-locked"]
    if not len(p) or not len(rec.cues):
        return np.zeros(0)
    p = p.sort_values("t").groupby(["step", "train"], sort=False).head(1)
    ct = np.sort(rec.cues["t"].to_numpy(float))
    pt = p["t"].to_numpy(float)
    idx = np.searchsorted(ct, pt, side="right") - 1
    ok = idx >= 0
    return (pt[ok] - ct[idx[ok]]) * 1000.0


def raster(rec: Recording) -> str:
    """Cue / pulse raster over the session (minutes from the recording start)."""
    fig = Figure(figsize=(10, 3.4))
    ax = fig.subplots()
    rows: list[tuple[str, np.ndarray, str]] = [
        ("cues", rec.cues["t"].to_numpy(float), "#6a1b9a"),
        ("pulses", rec.pulses["t"].to_numpy(float), "#1565c0"),
        ("missed", rec.missed["t"].to_numpy(float), "#c62828"),
        ("ratings", rec.ratings["t"].to_numpy(float), "#2e7d32"),
        ("laterality", rec.laterality["t"].to_numpy(float), "#00838f"),
        ("e-stops", rec.of_kind("estop")["t"].to_numpy(float), "#b71c1c"),
    ]
    if len(rec.markers):
        rows.append(("markers (other)", rec.markers["t"].to_numpy(float), "#795548"))
    rows = [r for r in rows if len(r[1])]
    for i, (_label, t, col) in enumerate(rows):
        ax.eventplot(
            (t - rec.t0) / 60.0, lineoffsets=i, linelengths=0.8, colors=col, linewidths=0.6
        )
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.set_xlabel("minutes from recording start")
    ax.set_title("Cues, pulses and answers over the session", fontsize=10)
    if not rows:
        ax.text(0.5, 0.5, "no events", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return to_png_base64(fig)


def pain_sessions(table: pd.DataFrame) -> str:
    """Pre and post pain (NRS) per session, in session order."""
    fig = Figure(figsize=(10, 3.4))
    ax = fig.subplots()
    t = table.reset_index(drop=True)
    x = np.arange(len(t))
    pre = pd.to_numeric(t.get("pain_pre"), errors="coerce")
    post = pd.to_numeric(t.get("pain_post"), errors="coerce")
    for i in x:
        ax.plot([i, i], [pre[i], post[i]], color="#9e9e9e", lw=1)
    ax.plot(x, pre, "o", color="#c62828", label="pre")
    ax.plot(x, post, "s", color="#1565c0", label="post")
    resp = t.get("responder")
    if resp is not None:
        for i in x:
            if resp[i] is True:
                ax.annotate(
                    "R", (i, post[i]), textcoords="offset points", xytext=(6, -4), fontsize=8
                )
    ax.set_xticks(x, [str(s)[-24:] for s in t["session"]], rotation=30, ha="right", fontsize=7)
    ax.set_ylim(-0.5, 10.5)
    ax.set_ylabel("pain (NRS 0-10)")
    ax.set_title("Pain before and after each session (R = responder)", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return to_png_base64(fig)


def laterality_rt(lat: pd.DataFrame) -> str:
    """Median laterality reaction time (answered trials) and accuracy by angle, per side."""
    fig = Figure(figsize=(10, 3.4))
    ax1, ax2 = fig.subplots(1, 2)
    if not len(lat):
        for ax in (ax1, ax2):
            ax.text(
                0.5, 0.5, "no laterality trials", ha="center", va="center", transform=ax.transAxes
            )
    for side, col in (("left", "#6a1b9a"), ("right", "#00838f")):
        g = lat[lat["side"] == side]
        if not len(g):
            continue
        by = g.groupby("angle_deg")
        rt = by["rt_s"].median()
        acc = by["correct"].mean() * 100
        ax1.plot(rt.index, rt.values, "o-", color=col, label=side)
        ax2.plot(acc.index, acc.values, "o-", color=col, label=side)
    ax1.set_xlabel("rotation (deg)")
    ax1.set_ylabel("median RT (s)")
    ax1.set_title("Laterality reaction time by angle", fontsize=10)
    ax2.set_xlabel("rotation (deg)")
    ax2.set_ylabel("accuracy (%)")
    ax2.set_ylim(0, 105)
    ax2.set_title("Laterality accuracy by angle", fontsize=10)
    for ax in (ax1, ax2):
        if len(lat):
            ax.legend(fontsize=8)
    fig.tight_layout()
    return to_png_base64(fig)


def mep_amplitudes(per_pulse: list[dict[str, Any]], t0: float) -> str:
    """MEP peak-to-peak per pulse over time (accepted vs rejected)."""
    fig = Figure(figsize=(10, 3.0))
    ax = fig.subplots()
    for acc, col, lab in ((True, "#1565c0", "accepted"), (False, "#bdbdbd", "rejected")):
        pts = [
            (r["pulse_t"] - t0, r["pp_uv"])
            for r in per_pulse
            if r["accepted"] == acc and r["pp_uv"] is not None
        ]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.plot(np.array(xs) / 60.0, ys, "o", ms=3, color=col, label=lab)
    ax.set_xlabel("minutes from recording start")
    ax.set_ylabel("MEP peak-to-peak (µV)")
    ax.set_title("MEP amplitude per pulse", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return to_png_base64(fig)


def status_color(status: str) -> str:
    """CSS colour of a QA status."""
    return _COLORS.get(status, "#757575")
