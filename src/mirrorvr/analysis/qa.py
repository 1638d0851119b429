"""Timing QA of one recording: did pulses land when planned, how long from cue to pulse, were
frames dropped, were the clocks stable, did any stream stop. Pure functions over a
:class:`~mirrorvr.analysis.recording.Recording`.

Every figure is a :class:`Metric` with median / p95 / p99 / max (and n) and a pass / warn / fail
status against a :class:`Threshold` the researcher can set (``[thresholds.<metric>]`` in a TOML
file or ``--threshold NAME=WARN,FAIL[,STAT]`` on the command line). Errors are judged by their
absolute value; the signed mean is kept in ``detail`` so a constant bias stays visible.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mirrorvr.analysis.recording import Recording, Signal
from mirrorvr.errors import MirrorVRError

STATS = ("median", "p95", "p99", "max", "value")
STATUS_ORDER = {"n/a": 0, "pass": 1, "warn": 2, "fail": 3}


class ThresholdError(MirrorVRError):
    """A QA threshold setting is invalid."""


@dataclass(frozen=True)
class Threshold:
    """``stat`` of a metric above ``warn`` → warn, above ``fail`` → fail."""

    warn: float
    fail: float
    stat: str = "max"

    def judge(self, value: float | None) -> str:
        """pass / warn / fail for one value (n/a if there is none)."""
        if value is None or not math.isfinite(value):
            return "n/a"
        if value > self.fail:
            return "fail"
        if value > self.warn:
            return "warn"
        return "pass"


#: Defaults. Pulse timing: the executor never fires a pulse more than 5 ms late, so > 5 ms
#: means a clock or stamping fault; 1 ms is the LSL synchronisation budget (lsl-xdf.md §7).
#: Frame times are for a 90 Hz display (11.1 ms): p99 above 1.25 frames warns, 2 frames fails.
DEFAULT_THRESHOLDS: dict[str, Threshold] = {
    "pulse_timing_error_ms": Threshold(1.0, 5.0, "max"),
    "ipi_error_ms": Threshold(0.5, 2.0, "p95"),
    "cue_pulse_latency_error_ms": Threshold(2.0, 10.0, "max"),
    "pulses_missed_pct": Threshold(0.0, 1.0, "value"),
    "frame_time_ms": Threshold(13.9, 22.2, "p99"),
    "dropped_frames_pct": Threshold(0.5, 2.0, "value"),
    "clock_offset_jitter_ms": Threshold(0.5, 1.0, "max"),
    "stream_gap_ms": Threshold(250.0, 1000.0, "max"),
    # damaged input (truncated file, missing footers, corrupt chunks, clock resets, event log
    # and XDF disagreeing, the log missing): any at all warns; the data read may still be
    # right, so it never fails on its own
    "recording_damage": Threshold(0.0, math.inf, "value"),
}


@dataclass(frozen=True)
class QASettings:
    """Thresholds plus how gaps are detected."""

    thresholds: Mapping[str, Threshold] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    #: an interval is a gap when longer than both this and ``gap_periods`` sample periods
    gap_min_s: float = 0.1
    gap_periods: float = 3.0

    def with_overrides(self, overrides: Mapping[str, Threshold]) -> QASettings:
        """A copy with some thresholds replaced."""
        return replace(self, thresholds={**self.thresholds, **overrides})


def parse_threshold(spec: str) -> tuple[str, Threshold]:
    """``NAME=WARN,FAIL[,STAT]`` → (name, Threshold); raises ThresholdError naming the problem."""
    name, sep, rest = spec.partition("=")
    parts = [p.strip() for p in rest.split(",")]
    if not sep or len(parts) not in (2, 3):
        raise ThresholdError(f"--threshold {spec!r}: write NAME=WARN,FAIL[,STAT]")
    name = name.strip()
    base = DEFAULT_THRESHOLDS.get(name)
    if base is None:
        raise ThresholdError(
            f"--threshold {spec!r}: unknown metric {name!r}; one of {', '.join(DEFAULT_THRESHOLDS)}"
        )
    try:
        warn, fail = float(parts[0]), float(parts[1])
    except ValueError:
        raise ThresholdError(f"--threshold {spec!r}: WARN and FAIL must be numbers") from None
    return name, _checked(
        name, warn, fail, parts[2] if len(parts) == 3 else base.stat, "--threshold"
    )


def _checked(name: str, warn: float, fail: float, stat: str, where: str) -> Threshold:
    if stat not in STATS:
        raise ThresholdError(f"{where} {name}: stat {stat!r} is not one of {', '.join(STATS)}")
    if not (math.isfinite(warn) and math.isfinite(fail)) or warn > fail:
        raise ThresholdError(f"{where} {name}: need finite warn <= fail (got {warn}, {fail})")
    return Threshold(warn, fail, stat)


def load_settings(path: str | Path | None, overrides: list[str] | None = None) -> QASettings:
    """Settings from a TOML file (``[thresholds.<metric>] warn/fail/stat``, ``[gaps]``) and
    ``NAME=WARN,FAIL[,STAT]`` overrides."""
    s = QASettings()
    if path is not None:
        p = Path(path)
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ThresholdError(f"{p}: cannot read thresholds ({e})") from None
        th: dict[str, Threshold] = {}
        for name, t in doc.get("thresholds", {}).items():
            base = DEFAULT_THRESHOLDS.get(name)
            if base is None or not isinstance(t, dict):
                raise ThresholdError(
                    f"{p}: thresholds.{name}: unknown metric; one of {', '.join(DEFAULT_THRESHOLDS)}"
                )
            try:
                warn = float(t.get("warn", base.warn))
                fail = float(t.get("fail", base.fail))
            except (TypeError, ValueError):
                raise ThresholdError(f"{p}: thresholds.{name}: warn/fail must be numbers") from None
            th[name] = _checked(
                name, warn, fail, str(t.get("stat", base.stat)), f"{p}: thresholds."
            )
        gaps = doc.get("gaps", {})
        s = replace(
            s.with_overrides(th),
            gap_min_s=float(gaps.get("min_s", s.gap_min_s)),
            gap_periods=float(gaps.get("periods", s.gap_periods)),
        )
    if overrides:
        s = s.with_overrides(dict(parse_threshold(o) for o in overrides))
    return s


@dataclass
class Metric:
    """One QA figure with its distribution and status."""

    name: str
    unit: str
    n: int
    median: float | None
    p95: float | None
    p99: float | None
    max: float | None
    value: float | None  # the figure itself for scalar metrics (percentages), else the max
    status: str
    threshold: Threshold | None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        d["threshold"] = asdict(self.threshold) if self.threshold else None
        return d


def _stats(values: np.ndarray) -> dict[str, float | None]:
    v = values[np.isfinite(values)]
    if not len(v):
        return {"median": None, "p95": None, "p99": None, "max": None}
    q = np.percentile(v, [50, 95, 99])
    return {"median": float(q[0]), "p95": float(q[1]), "p99": float(q[2]), "max": float(v.max())}


def make_metric(
    name: str,
    unit: str,
    values: Any,
    settings: QASettings,
    *,
    value: float | None = None,
    detail: dict[str, Any] | None = None,
) -> Metric:
    """A metric from raw values (already in ``unit``, absolute where errors are judged)."""
    arr = np.asarray(values, dtype=float).ravel()
    st = _stats(arr)
    th = settings.thresholds.get(name)
    v = value if value is not None else st["max"]
    judged = v if (th is None or th.stat == "value") else st[th.stat]
    n = int(np.isfinite(arr).sum()) if value is None else max(int(np.isfinite(arr).sum()), 1)
    status = th.judge(judged) if th is not None and n else "n/a"
    return Metric(name, unit, n, **st, value=v, status=status, threshold=th, detail=detail or {})


# ---- the checks ---------------------------------------------------------------------------


def pulse_timing(rec: Recording, s: QASettings) -> Metric:
    """|actual − planned| per delivered pulse, ms."""
    err = rec.pulses["error_s"].to_numpy(dtype=float) * 1000.0
    detail = {"mean_signed_ms": float(np.nanmean(err)) if len(err) else None}
    return make_metric("pulse_timing_error_ms", "ms", np.abs(err), s, detail=detail)


def ipi_error(rec: Recording, s: QASettings) -> Metric:
    """Inter-pulse interval error within trains (actual − planned interval), per protocol."""
    p = rec.pulses.sort_values(["step", "train", "i"]) if len(rec.pulses) else rec.pulses
    protocols = _protocol_labels(rec)
    by: dict[str, list[float]] = {}
    for (_step, _train), g in p.groupby(["step", "train"], sort=False, dropna=False):
        if len(g) < 2:
            continue
        g = g[g["i"].diff().fillna(1) == 1] if "i" in g else g  # missed pulses break a pair
        d = np.diff(g["t"].to_numpy(float)) - np.diff(g["planned"].to_numpy(float))
        label = protocols.get(str(g["phase"].iloc[0]), str(g["phase"].iloc[0]) or "train")
        by.setdefault(label, []).extend((d * 1000.0).tolist())
    allv = np.abs(np.array([x for v in by.values() for x in v], dtype=float))
    detail: dict[str, Any] = {}
    for label, v in by.items():
        m = make_metric("ipi_error_ms", "ms", np.abs(np.array(v)), s)
        detail[label] = {
            "n": m.n,
            "median": m.median,
            "p95": m.p95,
            "p99": m.p99,
            "max": m.max,
            "mean_signed_ms": float(np.mean(v)),
            "status": m.status,
        }
    return make_metric("ipi_error_ms", "ms", allv, s, detail={"by_protocol": detail})


def _protocol_labels(rec: Recording) -> dict[str, str]:
    """phase → 'phase: protocol (interval)' when the plan is known."""
    if rec.plan is None or rec.plan.stimulation.protocol is None:
        return {}
    proto = rec.plan.stimulation.protocol
    pri = proto.pulse_repetition_interval_s
    name = proto.name or f"{1 / pri:g} Hz"
    phase = {"concurrent": "concurrent", "priming": "priming", "post": "post"}.get(
        rec.plan.stimulation.mode, rec.plan.stimulation.mode
    )
    return {phase: f"{phase}: {name} (pulse interval {pri * 1000:g} ms)"}


def cue_pulse_latency(rec: Recording, s: QASettings) -> Metric:
    """Cue display → pulse latency for cue-locked pulses; judged on its error vs the plan.

    The first pulse of each cue-locked step is paired with the last cue shown before it; the
    planned latency is ``planned − cue onset`` (the planned pulse time is cue onset + delay).
    """
    p = rec.pulses[rec.pulses["phase"] == "cue-locked"]
    if len(p):
        p = p.sort_values("t").groupby(["step", "train"], sort=False).head(1)
    cues = rec.cues.sort_values("t")
    if not len(p) or not len(cues):
        return make_metric("cue_pulse_latency_error_ms", "ms", [], s, detail={"latency_ms": None})
    ct = cues["t"].to_numpy(float)
    idx = np.searchsorted(ct, p["t"].to_numpy(float), side="right") - 1
    ok = idx >= 0
    pt, pp = p["t"].to_numpy(float)[ok], p["planned"].to_numpy(float)[ok]
    onset = ct[idx[ok]]
    lat = (pt - onset) * 1000.0
    planned = (pp - onset) * 1000.0
    err = lat - planned
    lat_stats = _stats(lat)
    return make_metric(
        "cue_pulse_latency_error_ms",
        "ms",
        np.abs(err),
        s,
        detail={
            "latency_ms": lat_stats,
            "planned_latency_ms": float(np.median(planned)) if len(planned) else None,
            "mean_signed_ms": float(np.mean(err)) if len(err) else None,
            "latencies_ms": [round(x, 4) for x in lat.tolist()],
        },
    )


def pulses_missed(rec: Recording, s: QASettings) -> Metric:
    """Share of attempted pulses that were skipped as too late, %."""
    n_ok, n_miss = len(rec.pulses), len(rec.missed)
    if n_ok + n_miss == 0:
        return make_metric("pulses_missed_pct", "%", [], s)
    pct = 100.0 * n_miss / (n_ok + n_miss)
    late = rec.missed["late_s"].to_numpy(float) * 1000.0
    return make_metric(
        "pulses_missed_pct",
        "%",
        [pct],
        s,
        value=pct,
        detail={"missed": n_miss, "attempted": n_ok + n_miss, "late_ms": _stats(late)},
    )


def frame_source(rec: Recording) -> Signal | None:
    """The frame-timing stream, or the first pose stream (one sample per rendered frame)."""
    if rec.frames is not None:
        return rec.frames
    return next(iter(rec.poses.values()), None)


def frame_intervals(sig: Signal) -> tuple[np.ndarray, float, int]:
    """(frame times in s, nominal frame period in s, dropped frames) of a frame stream."""
    dur = sig.channel("frame_duration")
    ts = sig.timestamps
    intervals = dur[1:] if dur is not None and len(dur) > 1 else np.diff(ts)
    intervals = np.asarray(intervals, dtype=float)
    if sig.nominal_srate > 0:
        period = 1.0 / sig.nominal_srate
    else:
        period = float(np.median(np.diff(ts))) if len(ts) > 2 else math.nan
    missed = sig.channel("missed_frames")
    if missed is not None:
        dropped = int(np.nansum(missed))
    elif math.isfinite(period) and period > 0:
        k = np.rint(np.diff(ts) / period) - 1
        dropped = int(np.clip(k, 0, None).sum())
    else:
        dropped = 0
    return intervals, period, dropped


def frame_timing(rec: Recording, s: QASettings) -> tuple[Metric, Metric]:
    """Frame time distribution (ms) and dropped frames (% of frames due)."""
    sig = frame_source(rec)
    if sig is None or len(sig) < 2:
        return (
            make_metric("frame_time_ms", "ms", [], s),
            make_metric("dropped_frames_pct", "%", [], s),
        )
    intervals, period, dropped = frame_intervals(sig)
    due = len(sig) + dropped
    pct = 100.0 * dropped / due if due else 0.0
    src = {
        "stream": sig.name,
        "nominal_period_ms": period * 1000.0 if math.isfinite(period) else None,
    }
    return (
        make_metric("frame_time_ms", "ms", intervals * 1000.0, s, detail=src),
        make_metric(
            "dropped_frames_pct",
            "%",
            [pct],
            s,
            value=pct,
            detail={**src, "dropped": dropped, "frames": len(sig), "due": due},
        ),
    )


def clock_offsets(rec: Recording, s: QASettings) -> Metric:
    """LSL clock offsets per stream: median, drift and jitter around a linear fit (ms).

    The judged values are the residuals of each stream's offsets around its own straight line
    (drift is expected between machines; scatter is what breaks synchronisation).
    """
    resid_all: list[float] = []
    per: dict[str, Any] = {}
    for name, (times, values) in rec.clock_offsets.items():
        if len(values) == 0:
            continue
        v = values * 1000.0
        if len(v) >= 3 and np.ptp(times) > 0:
            slope, icpt = np.polyfit(times, v, 1)
            resid = v - (slope * times + icpt)
        else:
            slope, resid = 0.0, v - np.median(v)
        resid_all += np.abs(resid).tolist()
        per[name] = {
            "n": len(v),
            "median_ms": float(np.median(v)),
            "range_ms": float(np.ptp(v)),
            "drift_ms_per_h": float(slope * 3600.0),
            "jitter_max_ms": float(np.max(np.abs(resid))),
        }
    return make_metric("clock_offset_jitter_ms", "ms", resid_all, s, detail={"streams": per})


def stream_gaps(rec: Recording, s: QASettings) -> Metric:
    """Gaps in sampled streams: intervals longer than both ``gap_min_s`` and ``gap_periods``
    sample periods (the nominal one, or the median interval of per-frame streams declared
    irregular). Values are the gap lengths (ms)."""
    gaps: list[float] = []
    per: dict[str, Any] = {}
    for sig in rec.signals():
        if len(sig) < 3:
            continue
        d = np.diff(sig.timestamps)
        if sig.nominal_srate > 0:
            period = 1.0 / sig.nominal_srate
        elif sig.can_drop_samples:  # irregular but one sample per frame: the median frame
            period = float(np.median(d))
        else:  # markers and other event streams have no expected rate
            continue
        limit = max(s.gap_min_s, s.gap_periods * period)
        where = np.nonzero(d > limit)[0]
        g = d[where] * 1000.0
        gaps += g.tolist()
        per[sig.name] = {
            "gaps": len(where),
            "longest_ms": float(g.max()) if len(g) else 0.0,
            "at_s": [round(float(sig.timestamps[i] - rec.t0), 3) for i in where[:20]],
        }
    m = make_metric("stream_gap_ms", "ms", gaps, s, detail={"streams": per})
    if per and not gaps:  # streams were checked and none had a gap: that is a pass
        m.n, m.max, m.value = 0, 0.0, 0.0
        th = s.thresholds.get("stream_gap_ms")
        m.status = th.judge(0.0) if th else "n/a"
    return m


def recording_damage(rec: Recording, s: QASettings) -> Metric:
    """Problems found while loading (``Recording.damage``): their count, listed by kind."""
    by: dict[str, list[str]] = {}
    for kind, msg in rec.damage:
        by.setdefault(kind, []).append(msg)
    n = len(rec.damage)
    m = make_metric("recording_damage", "count", [n], s, value=float(n), detail={"kinds": by})
    return m


def run_qa(rec: Recording, settings: QASettings | None = None) -> list[Metric]:
    """Every timing check on one recording."""
    s = settings or QASettings()
    ft, dropped = frame_timing(rec, s)
    return [
        pulse_timing(rec, s),
        ipi_error(rec, s),
        cue_pulse_latency(rec, s),
        pulses_missed(rec, s),
        ft,
        dropped,
        clock_offsets(rec, s),
        stream_gaps(rec, s),
        recording_damage(rec, s),
    ]


def overall_status(metrics: list[Metric]) -> str:
    """The worst status among metrics (n/a if none has data)."""
    return max((m.status for m in metrics), key=STATUS_ORDER.__getitem__, default="n/a")


def metrics_frame(metrics: list[Metric]) -> pd.DataFrame:
    """Metrics as a table (one row each)."""
    return pd.DataFrame(
        [
            {k: v for k, v in m.to_dict().items() if k not in ("detail", "threshold")}
            | {
                "warn": m.threshold.warn if m.threshold else None,
                "fail": m.threshold.fail if m.threshold else None,
                "judged_on": m.threshold.stat if m.threshold else None,
            }
            for m in metrics
        ]
    )
