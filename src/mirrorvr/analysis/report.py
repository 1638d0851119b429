"""``mirrorvr analyze``: one or many recordings → ``summary.json``, ``report.html`` and, when
pooling, ``sessions.csv`` / ``sessions.parquet`` (one tidy row per session).

Recordings are analysed one at a time and only their figures and small tables are kept, so
pooling a study does not hold every session's signals in memory.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mirrorvr import __version__
from mirrorvr.analysis import plots
from mirrorvr.analysis.embodiment import embodiment_row
from mirrorvr.analysis.loader import XDF_SUFFIXES, AnalysisError, load_recording
from mirrorvr.analysis.outcomes import ResponderRule, responder_rule, run_outcomes
from mirrorvr.analysis.pme import pme_row
from mirrorvr.analysis.qa import (
    STATUS_ORDER,
    Metric,
    QASettings,
    overall_status,
    run_qa,
)
from mirrorvr.analysis.recording import Recording
from mirrorvr.session.folder import SessionFolder


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
    warnings = list(rec.warnings) + gap_warnings(rec, metrics)
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
        "warnings": warnings,
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


def gap_warnings(rec: Recording, metrics: list[Metric]) -> list[str]:
    """One line per stream whose gaps made ``stream_gap_ms`` warn or fail."""
    m = next((x for x in metrics if x.name == "stream_gap_ms"), None)
    if m is None or m.status not in ("warn", "fail") or m.threshold is None:
        return []
    out = []
    for name, d in m.detail.get("streams", {}).items():
        if d["gaps"] and d["longest_ms"] > m.threshold.warn:
            at = ", ".join(f"{x:g}" for x in d["at_s"][:5])
            out.append(
                f"{rec.source}: stream {name}: {d['gaps']} gap(s) in the data, longest "
                f"{d['longest_ms']:.0f} ms (at {at} s from the start): samples were lost"
            )
    return out


#: roles whose sample values analysis reads whole; pose and other streams (EEG, ...) are used
#: for their timestamps only (frame times, gaps), and EMG only in the windows around pulses
#: (MEPs), so those values are read as needed, if at all
ANALYSIS_VALUES = frozenset({"frames", "markers", "events", "state", "stim"})


def analyze_path(path: Path, settings: QASettings, rule: ResponderRule) -> SessionAnalysis:
    """Load one recording (only what analysis needs) and analyse it."""
    rec = load_recording(path, values=ANALYSIS_VALUES)
    return analyze_recording(rec, settings, rule)


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
        "mep_channel": mep.get("channel") if mep.get("available") else None,
        "qa_status": summary["qa"]["status"],
        **pme_row(o.get("pme") or {}),
        **embodiment_row(o.get("embodiment") or {}),
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
        sf = SessionFolder(p)
        # a session folder whose log is lost still is one (its plan and metadata are there):
        # loading it announces the fallback to its XDF instead of passing it off as a bare XDF
        if p.is_dir() and (sf.has_log() or (sf.plan.exists() and sf.xdf.exists())):
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
    jobs: int = 1,
) -> dict[str, Any]:
    """Analyse recordings and write ``summary.json`` and ``report.html`` (plus the tidy table
    when ``pooled``) into ``out``; returns the summary. ``jobs`` > 1 analyses that many
    recordings at once, each in a process of its own."""
    s = settings or QASettings()
    r = rule or responder_rule(None)
    out.mkdir(parents=True, exist_ok=True)
    analyses: list[SessionAnalysis] = []
    todo = list(paths)
    if jobs > 1 and len(todo) > 1:
        import concurrent.futures as cf
        import multiprocessing as mp

        # spawn, not fork: the parent may have threads (a progress bar) a fork would copy
        # mid-lock; each worker holds one recording at a time
        with cf.ProcessPoolExecutor(
            max_workers=min(jobs, len(todo)), mp_context=mp.get_context("spawn")
        ) as pool:
            futures = {pool.submit(analyze_path, p, s, r): p for p in todo}
            for fut in cf.as_completed(futures):
                if progress:
                    progress(f"loading {futures[fut].name}")
                    progress(f"analysing {futures[fut].name}")
                analyses.append(fut.result())
    else:
        for p in todo:
            if progress:
                progress(f"loading {p.name}")
            analyses.append(analyze_path(p, s, r))
            if progress:
                progress(f"analysing {p.name}")
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


# ---- HTML (Jinja2 templates in analysis/templates/) ---------------------------------------

#: Templates rendered in order inside each session's section of the report (after its header
#: and warnings). Another analysis adds its own section by appending a template name here;
#: a template sees ``s`` (the session's summary.json entry) and ``figures`` (base64 PNGs).
SESSION_SECTIONS: list[str] = [
    "qa.html.j2", "outcomes.html.j2", "mep.html.j2", "pme.html.j2", "embodiment.html.j2",
]  # fmt: skip

#: Columns of the pooled table shown in the study overview (all columns are in sessions.csv).
STUDY_COLUMNS: list[str] = [
    "session", "patient", "session_date", "pain_pre", "pain_post", "pain_pct_change",
    "responder", "embodiment_mean", "pulses_delivered", "estops", "qa_status",
]  # fmt: skip

_TEMPLATES = Path(__file__).with_name("templates")


def fmt(x: Any, nd: int = 4) -> str:
    """A figure for the report: – for missing, yes/no for booleans, 4 significant digits."""
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "–"
        if abs(x) >= 1000:
            return f"{x:.0f}"
        return f"{x:.{nd}g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"
    return str(x)


@functools.cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,  # every value from a recording is text a stranger may have written
        undefined=jinja2.ChainableUndefined,  # a figure absent from an old summary is blank
        extensions=["jinja2.ext.do"],
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = fmt
    env.filters["status_color"] = plots.status_color
    return env


def render_html(
    summary: dict[str, Any],
    analyses: list[SessionAnalysis],
    pooled_figs: dict[str, str],
    table: pd.DataFrame,
) -> str:
    """The whole report as one self-contained HTML document (templates/report.html.j2)."""
    n = len(analyses)
    title = "mirrorvr analysis" + (
        f": {n} sessions" if n > 1 else f": {analyses[0].summary['session']}"
    )
    cols = [c for c in STUDY_COLUMNS if c in table.columns]
    rows = [dict(zip(cols, r, strict=True)) for r in table[cols].itertuples(index=False)]
    return str(
        _environment()
        .get_template("report.html.j2")
        .render(
            title=title,
            css=(_TEMPLATES / "report.css").read_text(encoding="utf-8"),
            summary=summary,
            analyses=analyses,
            pooled_figs=pooled_figs,
            study_columns=cols,
            study_rows=[_clean(r) for r in rows],
            sections=SESSION_SECTIONS,
        )
    )


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
