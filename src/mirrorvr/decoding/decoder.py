"""From a stream of EMG samples to decisions: windows → features → LDA → rest threshold → vote.

:class:`WindowStream` turns chunks of samples as they arrive (any chunk size) into one feature
row per window increment, stamped with the time of the window's last sample; it is used alone
during calibration (labelled rows to train on) and inside :class:`Decoder` afterwards.
Everything is plain computation on the arrays handed in: the same code decodes a simulated
clock's samples and an amplifier's LSL stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mirrorvr.decoding.features import DEFAULT_FEATURES, DEFAULT_THRESHOLD_UV, feature_matrix
from mirrorvr.decoding.lda import LdaModel, fit_lda
from mirrorvr.decoding.postprocess import REST, ActivityLevels, MajorityVote, activity_levels
from mirrorvr.decoding.windows import window_samples

Array = NDArray[np.float64]


@dataclass(frozen=True)
class DecoderSettings:
    """Window, features and smoothing (defaults: 200 ms windows every 50 ms, Hudgins set)."""

    window_s: float = 0.2
    increment_s: float = 0.05
    features: tuple[str, ...] = DEFAULT_FEATURES
    threshold_uv: float = DEFAULT_THRESHOLD_UV
    vote: int = 3
    shrinkage: float = 0.05
    #: rest threshold: rest mean + this many SDs of the rest windows' activity
    rest_k_sd: float = 3.0

    def samples(self, fs: float) -> tuple[int, int]:
        """(window length, increment) in samples."""
        return window_samples(self.window_s, self.increment_s, fs)


@dataclass(frozen=True)
class FeatureRows:
    """Feature rows of consecutive windows: end times, features, overall activity (mean MAV)."""

    t: Array
    x: Array
    activity: Array

    def __len__(self) -> int:
        return len(self.t)


@dataclass
class WindowStream:
    """Cuts an incoming multichannel stream into overlapping windows and computes features."""

    fs: float
    channels: int
    settings: DecoderSettings = field(default_factory=DecoderSettings)

    def __post_init__(self) -> None:
        self.length, self.increment = self.settings.samples(self.fs)
        self._buf = np.zeros((0, self.channels))
        self._ts = np.zeros(0)
        self._total = 0  # samples seen
        self._next_end = self.length  # global index (exclusive) of the next window's end

    def reset(self) -> None:
        """Forget buffered samples (after a gap: a window must not span it)."""
        self._buf = np.zeros((0, self.channels))
        self._ts = np.zeros(0)
        self._next_end = self._total + self.length

    def push(self, x: NDArray[np.floating], stamps: NDArray[np.floating]) -> FeatureRows:
        """Add samples (samples × channels) with their times; the windows completed by them."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.channels)
        stamps = np.asarray(stamps, dtype=np.float64).reshape(-1)
        if len(x) != len(stamps):
            raise ValueError("one timestamp per sample")
        self._buf = np.concatenate([self._buf, x])
        self._ts = np.concatenate([self._ts, stamps])
        self._total += len(x)
        first = self._total - len(self._buf)  # global index of self._buf[0]
        ends = np.arange(self._next_end, self._total + 1, self.increment)
        if len(ends):
            idx = (ends - first)[:, None] - self.length + np.arange(self.length)[None, :]
            windows = self._buf[idx]  # (windows × length × channels)
            feats = feature_matrix(windows, self.settings.features, self.settings.threshold_uv)
            activity = np.mean(np.abs(windows), axis=(1, 2))
            t = self._ts[ends - first - 1]
            self._next_end = int(ends[-1]) + self.increment
        else:
            feats = np.zeros((0, len(self.settings.features) * self.channels))
            activity, t = np.zeros(0), np.zeros(0)
        keep = max(0, self._total - (self._next_end - self.length))
        if keep < len(self._buf):
            self._buf = self._buf[len(self._buf) - keep :]
            self._ts = self._ts[len(self._ts) - keep :]
        return FeatureRows(t, feats, activity)


@dataclass(frozen=True)
class Decision:
    """One window's decoded motion: class (after threshold and vote), confidence, speed."""

    t: float  # time of the window's last sample
    motion: str
    confidence: float  # posterior of ``motion`` in this window (1.0 for a threshold rest)
    speed: float  # proportional speed, 0 … max (0 at rest)
    raw: str  # the classifier's own choice in this window, before threshold and vote
    activity: float  # mean MAV over channels (µV)


@dataclass(frozen=True)
class TrainedDecoder:
    """What calibration produces: the classifier and the activity levels."""

    model: LdaModel
    levels: ActivityLevels
    settings: DecoderSettings

    def to_dict(self) -> dict[str, object]:
        """Plain data for the session folder."""
        return {
            "model": self.model.to_dict(),
            "levels": self.levels.to_dict(),
            "settings": {
                "window_s": self.settings.window_s,
                "increment_s": self.settings.increment_s,
                "features": list(self.settings.features),
                "threshold_uv": self.settings.threshold_uv,
                "vote": self.settings.vote,
                "shrinkage": self.settings.shrinkage,
            },
        }


def trained_from_dict(d: dict[str, Any]) -> TrainedDecoder:
    """Inverse of :meth:`TrainedDecoder.to_dict` (a resumed session reloads its model)."""
    st = d["settings"]
    lv = d["levels"]
    settings = DecoderSettings(
        window_s=float(st["window_s"]),
        increment_s=float(st["increment_s"]),
        features=tuple(st["features"]),
        threshold_uv=float(st["threshold_uv"]),
        vote=int(st["vote"]),
        shrinkage=float(st["shrinkage"]),
    )
    levels = ActivityLevels(
        float(lv["rest_level"]),
        float(lv["threshold"]),
        {str(k): float(v) for k, v in lv["class_levels"].items()},
    )
    return TrainedDecoder(LdaModel.from_dict(d["model"]), levels, settings)


def train_decoder(
    rows: FeatureRows,
    labels: Sequence[str],
    settings: DecoderSettings,
    classes: Sequence[str] | None = None,
) -> TrainedDecoder:
    """Fit LDA and the rest threshold to labelled calibration windows (rest must be among them)."""
    model = fit_lda(rows.x, labels, shrinkage=settings.shrinkage, classes=classes)
    levels = activity_levels(rows.activity, labels, k_sd=settings.rest_k_sd)
    return TrainedDecoder(model, levels, settings)


class Decoder:
    """Decisions from a live stream: a :class:`WindowStream` in front of a trained decoder."""

    def __init__(self, trained: TrainedDecoder, fs: float, channels: int) -> None:
        self.trained = trained
        self.windows = WindowStream(fs, channels, trained.settings)
        self.vote = MajorityVote(trained.settings.vote)

    def reset(self) -> None:
        """Start afresh (after a gap in the stream)."""
        self.windows.reset()
        self.vote.reset()

    def push(self, x: NDArray[np.floating], stamps: NDArray[np.floating]) -> list[Decision]:
        """Add samples; one decision per window completed by them."""
        return self.decide(self.windows.push(x, stamps))

    def decide(self, rows: FeatureRows) -> list[Decision]:
        """Decisions for already computed feature rows (in order)."""
        if not len(rows):
            return []
        model, levels = self.trained.model, self.trained.levels
        proba = model.proba(rows.x)
        out = []
        for i in range(len(rows)):
            a = float(rows.activity[i])
            raw = model.classes[int(np.argmax(proba[i]))]
            below = a < levels.threshold
            motion = self.vote.push(REST if below else raw)
            # a rest forced by the threshold is certain; otherwise the posterior of the choice
            threshold_rest = motion == REST and below
            conf = 1.0 if threshold_rest else float(proba[i][model.classes.index(motion)])
            out.append(
                Decision(
                    t=float(rows.t[i]),
                    motion=motion,
                    confidence=conf,
                    speed=levels.speed(motion, a),
                    raw=raw,
                    activity=a,
                )
            )
        return out
