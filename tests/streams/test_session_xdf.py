"""A session writes session.xdf: from the log on the simulated clock, through LSL in real time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import pyxdf

from mirrorvr.config.loader import load_plan
from mirrorvr.run.session import LaunchOptions, run_session
from mirrorvr.session.eventlog import read_events
from mirrorvr.streams.layout import STIM_CODES


def _by_name(path: Path) -> dict[str, dict]:
    streams, header = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    out = {s["info"]["name"][0]: s for s in streams}
    out["_header"] = header
    return out


def _check_against_log(folder: Path, xdf: dict[str, dict]) -> None:
    events = read_events(folder / "events.jsonl").events
    # the recorder's own connection events come before session_start: in the log only
    start = next(e.seq for e in events if e.kind == "session_start")
    events = [e for e in events if e.seq >= start]
    markers = xdf["mirrorvr-markers"]
    assert [json.loads(m[0])["seq"] for m in markers["time_series"]] == [e.seq for e in events]
    pulses = [e for e in events if e.kind == "pulse"]
    stim = xdf["mirrorvr-stim"]
    is_pulse = stim["time_series"][:, 0] == STIM_CODES["pulse"]
    assert int(is_pulse.sum()) == len(pulses) > 0  # real time under load may miss a few
    np.testing.assert_allclose(
        stim["time_series"][is_pulse, 1], [p["planned"] for p in pulses], atol=1e-6
    )
    for name in ("mirrorvr-markers", "mirrorvr-stim", "mirrorvr-state"):
        info = xdf[name]["info"]
        assert info["desc"][0]["channels"][0]["channel"], f"{name} has no channel description"
        assert info["desc"][0]["synchronization"][0]["can_drop_samples"] == ["false"]
    assert xdf["mirrorvr-stim"]["info"]["desc"][0]["device"][0]["kind"] == ["ttl-box"]
    assert [s[0] for s in xdf["mirrorvr-state"]["time_series"]][-1] == "completed"


def test_fast_session_writes_xdf_from_its_log(tmp_path: Path, short_plan: Path) -> None:
    folder = tmp_path / "a" / "fast"
    run_session(load_plan(short_plan), LaunchOptions(out=folder))
    xdf = _by_name(folder / "session.xdf")
    assert xdf["_header"]["info"]["clock"] == ["simulated"]
    _check_against_log(folder, xdf)
    # deterministic: the same plan and seed give the same bytes (the events name the folder)
    again = tmp_path / "b" / "fast"
    run_session(load_plan(short_plan), LaunchOptions(out=again))
    a = (folder / "session.xdf").read_bytes()
    b = (again / "session.xdf").read_bytes()
    assert b.replace(str(again).encode(), str(folder).encode()) == a


@pytest.mark.slow
def test_realtime_session_publishes_and_records(tmp_path: Path, short_plan: Path) -> None:
    folder = tmp_path / "rt"
    run_session(load_plan(short_plan), LaunchOptions(out=folder, realtime=True))
    xdf = _by_name(folder / "session.xdf")
    assert xdf["_header"]["info"]["clock"] == ["lsl"]
    _check_against_log(folder, xdf)
    events = read_events(folder / "events.jsonl").events
    cue = next(e for e in events if e.kind == "cue")
    mk = xdf["mirrorvr-markers"]
    i = next(k for k, m in enumerate(mk["time_series"]) if json.loads(m[0])["kind"] == "cue")
    # stamped with the event time on the one clock (pyxdf applied a ~0 same-machine offset)
    assert abs(mk["time_stamps"][i] - cue.t) < 0.002
    assert mk["clock_times"], "the recorder measured clock offsets"
    _check_pulse_stream(events, xdf)
    # the stimulation process's warm-up outlet is never recorded (it carries no data)
    assert not [name for name in xdf if name.endswith("-warmup")]
    proc = next(e for e in events if e.kind == "stim_process")
    assert str(proc["cpu_latency"]).startswith(("held at 0", "not held"))
    assert str(proc["cpu"]).startswith(("bound to CPU", "not bound"))
    # the pulse stream duplicates the stim and marker streams' pulses: analysis counts them once
    _check_analysis_counts_pulses_once(folder / "session.xdf", events)


def _check_pulse_stream(events: list, xdf: dict[str, dict]) -> None:
    """The stimulation process's own pulse stream: every delivered pulse once, with the log's
    stamp; the session's own streams unchanged (it duplicates them, it does not replace them)."""
    from mirrorvr.streams.layout import PULSES

    pulses = [e for e in events if e.kind == "pulse"]
    ps = xdf["mirrorvr-pulses"]
    assert ps["info"]["type"] == ["StimulationPulses"]
    assert ps["info"]["desc"][0]["device"][0]["kind"] == ["ttl-box"]
    labels = [c["label"][0] for c in ps["info"]["desc"][0]["channels"][0]["channel"]]
    assert labels == [c.label for c in PULSES.channels]
    assert len(ps["time_stamps"]) == len(pulses) > 0
    # the log's stamps (pyxdf applied the recorder's same-machine clock offset: tens of µs)
    np.testing.assert_allclose(ps["time_stamps"], [p.t for p in pulses], rtol=0, atol=0.002)
    np.testing.assert_allclose(
        ps["time_series"][:, 2], [p["planned"] for p in pulses], rtol=0, atol=1e-7
    )
    assert ps["time_series"][:, 0].tolist() == [float(p["train"]) for p in pulses]
    assert ps["time_series"][:, 1].tolist() == [float(p["i"]) for p in pulses]
    assert ps["time_series"][:, 4].tolist() == [0.0] * len(pulses)  # one trigger per pulse
    # each pulse event says how long after its stamp the child's push returned
    assert all(0 <= p["lsl_s"] < 1.0 for p in pulses)


def _check_analysis_counts_pulses_once(xdf_file: Path, events: list) -> None:
    from mirrorvr.analysis.loader import load_recording

    rec = load_recording(xdf_file)
    assert len(rec.pulses) == len([e for e in events if e.kind == "pulse"])
