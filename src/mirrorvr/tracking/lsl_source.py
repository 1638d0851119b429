"""Hand poses over Lab Streaming Layer: sample layout, encoding, and a thin inlet source.

Stream type ``MoCap``; one float32 sample carries both hands, each as
``[active, 26 × (x, y, z), 26 × (w, x, y, z), 26 × flags]`` (209 channels per hand, left
first: 418 channels). Outlets and stream metadata in general belong to
:mod:`mirrorvr.streams`; this module only knows the hand layout and reads it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mirrorvr.errors import DeviceError
from mirrorvr.tracking import quat
from mirrorvr.tracking.joints import JOINT_COUNT, SIDES, Side
from mirrorvr.tracking.pose import HandPose, TrackingFrame

PER_HAND = 1 + JOINT_COUNT * 3 + JOINT_COUNT * 4 + JOINT_COUNT
CHANNELS = 2 * PER_HAND
STREAM_TYPE = "MoCap"


def encode(frame: TrackingFrame) -> NDArray[np.float32]:
    """One LSL sample of ``frame``'s hands (a missing hand is encoded inactive, all zeros)."""
    out = np.zeros(CHANNELS, dtype=np.float32)
    for k, side in enumerate(SIDES):
        h = frame.hands.get(side)
        if h is None:
            continue
        o = k * PER_HAND
        out[o] = 1.0 if h.active else 0.0
        out[o + 1 : o + 79] = h.positions.ravel()
        out[o + 79 : o + 183] = h.orientations.ravel()
        out[o + 183 : o + PER_HAND] = h.flags
    return out


def decode(sample: NDArray[np.floating] | list[float], t: float) -> TrackingFrame:
    """The hands in one sample (inactive hands are left out); raises ``ValueError`` if malformed."""
    s = np.asarray(sample, dtype=np.float64)
    if s.shape != (CHANNELS,):
        raise ValueError(f"a hand pose sample has {CHANNELS} channels, got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("a hand pose sample contains NaN or infinity")
    hands: dict[Side, HandPose] = {}
    for k, side in enumerate(SIDES):
        o = k * PER_HAND
        if s[o] < 0.5:
            continue
        q = s[o + 79 : o + 183].reshape(JOINT_COUNT, 4)
        if np.any(np.linalg.norm(q, axis=1) < 1e-6):
            raise ValueError(f"{side} hand: a joint orientation is a zero quaternion")
        hands[side] = HandPose(
            side=side,
            t=t,
            positions=s[o + 1 : o + 79].reshape(JOINT_COUNT, 3).copy(),
            orientations=quat.normalize(q),
            radii=np.full(JOINT_COUNT, 0.01),
            flags=s[o + 183 : o + PER_HAND].astype(np.uint8),
        )
    return TrackingFrame(t=t, hands=hands)


class LSLPoseSource:
    """Reads the newest hand pose from an LSL stream (resolved by name)."""

    def __init__(self, name: str, *, timeout: float = 5.0) -> None:
        import pylsl

        found = pylsl.resolve_byprop("name", name, 1, timeout)
        if not found:
            raise DeviceError(
                f"no LSL stream named '{name}' found within {timeout:g} s: start the tracker "
                "(or `mirrorvr` pose outlet) and check the name"
            )
        info = found[0]
        if info.channel_count() != CHANNELS:
            raise DeviceError(
                f"LSL stream '{name}' has {info.channel_count()} channels; a hand pose stream "
                f"has {CHANNELS} (see mirrorvr.tracking.lsl_source)"
            )
        self._inlet = pylsl.StreamInlet(info, max_buflen=1, processing_flags=pylsl.proc_clocksync)
        self._last = TrackingFrame(t=0.0)
        self.bad_samples = 0

    def poll(self, t: float) -> TrackingFrame:
        """The newest sample's hands (stamped with its LSL time); old ones if nothing new."""
        samples, stamps = self._inlet.pull_chunk(timeout=0.0)
        if samples:
            try:
                self._last = decode(samples[-1], float(stamps[-1]))
            except ValueError:
                self.bad_samples += 1  # a malformed sample is dropped; the last good one stays
        return self._last

    def close(self) -> None:
        """Close the inlet."""
        self._inlet.close_stream()
