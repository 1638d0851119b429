"""The cue tone as samples: a sine with raised-cosine ramps. Pure numpy, no audio device.

A tone that starts or stops at full amplitude clicks (its spectrum splatters); fading it in and
out over a few milliseconds with half a cosine period (a raised-cosine, or Hann, ramp) keeps it
a clean, soft beep. :func:`wav_bytes` wraps the samples in a 16-bit PCM WAV file so panda3d's
audio (OpenAL) can load them from memory (:mod:`mirrorvr.render.audio`).
"""

from __future__ import annotations

import io
import math
import wave

import numpy as np
from numpy.typing import NDArray

#: sample rate of synthesised tones (OpenAL Soft's default mixing rate, so no resampling)
TONE_RATE = 44_100


def synthesize_tone(
    frequency_hz: float,
    duration_ms: float,
    level_dbfs: float,
    ramp_ms: float,
    rate: int = TONE_RATE,
) -> NDArray[np.float32]:
    """A mono tone in [-1, 1]: ``round(duration_ms * rate / 1000)`` samples.

    The sine (starting at phase 0) is shaped by a raised-cosine fade-in over the first
    ``ramp_ms`` and a mirrored fade-out over the last ``ramp_ms``; in between the envelope is 1,
    so the peak is ``10 ** (level_dbfs / 20)`` (to within the sine's sampling). The first sample
    is exactly 0 and so is the last envelope value: no step at either end.
    """
    if not 0 < frequency_hz < rate / 2:
        raise ValueError(f"frequency_hz must be in (0, {rate / 2:g}) Hz, got {frequency_hz:g}")
    if duration_ms <= 0 or ramp_ms < 0 or 2 * ramp_ms > duration_ms:
        raise ValueError("need duration_ms > 0 and 0 <= 2 * ramp_ms <= duration_ms")
    n = max(1, round(duration_ms * rate / 1000.0))
    t = np.arange(n, dtype=np.float64) / rate
    amplitude = 10.0 ** (level_dbfs / 20.0)
    x = amplitude * np.sin(2.0 * math.pi * frequency_hz * t)
    x *= ramp_envelope(n, round(ramp_ms * rate / 1000.0))
    return x.astype(np.float32)


def ramp_envelope(n: int, n_ramp: int) -> NDArray[np.float64]:
    """An envelope of ``n`` samples: raised-cosine rise over ``n_ramp``, 1, mirrored fall."""
    env = np.ones(n, dtype=np.float64)
    n_ramp = min(n_ramp, n // 2)
    if n_ramp > 0:
        # 0 at the first sample, reaching 1 just after the ramp: 0.5 - 0.5 cos(pi k / n_ramp)
        rise = 0.5 - 0.5 * np.cos(math.pi * np.arange(n_ramp) / n_ramp)
        env[:n_ramp] = rise
        env[n - n_ramp :] = rise[::-1]
    return env


def to_pcm16(samples: NDArray[np.floating]) -> bytes:
    """Samples in [-1, 1] as little-endian signed 16-bit PCM (clipped, rounded)."""
    pcm = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32767.0), -32768, 32767)
    return pcm.astype("<i2").tobytes()


def wav_bytes(samples: NDArray[np.floating], rate: int = TONE_RATE) -> bytes:
    """A complete mono 16-bit PCM WAV file holding ``samples``."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(to_pcm16(samples))
    return buf.getvalue()
