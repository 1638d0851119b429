"""Real time: the emulated box's pulses reach the simulated body, whose EMG arrives over LSL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mirrorvr.analysis.mep import MepSettings
from mirrorvr.config.plan import SafetyProfile
from mirrorvr.errors import DeviceError
from mirrorvr.session.clock import RealClock
from mirrorvr.session.eventlog import EventLog, read_events
from mirrorvr.sim.emg_stream import LslEmgSource, panel_operator
from mirrorvr.sim.emulate import EmulatorProcess
from mirrorvr.stim.ttl_box import TTLBox
from mirrorvr.threshold.mlpest import MLPest
from mirrorvr.threshold.procedure import ThresholdProcedure


@pytest.mark.slow
def test_threshold_hunt_in_real_time_over_lsl(tmp_path: Path, lsl_name: str) -> None:
    panel = tmp_path / "panel"
    args = ["--emg", lsl_name, "--true-mt", "50", "--panel", str(panel), "--seed", "7"]
    with EmulatorProcess("ttl-box", tmp_path / "box", tmp_path / "emu.jsonl", extra_args=args):
        with (
            LslEmgSource(lsl_name, timeout_s=20) as emg,
            TTLBox(str(tmp_path / "box")) as box,
            EventLog(tmp_path / "ev.jsonl") as log,
        ):
            emg.wait_connected(30)
            proc = ThresholdProcedure(
                box,
                emg,
                log,
                RealClock(),
                SafetyProfile(),
                isi_s=(1.0, 1.2),
                operator=panel_operator(panel),
                # the body's bursts of activity are random: not this test's topic; a wide
                # window because a loaded machine may let the emulator read the trigger late
                mep=MepSettings(max_baseline_rms_uv=None, window_ms=(10.0, 90.0)),
            )
            outcome = proc.run(MLPest(start_pct_mso=80, max_trials=6))
    assert outcome.status == "completed", outcome.reason
    events = read_events(tmp_path / "ev.jsonl").events
    meps = [e for e in events if e.kind == "mep"]
    assert len(meps) == outcome.pulses
    # a loaded machine can deliver EMG late: such a trial is rejected (a gap) and the next
    # pulse repeats its intensity, so only the accepted trials are the estimator's six
    accepted = [m for m in meps if m["accepted"]]
    assert len(accepted) == 6
    assert outcome.pulses == 6 + outcome.rejected
    # 80 % MSO on a 50 % threshold: a large MEP at the body's latency; the next pulse
    # (estimate after one positive: ~25 %) gives none
    first, second = accepted[0], accepted[1]
    assert first["accepted"] and first["positive"] and first["pp_uv"] > 500
    if first["baseline_rms_uv"] < 10:  # (a random burst of activity would set an earlier onset)
        assert 18 < first["latency_ms"] < 80  # 22 ms + however late the emulator saw the byte
    assert second["intensity_pct_mso"] < 40
    if second["baseline_rms_uv"] < 10:  # (a burst of muscle activity in the window reads as one)
        assert not second["positive"]
    emu = [json.loads(line) for line in (tmp_path / "emu.jsonl").read_text().splitlines()]
    assert sum(1 for f in emu if f.get("action") == "pulse") == outcome.pulses


def test_missing_emg_stream_is_a_clear_error(lsl_name: str) -> None:
    with LslEmgSource(lsl_name, timeout_s=0.5) as emg:
        with pytest.raises(DeviceError, match=lsl_name):
            emg.wait_connected(1.0)
        with pytest.raises(DeviceError, match="no samples"):
            emg.epoch(0.0, -0.05, 0.05)
