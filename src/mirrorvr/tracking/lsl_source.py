"""Limb poses over Lab Streaming Layer: sample layouts, encoding, and a thin inlet source.

Two layouts, chosen in the plan (``[tracking] lsl_layout``; docs/scene.md):

``mirrorvr`` (default; what mirrorvr itself publishes and records)
    Stream type ``MoCap``; one float32 sample carries both limbs, left first, each as
    ``[active, n × (x, y, z), n × (w, x, y, z), n × flags]`` with n = 26 hand joints
    (``XrHandJointEXT`` order: 209 channels per hand, 418 in all) or n = 6 leg joints
    (:class:`~mirrorvr.tracking.leg_skeleton.LegJoint` order: 49 per leg, 98 in all).
    World frame of :mod:`mirrorvr.tracking` (metres, x right, y forward, z up); flags are
    OpenXR location bits. A limb with ``active`` < 0.5 is not tracked.

``pos-quat`` (the usual motion-capture rigid-body / skeleton layout)
    One limb (``lsl_side``, default the intact side) as n joints × 7 channels
    ``x, y, z, qx, qy, qz, qw`` (or ``qw, qx, qy, qz`` with ``lsl_quat_order = "wxyz"``),
    in metres or millimetres (``lsl_units``), z-up (ours) or y-up (OpenXR stage / most game
    engines: x right, y up, z towards the viewer; ``lsl_axes = "y-up"``). A sample with any NaN
    means the limb is not tracked (motion-capture systems send NaN for occluded markers).

Outlets and stream metadata in general belong to :mod:`mirrorvr.streams`; this module only
knows the layouts and reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from mirrorvr.errors import DeviceError
from mirrorvr.tracking import quat
from mirrorvr.tracking.joints import JOINT_COUNT, SIDES, Side
from mirrorvr.tracking.leg_skeleton import LEG_JOINT_COUNT, LEG_RADII
from mirrorvr.tracking.pose import ALL_VALID, HandPose, LegPose, LimbKind, LimbPose, TrackingFrame

PER_HAND = 1 + JOINT_COUNT * 3 + JOINT_COUNT * 4 + JOINT_COUNT
CHANNELS = 2 * PER_HAND
STREAM_TYPE = "MoCap"

LayoutKind = Literal["mirrorvr", "pos-quat"]


def _per_limb(n: int) -> int:
    return 1 + n * 8


def _joints(limb: LimbKind) -> int:
    return JOINT_COUNT if limb == "upper" else LEG_JOINT_COUNT


def _limb(
    limb: LimbKind,
    side: Side,
    t: float,
    p: NDArray[np.float64],
    q: NDArray[np.float64],
    flags: NDArray[np.uint8],
) -> LimbPose:
    n = _joints(limb)
    if limb == "upper":
        return HandPose(side, t, p, q, np.full(n, 0.01), flags)
    return LegPose(side, t, p, q, LEG_RADII.copy(), flags)


def encode(frame: TrackingFrame, limb: LimbKind = "upper") -> NDArray[np.float32]:
    """One ``mirrorvr``-layout sample of ``frame``'s hands (or legs); a missing limb is
    encoded inactive (all zeros)."""
    n = _joints(limb)
    per = _per_limb(n)
    out = np.zeros(2 * per, dtype=np.float32)
    limbs: dict[Side, LimbPose] = dict(frame.limbs(limb))
    for k, side in enumerate(SIDES):
        h = limbs.get(side)
        if h is None:
            continue
        o = k * per
        out[o] = 1.0 if h.active else 0.0
        out[o + 1 : o + 1 + 3 * n] = h.positions.ravel()
        out[o + 1 + 3 * n : o + 1 + 7 * n] = h.orientations.ravel()
        out[o + 1 + 7 * n : o + per] = h.flags
    return out


def decode(
    sample: NDArray[np.floating] | list[float], t: float, limb: LimbKind = "upper"
) -> TrackingFrame:
    """The limbs in one ``mirrorvr``-layout sample (inactive ones left out); raises
    ``ValueError`` if malformed."""
    n = _joints(limb)
    per = _per_limb(n)
    s = np.asarray(sample, dtype=np.float64)
    what = "hand" if limb == "upper" else "leg"
    if s.shape != (2 * per,):
        raise ValueError(f"a {what} pose sample has {2 * per} channels, got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"a {what} pose sample contains NaN or infinity")
    out: dict[Side, LimbPose] = {}
    for k, side in enumerate(SIDES):
        o = k * per
        if s[o] < 0.5:
            continue
        q = s[o + 1 + 3 * n : o + 1 + 7 * n].reshape(n, 4)
        if np.any(np.linalg.norm(q, axis=1) < 1e-6):
            raise ValueError(f"{side} {what}: a joint orientation is a zero quaternion")
        out[side] = _limb(
            limb,
            side,
            t,
            s[o + 1 : o + 1 + 3 * n].reshape(n, 3).copy(),
            quat.normalize(q),
            s[o + 1 + 7 * n : o + per].astype(np.uint8),
        )
    return _frame(t, limb, out)


def _frame(t: float, limb: LimbKind, limbs: dict[Side, LimbPose]) -> TrackingFrame:
    if limb == "upper":
        return TrackingFrame(t=t, hands={s: h for s, h in limbs.items() if isinstance(h, HandPose)})
    return TrackingFrame(t=t, legs={s: g for s, g in limbs.items() if isinstance(g, LegPose)})


@dataclass(frozen=True)
class PoseLayout:
    """How an LSL pose stream's channels map to joints (see the module docstring)."""

    kind: LayoutKind = "mirrorvr"
    limb: LimbKind = "upper"
    #: ``pos-quat``: which side's limb the stream carries
    side: Side = "right"
    quat_order: Literal["wxyz", "xyzw"] = "xyzw"
    axes: Literal["z-up", "y-up"] = "z-up"
    units: Literal["m", "mm"] = "m"

    @property
    def channels(self) -> int:
        """Channels per sample."""
        n = _joints(self.limb)
        return 2 * _per_limb(n) if self.kind == "mirrorvr" else 7 * n

    def describe(self) -> str:
        """One line for error messages."""
        what = "hand" if self.limb == "upper" else "leg"
        if self.kind == "mirrorvr":
            return f"the mirrorvr {what} layout ({self.channels} channels)"
        return f"pos-quat, one {self.side} {what} of {_joints(self.limb)} joints × 7 channels"

    def decode(self, sample: NDArray[np.floating] | list[float], t: float) -> TrackingFrame:
        """The tracked limbs in one sample; raises ``ValueError`` if malformed."""
        if self.kind == "mirrorvr":
            return decode(sample, t, self.limb)
        n = _joints(self.limb)
        s = np.asarray(sample, dtype=np.float64)
        if s.shape != (7 * n,):
            raise ValueError(f"a pos-quat sample has {7 * n} channels, got {s.shape}")
        if not np.all(np.isfinite(s)):
            return _frame(t, self.limb, {})  # occluded: not tracked
        rows = s.reshape(n, 7)
        p = rows[:, :3] * (0.001 if self.units == "mm" else 1.0)
        q = rows[:, 3:] if self.quat_order == "wxyz" else rows[:, [6, 3, 4, 5]]
        if np.any(np.linalg.norm(q, axis=1) < 1e-6):
            raise ValueError("a joint orientation is a zero quaternion")
        if self.axes == "y-up":
            # stage (x right, y up, z back) → world (x right, y forward, z up): (x, −z, y);
            # a rotation's vector part turns the same way
            p = np.stack([p[:, 0], -p[:, 2], p[:, 1]], axis=1)
            q = np.stack([q[:, 0], q[:, 1], -q[:, 3], q[:, 2]], axis=1)
        flags = np.full(n, ALL_VALID, dtype=np.uint8)
        limb = _limb(self.limb, self.side, t, p.copy(), quat.normalize(q), flags)
        return _frame(t, self.limb, {self.side: limb})


class LSLPoseSource:
    """Reads the newest limb pose from an LSL stream (resolved by name).

    A stream that stops sending is not frozen on screen: once the newest sample is older than
    ``stale_after_s`` (its LSL time stamp against the LSL clock, i.e. wall time), :meth:`poll`
    reports no limbs, as a tracker that lost the limb would — the session's tracking watch
    then pauses (docs/scene.md).
    """

    def __init__(
        self,
        name: str,
        *,
        layout: PoseLayout | None = None,
        timeout: float = 5.0,
        stale_after_s: float = 0.25,
    ) -> None:
        import pylsl

        self.layout = layout = layout or PoseLayout()
        self.name = name
        self.stale_after_s = stale_after_s
        found = pylsl.resolve_byprop("name", name, 1, timeout)
        if not found:
            raise DeviceError(
                f"no LSL stream named '{name}' found within {timeout:g} s: start the tracker "
                "(or `mirrorvr` pose outlet) and check [tracking] lsl_stream in the plan"
            )
        info = found[0]
        if info.channel_count() != layout.channels:
            raise DeviceError(
                f"LSL stream '{name}' has {info.channel_count()} channels; the plan expects "
                f"{layout.describe()} (set [tracking] lsl_layout; docs/scene.md)"
            )
        self._clock = pylsl.local_clock
        self._inlet = pylsl.StreamInlet(info, max_buflen=1, processing_flags=pylsl.proc_clocksync)
        self._last = TrackingFrame(t=0.0)
        self._received: float | None = None
        self.bad_samples = 0
        # liblsl writes samples straight into this array (no Python list per sample)
        self._chunk = np.empty((64, layout.channels), dtype=np.float32)
        # a tracker streams all the time: wait for its first sample here, so a session does
        # not start with the limb "lost" while the inlet connects
        sample, stamp = self._inlet.pull_sample(timeout=timeout)
        if sample is None:
            self._inlet.close_stream()
            raise DeviceError(
                f"LSL stream '{name}' was found but sent no sample within {timeout:g} s: is "
                "the tracker streaming?"
            )
        try:
            self._last = layout.decode(sample, float(stamp))
        except ValueError:
            self.bad_samples += 1
        self._received = float(stamp)

    def poll(self, t: float) -> TrackingFrame:
        """The newest sample's limbs (stamped with its LSL time); the same again while new
        ones are late, none once the stream has been silent for ``stale_after_s``."""
        newest: NDArray[np.float32] | None = None
        stamp = 0.0
        while True:  # drain: only the newest sample matters
            got, stamps = self._inlet.pull_chunk(
                timeout=0.0, max_samples=len(self._chunk), dest_obj=self._chunk, as_numpy=True
            )
            if len(stamps):
                newest, stamp = got[len(stamps) - 1].copy(), float(stamps[-1])
            if len(stamps) < len(self._chunk):
                break
        now = self._clock()
        if newest is not None:
            try:
                self._last = self.layout.decode(newest, stamp)
                # the sample's own time: a backlog pulled late is not fresh
                self._received = stamp
            except ValueError:
                self.bad_samples += 1  # a malformed sample is dropped; the last good one stays
        if self._received is None or now - self._received > self.stale_after_s:
            return TrackingFrame(t=self._last.t)
        return self._last

    def close(self) -> None:
        """Close the inlet."""
        self._inlet.close_stream()
