"""Run a whole trial on a simulated cohort: enrol, randomise, treat, follow up, tabulate.

``simulate_trial`` creates a fresh clinic store in the output folder, registers the trial (its
allocation sealed), and for each simulated patient on the simulated calendar: eligibility,
baseline pain, screening into the trial, randomisation, the course's sessions, and follow-ups,
with missed visits, dropouts and adverse events from :mod:`mirrorvr.sim.cohort`.

**The per-session path is light** (docs/courses-and-trials.md explains why and what it keeps).
A full simulated session takes ~6 s here (~2 s CPU), so 40 patients × 10 sessions would take
about 40 minutes on this 2-core machine. Each session instead goes through the real parts that
decide and count a dose: the course's plan fitted to the patient from the store
(``plan_for_patient``), every readiness check including the governor's plan check with the
pulses already delivered that day (``readiness_problems``), the compiled timeline's pulse count,
and the store's session record, whose pulses count towards the day's limit. What it skips is
running the timeline (runner, stimulation process, emulator, event log); such sessions are
marked in their deviations. ``full_sessions`` runs the first N visits as whole simulated
sessions instead (``run_session``: governor, executor, emulated stimulator, event log).

The sim plays the unblinded operator (it reads each patient's arm to "mount" the coil and to
drive the simulated patient); every table and report it writes for blinded roles is built like
any other blinded output.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mirrorvr.clinic.course import Course
from mirrorvr.clinic.course_store import CourseStore
from mirrorvr.clinic.readiness import governor_inputs, plan_for_patient, readiness_problems
from mirrorvr.clinic.store import ClinicStore
from mirrorvr.clinic.trial import Trial, load_trial
from mirrorvr.clinic.trial_store import TrialStore
from mirrorvr.clinic.trial_table import table_rows, write_report, write_table
from mirrorvr.config.loader import plan_to_toml
from mirrorvr.errors import MirrorVRError, PlanError
from mirrorvr.session.timeline import compile_timeline
from mirrorvr.sim.cohort import CohortModel, SimulatedCoursePatient

LIGHT_NOTE = "simulated light session: plan fitted and governor-checked, pulses counted, not run"


@dataclass
class SimResult:
    """What a trial simulation wrote and how long it took."""

    out: Path
    files: list[Path]
    patients: int
    sessions: int
    full_sessions: int
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)


def _weekday(d: dt.date) -> dt.date:
    while d.weekday() >= 5:
        d += dt.timedelta(days=1)
    return d


def _eligibility_answers(rng: random.Random) -> dict[str, Any]:
    """A plausible eligibility form; a few patients have a seizure history or head hardware."""
    yn = lambda p: "yes" if rng.random() < p else "no"  # noqa: E731
    return {
        "gabapentinoid_tried": {
            "answer": "yes",
            "why_stopped": rng.choice(["no effect", "side effects"]),
        },
        "tricyclic_tried": {"answer": yn(0.5)},
        "snri_tried": {"answer": yn(0.3)},
        "seizure_history": yn(0.05),
        "head_hardware": yn(0.03),
        "depression_screened": {"answer": "yes", "phq9": rng.randint(0, 22)},
        "depression_treated": yn(0.6),
        "prosthesis_use": {"answer": yn(0.6)},
        "residual_limb_sensitivity": yn(0.3),
    }


def simulate_trial(
    trial_path: str | Path,
    patients: int,
    out: Path,
    *,
    seed: int | None = None,
    model: CohortModel | None = None,
    full_sessions: int = 0,
    unblind_at_end: bool = True,
    progress: Callable[[str], None] | None = None,
) -> SimResult:
    """Simulate ``patients`` patients through the trial; writes table, flow and report to ``out``."""
    t0 = time.perf_counter()
    if patients < 2:
        raise MirrorVRError(f"--patients {patients}: simulate at least 2 patients")
    trial = load_trial(trial_path)
    out = Path(out)
    db = out / "clinic.sqlite3"
    if db.exists():
        raise MirrorVRError(f"{db} exists: give an empty --out folder (a simulation starts afresh)")
    out.mkdir(parents=True, exist_ok=True)
    model = model or CohortModel()
    s = seed if seed is not None else (trial.spec.randomisation.seed or 0)
    rng = random.Random(s)
    # the calendar: the last patient's last follow-up falls before today (store dates are real)
    course_days = max(
        (c.spec.follow_ups[-1].days + c.spec.follow_ups[-1].window_days if c.spec.follow_ups else 0)
        + 3 * c.spec.sessions
        for c in trial.courses.values()
    )
    start = _weekday(dt.date.today() - dt.timedelta(days=3 * patients + course_days + 30))
    n_sessions = 0
    n_full = 0
    with ClinicStore(db) as store:
        ts = TrialStore(store)
        cs = CourseStore(store)
        ts.register(trial, actor="trial sim", seed=s)
        for i in range(patients):
            pid = f"SIM-{i + 1:03d}"
            enrol = _weekday(start + dt.timedelta(days=3 * i))
            months = rng.choice([1.5] + [rng.uniform(6, 180) for _ in range(14)])
            store.add_patient(
                pid,
                rng.choice(["left", "right"]),
                "transradial",
                enrol - dt.timedelta(days=int(30.44 * months)),
            )
            cs.record_eligibility(pid, _eligibility_answers(rng), recorded_by="trial sim")
            baseline_patient = SimulatedCoursePatient("sham", s * 1000 + i, model)
            baseline = float(baseline_patient.rate(enrol))
            store.add_rating(pid, baseline, timepoint="pre", date=enrol)
            e, _reasons = ts.enrol(trial, pid, baseline_nrs=baseline, day=enrol, actor="trial sim")
            if e is None:
                continue
            arm_id = ts.arm_for(trial.id, pid, "operator")
            if arm_id is None:
                raise MirrorVRError(
                    f"{trial_path}: the simulation plays the unblinded operator who mounts the "
                    "coil: list operator in blinding.unblinded"
                )
            arm = trial.spec.arm(arm_id)
            # the same person, now with their arm's course effect (baseline kept)
            patient = SimulatedCoursePatient(arm.stimulation, s * 1000 + i + 500_000, model)
            patient.baseline = baseline_patient.baseline
            course = trial.courses[arm_id]
            store.record_screening(pid, {k: False for k in _screening_items()}, date=enrol)
            n, full_left = _run_course(
                store, cs, pid, course, patient, enrol, out, full_sessions - n_full
            )
            n_sessions += n
            n_full += (full_sessions - n_full) - full_left
            if progress:
                progress(f"{pid}: {n} sessions")
        # blinded outputs first (what the assessor and statistician get) ...
        files = write_table(table_rows(store, trial.id, "assessor"), out)
        files += write_report(store, trial.id, "assessor", out)
        # ... then, because this is a simulation, unblind (audited) and write the arm-level view
        if unblind_at_end:
            ts.unblind(trial.id, actor="trial sim", reason="end of simulated trial")
            rows = table_rows(store, trial.id, "assessor")
            files += write_table(rows, out, stem="trial-table-unblinded")
            files += write_report(store, trial.id, "assessor", out, stem="report-unblinded")
        from mirrorvr.clinic.trial_table import summary

        summ = summary(store, trial.id, "assessor")
    return SimResult(out, files, patients, n_sessions, n_full, time.perf_counter() - t0, summ)


def _screening_items() -> list[str]:
    from mirrorvr.clinic.screening import ITEMS

    return list(ITEMS)


def _session(
    store: ClinicStore,
    cs: CourseStore,
    pid: str,
    course: Course,
    kind: str,
    number: int,
    day: dt.date,
    patient: SimulatedCoursePatient,
    out: Path,
    full: bool,
) -> None:
    """One course session or booster on ``day``: threshold, fitted plan, governor, dose, ratings."""
    ref = course.plan_for(kind, number)
    store.record_threshold(pid, 48.0 + sum(map(ord, pid)) % 10, "5-10", date=day)
    # rescreen when the screening has gone stale (it is valid 90 days)
    last = store.latest_screening(pid)
    if last is None or (day - last.date).days > 60:
        store.record_screening(pid, {k: False for k in _screening_items()}, date=day)
    inputs = governor_inputs(store, pid, day)
    plan = plan_for_patient(course.plans[ref], inputs)
    problems = readiness_problems(plan, inputs)
    if problems:
        raise PlanError(problems)
    timeline = compile_timeline(plan)
    folder = out / "sessions" / f"{pid}-{kind}-{number}"
    sid = store.create_session(
        pid,
        plan_name=plan.session.name,
        plan_toml=plan_to_toml(plan),
        folder=folder,
        pulses_planned=timeline.total_pulses,
        date=day,
    )
    if full:
        _run_full(store, sid, plan, folder, day, inputs.pulses_today)
    else:
        cs.complete_without_log(sid, timeline.total_pulses, LIGHT_NOTE)
    pre, post = patient.session(day)
    if not full:
        store.add_rating(pid, pre, timepoint="pre", date=day, session_id=sid)
        store.add_rating(pid, post, timepoint="post", date=day, session_id=sid)
    for desc, sev, rel in patient.adverse_events():
        store.add_adverse_event(sid, desc, sev, rel, action="observed; session continued")
    cs.record_visit(pid, kind, day=day, number=number, session_id=sid, actor="trial sim")


def _run_full(
    store: ClinicStore, sid: int, plan: Any, folder: Path, day: dt.date, pulses_today: int
) -> None:
    """A whole simulated session (runner, governor, executor, emulated stimulator, event log)."""
    from mirrorvr.run.session import LaunchOptions, run_session

    opts = LaunchOptions(
        out=folder, realtime=False, simulated=True, session_date=day, pulses_today=pulses_today
    )
    try:
        run_session(plan, opts)
    finally:
        store.import_session_log(sid)


def _run_course(
    store: ClinicStore,
    cs: CourseStore,
    pid: str,
    course: Course,
    patient: SimulatedCoursePatient,
    enrol: dt.date,
    out: Path,
    full_left: int,
) -> tuple[int, int]:
    """Sessions then follow-ups on the simulated calendar; returns (sessions run, full left)."""
    spec = course.spec
    day = enrol
    done = 0
    n = 0
    last_session = enrol
    while n < spec.sessions:
        if patient.drops_out():
            rec = cs.current_course(pid)
            cs.set_course_status(rec.id, "lost", "dropped out (simulated)", actor="trial sim")
            return done, full_left
        n += 1
        if patient.misses():
            cs.record_visit(pid, "session", day=day, number=n, status="missed", actor="trial sim")
        else:
            _session(store, cs, pid, course, "session", n, day, patient, out, full_left > 0)
            full_left -= full_left > 0
            done += 1
        last_session = day
        day = _weekday(day + dt.timedelta(days=spec.schedule.spacing_days))
    for k, fu in enumerate(spec.follow_ups, start=1):
        fday = last_session + dt.timedelta(days=fu.days)
        if patient.drops_out():
            rec = cs.current_course(pid)
            cs.set_course_status(rec.id, "lost", "lost to follow-up (simulated)", actor="trial sim")
            return done, full_left
        if patient.misses():
            cs.record_visit(
                pid, "follow-up", day=fday, number=k, status="missed", actor="trial sim"
            )
        else:
            cs.record_visit(
                pid,
                "follow-up",
                day=fday,
                number=k,
                outcomes=patient.follow_up(fday),
                actor="trial sim",
            )
    rec = cs.current_course(pid)
    cs.set_course_status(rec.id, "completed", "course and follow-ups done", actor="trial sim")
    return done, full_left


def load(trial_path: str | Path) -> Trial:
    """The trial file, validated (exposed for the CLI's error path)."""
    return load_trial(trial_path)
