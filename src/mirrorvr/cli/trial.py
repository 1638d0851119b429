"""``mirrorvr trial …``: register, enrol, operator view, unblind, tables, simulate.

Parsing and printing only. Every output here is a blinded one except ``trial operator`` (the
unblinded operator's coil instruction) and what follows an audited ``trial unblind``.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated

import typer

from mirrorvr.cli.common import DbOpt, err, out, parse_date, store
from mirrorvr.errors import MirrorVRError

trial_app = typer.Typer(
    help="Randomised, blinded trials: sealed allocation, blinded views, outcome table.",
    no_args_is_help=True,
)

TrialFile = Annotated[Path, typer.Argument(help="Trial TOML (configs/trials/).")]
TrialId = Annotated[str, typer.Argument(help="Registered trial id.")]


@trial_app.command("validate")
def validate(trial_file: TrialFile) -> None:
    """Check a trial file: arms, courses and their pulse limits, sham, blinding."""
    from mirrorvr.clinic.trial import check_randomisable, load_trial

    t = load_trial(trial_file)
    check_randomisable(t.spec)
    out.print(f"{t.id}: {t.spec.trial.title}", highlight=False)
    for a in t.spec.arms:
        c = t.courses[a.id]
        out.print(
            f"  arm {a.id} ({a.stimulation}, ratio {a.ratio}): {c.spec.course.name}",
            highlight=False,
        )
    sham = t.spec.sham.method + ("" if t.spec.verified_sham else " (UNVERIFIED: no reference)")
    out.print(f"  sham: {sham}", highlight=False)
    out.print(
        f"  blinded: {', '.join(t.spec.blinding.blinded)}; unblinded: "
        f"{', '.join(t.spec.blinding.unblinded) or 'nobody'}",
        highlight=False,
    )


@trial_app.command("register")
def register_trial(trial_file: TrialFile, db: DbOpt = None) -> None:
    """Register a trial: its allocation is generated and sealed in the store."""
    from mirrorvr.clinic.trial import load_trial
    from mirrorvr.clinic.trial_store import TrialStore

    t = load_trial(trial_file)
    with store(db) as s:
        digest = TrialStore(s).register(t)
    out.print(f"trial {t.id} registered; allocation sealed (sha256 {digest})", highlight=False)


@trial_app.command("enrol")
def enrol(
    trial_file: TrialFile,
    patient_id: Annotated[str, typer.Argument(help="Patient id.")],
    baseline: Annotated[float, typer.Option(help="Baseline pain NRS 0-10.")],
    date: Annotated[str | None, typer.Option(help="Date (YYYY-MM-DD, default today).")] = None,
    db: DbOpt = None,
) -> None:
    """Screen a patient into the trial; if eligible, randomise and start the arm's course."""
    from mirrorvr.clinic.trial import load_trial
    from mirrorvr.clinic.trial_store import TrialStore

    t = load_trial(trial_file)
    day = parse_date(date, "--date") if date else dt.date.today()
    with store(db) as s:
        s.add_rating(patient_id, baseline, timepoint="pre", date=day)
        e, reasons = TrialStore(s).enrol(t, patient_id, baseline_nrs=baseline, day=day)
    if e is None:
        out.print(f"{patient_id}: not eligible ({'; '.join(reasons)})", highlight=False)
        raise typer.Exit(1)
    out.print(
        f"{patient_id}: randomised in {t.id} (stratum {e.stratum or '-'}, allocation sealed); "
        "course started",
        highlight=False,
    )


@trial_app.command("operator")
def operator(
    trial_id: TrialId,
    patient_id: Annotated[str, typer.Argument(help="Patient id.")],
    role: Annotated[str, typer.Option(help="Your role in the trial (must be unblinded).")],
    db: DbOpt = None,
) -> None:
    """The unblinded operator's instruction: which coil to mount (audited)."""
    from mirrorvr.clinic.trial_store import TrialStore

    with store(db) as s:
        out.print(TrialStore(s).operator_instruction(trial_id, patient_id, role), highlight=False)


@trial_app.command("unblind")
def unblind(
    trial_id: TrialId,
    reason: Annotated[str, typer.Option(help="Why (e.g. a serious adverse event).")],
    by: Annotated[str, typer.Option("--by", help="Who unblinds.")],
    patient: Annotated[
        str | None, typer.Option(help="One patient (default: the whole trial).")
    ] = None,
    confirm: Annotated[
        bool, typer.Option("--confirm", help="Required: unblinding cannot be undone.")
    ] = False,
    db: DbOpt = None,
) -> None:
    """Unblind one patient or the whole trial (needs a reason; audited; irreversible)."""
    from mirrorvr.clinic.trial_store import TrialStore

    if not confirm:
        raise MirrorVRError("unblinding cannot be undone: add --confirm")
    with store(db) as s:
        arm = TrialStore(s).unblind(trial_id, actor=by, reason=reason, patient_id=patient)
    out.print(
        f"{patient}: arm {arm}" if patient else f"trial {trial_id} unblinded", highlight=False
    )


@trial_app.command("table")
def table(
    trial_id: TrialId,
    outdir: Annotated[Path, typer.Option("--out", help="Folder for the table and report.")],
    role: Annotated[str, typer.Option(help="Whom the outputs are for.")] = "assessor",
    db: DbOpt = None,
) -> None:
    """Write the outcome table (CSV, Parquet), flow counts and report, as ``role`` sees them."""
    from mirrorvr.clinic.trial import ROLES, TrialError
    from mirrorvr.clinic.trial_table import table_rows, write_report, write_table

    if role not in ROLES:
        raise TrialError(f"--role {role}: use one of {', '.join(ROLES)}")
    with store(db) as s:
        files = write_table(table_rows(s, trial_id, role), outdir)
        files += write_report(s, trial_id, role, outdir)
    for f in files:
        out.print(str(f), highlight=False)


@trial_app.command("sim")
def sim(
    trial_file: TrialFile,
    patients: Annotated[int, typer.Option("--patients", help="Simulated patients.")] = 40,
    outdir: Annotated[Path, typer.Option("--out", help="Empty folder for everything.")] = Path(
        "trial-sim"
    ),
    seed: Annotated[int | None, typer.Option(help="Seed (default: the trial's).")] = None,
    effect: Annotated[
        list[str] | None,
        typer.Option(
            "--effect",
            help="ARM=FRACTION: full pain reduction the course builds towards in that arm "
            "(default active 0.53, sham 0.23, after Malavera 2016).",
        ),
    ] = None,
    full_sessions: Annotated[
        int,
        typer.Option(help="Run the first N sessions as whole simulated sessions (slow)."),
    ] = 0,
) -> None:
    """Simulate a cohort through the trial; writes the table, flow counts and report."""
    from mirrorvr.clinic.trial import load_trial
    from mirrorvr.run.trial_sim import simulate_trial
    from mirrorvr.sim.cohort import CohortModel

    t = load_trial(trial_file)
    model = CohortModel()
    effects = dict(model.effect)
    arms_set: dict[str, str] = {}
    for e in effect or []:
        arm_id, sep, val = e.partition("=")
        arm = t.spec.arm(arm_id)  # an unknown arm is refused, naming the arms
        try:
            f = float(val)
        except ValueError:
            f = -1.0
        if not sep or not 0 <= f < 1:
            raise MirrorVRError(f"--effect {e}: write ARM=FRACTION with 0 <= FRACTION < 1")
        if arms_set.get(arm.stimulation, arm.id) != arm.id:
            raise MirrorVRError(
                f"--effect {e}: arms {arms_set[arm.stimulation]} and {arm.id} are both "
                f"{arm.stimulation}; the simulation gives one effect per stimulation condition"
            )
        arms_set[arm.stimulation] = arm.id
        effects[arm.stimulation] = f
    model = CohortModel(effect=effects)
    load = os.getloadavg()
    res = simulate_trial(
        trial_file,
        patients,
        outdir,
        seed=seed,
        model=model,
        full_sessions=full_sessions,
        progress=lambda m: err.print(m, highlight=False),
    )
    out.print(
        f"{res.patients} patients, {res.sessions} sessions ({res.full_sessions} run in full) "
        f"in {res.seconds:.1f} s (load {load[0]:.1f})",
        highlight=False,
    )
    for g, d in sorted(res.summary.get("groups", {}).items()):
        out.print(
            f"  {g}: n={d['primary_n']} at {res.summary['primary_visit']}: "
            f"{d['primary_mean_pct_change']} % pain change, responders >=30 % "
            f"{d['responders_30_pct']} %",
            highlight=False,
        )
    for path in res.files:
        out.print(f"  {path}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.add_typer(trial_app, name="trial")
