"""The trial's outcome table (one row per patient × visit), CONSORT-style flow and report.

Every output takes the ``role`` it is for. For a blinded role the ``arm`` column says
``blinded`` and the report groups patients under sealed group labels ("group A", "group B")
whose mapping to arms is shown only after the whole trial is unblinded. Dose is the pulses the
stimulator fired — the same in both arms, because a sham coil fires too; an unblinded table adds
the coil.

The rows are derived from the store each time (ratings, visits, sessions, adverse events):
nothing here is stored.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

from mirrorvr.analysis.outcomes import RESPONDER_RULES
from mirrorvr.clinic.course_store import CourseStore
from mirrorvr.clinic.store import ClinicStore
from mirrorvr.clinic.trial_store import TrialStore

BLINDED = "blinded"

COLUMNS = [
    "trial",
    "patient",
    "arm",
    "stratum",
    "visit",
    "kind",
    "number",
    "date",
    "day",
    "status",
    "baseline_nrs",
    "pre_nrs",
    "post_nrs",
    "pain_nrs",
    "pct_change",
    "responder_30",
    "responder_50",
    "nrs_last_week",
    "plp_frequency",
    "bpi_interference",
    "pulses_planned",
    "pulses_delivered",
    "deviations",
    "adverse_events",
    "max_ae_severity",
    "unblinded",
]


def _arm_view(ts: TrialStore, trial_id: str, patient: str, role: str) -> str:
    return ts.arm_for(trial_id, patient, role) or BLINDED


def table_rows(store: ClinicStore, trial_id: str, role: str) -> list[dict[str, Any]]:
    """One row per randomised patient × recorded visit, as ``role`` may see it."""
    ts = TrialStore(store)
    cs = CourseStore(store)
    r30 = RESPONDER_RULES["immpact-moderate@1"]
    r50 = RESPONDER_RULES["immpact-substantial@1"]
    rows: list[dict[str, Any]] = []
    for e in ts.enrolments(trial_id):
        if e.stage != "randomised":
            continue
        arm = _arm_view(ts, trial_id, e.patient_id, role)
        courses = [c for c in cs.courses(e.patient_id) if c.trial_id == trial_id]
        ratings = store.ratings(e.patient_id)
        for course in courses:
            for v in cs.visits(course.id):
                pre = post = pain = None
                planned = delivered = None
                devs: list[str] = []
                aes: list[dict[str, Any]] = []
                if v.session_id is not None:
                    s = store.session(v.session_id)
                    mine = [r for r in ratings if r.session_id == v.session_id]
                    pre = next((r.nrs for r in mine if r.timepoint == "pre"), None)
                    post = next((r.nrs for r in reversed(mine) if r.timepoint == "post"), None)
                    pain = pre
                    planned, delivered = s.pulses_planned, s.pulses_delivered
                    devs, aes = s.deviations, s.adverse_events
                elif v.kind == "follow-up" and v.status == "done":
                    pain = v.outcomes.get("nrs_now")
                    if pain is None and "vas_now" in v.outcomes:
                        pain = v.outcomes["vas_now"] / 10.0
                if v.status == "missed":
                    devs = [*devs, "visit missed"]
                b = course.baseline
                pct = None if b in (None, 0) or pain is None else 100.0 * (pain - b) / b
                sev = [a["severity"] for a in aes]
                rows.append(
                    {
                        "trial": trial_id,
                        "patient": e.patient_id,
                        "arm": arm,
                        "stratum": e.stratum,
                        "visit": v.label,
                        "kind": v.kind,
                        "number": v.number,
                        "date": v.date.isoformat(),
                        "day": (v.date - course.started).days,
                        "status": v.status,
                        "baseline_nrs": b,
                        "pre_nrs": pre,
                        "post_nrs": post,
                        "pain_nrs": pain,
                        "pct_change": None if pct is None else round(pct, 1),
                        "responder_30": r30.judge(b, pain),
                        "responder_50": r50.judge(b, pain),
                        "nrs_last_week": v.outcomes.get("nrs_last_week"),
                        "plp_frequency": v.outcomes.get("plp_frequency"),
                        "bpi_interference": v.outcomes.get("bpi_interference"),
                        "pulses_planned": planned,
                        "pulses_delivered": delivered,
                        "deviations": "; ".join(devs),
                        "adverse_events": "; ".join(
                            f"{a['description']} ({a['severity']}, {a['relatedness']})" for a in aes
                        ),
                        "max_ae_severity": max(
                            sev, key=("mild", "moderate", "severe").index, default=None
                        ),
                        "unblinded": ts.unblinded(trial_id, e.patient_id),
                    }
                )
    return rows


def write_table(rows: list[dict[str, Any]], out: Path, stem: str = "trial-table") -> list[Path]:
    """Write the rows as CSV and Parquet; returns the paths."""
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("responder_30", "responder_50"):
        df[col] = df[col].astype("boolean")
    csv, pq = out / f"{stem}.csv", out / f"{stem}.parquet"
    df.to_csv(csv, index=False)
    df.to_parquet(pq, index=False)
    return [csv, pq]


def flow_counts(store: ClinicStore, trial_id: str, role: str) -> dict[str, Any]:
    """CONSORT-style counts: screened, eligible, randomised (per arm or group), completed, lost."""
    ts = TrialStore(store)
    cs = CourseStore(store)
    es = ts.enrolments(trial_id)
    spec = ts.spec(trial_id)
    out: dict[str, Any] = {
        "trial": trial_id,
        "screened": len(es),
        "excluded": sum(1 for e in es if e.stage == "ineligible"),
        "exclusion_reasons": {},
        "eligible": sum(1 for e in es if e.stage != "ineligible"),
        "randomised": sum(1 for e in es if e.stage == "randomised"),
        "by_group": {},
    }
    for e in es:
        if e.stage == "ineligible":
            key = e.reason or "not recorded"
            out["exclusion_reasons"][key] = out["exclusion_reasons"].get(key, 0) + 1
    codes = ts.group_codes(trial_id)
    arms = ts._all_arms(trial_id)
    whole = ts.unblinded(trial_id)
    for e in es:
        if e.stage != "randomised":
            continue
        label = (
            arms[e.patient_id]
            if (whole or role in spec.blinding.unblinded)
            else codes[arms[e.patient_id]]
        )
        g = out["by_group"].setdefault(
            label,
            {
                "randomised": 0,
                "completed_course": 0,
                "completed_follow_up": 0,
                "lost": 0,
                "withdrawn": 0,
            },
        )
        g["randomised"] += 1
        for c in cs.courses(e.patient_id):
            if c.trial_id != trial_id:
                continue
            vs = cs.visits(c.id)
            if sum(1 for v in vs if v.kind == "session") >= c.spec.sessions:
                g["completed_course"] += 1
            fus = [v for v in vs if v.kind == "follow-up"]
            if c.spec.follow_ups and len(fus) == len(c.spec.follow_ups):
                g["completed_follow_up"] += 1
            if c.status == "lost":
                g["lost"] += 1
            if c.status == "withdrawn":
                g["withdrawn"] += 1
    out["labels"] = "arms" if (whole or role in spec.blinding.unblinded) else "blinded groups"
    return out


def _label_rows(
    store: ClinicStore, trial_id: str, rows: list[dict[str, Any]], role: str
) -> list[dict[str, Any]]:
    """Rows with a ``group`` column: the arm if ``role`` may see it, else the sealed group code."""
    ts = TrialStore(store)
    spec = ts.spec(trial_id)
    codes = ts.group_codes(trial_id)
    arms = ts._all_arms(trial_id)
    see = ts.unblinded(trial_id) or role in spec.blinding.unblinded
    return [r | {"group": arms[r["patient"]] if see else codes[arms[r["patient"]]]} for r in rows]


def summary(store: ClinicStore, trial_id: str, role: str) -> dict[str, Any]:
    """Per group: mean pain by visit, and responder rates at the primary visit."""
    import pandas as pd

    ts = TrialStore(store)
    spec = ts.spec(trial_id)
    rows = _label_rows(store, trial_id, table_rows(store, trial_id, role), role)
    df = pd.DataFrame(rows)
    out: dict[str, Any] = {"primary_visit": spec.trial.primary_visit, "groups": {}}
    if df.empty:
        return out
    primary = f"follow-up {spec.trial.primary_visit}"
    for g, d in df.groupby("group"):
        done = d[d["status"] == "done"]
        traj = (
            done.groupby(["kind", "number", "visit"], sort=False)["pct_change"]
            .agg(["mean", "count"])
            .reset_index()
        )
        order = {"session": 0, "booster": 1, "follow-up": 2}
        traj = traj.sort_values(
            by=["kind", "number"], key=lambda s: s.map(order) if s.name == "kind" else s
        )
        p = done[done["visit"] == primary]
        out["groups"][str(g)] = {
            "patients": int(d["patient"].nunique()),
            "trajectory": [
                {
                    "visit": r.visit,
                    "mean_pct_change": round(float(r["mean"]), 1),
                    "n": int(r["count"]),
                }
                for _, r in traj.iterrows()
                if r["mean"] == r["mean"]
            ],
            "primary_n": len(p),
            "primary_mean_pct_change": None if p.empty else round(float(p["pct_change"].mean()), 1),
            "responders_30_pct": None
            if p.empty
            else round(100.0 * float(p["responder_30"].fillna(False).mean()), 1),
            "responders_50_pct": None
            if p.empty
            else round(100.0 * float(p["responder_50"].fillna(False).mean()), 1),
            "adverse_events": int((d["adverse_events"] != "").sum()),
            # "description (severity, relatedness)" -> count, over every session of the group
            "adverse_events_by_kind": dict(
                sorted(
                    Counter(
                        a for cell in d["adverse_events"] if cell for a in str(cell).split("; ")
                    ).items()
                )
            ),
        }
    return out


def _plot(summ: dict[str, Any]) -> str:
    """Mean % change in pain by visit, per group, as a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    for g, d in sorted(summ["groups"].items()):
        xs = [t["visit"] for t in d["trajectory"]]
        ys = [t["mean_pct_change"] for t in d["trajectory"]]
        ax.plot(range(len(xs)), ys, marker="o", label=g)
        ax.set_xticks(range(len(xs)), xs, rotation=60, ha="right", fontsize=7)
    ax.axhline(-30, color="grey", lw=0.8, ls="--")
    ax.axhline(-50, color="grey", lw=0.8, ls=":")
    ax.set_ylabel("pain change from course baseline (%)")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def write_report(
    store: ClinicStore, trial_id: str, role: str, out: Path, stem: str = "report"
) -> list[Path]:
    """Write the flow counts (JSON), the summary (JSON) and an HTML report for ``role``."""
    out.mkdir(parents=True, exist_ok=True)
    ts = TrialStore(store)
    spec = ts.spec(trial_id)
    flow = flow_counts(store, trial_id, role)
    summ = summary(store, trial_id, role)
    flow_p = out / f"flow{stem.removeprefix('report')}.json"  # flow.json, flow-unblinded.json
    summ_p = out / f"{stem}-summary.json"
    flow_p.write_text(json.dumps(flow, indent=2))
    summ_p.write_text(json.dumps(summ, indent=2))
    e = html.escape
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>{e(spec.trial.title or trial_id)}</title>",
        f"<h1>{e(spec.trial.title or trial_id)}</h1>",
        f"<p>Labels: <b>{e(flow['labels'])}</b>"
        + (" (sealed until the trial is unblinded)" if flow["labels"] != "arms" else "")
        + "</p>",
        "<h2>Flow</h2><table border=1 cellpadding=4>",
        f"<tr><td>screened</td><td>{flow['screened']}</td></tr>",
        f"<tr><td>excluded</td><td>{flow['excluded']}</td></tr>",
        *(
            f"<tr><td>&nbsp;&nbsp;{e(k)}</td><td>{v}</td></tr>"
            for k, v in flow["exclusion_reasons"].items()
        ),
        f"<tr><td>randomised</td><td>{flow['randomised']}</td></tr></table>",
        "<table border=1 cellpadding=4><tr><th></th><th>randomised</th><th>completed course</th>"
        "<th>completed follow-up</th><th>lost</th><th>withdrawn</th></tr>",
        *(
            f"<tr><td>{e(g)}</td><td>{d['randomised']}</td><td>{d['completed_course']}</td>"
            f"<td>{d['completed_follow_up']}</td><td>{d['lost']}</td><td>{d['withdrawn']}</td></tr>"
            for g, d in sorted(flow["by_group"].items())
        ),
        "</table>",
        f"<h2>Primary outcome: pain change at follow-up {e(summ['primary_visit'])}</h2>",
        "<table border=1 cellpadding=4><tr><th></th><th>n</th><th>mean % change</th>"
        "<th>responders ≥30 %</th><th>responders ≥50 %</th><th>sessions with AEs</th></tr>",
        *(
            f"<tr><td>{e(g)}</td><td>{d['primary_n']}</td><td>{d['primary_mean_pct_change']}</td>"
            f"<td>{d['responders_30_pct']} %</td><td>{d['responders_50_pct']} %</td>"
            f"<td>{d['adverse_events']}</td></tr>"
            for g, d in sorted(summ["groups"].items())
        ),
        "</table>",
    ]
    kinds = sorted({k for d in summ["groups"].values() for k in d["adverse_events_by_kind"]})
    if kinds:
        groups = sorted(summ["groups"])
        parts.append(
            "<h2>Adverse events (description, severity, relatedness)</h2>"
            "<table border=1 cellpadding=4><tr><th></th>"
            + "".join(f"<th>{e(g)}</th>" for g in groups)
            + "</tr>"
            + "".join(
                f"<tr><td>{e(k)}</td>"
                + "".join(
                    f"<td>{summ['groups'][g]['adverse_events_by_kind'].get(k, 0)}</td>"
                    for g in groups
                )
                + "</tr>"
                for k in kinds
            )
            + "</table>"
        )
    if summ["groups"]:
        parts.append(
            f"<h2>Pain trajectory</h2><img alt='trajectory' src='data:image/png;base64,{_plot(summ)}'>"
        )
    un = ts.unblindings(trial_id)
    if un:
        parts.append("<h2>Unblinding</h2><ul>")
        parts += [
            f"<li>{e(u['t'])}: {e(u['patient_id'] or 'whole trial')} by {e(u['actor'])} — {e(u['reason'])}</li>"
            for u in un
        ]
        parts.append("</ul>")
    rep = out / f"{stem}.html"
    rep.write_text("\n".join(parts), encoding="utf-8")
    return [flow_p, summ_p, rep]
