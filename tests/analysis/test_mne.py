"""to_mne: MNE Raw objects with the session's events as annotations, from our sessions and
from foreign XDF; epochs around pulses; the docs/analysis.md example runs."""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from mirrorvr.analysis import epochs_around, to_mne
from mirrorvr.analysis.loader import AnalysisError
from mirrorvr.analysis.mne_raw import first_sample_time
from mirrorvr.config.loader import load_plan
from mirrorvr.run.session import LaunchOptions, run_session
from mirrorvr.session.eventlog import read_events
from tests.analysis.conftest import write_session_xdf
from tests.analysis.test_loader import _foreign
from tests.conftest import ROOT

mne = pytest.importorskip("mne")  # the [research] extra; the dev extra installs it


def _log_annotations(folder: Path) -> dict[str, list[float]]:
    """LSL times of what to_mne must annotate, straight from the event log."""
    out: dict[str, list[float]] = {}
    for e in read_events(folder / "events.jsonl").events:
        key = {"cue": "cue", "pulse": "pulse", "estop": "estop"}.get(e.kind)
        if e.kind == "rating":
            key = f"rating/{e['timepoint']}"
        if e.kind == "state" and e["to"] == "paused":
            key = "pause"
        if key:
            # a rating's annotation spans the question: it starts rt_s before the answer
            t = e.t - float(e["rt_s"]) if e.kind == "rating" else e.t
            out.setdefault(key, []).append(t)
    return out


def _raw_annotations(raw: object) -> dict[str, list[float]]:
    t = first_sample_time(raw)
    out: dict[str, list[float]] = {}
    for a in raw.annotations:  # type: ignore[attr-defined]
        d = a["description"]
        if d.startswith("BAD_"):
            continue
        key = d.split("/")[0] if d.startswith("cue/") else d
        out.setdefault(key, []).append(t + a["onset"])
    return out


@pytest.mark.slow
def test_realtime_session_annotations_match_the_log(tmp_path: Path, short_plan: Path) -> None:
    pulses, paused = threading.Event(), threading.Event()
    count = {"pulses": 0}

    def sink(e: object) -> None:
        kind = getattr(e, "kind", "")
        if kind == "pulse":
            count["pulses"] += 1
            if count["pulses"] == 5:
                pulses.set()
        if kind == "state" and e["to"] == "paused":  # type: ignore[index]
            paused.set()

    def control(runner: object) -> None:
        def go() -> None:
            if pulses.wait(60):
                runner.estop("foot pedal")  # type: ignore[attr-defined]
                if paused.wait(30):
                    runner.resume()  # type: ignore[attr-defined]

        threading.Thread(target=go, daemon=True).start()

    folder = tmp_path / "rt"
    run_session(
        load_plan(short_plan),
        LaunchOptions(out=folder, realtime=True, on_runner=control, sinks=[sink]),
    )
    # the session's own XDF has markers only: add EMG and poses on the same (LSL) clock
    write_session_xdf(folder / "signals.xdf", folder, emg=True)
    raw = to_mne(folder)
    log = _log_annotations(folder)
    got = _raw_annotations(raw)
    assert {"cue", "pulse", "rating/pre", "rating/post", "estop", "pause"} <= set(log)
    for key, times in log.items():
        assert len(got.get(key, [])) == len(times), key
        np.testing.assert_allclose(sorted(got[key]), sorted(times), atol=1e-6, err_msg=key)
    types = dict(zip(raw.ch_names, raw.get_channel_types(), strict=True))
    assert types["EMG-amp:FDI"] == "emg" and types["mirrorvr-pose-tracked:palm_px"] == "misc"
    assert raw.info["sfreq"] == 2000.0


def test_epochs_around_pulses_show_the_mep(concurrent_session: Path, tmp_path: Path) -> None:
    folder = tmp_path / "s"
    shutil.copytree(concurrent_session, folder)
    write_session_xdf(folder / "rec.xdf", folder, emg=True, dropped=list(range(200, 260)))
    raw = to_mne(folder, streams=["emg", "mirrorvr-pose-tracked"])
    assert raw.get_channel_types(unique=True) == ["emg", "misc"]
    # the 60 dropped frames are a gap the Raw marks bad, not data it pretends to have
    gaps = [a for a in raw.annotations if a["description"] == "BAD_gap/mirrorvr-pose-tracked"]
    assert len(gaps) == 1 and gaps[0]["duration"] == pytest.approx(61 / 90, abs=1e-6)
    ep = epochs_around(raw, "pulse", tmin=-0.01, tmax=0.045, picks="emg")
    assert len(ep) == 120
    evoked = ep.average(picks="emg")
    win = evoked.copy().crop(0.019, 0.036).data[0]
    # 500 µV biphasic MEP: ~1 mV peak-to-peak, in volts
    assert 0.9e-3 < win.max() - win.min() < 1.1e-3
    # quaternions stay unit length after interpolation
    q = raw.get_data(picks=[f"mirrorvr-pose-tracked:palm_q{c}" for c in "wxyz"])
    np.testing.assert_allclose(np.linalg.norm(q, axis=0), 1.0, atol=1e-9)


def test_foreign_xdf_markers_become_annotations(tmp_path: Path) -> None:
    x = tmp_path / "lab.xdf"
    _foreign(x)  # another recorder: int32 Trigger markers, 8-ch EEG at 500 Hz, MoCap at 90 Hz
    raw = to_mne(x)
    assert raw.info["sfreq"] == 500.0
    types = dict(zip(raw.ch_names, raw.get_channel_types(), strict=True))
    assert types["BioSemi:E0"] == "eeg" and types["Vive:x"] == "misc"
    got = [(a["description"], a["onset"]) for a in raw.annotations]
    marks = [(d, o) for d, o in got if d.startswith("Trigger/")]
    assert [d for d, _ in marks] == [f"Trigger/{v}" for v in [1, 2, 3, 1, 2, 3, 1, 2, 3]]
    # clock-synchronised (+2.5 s), on the same clock as the data: the first marker 1 s in
    assert first_sample_time(raw) + marks[0][1] == pytest.approx(1003.5, abs=1e-6)
    assert marks[0][1] == pytest.approx(1.0, abs=1e-6)
    # EEG samples kept as recorded (µV assumed without a unit → volts)
    eeg = raw.get_data(picks="BioSemi:E0")[0]
    from mirrorvr.analysis.loader import load_recording

    src = load_recording(x).other["BioSemi"].data[:, 0]
    np.testing.assert_allclose(eeg[: len(src)], src * 1e-6, rtol=1e-6)
    ep = epochs_around(raw, "Trigger/2", tmin=-0.1, tmax=0.5)
    assert len(ep) == 3


def test_to_mne_says_what_is_missing(concurrent_session: Path) -> None:
    with pytest.raises(AnalysisError, match="no sampled stream"):
        to_mne(concurrent_session)


def test_docs_example_runs(concurrent_session: Path, tmp_path: Path) -> None:
    folder = tmp_path / "s"
    shutil.copytree(concurrent_session, folder)
    write_session_xdf(folder / "rec.xdf", folder, emg=True)
    doc = (ROOT / "docs" / "analysis.md").read_text(encoding="utf-8")
    (code,) = re.findall(r"<!-- to_mne example -->\s*```python\n(.*?)```", doc, re.S)
    ns: dict[str, object] = {"session": folder}
    exec(compile(code, "docs/analysis.md", "exec"), ns)
    assert len(ns["epochs"]) == 120  # type: ignore[arg-type]
