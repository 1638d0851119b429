"""Finding tones in a recording: WAV formats (PCM16, OpenAL's float extensible) and detection."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from mirrorvr.analysis.tones import find_tones, read_wav
from mirrorvr.errors import MirrorVRError
from mirrorvr.render.tone import TONE_RATE, synthesize_tone, wav_bytes


def _float_wav(frames: np.ndarray, rate: int, *, finalised: bool = True) -> bytes:
    """A WAVE_FORMAT_EXTENSIBLE 32-bit float file, as OpenAL Soft's wave backend writes."""
    channels = frames.shape[1]
    guid = struct.pack("<H", 3) + bytes.fromhex("000000001000800000aa00389b71")
    fmt = (
        struct.pack(
            "<HHIIHHHHI", 0xFFFE, channels, rate, rate * 4 * channels, 4 * channels, 32, 22, 32, 3
        )
        + guid
    )
    data = frames.astype("<f4").tobytes()
    size = len(data) if finalised else 0
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data"
    return b"RIFF" + struct.pack("<I", 4 + len(body) + size) + body + struct.pack("<I", size) + data


def _track(onsets_s: list[float], total_s: float, f: float) -> np.ndarray:
    x = np.zeros(int(total_s * TONE_RATE))
    tone = synthesize_tone(f, 120.0, -20.0, 10.0)
    for t in onsets_s:
        i = round(t * TONE_RATE)
        x[i : i + len(tone)] += tone
    return x


@pytest.mark.parametrize("finalised", [True, False])
def test_tones_in_an_openal_style_float_wav(tmp_path: Path, finalised: bool) -> None:
    onsets = [0.25, 0.9, 1.7]
    x = _track(onsets, 2.2, 880.0)
    path = tmp_path / "mix.wav"
    path.write_bytes(
        _float_wav(np.stack([0.6 * x, 0.6 * x], axis=1), TONE_RATE, finalised=finalised)
    )
    y, rate = read_wav(path)
    assert rate == TONE_RATE and len(y) == len(x)
    tones = find_tones(y, rate)
    assert len(tones) == 3
    for tone, t in zip(tones, onsets, strict=True):
        assert tone.onset_s == pytest.approx(t, abs=1.5e-3)  # the ramp's first 1 %
        assert tone.duration_s == pytest.approx(0.12, abs=3e-3)
        assert tone.frequency_hz == pytest.approx(880.0, abs=1.0)
        assert tone.peak == pytest.approx(0.06, rel=0.01)


def test_pcm16_wav_and_silence(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    path.write_bytes(wav_bytes(synthesize_tone(300.0, 200.0, -10.0, 20.0)))
    y, rate = read_wav(path)
    (tone,) = find_tones(y, rate)
    assert tone.frequency_hz == pytest.approx(300.0, abs=1.0)
    assert find_tones(np.zeros(1000), rate) == []


def test_not_a_wav_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(b"hello")
    with pytest.raises(MirrorVRError, match=r"x\.wav: not a WAV file"):
        read_wav(path)
