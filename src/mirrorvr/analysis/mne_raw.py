"""MNE-Python objects from any recording: :func:`to_mne` and epochs around pulses or cues.

::

    raw = to_mne("sessions/SIM-003-20261121-101500")          # or an XDF, or a Recording
    epochs = epochs_around(raw, "pulse", tmin=-0.05, tmax=0.1)

``to_mne`` puts the chosen sampled streams (EMG, EEG, poses, any other numeric stream) on
one regular time grid on the recording's clock and adds the session's events as
:class:`mne.Annotations` on that same clock:

* regular streams at the grid rate keep their samples (each placed on the nearest grid point,
  from its clock-synchronised timestamp); slower ones are interpolated linearly; faster ones
  are low-pass filtered and resampled by MNE first (no aliasing);
* irregular streams (poses: one sample per rendered frame, frames can drop) are interpolated
  linearly, quaternions normalised after interpolation (and sign-aligned first, so the
  shorter arc is taken); where a stream has a gap (see :mod:`mirrorvr.analysis.qa`) or has
  not started / has ended, the span is annotated ``BAD_gap/<stream>`` or
  ``BAD_no_data/<stream>`` so MNE's epoching rejects what was invented;
* channel types come from the channel's own ``type`` in the stream metadata, else the
  stream's LSL type (EEG, EMG, ECG, EOG, ...; poses and anything unknown are ``misc``);
  voltages are scaled to volts from each channel's unit (µV, mV, V), positions stay in metres.

Annotations (descriptions): ``cue/<movement>``, ``pulse``, ``pulse_missed``,
``rating/<timepoint>`` (duration = time to answer), ``laterality/<side>``, ``pause``,
``estop``, and a foreign XDF's markers as ``<stream>/<value>``. Onsets are seconds from the
raw's first sample; ``raw.info["description"]`` records the LSL time of that sample.

MNE is an optional dependency: ``pip install "mirrorvr[research]"``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mirrorvr.analysis.loader import AnalysisError, load_recording
from mirrorvr.analysis.qa import QASettings
from mirrorvr.analysis.recording import Recording, Signal

#: LSL channel / stream types → MNE channel types
MNE_TYPES = {
    "eeg": "eeg", "emg": "emg", "ecg": "ecg", "ekg": "ecg", "eog": "eog", "seeg": "seeg",
    "ecog": "ecog", "resp": "resp", "respiration": "resp", "gsr": "gsr", "eda": "gsr",
    "temperature": "temperature", "temp": "temperature", "stim": "stim", "trigger": "stim",
    "bio": "bio", "fnirs": "fnirs_cw_amplitude", "nirs": "fnirs_cw_amplitude",
}  # fmt: skip
#: channel types MNE stores in volts, and unit → factor to volts
_VOLTAGE = {"eeg", "emg", "ecg", "eog", "seeg", "ecog"}
_TO_VOLTS = {
    "v": 1.0, "volts": 1.0, "volt": 1.0, "mv": 1e-3, "millivolts": 1e-3, "uv": 1e-6,
    "µv": 1e-6, "μv": 1e-6, "microvolts": 1e-6, "nv": 1e-9, "nanovolts": 1e-9,
}  # fmt: skip
#: memory a Raw may take before to_mne asks for fewer streams or a lower rate
MAX_BYTES = 4 << 30
_QUAT = re.compile(r"^(?P<joint>.+)_q(?P<c>[wxyz])$")


def _require_mne() -> Any:
    try:
        import mne
    except ImportError:
        raise AnalysisError(
            'to_mne needs MNE-Python: pip install "mirrorvr[research]" (or pip install mne)'
        ) from None
    return mne


def _as_recording(source: Recording | str | Path) -> Recording:
    return source if isinstance(source, Recording) else load_recording(source)


def select_signals(rec: Recording, streams: Iterable[str] | None = None) -> list[Signal]:
    """The sampled streams ``to_mne`` uses: by name or role (``emg``, ``pose``, ``other``,
    ``frames``) or LSL type (``EEG``), case-insensitive; default: all but the frame stream."""
    by_role: list[tuple[str, Signal]] = [("emg", s) for s in rec.emg.values()]
    by_role += [("pose", s) for s in rec.poses.values()]
    by_role += [("other", s) for s in rec.other.values()]
    if rec.frames is not None:
        by_role.append(("frames", rec.frames))
    if streams is None:
        # irregular numeric streams that are not per-frame (stimulator codes, numeric
        # markers) are events, already annotated: not signals to interpolate
        return [
            s
            for role, s in by_role
            if role != "frames"
            and s.data.size
            and (s.nominal_srate > 0 or s.can_drop_samples or role == "pose")
        ]
    want = [w.lower() for w in streams]
    chosen = [s for role, s in by_role if {role, s.name.lower(), s.type.lower()} & set(want)]
    known = {n for role, s in by_role for n in (role, s.name.lower(), s.type.lower())}
    unknown = [w for w in want if w not in known]
    if unknown:
        names = ", ".join(sorted({s.name for _, s in by_role})) or "none"
        raise AnalysisError(
            f"{rec.source}: no sampled stream {', '.join(unknown)!s}; streams here: {names}"
        )
    return chosen


def channel_types(sig: Signal) -> list[str]:
    """MNE channel type of each channel of ``sig`` (channel metadata first, then stream type)."""
    stream_t = MNE_TYPES.get(sig.type.lower(), "misc")
    per = _desc_channel_types(sig)
    return [MNE_TYPES.get(per[i].lower(), stream_t) if per[i] else stream_t for i in range(
        len(sig.channels))]  # fmt: skip


def _desc_channel_types(sig: Signal) -> list[str]:
    out = [""] * len(sig.channels)
    try:
        chans = sig.desc["channels"][0]["channel"]
    except (KeyError, IndexError, TypeError):
        return out
    if len(chans) != len(out):
        return out
    for i, c in enumerate(chans):
        v = c.get("type") if isinstance(c, dict) else None
        if isinstance(v, list) and v:
            v = v[0]
        out[i] = str(v).strip() if isinstance(v, str) else ""
    return out


def _scales(sig: Signal, types: Sequence[str]) -> np.ndarray:
    f = np.ones(len(types))
    for i, t in enumerate(types):
        if t in _VOLTAGE:
            unit = (sig.units[i] if i < len(sig.units) else "").strip().lower()
            # no unit on a voltage channel: biosignal amplifiers stream µV
            f[i] = _TO_VOLTS.get(unit, 1e-6)
    return f


def _resample_onto(sig: Signal, grid: np.ndarray, sfreq: float, mne: Any) -> np.ndarray:
    """(channels, len(grid)) of ``sig`` on ``grid`` (see the module docstring)."""
    ts = sig.timestamps
    x = np.asarray(sig.data, dtype=float)
    start = grid[0]
    if sig.nominal_srate > 0 and not sig.can_drop_samples:
        rate = sig.nominal_srate
        if rate > sfreq * (1 + 1e-9):  # anti-aliased down-sampling first
            x = mne.filter.resample(x.T, up=sfreq, down=rate, axis=-1, verbose="error").T
            ts = ts[0] + np.arange(x.shape[0]) / sfreq
        if abs(rate - sfreq) <= 1e-9 * sfreq or rate > sfreq:
            out = np.empty((x.shape[1], len(grid)))
            idx = np.rint((ts - start) * sfreq).astype(np.int64)
            ok = (idx >= 0) & (idx < len(grid))
            # fill between samples (gaps) by interpolation, then put the samples themselves
            for c in range(x.shape[1]):
                out[c] = np.interp(grid, ts, x[:, c])
                out[c, idx[ok]] = x[ok, c]
            return out
    x = _align_quaternions(sig, x)
    out = np.empty((x.shape[1], len(grid)))
    for c in range(x.shape[1]):
        out[c] = np.interp(grid, ts, x[:, c])
    _normalise_quaternions(sig, out)
    return out


def _quat_groups(sig: Signal) -> list[list[int]]:
    groups: dict[str, dict[str, int]] = {}
    for i, ch in enumerate(sig.channels):
        m = _QUAT.match(ch)
        if m:
            groups.setdefault(m["joint"], {})[m["c"]] = i
    return [[g[c] for c in "wxyz"] for g in groups.values() if len(g) == 4]


def _align_quaternions(sig: Signal, x: np.ndarray) -> np.ndarray:
    groups = _quat_groups(sig)
    if not groups or len(x) < 2:
        return x
    x = x.copy()
    for g in groups:
        q = x[:, g]
        # q and -q are the same rotation: flip each sample to the previous one's hemisphere
        flip = np.sum(q[1:] * q[:-1], axis=1) < 0
        sign = np.concatenate([[1.0], np.where(np.cumsum(flip) % 2 == 1, -1.0, 1.0)])
        x[:, g] = q * sign[:, None]
    return x


def _normalise_quaternions(sig: Signal, out: np.ndarray) -> None:
    for g in _quat_groups(sig):
        norm = np.linalg.norm(out[g], axis=0)
        out[g] /= np.where(norm > 0, norm, 1.0)


def _gap_spans(sig: Signal, settings: QASettings) -> list[tuple[float, float]]:
    if len(sig) < 3:
        return []
    d = np.diff(sig.timestamps)
    period = 1.0 / sig.nominal_srate if sig.nominal_srate > 0 else float(np.median(d))
    limit = max(settings.gap_min_s, settings.gap_periods * period)
    where = np.nonzero(d > limit)[0]
    return [(float(sig.timestamps[i]), float(sig.timestamps[i + 1])) for i in where]


def event_annotations(rec: Recording) -> list[tuple[float, float, str]]:
    """(LSL time, duration, description) of every annotated event, in time order."""
    out: list[tuple[float, float, str]] = []
    for _, c in rec.cues.iterrows():
        what = next((str(v) for v in (c["movement"], c["exercise"]) if _present(v)), "cue")
        out.append((float(c["t"]), 0.0, f"cue/{what}"))
    out += [(float(t), 0.0, "pulse") for t in rec.pulses["t"]]
    out += [(float(t), 0.0, "pulse_missed") for t in rec.missed["t"]]
    for _, r in rec.ratings.iterrows():
        rt = r["rt_s"]
        dur = float(rt) if _present(rt) and math.isfinite(float(rt)) else 0.0
        # the answer's time is logged; the prompt was shown rt_s before it
        out.append((float(r["t"]) - dur, dur, f"rating/{r['timepoint']}"))
    for _, r in rec.laterality.iterrows():
        out.append((float(r["t"]), 0.0, f"laterality/{r['side']}"))
    for _, e in rec.events.iterrows():
        if e["kind"] == "estop":
            out.append((float(e["t"]), 0.0, "estop"))
        elif e["kind"] == "state" and e["data"].get("to") == "paused":
            out.append((float(e["t"]), 0.0, "pause"))
    for _, m in rec.markers.iterrows():
        out.append((float(m["t"]), 0.0, f"{m['stream']}/{m['value']}"))
    return sorted(out, key=lambda a: a[0])


def _present(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v)) and str(v) != ""


def to_mne(
    source: Recording | str | Path,
    *,
    streams: Iterable[str] | None = None,
    sfreq: float | None = None,
    settings: QASettings | None = None,
) -> Any:
    """A :class:`mne.io.RawArray` of a session folder, an XDF file or a loaded Recording.

    Parameters
    ----------
    source:
        Session folder, XDF file (ours or any recorder's), or a :class:`Recording`.
    streams:
        Sampled streams to include, by name, role (``emg``, ``pose``, ``other``, ``frames``)
        or LSL type (``EEG``); default every sampled stream except frame timing.
    sfreq:
        Rate of the common grid (Hz); default the highest nominal rate among the chosen
        regular streams (else 90 Hz, a headset's frame rate).
    settings:
        Gap detection (``gap_min_s``, ``gap_periods``), as in timing QA.

    Returns
    -------
    mne.io.RawArray
        With every chosen channel (named ``<stream>:<channel>`` when several streams are
        included) and the session's events as annotations.
    """
    mne = _require_mne()
    rec = _as_recording(source)
    sigs = [s for s in select_signals(rec, streams) if len(s) >= 2]
    if not sigs:
        raise AnalysisError(
            f"{rec.source}: no sampled stream (EMG, EEG, poses, ...) to build an MNE Raw from; "
            "record one with the session or give an XDF that has one"
        )
    s = settings or QASettings()
    regular = [x.nominal_srate for x in sigs if x.nominal_srate > 0 and not x.can_drop_samples]
    fs = float(sfreq or (max(regular) if regular else 90.0))
    if not (math.isfinite(fs) and fs > 0):
        raise AnalysisError(f"sfreq must be a positive number of Hz, not {sfreq}")
    ann = event_annotations(rec)
    starts = [float(x.timestamps[0]) for x in sigs] + [a[0] for a in ann[:1]]
    ends = [float(x.timestamps[-1]) for x in sigs] + [a[0] + a[1] for a in ann]
    start, end = min(starts), max(ends)
    n = math.floor((end - start) * fs + 1e-6) + 1  # the last sample despite rounding
    nch = sum(x.data.shape[1] for x in sigs)
    if n * nch * 8 > MAX_BYTES:
        raise AnalysisError(
            f"{rec.source}: {nch} channels × {n} samples at {fs:g} Hz would take "
            f"{n * nch * 8 / 2**30:.1f} GiB; choose streams=[...] or a lower sfreq"
        )
    grid = start + np.arange(n) / fs
    data = np.empty((nch, n))
    names: list[str] = []
    types: list[str] = []
    bad: list[tuple[float, float, str]] = []
    row = 0
    prefix = len(sigs) > 1
    for sig in sigs:
        t = channel_types(sig)
        k = len(t)
        data[row : row + k] = _resample_onto(sig, grid, fs, mne) * _scales(sig, t)[:, None]
        row += k
        types += t
        names += [f"{sig.name}:{c}" if prefix else c for c in sig.channels]
        first, last = float(sig.timestamps[0]), float(sig.timestamps[-1])
        if first - start > 1.5 / fs:
            bad.append((start, first - start, f"BAD_no_data/{sig.name}"))
        if end - last > 1.5 / fs:
            bad.append((last, end - last, f"BAD_no_data/{sig.name}"))
        bad += [(a, b - a, f"BAD_gap/{sig.name}") for a, b in _gap_spans(sig, s)]
    info = mne.create_info(_unique(names), fs, types)
    info["description"] = (
        f"mirrorvr {rec.kind} {rec.session_id}; first sample at LSL time {start!r} s; "
        f"recording start (t0) {rec.t0!r} s"
    )
    raw = mne.io.RawArray(data, info, verbose="error")
    both = sorted(ann + bad, key=lambda a: a[0])
    raw.set_annotations(
        mne.Annotations(
            onset=[a[0] - start for a in both],
            duration=[a[1] for a in both],
            description=[a[2] for a in both],
        )
    )
    return raw


_START = re.compile(r"first sample at LSL time (?P<t>-?[0-9.]+) s")


def first_sample_time(raw: Any) -> float:
    """LSL time (s, recording clock) of the first sample of a Raw made by :func:`to_mne`;
    annotation onsets are seconds after it."""
    m = _START.search(str(raw.info.get("description") or ""))
    if m is None:
        raise AnalysisError("this Raw was not made by mirrorvr's to_mne (no LSL start time)")
    return float(m["t"]) + raw.first_time


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}-{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out


def epochs_around(
    raw: Any,
    what: str = "pulse",
    *,
    tmin: float = -0.1,
    tmax: float = 0.2,
    baseline: tuple[float | None, float | None] | None = None,
    picks: Any = None,
    reject_by_annotation: bool = True,
) -> Any:
    """:class:`mne.Epochs` around every annotation whose description starts with ``what``
    (``"pulse"``, ``"cue"``, ``"cue/fist"``, ``"rating"``, a marker stream name, ...).

    Event ids are the full descriptions (``cue/fist`` and ``cue/pronation`` stay apart);
    epochs overlapping a ``BAD_`` span are dropped unless ``reject_by_annotation`` is False.
    """
    mne = _require_mne()
    pattern = "^" + re.escape(what) + "($|/)"
    try:
        events, ids = mne.events_from_annotations(raw, regexp=pattern, verbose="error")
    except ValueError:
        events, ids = np.zeros((0, 3), int), {}
    if not len(events):
        found = sorted({d for d in raw.annotations.description if not d.startswith("BAD_")})
        raise AnalysisError(f"no {what!r} annotations; descriptions here: {', '.join(found)}")
    return mne.Epochs(
        raw,
        events,
        event_id=ids,
        tmin=tmin,
        tmax=tmax,
        baseline=baseline,
        picks=picks,
        preload=True,
        reject_by_annotation=reject_by_annotation,
        event_repeated="drop",
        verbose="error",
    )
