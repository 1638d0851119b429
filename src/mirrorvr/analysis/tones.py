"""Finding tones in recorded audio: WAV reading and tone detection (for tests and benchmarks).

OpenAL Soft's ``wave`` output backend writes what it mixes to a WAV file (32-bit float,
``WAVE_FORMAT_EXTENSIBLE``, usually stereo) in real time: sample ``n`` is the mixer's position
``n / rate`` seconds after the device was opened. :func:`read_wav` reads that format (and
plain 16-bit PCM), tolerating a header whose sizes were never finalised (a process that was
killed); :func:`find_tones` returns each tone's onset, end, frequency and peak. Pure numpy
apart from the file read.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mirrorvr.errors import MirrorVRError

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


@dataclass(frozen=True)
class Tone:
    """One tone found in a recording (times in seconds from the recording's first sample)."""

    onset_s: float
    end_s: float
    frequency_hz: float
    peak: float

    @property
    def duration_s(self) -> float:
        """From the first to the last sample above the threshold."""
        return self.end_s - self.onset_s


def read_wav(path: Path) -> tuple[NDArray[np.float64], int]:
    """The first channel of a WAV file as floats in [-1, 1], and its sample rate.

    Reads 16-bit PCM and 32-bit IEEE float, plain or ``WAVE_FORMAT_EXTENSIBLE``; a data chunk
    whose size is 0 or runs past the file's end (never finalised) is read to the end.
    """
    raw = Path(path).read_bytes()
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise MirrorVRError(f"{path}: not a WAV file (no RIFF/WAVE header)")
    fmt: bytes | None = None
    data: bytes | None = None
    i = 12
    while i + 8 <= len(raw):
        cid, size = raw[i : i + 4], struct.unpack("<I", raw[i + 4 : i + 8])[0]
        if cid == b"fmt ":
            fmt = raw[i + 8 : i + 8 + size]
        elif cid == b"data":
            end = i + 8 + size
            data = raw[i + 8 : end if size > 0 and end <= len(raw) else len(raw)]
            break
        i += 8 + size + (size & 1)
    if fmt is None or data is None or len(fmt) < 16:
        raise MirrorVRError(f"{path}: WAV file without a fmt and data chunk")
    tag, channels, rate, _, align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]  # the sub-format GUID starts with the tag
    dtype: np.dtype[np.generic]
    if (tag, bits) == (_PCM, 16):
        dtype, scale = np.dtype("<i2"), 1.0 / 32768.0
    elif (tag, bits) == (_FLOAT, 32):
        dtype, scale = np.dtype("<f4"), 1.0
    else:
        raise MirrorVRError(f"{path}: unsupported WAV format (tag {tag}, {bits} bits)")
    n = len(data) // align
    frames = np.frombuffer(data[: n * align], dtype=dtype).reshape(n, channels)
    return frames[:, 0].astype(np.float64) * scale, int(rate)


def find_tones(
    x: NDArray[np.floating],
    rate: int,
    *,
    threshold: float | None = None,
    merge_ms: float = 10.0,
    min_ms: float = 5.0,
) -> list[Tone]:
    """Tones in ``x``: runs of samples above ``threshold`` (default 1 % of the recording's
    peak, at least 1e-4) joined across gaps shorter than ``merge_ms`` and kept if at least
    ``min_ms`` long. The onset is the first sample above the threshold (a raised-cosine ramp
    crosses 1 % of its peak 6 % of the way through the ramp).
    """
    a = np.abs(np.asarray(x, dtype=np.float64))
    if a.size == 0:
        return []
    thr = threshold if threshold is not None else max(1e-4, 0.01 * float(a.max()))
    above = np.flatnonzero(a > thr)
    if above.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(above) > merge_ms * rate / 1000.0)
    starts = np.concatenate(([above[0]], above[breaks + 1]))
    ends = np.concatenate((above[breaks], [above[-1]]))
    tones = []
    for s, e in zip(starts, ends, strict=True):
        if (e - s + 1) < min_ms * rate / 1000.0:
            continue
        seg = x[s : e + 1]
        tones.append(
            Tone(
                onset_s=float(s) / rate,
                end_s=float(e) / rate,
                frequency_hz=dominant_frequency(seg, rate),
                peak=float(np.abs(seg).max()),
            )
        )
    return tones


def dominant_frequency(x: NDArray[np.floating], rate: int) -> float:
    """The strongest frequency in ``x`` (Hann window, zero-padded FFT, parabolic peak fit)."""
    seg = np.asarray(x, dtype=np.float64)
    n = max(1 << math.ceil(math.log2(max(len(seg), 2))), 1 << 14)
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), n))
    k = int(np.argmax(spec[1:])) + 1
    if 1 <= k < len(spec) - 1:
        a, b, c = np.log(spec[k - 1 : k + 2] + 1e-300)
        den = a - 2 * b + c
        k_frac = k + (0.5 * (a - c) / den if den != 0 else 0.0)
    else:
        k_frac = float(k)
    return float(k_frac * rate / n)
