"""``mirrorvr analyze``: one or many recordings → ``summary.json``, ``report.html`` and, when
pooling, ``sessions.csv`` / ``sessions.parquet`` (one tidy row per session).

Recordings are analysed one at a time and only their figures and small tables are kept, so
pooling a study does not hold every session's signals in memory.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mirrorvr import __version__
from mirrorvr.analysis import plots
from mirrorvr.analysis.loader import XDF_SUFFIXES, AnalysisError, load_recording
from mirrorvr.analysis.outcomes import ResponderRule, responder_rule, run_outcomes
from mirrorvr.analysis.qa import (
    STATUS_ORDER,
    Metric,
    QASettings,
    overall_status,
    run_qa,
)
from mirrorvr.analysis.recording import Recording


@dataclass
class SessionAnalysis:
    """What is kept of one analysed recording."""

    summary: dict[str, Any]
    laterality: pd.DataFrame
    figures: dict[str, str] = field(default_factory=dict)


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf → None, numpy scalars → Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str | bytes):
        try:
            obj = obj.item()
        except (ValueError, AttributeError):
            return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def analyze_recording(
    rec: Recording, settings: QASettings, rule: ResponderRule, *, figures: bool = True
) -> SessionAnalysis:
    """QA metrics, outcomes and figures of one loaded recording."""
    metrics = run_qa(rec, settings)
    outcomes = run_outcomes(rec, rule)
    summary = {
        "session": rec.session_id,
        "source": str(rec.source),
        "kind": rec.kind,
        "patient": rec.patient,
        "session_date": rec.meta.get("session_date"),
        "plan": rec.plan.session.name if rec.plan else rec.meta.get("plan_name"),
        "stimulation_mode": rec.plan.stimulation.mode if rec.plan else None,
        "t0": rec.t0,
        "duration_s": rec.duration,
        "counts": {
            "events": len(rec.events),
            "pulses": len(rec.pulses),
            "cues": len(rec.cues),
            "ratings": len(rec.ratings),
            "laterality_trials": len(rec.laterality),
            "foreign_markers": len(rec.markers),
        },
        "streams": rec.streams.to_dict(orient="records"),
        "warnings": rec.warnings,
        "qa": {"status": overall_status(metrics), "metrics": [m.to_dict() for m in metrics]},
        "outcomes": outcomes,
    }
    figs: dict[str, str] = {}
    if figures:
        figs["timing"] = plots.timing_histograms(rec, dict(settings.thresholds))
        figs["raster"] = plots.raster(rec)
        if len(rec.laterality):
            figs["laterality"] = plots.laterality_rt(rec.laterality)
        if outcomes["mep"].get("available"):
            figs["mep"] = plots.mep_amplitudes(outcomes["mep"]["per_pulse"], rec.t0)
    lat = rec.laterality.assign(session=rec.session_id)
    return SessionAnalysis(_clean(summary), lat, figs)


def session_row(summary: dict[str, Any]) -> dict[str, Any]:
    """One tidy row per session: identifiers, outcomes and every QA figure as columns."""
    o = summary["outcomes"]
    lat = o["laterality"]
    mep = o["mep"]
    row: dict[str, Any] = {
        "session": summary["session"],
        "patient": summary["patient"],
        "session_date": summary["session_date"],
        "plan": summary["plan"],
        "stimulation_mode": summary["stimulation_mode"],
        "end_state": o["deviations"]["end_state"],
        "duration_min": summary["duration_s"] / 60.0,
        "pain_pre": o["pain"]["pre"],
        "pain_post": o["pain"]["post"],
        "pain_change": o["pain"]["change"],
        "pain_pct_change": o["pain"]["pct_change"],
        "responder": o["pain"]["responder"],
        "responder_rule": o["pain"]["rule"],
        "pulses_planned": o["dose"]["pulses_planned"],
        "pulses_delivered": o["dose"]["pulses_delivered"],
        "pulses_missed": o["dose"]["pulses_missed"],
        "estops": len(o["deviations"]["estops"]),
        "pauses": len(o["deviations"]["pauses"]),
        "stim_refused": len(o["deviations"]["stim_refused"]),
        "laterality_trials": lat.get("trials", 0),
        "laterality_accuracy": lat.get("accuracy"),
        "laterality_median_rt_s": lat.get("median_rt_s"),
        "mep_median_pp_uv": mep["summary"]["median_pp_uv"] if mep.get("available") else None,
        "qa_status": summary["qa"]["status"],
    }
    for m in summary["qa"]["metrics"]:
        for stat in ("median", "p95", "max"):
            row[f"{m['name']}_{stat}"] = m[stat]
        row[f"{m['name']}_status"] = m["status"]
    return row


def find_recordings(folder: Path) -> list[Path]:
    """Session folders and XDF files under ``folder`` (XDFs inside a session folder belong to
    it), sorted by name."""
    if not folder.is_dir():
        raise AnalysisError(f"--sessions {folder}: not a folder")
    found: list[Path] = []
    for p in sorted(folder.iterdir()):
        if p.is_dir() and (p / "events.jsonl").exists():
            found.append(p)
        elif p.is_dir():
            found += [x for x in find_recordings(p)]
        elif p.is_file() and p.name.lower().endswith(XDF_SUFFIXES):
            found.append(p)
    return found


def _order_key(a: SessionAnalysis) -> tuple[str, str, str]:
    s = a.summary
    return (str(s.get("patient") or ""), str(s.get("session_date") or ""), s["session"])


def analyze_paths(
    paths: Iterable[Path],
    out: Path,
    *,
    settings: QASettings | None = None,
    rule: ResponderRule | None = None,
    pooled: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Analyse recordings and write ``summary.json`` and ``report.html`` (plus the tidy table
    when ``pooled``) into ``out``; returns the summary."""
    s = settings or QASettings()
    r = rule or responder_rule(None)
    out.mkdir(parents=True, exist_ok=True)
    analyses: list[SessionAnalysis] = []
    for p in paths:
        if progress:
            progress(f"loading {p.name}")
        rec = load_recording(p)
        if progress:
            progress(f"analysing {p.name}")
        analyses.append(analyze_recording(rec, s, r))
        del rec  # signals can be large: keep only the analysis
    if not analyses:
        raise AnalysisError("no recordings to analyse")
    analyses.sort(key=_order_key)
    table = pd.DataFrame([session_row(a.summary) for a in analyses])
    summary: dict[str, Any] = {
        "mirrorvr_version": __version__,
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "responder_rule": asdict(r) | {"id": r.id},
        "thresholds": {k: asdict(v) for k, v in s.thresholds.items()},
        "gaps": {"min_s": s.gap_min_s, "periods": s.gap_periods},
        "qa_status": max(
            (a.summary["qa"]["status"] for a in analyses), key=STATUS_ORDER.__getitem__
        ),
        "sessions": [a.summary for a in analyses],
    }
    pooled_figs: dict[str, str] = {}
    if pooled or len(analyses) > 1:
        summary["pooled"] = _clean(_pooled(table))
        pooled_figs["pain"] = plots.pain_sessions(table)
        lat = pd.concat([a.laterality for a in analyses], ignore_index=True)
        if len(lat):
            pooled_figs["laterality"] = plots.laterality_rt(lat)
        table.to_csv(out / "sessions.csv", index=False)
        table.to_parquet(out / "sessions.parquet", index=False)
    elif analyses[0].summary["outcomes"]["pain"]["pre"] is not None:
        pooled_figs["pain"] = plots.pain_sessions(table)
    (out / "summary.json").write_text(
        json.dumps(_clean(summary), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    (out / "report.html").write_text(
        render_html(summary, analyses, pooled_figs, table), encoding="utf-8"
    )
    return summary


def _pooled(table: pd.DataFrame) -> dict[str, Any]:
    resp = table["responder"].dropna()
    return {
        "sessions": len(table),
        "patients": int(table["patient"].nunique()),
        "responders": int((resp == True).sum()),  # noqa: E712 - object column of bools
        "responder_rate": float((resp == True).mean()) if len(resp) else None,  # noqa: E712
        "median_pain_change": _med(table["pain_change"]),
        "median_pain_pct_change": _med(table["pain_pct_change"]),
        "pulses_delivered": int(pd.to_numeric(table["pulses_delivered"]).sum()),
        "pulses_planned": int(
            pd.to_numeric(table["pulses_planned"], errors="coerce").fillna(0).sum()
        ),
        "estops": int(table["estops"].sum()),
        "qa": {k: int(v) for k, v in table["qa_status"].value_counts().items()},
    }


def _med(col: pd.Series) -> float | None:
    v = pd.to_numeric(col, errors="coerce").dropna()
    return float(v.median()) if len(v) else None


# ---- HTML ---------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px auto;
max-width:1100px;color:#212121;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;border-bottom:1px solid #ddd;
padding-bottom:4px;margin-top:32px}h3{font-size:15px;margin-top:20px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f5f5f5}
td.l,th.l{text-align:left}.badge{display:inline-block;padding:1px 8px;border-radius:10px;
color:#fff;font-weight:600;font-size:12px}.muted{color:#757575;font-size:12px}
img{max-width:100%;border:1px solid #eee;margin:6px 0}.warn{background:#fff3e0;padding:6px;
border-left:4px solid #ef6c00;font-size:12px}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _fmt(x: Any, nd: int = 4) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        if abs(x) >= 1000:
            return f"{x:.0f}"
        return f"{x:.{nd}g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"
    return _e(x)


def _badge(status: str) -> str:
    return (
        f'<span class="badge" style="background:{plots.status_color(status)}">{_e(status)}</span>'
    )


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{b64}">'


def _table(headers: list[str], rows: list[list[str]], left: int = 1) -> str:
    th = "".join(
        f'<th class="{"l" if i < left else ""}">{_e(h)}</th>' for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>' for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def _qa_table(metrics: list[dict[str, Any]]) -> str:
    rows = []
    for m in metrics:
        th = m["threshold"] or {}
        rows.append(
            [
                _e(m["name"]),
                _fmt(m["n"]),
                _fmt(m["median"]),
                _fmt(m["p95"]),
                _fmt(m["p99"]),
                _fmt(m["max"]),
                _e(f"{th.get('stat')} > {th.get('warn')} / {th.get('fail')}" if th else "–"),
                _badge(m["status"]),
            ]
        )
    return _table(["metric", "n", "median", "p95", "p99", "max", "warn / fail", "status"], rows)


def _session_html(a: SessionAnalysis) -> str:
    s = a.summary
    o = s["outcomes"]
    pain, dose, dev, lat = o["pain"], o["dose"], o["deviations"], o["laterality"]
    parts = [
        f"<h2>Session {_e(s['session'])} {_badge(s['qa']['status'])}</h2>",
        f'<p class="muted">{_e(s["source"])} · patient {_e(s["patient"])} · '
        f"{_e(s['session_date'])} · plan “{_e(s['plan'])}” · "
        f"{s['duration_s'] / 60:.1f} min · end state {_e(dev['end_state'])}</p>",
    ]
    for w in s["warnings"]:
        parts.append(f'<div class="warn">{_e(w)}</div>')
    parts.append("<h3>Timing QA</h3>" + _qa_table(s["qa"]["metrics"]))
    ipi = next((m for m in s["qa"]["metrics"] if m["name"] == "ipi_error_ms"), None)
    if ipi and ipi["detail"].get("by_protocol"):
        rows = [
            [
                _e(k),
                _fmt(v["n"]),
                _fmt(v["median"]),
                _fmt(v["p95"]),
                _fmt(v["max"]),
                _badge(v["status"]),
            ]
            for k, v in ipi["detail"]["by_protocol"].items()
        ]
        parts.append(
            "<p class='muted'>Inter-pulse interval error per protocol (ms)</p>"
            + _table(["protocol", "n", "median", "p95", "max", "status"], rows)
        )
    if "timing" in a.figures:
        parts.append(_img(a.figures["timing"], "timing histograms"))
    parts.append("<h3>Outcomes</h3>")
    parts.append(
        _table(
            ["figure", "value"],
            [
                ["pain before (NRS)", _fmt(pain["pre"])],
                ["pain after (NRS)", _fmt(pain["post"])],
                ["change", _fmt(pain["change"])],
                ["% change", _fmt(pain["pct_change"])],
                [f"responder ({_e(pain['rule'])})", _fmt(pain["responder"])],
                [
                    "pulses delivered / planned",
                    f"{_fmt(dose['pulses_delivered'])} / {_fmt(dose['pulses_planned'])}",
                ],
                ["pulses missed", _fmt(dose["pulses_missed"])],
                ["e-stops", _fmt(len(dev["estops"]))],
                ["pauses", _fmt(len(dev["pauses"]))],
                ["trains refused", _fmt(len(dev["stim_refused"]))],
                ["laterality accuracy", _fmt(lat.get("accuracy"))],
                ["laterality median RT (s)", _fmt(lat.get("median_rt_s"))],
            ],
        )
    )
    for kind in ("estops", "pauses", "stim_refused"):
        for d in dev[kind]:
            parts.append(
                f'<div class="warn">{_e(kind)} at {d["t_s"]:.1f} s: {_e(d.get("cause") or d.get("reason"))}</div>'
            )
    if lat.get("by_side"):
        rows = [
            [_e(k), _fmt(v["trials"]), _fmt(v["accuracy"]), _fmt(v["median_rt_s"])]
            for k, v in {
                **lat["by_side"],
                **{f"{a}°": b for a, b in lat["by_angle"].items()},
            }.items()
        ]
        parts.append(_table(["side / angle", "trials", "accuracy", "median RT (s)"], rows))
    if "laterality" in a.figures:
        parts.append(_img(a.figures["laterality"], "laterality RT by angle"))
    mep = o["mep"]
    if mep.get("available"):
        ms = mep["summary"]
        parts.append(
            f"<p>MEPs ({_e(mep['stream'])}): {ms['n_accepted']} of {ms['n']} accepted, median "
            f"{_fmt(ms['median_pp_uv'])} µV peak-to-peak</p>"
        )
        parts.append(_img(a.figures["mep"], "MEP amplitudes"))
    else:
        parts.append(f'<p class="muted">MEPs: {_e(mep.get("reason"))}</p>')
    if "raster" in a.figures:
        parts.append("<h3>Cue / pulse raster</h3>" + _img(a.figures["raster"], "raster"))
    streams = s["streams"]
    if streams:
        rows = [
            [
                _e(x["name"]),
                _e(x["type"]),
                _e(x["role"]),
                _fmt(x["n_samples"]),
                _fmt(x["nominal_srate"]),
                _fmt(x["effective_srate"], 5),
                _fmt(x["can_drop_samples"]),
            ]
            for x in streams
        ]
        parts.append(
            "<h3>Streams</h3>"
            + _table(
                ["stream", "type", "role", "samples", "nominal Hz", "effective Hz", "can drop"],
                rows,
                3,
            )
        )
    return "\n".join(parts)


def render_html(
    summary: dict[str, Any],
    analyses: list[SessionAnalysis],
    pooled_figs: dict[str, str],
    table: pd.DataFrame,
) -> str:
    """The whole report as one self-contained HTML document."""
    n = len(analyses)
    title = "mirrorvr analysis" + (
        f": {n} sessions" if n > 1 else f": {analyses[0].summary['session']}"
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)} {_badge(summary['qa_status'])}</h1>",
        f"<p class='muted'>mirrorvr {_e(summary['mirrorvr_version'])} · generated "
        f"{_e(summary['generated'])} · responder rule {_e(summary['responder_rule']['id'])}: "
        f"{_e(summary['responder_rule']['description'])}</p>",
    ]
    if n > 1:
        p = summary["pooled"]
        parts.append("<h2>Study overview</h2>")
        parts.append(
            _table(
                ["figure", "value"],
                [
                    ["sessions / patients", f"{p['sessions']} / {p['patients']}"],
                    ["responders", f"{p['responders']} ({_fmt(p['responder_rate'])})"],
                    ["median pain change (NRS)", _fmt(p["median_pain_change"])],
                    ["median % change", _fmt(p["median_pain_pct_change"])],
                    [
                        "pulses delivered / planned",
                        f"{p['pulses_delivered']} / {p['pulses_planned']}",
                    ],
                    ["e-stops", _fmt(p["estops"])],
                    ["QA", ", ".join(f"{k}: {v}" for k, v in p["qa"].items())],
                ],
            )
        )
        cols = ["session", "patient", "session_date", "pain_pre", "pain_post", "pain_pct_change",
                "responder", "pulses_delivered", "estops", "qa_status"]  # fmt: skip
        rows = [
            [_badge(v) if c == "qa_status" else _fmt(v) for c, v in zip(cols, r, strict=True)]
            for r in table[cols].itertuples(index=False)
        ]
        parts.append(_table(cols, rows, 3))
    if "pain" in pooled_figs:
        head = "Pain across sessions" if n > 1 else "Pain before and after"
        parts.append(f"<h2>{head}</h2>" + _img(pooled_figs["pain"], "pain"))
    if "laterality" in pooled_figs:
        parts.append(
            "<h2>Laterality, all sessions</h2>" + _img(pooled_figs["laterality"], "laterality")
        )
    for a in analyses:
        parts.append(_session_html(a))
    parts.append(
        "<p class='muted'>Every figure on this page is also in summary.json. Times are LSL "
        "seconds on the recording machine's clock.</p></body></html>"
    )
    return "\n".join(parts)


def metric(summary: dict[str, Any], name: str, session: int = 0) -> dict[str, Any]:
    """One metric of one session of a summary (helper for tools and tests)."""
    for m in summary["sessions"][session]["qa"]["metrics"]:
        if m["name"] == name:
            return dict(m)
    raise KeyError(name)


__all__ = [
    "Metric",
    "analyze_paths",
    "analyze_recording",
    "find_recordings",
    "metric",
    "session_row",
]
