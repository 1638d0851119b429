"""Cue tones played for real: OpenAL Soft's ``wave`` backend records what it mixes.

A short real-time session renders offscreen (EGL/llvmpipe) with tones on; panda3d's OpenAL
(OpenAL Soft, linked into the wheel) mixes them into a WAV file instead of a sound card. The
test reads that file: one tone per cue, at the planned pitch, spaced like the cues' logged
onsets. Without an audio device the same session completes with one warning and every cue
event saying its tone was not played. No mocks: only OpenAL's output driver is chosen.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mirrorvr.analysis.tones import find_tones, read_wav
from mirrorvr.session.eventlog import read_events
from tests.conftest import mirrorvr_cmd

#: four imagery cues one second apart (about 4 s of session); tones at 880 Hz, 120 ms
TONE_PLAN = textwrap.dedent(
    """
    [session]
    name = "cue tone test"
    seed = 11

    [patient]
    id = "T-TONE"
    amputation_side = "left"

    [[blocks]]
    kind = "imagery"
    movements = ["fist", "open_hand"]
    repetitions = 4
    cue_s = 0.3
    imagery_s = 0.4
    rest_s = 0.3

    [scene.cue_tone]
    enabled = true
    frequency_hz = 880
    duration_ms = 120
    """
)


def _run(tmp_path: Path, alsoft_conf: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    plan = tmp_path / "plan.toml"
    plan.write_text(TONE_PLAN, encoding="utf-8")
    conf = tmp_path / "alsoft.conf"
    conf.write_text(alsoft_conf, encoding="utf-8")
    out = tmp_path / "session"
    env = {
        **os.environ,
        "ALSOFT_DRIVERS": "wave",  # OpenAL Soft's file writer instead of PulseAudio/ALSA
        "ALSOFT_CONF": str(conf),
        "COLUMNS": "200",
    }
    env.pop("ALSOFT_LOGLEVEL", None)
    res = subprocess.run(
        mirrorvr_cmd(
            "sim",
            str(plan),
            "--realtime",
            "--display",
            "offscreen",
            "--size",
            "160x90",
            "--out",
            str(out),
        ),
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["state"] == "completed"
    return res, out


@pytest.mark.slow
def test_one_tone_per_cue_at_its_pitch_spaced_like_the_cue_onsets(tmp_path: Path) -> None:
    wav = tmp_path / "mixed.wav"
    res, out = _run(tmp_path, f"[wave]\nfile = {wav}\n")
    assert "cue tones will not play" not in res.stderr
    cues = [e for e in read_events(out / "events.jsonl").events if e.kind == "cue"]
    assert len(cues) == 4
    for cue in cues:
        tone = cue["tone"]
        assert tone["played"] is True, tone
        assert (tone["frequency_hz"], tone["duration_ms"]) == (880.0, 120.0)
        # started in the frame that showed the cue: right after that frame's display time
        assert cue.t <= tone["t"] < cue.t + 0.05

    x, rate = read_wav(wav)
    tones = find_tones(x, rate)
    assert len(tones) == len(cues), [t.onset_s for t in tones]
    for t in tones:
        assert t.frequency_hz == pytest.approx(880.0, abs=3.0)
        assert t.duration_s == pytest.approx(0.120, abs=0.01)
    # the WAV's clock is OpenAL's mixing position, the log's is LSL time: compare spacings.
    # OpenAL mixes in periods of ~23 ms and the machine is loaded: a generous tolerance
    heard = np.diff([t.onset_s for t in tones])
    logged = np.diff([c["tone"]["t"] for c in cues])
    shown = np.diff([c.t for c in cues])
    assert np.allclose(heard, logged, atol=0.1), (heard, logged)
    assert np.allclose(heard, shown, atol=0.1), (heard, shown)


@pytest.mark.slow
def test_without_an_audio_device_the_session_runs_and_logs_tones_not_played(
    tmp_path: Path,
) -> None:
    # the wave backend with no file to write is a device that cannot be opened
    res, out = _run(tmp_path, "[general]\n")
    warnings = [ln for ln in res.stderr.splitlines() if "cue tones will not play" in ln]
    assert len(warnings) == 1, res.stderr[-3000:]
    assert "no audio output device" in warnings[0]
    assert "AL lib" not in res.stderr and "Traceback" not in res.stderr
    cues = [e for e in read_events(out / "events.jsonl").events if e.kind == "cue"]
    assert len(cues) == 4
    for cue in cues:
        assert cue["tone"]["played"] is False
        assert "no audio output device" in cue["tone"]["reason"]
        assert cue["tone"]["frequency_hz"] == 880.0
