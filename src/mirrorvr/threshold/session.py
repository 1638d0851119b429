"""Motor-threshold estimation at the start of a session: its result sets the % RMT dosing.

``estimate_session_threshold`` runs the configured procedure on the session's stimulator,
clock and event log, then returns the plan with the measured threshold on record for today
(and writes ``threshold.json`` in the session folder). The rest of the session is compiled
from that plan, so every train's % MSO comes from the measured threshold.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from mirrorvr.analysis.mep import MepSettings
from mirrorvr.config.plan import SessionPlan, ThresholdEstimation
from mirrorvr.errors import SessionError
from mirrorvr.session.clock import Clock
from mirrorvr.session.eventlog import EventLog
from mirrorvr.session.folder import SessionFolder
from mirrorvr.stim import governor
from mirrorvr.stim.base import Stimulator
from mirrorvr.threshold.estimate import ThresholdEstimator
from mirrorvr.threshold.mlpest import MLPest
from mirrorvr.threshold.procedure import (
    EmgSource,
    IntensityOperator,
    ThresholdOutcome,
    ThresholdProcedure,
)
from mirrorvr.threshold.relative_frequency import RelativeFrequency


def make_estimator(cfg: ThresholdEstimation, max_pct_mso: float = 100.0) -> ThresholdEstimator:
    """The estimator a plan's ``[stimulation.threshold_estimate]`` asks for."""
    start = min(cfg.start_pct_mso, max_pct_mso)
    if cfg.method == "ml-pest":
        return MLPest(
            start_pct_mso=start,
            max_trials=cfg.max_trials,
            ci_half_width_pct=cfg.ci_half_width_pct,
            min_trials=min(cfg.min_trials, cfg.max_trials),
            max_pct_mso=max_pct_mso,
        )
    return RelativeFrequency(
        start_pct_mso=start, max_pct_mso=max_pct_mso, max_trials=cfg.max_pulses
    )


def mep_settings(cfg: ThresholdEstimation) -> MepSettings:
    """MEP measurement settings from the plan's threshold table."""
    return MepSettings(
        window_ms=cfg.window_ms,
        criterion_uv=cfg.criterion_uv,
        max_baseline_rms_uv=cfg.max_baseline_rms_uv,
    )


def estimate_session_threshold(
    plan: SessionPlan,
    *,
    stimulator: Stimulator,
    emg: EmgSource,
    log: EventLog,
    clock: Clock,
    session_date: dt.date,
    out: Path | None = None,
    operator: IntensityOperator | None = None,
    pulses_today: int = 0,
) -> tuple[SessionPlan, ThresholdOutcome]:
    """Hunt the threshold; the plan with it on record, or ``SessionError`` if none was found."""
    cfg = plan.stimulation.threshold_estimate
    if cfg is None:
        raise SessionError("the plan has no [stimulation.threshold_estimate] table")
    proc = ThresholdProcedure(
        stimulator=stimulator,
        emg=emg,
        log=log,
        clock=clock,
        profile=plan.safety,
        max_pulses=cfg.max_pulses,
        mep=mep_settings(cfg),
        isi_s=cfg.isi_s,
        seed=plan.session.seed,
        site=cfg.site,
        operator=operator,
        ledger=governor.Ledger(0, pulses_today),
    )
    outcome = proc.run(make_estimator(cfg, plan.safety.max_intensity_pct_mso))
    if out is not None:
        SessionFolder(out).write_threshold(outcome.to_dict())
    mt = outcome.motor_threshold(session_date)
    if mt is None:
        raise SessionError(
            f"motor threshold estimation ({cfg.method}) found no threshold: "
            f"{outcome.reason or outcome.estimate.stop_reason}; no stimulation was given after it"
        )
    new_plan = plan.model_copy(
        update={"stimulation": plan.stimulation.model_copy(update={"motor_threshold": mt})}
    )
    log.append(
        "motor_threshold",
        clock.now(),
        durable=True,
        rmt_pct_mso=mt.rmt_pct_mso,
        method=mt.method,
        measured_on=mt.measured_on.isoformat(),
        estimate_pct_mso=outcome.estimate.mt_pct_mso,
        pulses=outcome.pulses,
        intensity_pct_rmt=new_plan.stimulation.intensity_pct_rmt,
        intensity_pct_mso=new_plan.stimulation.intensity_pct_mso,
        source="estimated at session start",
    )
    return new_plan, outcome
