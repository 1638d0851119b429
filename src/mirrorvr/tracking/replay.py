"""Recording and replaying pose streams (JSON Lines, one hand or leg sample per line).

File format (``*.poses.jsonl``)::

    {"format": "mirrorvr-poses", "version": 1}
    {"t": 12.5, "side": "right", "p": [78 floats], "q": [104 floats], "f": [26 ints], "r": [26 floats]}
    {"t": 12.5, "side": "right", "limb": "lower", "p": [18 floats], "q": [24 floats], ...}

``p`` = positions (x, y, z, metres), ``q`` = quaternions (w, x, y, z), ``f`` = OpenXR location
flags, ``r`` = joint radii, per joint: 26 hand joints, or 6 leg joints for ``"limb": "lower"``
(``"upper"`` when absent); world frame as in :mod:`mirrorvr.tracking`. Replay shifts
the recording so its first sample plays at the first poll, and interpolates between samples
(linear positions, slerp orientations).
"""

from __future__ import annotations

import bisect
import json
from dataclasses import replace
from pathlib import Path
from typing import IO

import numpy as np

from mirrorvr.errors import MirrorVRError
from mirrorvr.tracking import quat
from mirrorvr.tracking.joints import JOINT_COUNT, SIDES, Side
from mirrorvr.tracking.leg_skeleton import LEG_JOINT_COUNT
from mirrorvr.tracking.pose import HandPose, LegPose, LimbKind, LimbPose, TrackingFrame

FORMAT = "mirrorvr-poses"


class PoseFileError(MirrorVRError):
    """A pose recording cannot be read (names the file and line)."""


class PoseRecorder:
    """Writes hand poses to a pose file (a :class:`TrackingFrame` at a time)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f: IO[str] = path.open("w", encoding="utf-8")
        self._f.write(json.dumps({"format": FORMAT, "version": 1}) + "\n")

    def write(self, frame: TrackingFrame) -> None:
        """Append every hand and leg of ``frame``."""
        limbs: list[tuple[Side, LimbPose]] = [*frame.hands.items(), *frame.legs.items()]
        for side, h in limbs:
            rec = {
                "t": h.t,
                "side": side,
                **({"limb": "lower"} if isinstance(h, LegPose) else {}),
                "p": np.round(h.positions, 6).ravel().tolist(),
                "q": np.round(h.orientations, 7).ravel().tolist(),
                "f": h.flags.astype(int).tolist(),
                "r": np.round(h.radii, 5).tolist(),
                "active": h.active,
            }
            self._f.write(json.dumps(rec, separators=(",", ":")) + "\n")

    def close(self) -> None:
        """Flush and close."""
        self._f.close()

    def __enter__(self) -> PoseRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse(path: Path) -> dict[tuple[LimbKind, Side], list[LimbPose]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise PoseFileError(f"{path}: cannot read the pose recording ({e.strerror})") from None
    if not lines:
        raise PoseFileError(f"{path}: empty file, expected a mirrorvr pose recording")
    try:
        head = json.loads(lines[0])
    except ValueError:
        head = None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise PoseFileError(
            f"{path}:1: not a mirrorvr pose recording (first line must be "
            f'{{"format": "{FORMAT}", "version": 1}})'
        )
    out: dict[tuple[LimbKind, Side], list[LimbPose]] = {
        (k, s): [] for k in ("upper", "lower") for s in SIDES
    }
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            side = r["side"]
            if side not in SIDES:
                raise ValueError(f"side must be left or right, not {side!r}")
            limb = r.get("limb", "upper")
            if limb not in ("upper", "lower"):
                raise ValueError(f"limb must be upper or lower, not {limb!r}")
            cls: type[LimbPose] = HandPose if limb == "upper" else LegPose
            nj = JOINT_COUNT if limb == "upper" else LEG_JOINT_COUNT
            hand = cls(
                side=side,
                t=float(r["t"]),
                positions=np.array(r["p"], dtype=np.float64).reshape(nj, 3),
                orientations=quat.normalize(np.array(r["q"], dtype=np.float64).reshape(nj, 4)),
                radii=np.array(r.get("r", [0.01] * nj), dtype=np.float64).reshape(nj),
                flags=np.array(r["f"], dtype=np.uint8).reshape(nj),
                active=bool(r.get("active", True)),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise PoseFileError(f"{path}:{n}: bad pose sample ({e}); re-record the file") from None
        seq = out[(limb, side)]
        if seq and hand.t < seq[-1].t:
            raise PoseFileError(f"{path}:{n}: time goes backwards ({hand.t} after {seq[-1].t})")
        seq.append(hand)
    if not any(out.values()):
        raise PoseFileError(f"{path}: the recording holds no pose samples")
    return out


class ReplaySource:
    """Plays a pose recording back, shifted to start at the first poll."""

    def __init__(self, path: Path, *, loop: bool = False) -> None:
        self.path = path
        self.loop = loop
        self._hands = _parse(path)
        self._times = {s: [h.t for h in hs] for s, hs in self._hands.items()}
        starts = [hs[0].t for hs in self._hands.values() if hs]
        ends = [hs[-1].t for hs in self._hands.values() if hs]
        self._t0 = min(starts)
        self._span = max(ends) - self._t0
        self._offset: float | None = None

    def _sample(self, key: tuple[LimbKind, Side], t: float) -> LimbPose | None:
        hands, times = self._hands[key], self._times[key]
        if not hands:
            return None
        i = bisect.bisect_right(times, t)
        if i == 0:
            return replace(hands[0], t=t)
        if i == len(hands):
            return replace(hands[-1], t=t)
        a, b = hands[i - 1], hands[i]
        u = (t - a.t) / (b.t - a.t) if b.t > a.t else 1.0
        return replace(
            a,
            t=t,
            positions=a.positions + u * (b.positions - a.positions),
            orientations=quat.slerp(a.orientations, b.orientations, u),
            flags=a.flags & b.flags,
            active=a.active and b.active,
        )

    def poll(self, t: float) -> TrackingFrame:
        """Recorded hands and legs at ``t`` (time-shifted), stamped with ``t``."""
        if self._offset is None:
            self._offset = t - self._t0
        rt = t - self._offset
        if self.loop and self._span > 0:
            rt = self._t0 + (rt - self._t0) % self._span
        hands: dict[Side, HandPose] = {}
        legs: dict[Side, LegPose] = {}
        for limb, side in self._hands:
            h = self._sample((limb, side), rt)
            if isinstance(h, HandPose):
                hands[side] = replace(h, t=t)
            elif isinstance(h, LegPose):
                legs[side] = replace(h, t=t)
        return TrackingFrame(t=t, hands=hands, legs=legs)

    def close(self) -> None:
        """Nothing to release (the file was read at once)."""
