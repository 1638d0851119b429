"""A course of treatment: its file (TOML), its schedule, and where a patient stands in it.

A course names the session plan(s) (phases of N sessions each), the spacing of sessions and the
gaps allowed, boosters (an interval range and a trigger: pain back to at least X % of the course
baseline), a re-treatment rule, follow-up visits with the instruments to collect, and the
responder rules (≥ 30 % and ≥ 50 % decrease from the course baseline by default, the IMMPACT
benchmarks in clinical-workflow.md §4).

:func:`course_status` is pure: from the course, its recorded visits and the patient's ratings it
derives sessions done and due, adherence, the pain trajectory (every rating counts, in or out of
a session), responder status, and whether a booster or a re-treatment course is suggested and why.
Nothing derived is stored. :func:`load_course` refuses a course whose schedule would exceed the
plan's daily pulse limit or the course's weekly one.

The code lives in :mod:`mirrorvr.clinic.course_spec` (the file's model),
:mod:`mirrorvr.clinic.course_schedule` (loading, schedule checks, planned dates) and
:mod:`mirrorvr.clinic.course_progress` (visits and status); this module re-exports their names.
"""

from mirrorvr.clinic.course_progress import (
    CourseStatus,
    NextVisit,
    Visit,
    VisitKind,
    check_outcomes,
    check_visit,
    course_status,
    trajectory,
)
from mirrorvr.clinic.course_schedule import (
    Course,
    load_course,
    parse_course,
    planned_dates,
    schedule_problems,
)
from mirrorvr.clinic.course_spec import (
    INSTRUMENTS,
    PLP_FREQUENCY,
    Boosters,
    CourseError,
    CourseInfo,
    CourseSpec,
    FollowUp,
    Phase,
    Responders,
    Retreatment,
    Schedule,
)

__all__ = [
    "INSTRUMENTS",
    "PLP_FREQUENCY",
    "Boosters",
    "Course",
    "CourseError",
    "CourseInfo",
    "CourseSpec",
    "CourseStatus",
    "FollowUp",
    "NextVisit",
    "Phase",
    "Responders",
    "Retreatment",
    "Schedule",
    "Visit",
    "VisitKind",
    "check_outcomes",
    "check_visit",
    "course_status",
    "load_course",
    "parse_course",
    "planned_dates",
    "schedule_problems",
    "trajectory",
]
