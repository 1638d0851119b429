"""The threshold procedure: real emulated stimulator on a pty, simulated clock and body."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import pytest

from mirrorvr.config.plan import SafetyProfile
from mirrorvr.session.clock import SimClock
from mirrorvr.session.eventlog import EventLog, read_events
from mirrorvr.sim.emg import BodyModel, SimulatedEmg
from mirrorvr.sim.emulate import EmulatorProcess
from mirrorvr.stim.governor import Ledger
from mirrorvr.stim.ttl_box import TTLBox
from mirrorvr.threshold.mlpest import MLPest
from mirrorvr.threshold.procedure import ThresholdProcedure
from mirrorvr.threshold.relative_frequency import RelativeFrequency


def _emulator_pulses(log: Path) -> int:
    return sum(
        1 for line in log.read_text().splitlines() if json.loads(line).get("action") == "pulse"
    )


def test_mlpest_procedure_logs_every_pulse_and_mep(tmp_path: Path) -> None:
    emu_log = tmp_path / "emu.jsonl"
    panel: list[float] = []
    body = SimulatedEmg(BodyModel(true_threshold_pct_mso=52.0, activity_interval_s=8.0), seed=4)
    with EmulatorProcess("ttl-box", tmp_path / "box", emu_log):
        with TTLBox(str(tmp_path / "box")) as box, EventLog(tmp_path / "events.jsonl") as log:
            proc = ThresholdProcedure(
                stimulator=box,
                emg=body,
                log=log,
                clock=SimClock(100.0),
                profile=SafetyProfile(),
                max_pulses=40,
                operator=panel.append,
                site="C3-hotspot",
            )
            outcome = proc.run(MLPest(start_pct_mso=60, max_trials=20))
            assert not box.status().armed
    assert outcome.status == "completed"
    assert outcome.estimate.n_trials == 20
    assert outcome.pulses == 20 + outcome.rejected
    mt = outcome.estimate.mt_pct_mso
    assert mt is not None and abs(mt - 52.0) < 6.0
    events = read_events(tmp_path / "events.jsonl").events
    kinds = [e.kind for e in events]
    assert kinds[0] == "threshold_start" and kinds[-1] == "threshold_result"
    assert kinds.count("threshold_intent") == kinds.count("threshold_pulse") == outcome.pulses
    assert kinds.count("mep") == outcome.pulses
    # every pulse reached the emulated device, and the operator set the panel each time
    assert _emulator_pulses(emu_log) == outcome.pulses
    assert len(panel) == outcome.pulses
    pulses = [e for e in events if e.kind == "threshold_pulse"]
    gaps = [b.t - a.t for a, b in itertools.pairwise(pulses)]
    assert min(gaps) >= 4.0 and max(gaps) <= 6.0  # 4-6 s apart on the simulated clock
    meps = [e for e in events if e.kind == "mep"]
    assert all(m["site"] == "C3-hotspot" and "pp_uv" in m.data for m in meps)
    # rejected trials are logged with their reason and repeated at the same intensity
    for m in meps:
        if not m["accepted"]:
            assert "baseline" in m["reason"] or "artefact" in m["reason"]
    result = events[-1]
    assert result["method"] == "ml-pest" and result["status"] == "completed"
    assert "fixed count" in result["stop_reason"]
    thr = outcome.motor_threshold(dt.date(2026, 11, 21))
    assert thr is not None and thr.method == "ml-pest" and thr.rmt_pct_mso == round(mt)


def test_five_of_ten_procedure_on_the_simulated_body(tmp_path: Path) -> None:
    body = SimulatedEmg(BodyModel(true_threshold_pct_mso=45.0, activity_interval_s=0), seed=1)
    with EmulatorProcess("ttl-box", tmp_path / "box", tmp_path / "emu.jsonl"):
        with TTLBox(str(tmp_path / "box")) as box, EventLog(tmp_path / "ev.jsonl") as log:
            proc = ThresholdProcedure(box, body, log, SimClock(), SafetyProfile(), max_pulses=200)
            outcome = proc.run(RelativeFrequency(start_pct_mso=40))
    assert outcome.status == "completed" and outcome.rejected == 0
    assert outcome.estimate.mt_pct_mso is not None
    assert abs(outcome.estimate.mt_pct_mso - 45.0) <= 5
    assert outcome.pulses == outcome.estimate.n_trials > 20


def test_governor_refusal_and_pulse_limit_stop_the_hunt(tmp_path: Path) -> None:
    body = SimulatedEmg(BodyModel(true_threshold_pct_mso=80.0, activity_interval_s=0), seed=2)
    with EmulatorProcess("ttl-box", tmp_path / "box", tmp_path / "emu.jsonl"):
        with TTLBox(str(tmp_path / "box")) as box, EventLog(tmp_path / "ev.jsonl") as log:
            capped = ThresholdProcedure(
                box, body, log, SimClock(), SafetyProfile(max_intensity_pct_mso=70), max_pulses=50
            )
            out = capped.run(MLPest(start_pct_mso=60, max_trials=20))
            assert out.status == "refused" and "70" in out.reason
            assert out.motor_threshold(dt.date.today()) is None
            daily = ThresholdProcedure(
                box,
                body,
                log,
                SimClock(),
                SafetyProfile(max_pulses_per_day=5),
                ledger=Ledger(0, 3),
            )
            out2 = daily.run(MLPest(start_pct_mso=60))
            assert out2.status == "refused" and out2.pulses == 2 and "daily" in out2.reason
            limited = ThresholdProcedure(box, body, log, SimClock(), SafetyProfile(), max_pulses=3)
            out3 = limited.run(MLPest(start_pct_mso=60))
            assert out3.status == "pulse limit" and out3.pulses == 3
            assert not box.status().armed
    refused = [e for e in read_events(tmp_path / "ev.jsonl").events if e.kind == "stim_refused"]
    assert len(refused) == 2


def test_isi_floor_is_enforced(tmp_path: Path) -> None:
    with EventLog(tmp_path / "ev.jsonl") as log, pytest.raises(ValueError, match="interval"):
        ThresholdProcedure(
            TTLBox(str(tmp_path / "x")),
            SimulatedEmg(),
            log,
            SimClock(),
            SafetyProfile(),
            isi_s=(0.1, 0.2),
        )
