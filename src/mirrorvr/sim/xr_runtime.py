"""The simulated headset: building our OpenXR runtime and scripting what it plays.

The runtime itself is C (``sim/openxr_runtime/`` in the source tree, shipped in the package as
``mirrorvr/sim/openxr_runtime``), loaded by the OpenXR
loader that pyopenxr bundles through ``XR_RUNTIME_JSON``. It is configured by environment
variables, which :class:`SimulatedHeadset` writes: frame rate and view size, scripted head,
hand-joint and controller trajectories (CSV, OpenXR coordinates, seconds since the session
began), timed commands (focus lost, session stopping, eye-image captures...) and the path of
the log of submitted frames.
"""

from __future__ import annotations

import csv
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import DeviceError
from mirrorvr.render.xr_frames import position_to_xr, quat_to_xr
from mirrorvr.session.timeline import Timeline
from mirrorvr.tracking.joints import JOINT_COUNT, Side
from mirrorvr.tracking.pose import HandPose

#: the runtime's sources, shipped as package data (in a checkout, a link to sim/openxr_runtime)
RUNTIME_SRC = Path(__file__).parent / "openxr_runtime"


def _default_build() -> Path:
    """``build/openxr_runtime`` of a source checkout (git-ignored); installed from a wheel,
    the user's cache directory."""
    root = Path(__file__).resolve().parents[3]
    if (root / "pyproject.toml").exists() and (root / "sim" / "openxr_runtime").is_dir():
        return root / "build" / "openxr_runtime"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mirrorvr")) / "openxr_runtime"


#: where it is built unless told otherwise
DEFAULT_BUILD = _default_build()
LIBRARY = "libmirrorvr_xrsim.so"
MANIFEST = "mirrorvr_xrsim.json"


def build_runtime(build_dir: Path | None = None, src: Path | None = None) -> Path:
    """Build the simulated runtime (if out of date) and return its manifest for XR_RUNTIME_JSON.

    Concurrent callers (parallel tests) serialise on a lock file; ``make`` rebuilds only when a
    source changed.
    """
    src = src or Path(os.environ.get("MIRRORVR_XRSIM_SRC", RUNTIME_SRC))
    build = (build_dir or Path(os.environ.get("MIRRORVR_XRSIM_BUILD", DEFAULT_BUILD))).resolve()
    if not (src / "Makefile").exists():
        raise DeviceError(
            f"the simulated OpenXR runtime's sources are not at {src}: reinstall mirrorvr "
            "(they ship with the package) or set MIRRORVR_XRSIM_SRC"
        )
    if shutil.which("make") is None or shutil.which(os.environ.get("CC", "cc")) is None:
        raise DeviceError(
            "building the simulated OpenXR runtime needs make and a C compiler: "
            "run scripts/bootstrap as root (it installs scripts/apt-packages.txt)"
        )
    build.mkdir(parents=True, exist_ok=True)
    with open(build / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(
            ["make", "-s", "-C", str(src), f"BUILD={build}"],
            capture_output=True,
            text=True,
        )
    if proc.returncode != 0:
        raise DeviceError(
            "building the simulated OpenXR runtime failed (needs libgl-dev, libx11-dev, "
            f"libopenxr-dev from scripts/apt-packages.txt):\n{proc.stderr.strip()[-2000:]}"
        )
    return build / MANIFEST


def _fmt(values: Iterable[float]) -> list[str]:
    return [f"{v:.6f}" for v in values]


def write_head_csv(path: Path, rows: Iterable[tuple[float, np.ndarray, np.ndarray]]) -> Path:
    """Head trajectory: ``(t, world position, world orientation wxyz)`` rows → runtime CSV."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["t", "px", "py", "pz", "qx", "qy", "qz", "qw"])
        for t, p, q in rows:
            px, qx = position_to_xr(p), quat_to_xr(q)
            w.writerow([f"{t:.6f}", *_fmt(px), *_fmt(qx[1:]), f"{qx[0]:.6f}"])
    return path


def write_hands_csv(path: Path, rows: Iterable[tuple[float, HandPose]]) -> Path:
    """Hand-joint trajectory: ``(t, HandPose in world coordinates)`` rows → runtime CSV.

    One row per hand per keyframe: ``t, hand, then 26 × (px py pz qx qy qz qw)`` in OpenXR
    coordinates; the runtime interpolates between keyframes.
    """
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["t", "hand", f"{JOINT_COUNT}x(px py pz qx qy qz qw)"])
        for t, hand in rows:
            p = position_to_xr(hand.positions)
            q = quat_to_xr(hand.orientations)
            values: list[str] = []
            for j in range(JOINT_COUNT):
                values += _fmt(p[j]) + _fmt(q[j][1:]) + [f"{q[j][0]:.6f}"]
            w.writerow([f"{t:.6f}", hand.side, *values])
    return path


def write_controllers_csv(
    path: Path,
    rows: Iterable[tuple[float, str, np.ndarray, np.ndarray, Mapping[str, float]]],
) -> Path:
    """Controller trajectory: ``(t, side, grip position, grip orientation, buttons)`` rows.

    ``buttons`` may hold ``select``, ``menu`` and ``squeeze`` (0..1); the simulated controller
    is a ``khr/simple_controller`` whose aim pose equals its grip pose. ``side`` may also be a
    tracker role (``left_foot``, ``right_foot``, ``left_knee``, ``right_knee``): the runtime
    offers ``XR_HTCX_vive_tracker_interaction`` and poses that role's tracker from these rows.
    """
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            ["t", "hand", "px", "py", "pz", "qx", "qy", "qz", "qw", "select", "menu", "squeeze"]
        )
        for t, side, p, q, buttons in rows:
            px, qx = position_to_xr(p), quat_to_xr(q)
            pressed = _fmt([buttons.get(k, 0.0) for k in ("select", "menu", "squeeze")])
            w.writerow([f"{t:.6f}", side, *_fmt(px), *_fmt(qx[1:]), f"{qx[0]:.6f}", *pressed])
    return path


def seated_head(pitch_down_deg: float = 45.0) -> tuple[np.ndarray, np.ndarray]:
    """World pose of a seated patient's head looking down at the hands on the table."""
    from mirrorvr.tracking import quat
    from mirrorvr.tracking.synthetic import HEAD

    q = quat.from_axis_angle(np.array([1.0, 0.0, 0.0]), -np.radians(pitch_down_deg))
    return HEAD.copy(), q


@dataclass
class SimulatedHeadset:
    """What the simulated runtime plays, as the environment variables it reads."""

    manifest: Path
    rate_hz: float = 90.0
    view_size: tuple[int, int] = (1440, 1600)
    hand_tracking: bool = True
    head_csv: Path | None = None
    hands_csv: Path | None = None
    controllers_csv: Path | None = None
    #: ``"t=2.5 unfocus"``, ``"t=4 capture left /tmp/left.ppm"``, ``"120 stop"`` (frame count)
    commands: list[str] = field(default_factory=list)
    script_path: Path | None = None
    frame_log: Path | None = None
    #: folder the runtime polls for live commands (see :func:`send_commands`)
    control_dir: Path | None = None

    def env(self) -> dict[str, str]:
        """Environment for a process that should see this headset."""
        env = {
            "XR_RUNTIME_JSON": str(self.manifest),
            "XRSIM_RATE_HZ": f"{self.rate_hz:g}",
            "XRSIM_VIEW_WIDTH": str(self.view_size[0]),
            "XRSIM_VIEW_HEIGHT": str(self.view_size[1]),
            "XRSIM_HAND_TRACKING": "1" if self.hand_tracking else "0",
        }
        for key, path in (
            ("XRSIM_HEAD", self.head_csv),
            ("XRSIM_HANDS", self.hands_csv),
            ("XRSIM_CONTROLLERS", self.controllers_csv),
            ("XRSIM_FRAME_LOG", self.frame_log),
            ("XRSIM_CONTROL_DIR", self.control_dir),
        ):
            if path is not None:
                env[key] = str(path)
        if self.control_dir is not None:
            self.control_dir.mkdir(parents=True, exist_ok=True)
        if self.commands:
            script = self.script_path or self.manifest.parent / f"script-{os.getpid()}.txt"
            script.write_text("\n".join(self.commands) + "\n", encoding="utf-8")
            env["XRSIM_SCRIPT"] = str(script)
        return env


_sent = 0


def send_commands(control_dir: Path, *commands: str) -> None:
    """Hand commands (``"unfocus"``, ``"press right menu"``, ``"capture left /tmp/l.ppm"``...) to
    a running simulated runtime from any process; it runs them at its next frame, in order."""
    global _sent
    _sent += 1
    name = f"{time.monotonic_ns():020d}-{os.getpid()}-{_sent:06d}"
    tmp = control_dir / f"{name}.tmp"
    tmp.write_text("\n".join(commands) + "\n", encoding="utf-8")
    os.replace(tmp, control_dir / f"{name}.cmd")  # atomic: the runtime never sees half a file


@dataclass(frozen=True)
class SubmittedFrame:
    """One line of the runtime's frame log (times in LSL seconds)."""

    frame: int
    display_time: float
    end_frame_time: float
    period: float
    layers: int


def read_frame_log(path: Path) -> list[SubmittedFrame]:
    """The runtime's log of submitted frames."""
    with open(path, encoding="utf-8") as f:
        return [
            SubmittedFrame(
                frame=int(r["frame"]),
                display_time=float(r["display_time_s"]),
                end_frame_time=float(r["end_frame_time_s"]),
                period=int(r["display_period_ns"]) * 1e-9,
                layers=int(r["layers"]),
            )
            for r in csv.DictReader(f)
        ]


def read_ppm(path: Path) -> np.ndarray:
    """An eye image the runtime wrote (binary PPM) as an ``(h, w, 3)`` uint8 array."""
    data = path.read_bytes()
    # header "P6 <w> <h> <max>" then exactly one whitespace byte; pixels may start with one too
    fields: list[bytes] = []
    pos = 0
    while len(fields) < 4:
        while data[pos : pos + 1].isspace():
            pos += 1
        end = pos
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P6":
        raise ValueError(f"{path} is not a binary PPM")
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(data[pos + 1 : pos + 1 + w * h * 3], dtype=np.uint8).reshape(h, w, 3)


def synthetic_hand_rows(
    timeline: Timeline, intact_side: Side, *, seed: int = 0, rate_hz: float = 10.0
) -> list[tuple[float, HandPose]]:
    """Keyframes of the intact hand performing the timeline's movement windows.

    Times are the timeline's (seconds from the session's first step); the hand rests between
    windows, so keyframes are only needed at window edges and, within windows, at ``rate_hz``.
    """
    from mirrorvr.tracking.synthetic import SyntheticSource

    src = SyntheticSource(intact_side, seed=seed, noise=False)
    times: list[float] = [0.0]
    for step in timeline.steps:
        if step.kind == "window" and step.data.get("movement") and step.duration > 0:
            src.perform(str(step.data["movement"]), step.t, step.duration)
            n = max(2, int(step.duration * rate_hz) + 1)
            times += [step.t + step.duration * i / (n - 1) for i in range(n)]
            times.append(step.t + step.duration + 0.2)
    times.append(timeline.duration)
    rows = []
    for t in sorted(set(times)):
        frame = src.poll(t)
        rows.append((t, frame.hands[intact_side]))
    return rows


def synthetic_leg_tracker_rows(
    timeline: Timeline, intact_side: Side, *, seed: int = 0, rate_hz: float = 10.0
) -> list[tuple[float, str, np.ndarray, np.ndarray, Mapping[str, float]]]:
    """Foot and knee tracker keyframes of the intact leg performing the timeline's movements
    (controller-script rows; see :func:`write_controllers_csv`)."""
    from mirrorvr.tracking.leg_skeleton import LegJoint
    from mirrorvr.tracking.synthetic import SyntheticSource

    src = SyntheticSource(intact_side, seed=seed, noise=False, limb="lower")
    times: list[float] = [0.0]
    for step in timeline.steps:
        if step.kind == "window" and step.data.get("movement") and step.duration > 0:
            src.perform(str(step.data["movement"]), step.t, step.duration)
            n = max(2, int(step.duration * rate_hz) + 1)
            times += [step.t + step.duration * i / (n - 1) for i in range(n)]
            times.append(step.t + step.duration + 0.2)
    times.append(timeline.duration)
    rows: list[tuple[float, str, np.ndarray, np.ndarray, Mapping[str, float]]] = []
    for t in sorted(set(times)):
        leg = src.poll(t).legs[intact_side]
        for role, j in (("foot", LegJoint.ANKLE), ("knee", LegJoint.KNEE)):
            rows.append((t, f"{intact_side}_{role}", leg.positions[j], leg.orientations[j], {}))
    return rows


def simulated_headset_for_plan(
    plan: SessionPlan, folder: Path, manifest: Path, *, rate_hz: float = 90.0
) -> SimulatedHeadset:
    """A simulated headset for ``plan``: a seated patient looking at the table whose intact
    hand performs the plan's movements; files go to ``folder``."""
    from mirrorvr.session.timeline import compile_timeline

    folder.mkdir(parents=True, exist_ok=True)
    timeline = compile_timeline(plan)
    if plan.patient.limb == "lower":
        # a seated patient looking down at the feet; trackers on the intact foot and knee
        head_p, head_q = seated_head(pitch_down_deg=60.0)
        return SimulatedHeadset(
            manifest=manifest,
            rate_hz=rate_hz,
            view_size=(320, 360),
            head_csv=write_head_csv(folder / "xrsim-head.csv", [(0.0, head_p, head_q)]),
            controllers_csv=write_controllers_csv(
                folder / "xrsim-trackers.csv",
                synthetic_leg_tracker_rows(
                    timeline, plan.patient.intact_side, seed=plan.session.seed
                ),
            ),
            frame_log=folder / "xrsim-frames.csv",
            script_path=folder / "xrsim-script.txt",
        )
    head_p, head_q = seated_head()
    return SimulatedHeadset(
        manifest=manifest,
        rate_hz=rate_hz,
        view_size=(320, 360),  # small eyes: software GL in CI must leave CPU to the session
        head_csv=write_head_csv(folder / "xrsim-head.csv", [(0.0, head_p, head_q)]),
        hands_csv=write_hands_csv(
            folder / "xrsim-hands.csv",
            synthetic_hand_rows(timeline, plan.patient.intact_side, seed=plan.session.seed),
        ),
        frame_log=folder / "xrsim-frames.csv",
        script_path=folder / "xrsim-script.txt",
    )
