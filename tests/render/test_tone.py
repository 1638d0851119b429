"""The cue tone's samples (pure): frequency, duration, raised-cosine ramps, peak level."""

from __future__ import annotations

import io
import math
import wave

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirrorvr.analysis.tones import dominant_frequency
from mirrorvr.render.tone import TONE_RATE, ramp_envelope, synthesize_tone, to_pcm16, wav_bytes


def test_frequency_duration_and_peak_level() -> None:
    x = synthesize_tone(660.0, 150.0, -20.0, 10.0)
    assert x.dtype == np.float32
    assert len(x) == round(0.150 * TONE_RATE)
    assert dominant_frequency(x, TONE_RATE) == pytest.approx(660.0, abs=1.0)
    # between the ramps the envelope is 1, so the peak is the level (within sine sampling)
    assert float(np.abs(x).max()) == pytest.approx(0.1, rel=1e-3)
    # zero crossings: two per period, 660 Hz × 0.15 s ≈ 99 periods
    crossings = np.count_nonzero(np.diff(np.signbit(x[1:])))
    assert abs(crossings - 2 * 660 * 0.150) <= 3


def test_raised_cosine_ramps_start_and_end_silent() -> None:
    rate, ramp_ms = TONE_RATE, 10.0
    x = synthesize_tone(1000.0, 100.0, -6.0, ramp_ms)
    n_ramp = round(ramp_ms * rate / 1000)
    env = ramp_envelope(len(x), n_ramp)
    assert env[0] == 0.0 and env[-1] == 0.0 and x[0] == 0.0
    # the rise is 0.5 - 0.5 cos(pi k / n): half way at the ramp's middle, monotone, then flat
    k = np.arange(n_ramp)
    assert np.allclose(env[:n_ramp], 0.5 - 0.5 * np.cos(np.pi * k / n_ramp))
    assert env[n_ramp // 2] == pytest.approx(0.5, abs=5e-3)
    assert np.all(np.diff(env[:n_ramp]) > 0) and np.all(env[n_ramp : len(x) - n_ramp] == 1.0)
    assert np.allclose(env, env[::-1])  # the fall mirrors the rise
    # no click: the first and last ramp's worth of samples stay under the envelope's level
    peak = 10 ** (-6 / 20)
    assert np.all(np.abs(x[:n_ramp]) <= peak * env[:n_ramp] + 1e-6)
    # steps between samples stay small everywhere (a click would be a jump near the ends)
    assert float(np.abs(np.diff(x[:20])).max()) < 1e-3


def test_no_ramp_and_bad_parameters() -> None:
    x = synthesize_tone(500.0, 20.0, -3.0, 0.0)
    assert float(np.abs(x[1:4]).min()) > 0  # starts straight away
    with pytest.raises(ValueError, match="frequency_hz"):
        synthesize_tone(30_000.0, 100.0, -20.0, 5.0)
    with pytest.raises(ValueError, match="ramp_ms"):
        synthesize_tone(500.0, 10.0, -20.0, 6.0)


@settings(max_examples=40, deadline=None)
@given(
    f=st.floats(100, 4000),
    dur=st.floats(40, 400),
    level=st.floats(-60, -3),
    ramp_frac=st.floats(0, 0.5),
)
def test_any_valid_tone_has_its_frequency_length_and_level(
    f: float, dur: float, level: float, ramp_frac: float
) -> None:
    x = synthesize_tone(f, dur, level, dur * ramp_frac)
    assert len(x) == round(dur * TONE_RATE / 1000)
    assert float(np.abs(x).max()) <= 10 ** (level / 20) * (1 + 1e-6)
    if ramp_frac < 0.4:  # enough full-level samples to see the peak and the pitch
        assert float(np.abs(x).max()) == pytest.approx(10 ** (level / 20), rel=0.01)
        assert dominant_frequency(x, TONE_RATE) == pytest.approx(f, rel=0.01, abs=2.0)


def test_wav_bytes_are_a_16_bit_mono_wav_of_the_samples() -> None:
    x = synthesize_tone(440.0, 50.0, -12.0, 5.0)
    with wave.open(io.BytesIO(wav_bytes(x))) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, TONE_RATE)
        frames = w.readframes(w.getnframes())
    assert frames == to_pcm16(x)
    pcm = np.frombuffer(frames, "<i2")
    assert int(np.abs(pcm).max()) == pytest.approx(32767 * 10 ** (-12 / 20), rel=0.01)
    assert math.isclose(len(pcm) / TONE_RATE, 0.05)
