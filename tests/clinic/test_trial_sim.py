"""A simulated trial end to end, the blinding proof over every output, a course's concurrency."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import re
from pathlib import Path

import pandas as pd
import pytest

from mirrorvr.clinic.course import CourseError
from mirrorvr.clinic.course_store import CourseStore
from mirrorvr.clinic.eligibility import ITEMS
from mirrorvr.clinic.store import ClinicStore
from mirrorvr.clinic.trial_store import TrialStore
from mirrorvr.clinic.trial_table import flow_counts, table_rows
from mirrorvr.config.loader import load_plan, plan_to_toml
from mirrorvr.run.trial_sim import simulate_trial
from mirrorvr.sim.cohort import CohortModel

ROOT = Path(__file__).resolve().parents[2]
TRIAL = ROOT / "configs/trials/malavera-sham.toml"

# what differs between any two patients' plans: threshold, dates, side
_per_patient = re.compile(r"^(rmt_pct_mso|measured_on|completed_on|amputation_side) = .*$", re.M)
# arm ids and labels nobody would write by chance: if any blinded output contains one, it leaked
MARKERS = ("zqxactivearm", "wvyshamarm", "LBLZQXACT", "LBLWVYSHAM")


def _marked_trial(tmp: Path) -> Path:
    text = (
        TRIAL.read_text()
        .replace('id = "active"', f'id = "{MARKERS[0]}"')
        .replace('id = "sham"', f'id = "{MARKERS[1]}"')
        .replace('label = "active rTMS + mirror therapy"', f'label = "{MARKERS[2]}"')
        .replace('label = "sham rTMS (sham coil) + mirror therapy"', f'label = "{MARKERS[3]}"')
        .replace(
            'course = "../courses/malavera-10.toml"',
            f'course = "{TRIAL.parent.parent}/courses/malavera-10.toml"',
        )
    )
    p = tmp / "marked.toml"
    p.write_text(text)
    return p


def test_forty_patients_recover_the_simulated_effect(tmp_path: Path) -> None:
    r = simulate_trial(TRIAL, 40, tmp_path / "out")
    names = {p.name for p in r.files}
    assert {"trial-table.csv", "trial-table.parquet", "flow.json", "report.html"} <= names
    blinded = pd.read_parquet(tmp_path / "out/trial-table.parquet")
    assert set(blinded["arm"]) == {"blinded"}
    un = pd.read_csv(tmp_path / "out/trial-table-unblinded.csv")
    assert set(un["arm"]) == {"active", "sham"}
    flow = json.loads((tmp_path / "out/flow.json").read_text())
    assert flow["screened"] == 40 and flow["randomised"] + flow["excluded"] == 40
    assert sum(g["randomised"] for g in flow["by_group"].values()) == flow["randomised"]
    # the simulation was given -53 % (active) vs -23 % (sham) at the end of the course, decaying
    # with a 30-day time constant: at 15 days about -30 % vs -13 %
    g = r.summary["groups"]
    diff = g["active"]["primary_mean_pct_change"] - g["sham"]["primary_mean_pct_change"]
    assert -35 < diff < -5
    end = {k: next(t for t in v["trajectory"] if t["visit"] == "session 10") for k, v in g.items()}
    assert end["active"]["mean_pct_change"] < end["sham"]["mean_pct_change"] < 0
    # light sessions say so in their deviations; doses are the plan's pulses in both arms
    done = un[(un["kind"] == "session") & (un["status"] == "done")]
    assert set(done["pulses_delivered"]) == {1200}
    assert done["deviations"].str.contains("light session").all()


def test_no_blinded_output_contains_the_arm(tmp_path: Path) -> None:
    out = tmp_path / "out"
    trial = _marked_trial(tmp_path)
    # a few patients; the first two visits are whole simulated sessions with event logs
    simulate_trial(trial, 8, out, full_sessions=2, unblind_at_end=False, seed=3)
    texts: dict[str, str] = {}
    for f in out.rglob("*"):
        if f.is_file() and f.suffix in (".csv", ".json", ".html", ".jsonl", ".toml", ".txt"):
            texts[str(f)] = f.read_text(errors="replace")
    texts["parquet"] = pd.read_parquet(out / "trial-table.parquet").to_csv()
    assert any("events.jsonl" in k for k in texts), "no session event log was produced"
    with ClinicStore(out / "clinic.sqlite3") as s:
        ts = TrialStore(s)
        cs = CourseStore(s)
        tid = ts.trials()[0]
        for role in ("patient", "therapist", "assessor", "statistician"):
            texts[f"table {role}"] = json.dumps(table_rows(s, tid, role), default=str)
            texts[f"flow {role}"] = json.dumps(flow_counts(s, tid, role))
        for p in s.patients():
            if cs.courses(p.id):
                status = cs.status(p.id, dt.date.today())[1].as_dict()
                texts[f"course {p.id}"] = json.dumps(status, default=str)
            texts[f"trend {p.id}"] = json.dumps(s.pain_trend(p.id))
            for sess in s.sessions(p.id):
                texts[f"session {sess.id}"] = json.dumps(sess.__dict__, default=str)
        texts["audit"] = json.dumps(
            [a for a in s.audit_log() if a["action"] != "operator_view"], default=str
        )
        # what each arm's sessions ran is the same plan, byte for byte (bar the patient)
        arms = ts._all_arms(tid)
        plans: dict[str, set[str]] = {}
        for pid, arm in arms.items():
            for sess in s.sessions(pid):
                row = s._rows("SELECT plan_toml FROM sessions WHERE id = ?", sess.id)[0][0]
                plans.setdefault(arm, set()).add(_per_patient.sub("", row.replace(pid, "PID")))
        assert len(plans) == 2 and plans[MARKERS[0]] == plans[MARKERS[1]]
    for where, text in texts.items():
        for m in MARKERS:
            assert m not in text, f"{m} leaked into {where}"
    # and the operator's unblinded view does show it (the markers are really in the store)
    with ClinicStore(out / "clinic.sqlite3") as s:
        ts = TrialStore(s)
        pid = next(iter(ts._all_arms(ts.trials()[0])))
        assert any(
            m in ts.operator_instruction(ts.trials()[0], pid, "operator") for m in MARKERS[:2]
        )


def _run_sessions(db: str, pid: str, folder: str, n: int) -> None:
    """One process recording sessions of the same course as another process."""
    plan = plan_to_toml(load_plan("console-demo"))
    with ClinicStore(db) as s:
        cs = CourseStore(s)
        for k in range(n):
            sid = s.create_session(
                pid,
                plan_name="malavera",
                plan_toml=plan,
                folder=Path(folder) / f"s{k}",
                pulses_planned=80,
                date=dt.date.today(),
            )
            cs.complete_without_log(sid, 80, "test")
            s.add_rating(pid, 6, timepoint="pre", session_id=sid)
            cs.record_visit(pid, "session", day=dt.date.today(), session_id=sid)


def test_two_processes_running_sessions_of_one_course_keep_the_store_consistent(
    tmp_path: Path,
) -> None:
    db = tmp_path / "c.sqlite3"
    text = (ROOT / "configs/courses/malavera-10.toml").read_text()
    # an accelerated variant: four short sessions a day are allowed (80 pulses each)
    text = (
        text.replace("sessions_per_day = 1", "sessions_per_day = 4")
        .replace('plan = "malavera-mirror"', 'plan = "console-demo"')
        .replace("max_pulses_per_week = 6000", "")
    )
    from mirrorvr.clinic.course import parse_course

    course = parse_course(text, "c.toml", ROOT / "configs/courses")
    with ClinicStore(db) as s:
        s.add_patient("P1", "left", amputation_date=dt.date(2020, 1, 1))
        cs = CourseStore(s)
        cs.record_eligibility("P1", {k: "no" for k in ITEMS})
        cs.start_course("P1", course, day=dt.date.today())
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_run_sessions, args=(str(db), "P1", str(tmp_path / f"p{i}"), 2))
        for i in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with ClinicStore(db) as s:
        cs = CourseStore(s)
        rec = cs.current_course("P1")
        visits = cs.visits(rec.id)
        assert sorted(v.number for v in visits) == [1, 2, 3, 4]
        assert len({v.session_id for v in visits}) == 4
        assert len(s.sessions("P1")) == 4 and len(s.ratings("P1")) == 4
        assert s.pulses_today("P1") == 320
        _, status = cs.status("P1", dt.date.today())
        assert status.sessions_done == 4 and status.next is not None
        assert status.next.number == 5
        # a fifth session that day is one more than the course allows
        with pytest.raises(CourseError, match="allows 4 a day"):
            cs.record_visit("P1", "session", day=dt.date.today())


def test_cohort_model_active_beats_sham_and_decays() -> None:
    from mirrorvr.sim.cohort import SimulatedCoursePatient

    m = CohortModel(noise_sd=0.0)
    d0 = dt.date(2026, 1, 5)
    res = {}
    for arm in ("active", "sham"):
        p = SimulatedCoursePatient(arm, 1, m)
        p.baseline = 8.0
        for k in range(10):
            p.session(d0 + dt.timedelta(days=k))
        end = d0 + dt.timedelta(days=9)
        res[arm] = (p.expected_pain(end), p.expected_pain(end + dt.timedelta(days=90)))
    assert res["active"][0] < res["sham"][0] < 8.0
    assert res["active"][1] > res["active"][0] and res["active"][1] > 7.0  # mostly gone at 3 m
