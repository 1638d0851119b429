"""``mirrorvr threshold``: a motor-threshold hunt (and optional hotspot search) on its own.

Writes a folder with ``events.jsonl`` (every pulse and MEP), ``threshold.json`` (the result and
its method) and ``hotspot.json`` if sites were searched. With no stimulator port the TTL box is
emulated and the simulated patient answers: on the simulated clock (``fast``) the body hears
each pulse from the procedure, in real time it hears the emulated box and publishes EMG on LSL.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mirrorvr.config.plan import SafetyProfile, StimulatorDevice, ThresholdEstimation
from mirrorvr.run.stimulation import StimulatorRequest, connect_stimulator
from mirrorvr.session.clock import Clock, RealClock, SimClock
from mirrorvr.session.eventlog import EventLog
from mirrorvr.session.folder import SessionFolder, write_json_atomic
from mirrorvr.sim.emg import BodyModel, SimulatedEmg
from mirrorvr.threshold.hotspot import HotspotResult, run_hotspot_search
from mirrorvr.threshold.procedure import (
    EmgSource,
    IntensityOperator,
    ThresholdOutcome,
    ThresholdProcedure,
)
from mirrorvr.threshold.session import make_estimator, mep_settings


@dataclass
class ThresholdRun:
    """Options of a stand-alone threshold hunt."""

    out: Path
    config: ThresholdEstimation
    realtime: bool = False
    stimulator_kind: str = "ttl-box"
    stimulator_port: str | None = None  # None: emulated
    true_mt: float = 48.0  # simulated patient
    seed: int = 0
    max_pct_mso: float = 100.0
    hotspot_sites: Sequence[str] = ()
    hotspot_intensity: float | None = None
    pulses_per_site: int = 5
    #: set the panel when the stimulator cannot (trigger box); None: simulated operator
    operator: IntensityOperator | None = None
    #: asked to place the coil at a site (hotspot search); None: simulated operator
    move_coil: Any = None
    sinks: list[Any] = field(default_factory=list)


def run_threshold(opts: ThresholdRun) -> tuple[ThresholdOutcome, HotspotResult | None]:
    """Run the hunt (after the hotspot search, if sites are given) into ``opts.out``."""
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    folder = SessionFolder(out)
    cfg = opts.config
    simulated = opts.stimulator_port is None
    body = BodyModel(true_threshold_pct_mso=opts.true_mt)
    clock: Clock = RealClock() if opts.realtime else SimClock()
    profile = SafetyProfile(max_intensity_pct_mso=opts.max_pct_mso)
    with ExitStack() as stack:
        log = stack.enter_context(EventLog(folder.events))
        for sink in opts.sinks:
            log.add_sink(sink)
        operator = opts.operator
        emulator_extra: list[str] = []
        emg_name = cfg.emg_stream
        if simulated and opts.realtime:  # the emulator hosts the simulated body's EMG
            emg_name = f"mirrorvr-sim-emg-{os.getpid()}"
            emulator_extra = [
                "--emg",
                emg_name,
                "--true-mt",
                f"{opts.true_mt:g}",
                "--panel",
                str(folder.panel),
                "--seed",
                str(opts.seed),
            ]
            from mirrorvr.sim.emg_stream import panel_operator

            operator = operator or panel_operator(folder.panel)
        stim = connect_stimulator(
            StimulatorRequest(
                StimulatorDevice(kind=opts.stimulator_kind),
                opts.stimulator_port,
                opts.realtime,
                emulator_extra,
            ),
            folder,
            stack,
            log=log,
            clock=clock,
        ).stimulator
        emg: EmgSource
        if simulated and not opts.realtime:
            emg = SimulatedEmg(body, seed=opts.seed, t0=clock.now())
        else:
            from mirrorvr.sim.emg_stream import LslEmgSource

            live = stack.enter_context(LslEmgSource(emg_name))
            if simulated:
                live.wait_connected(30)
            else:
                live.wait_connected()
            emg = live
        proc = ThresholdProcedure(
            stimulator=stim,
            emg=emg,
            log=log,
            clock=clock,
            profile=profile,
            max_pulses=cfg.max_pulses,
            mep=mep_settings(cfg),
            isi_s=cfg.isi_s,
            seed=opts.seed,
            site=cfg.site,
            operator=operator,
        )
        hotspot = None
        if opts.hotspot_sites:
            move = opts.move_coil
            if move is None and isinstance(emg, SimulatedEmg):
                move = emg.move_coil
            hotspot = run_hotspot_search(
                proc,
                opts.hotspot_sites,
                intensity_pct_mso=opts.hotspot_intensity or cfg.start_pct_mso,
                pulses_per_site=opts.pulses_per_site,
                move_coil=move,
            )
            write_json_atomic(folder.hotspot, hotspot.to_dict())
            proc.site = hotspot.best
            if move is not None and hotspot.best is not None:
                move(hotspot.best)
        outcome = proc.run(make_estimator(cfg, opts.max_pct_mso))
        record = outcome.to_dict()
        mt = outcome.motor_threshold(dt.date.today())
        record["motor_threshold"] = mt.model_dump(mode="json") if mt else None
        true_here = opts.true_mt
        if isinstance(emg, SimulatedEmg):  # off the hotspot the muscle needs more output
            true_here += emg.generator.coil_offset_pct_mso
        record["simulated_true_mt_pct_mso"] = round(true_here, 2) if simulated else None
        folder.write_threshold(record)
    return outcome, hotspot


def simulated_true_mt(folder: Path) -> float | None:
    """The simulated patient's true threshold at the hunt's site, from ``threshold.json``."""
    rec = SessionFolder(folder).read_threshold()
    value = rec.get("simulated_true_mt_pct_mso")
    return None if value is None else float(value)
