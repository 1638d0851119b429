"""Inlets: EMG/EEG, external pose and markers followed on their own threads; pose outlets."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pylsl

from mirrorvr.streams.inlets import StreamFollower, emg_follower, marker_follower
from mirrorvr.streams.layout import HAND_JOINTS
from mirrorvr.streams.outlets import FrameTimingOutlet, PoseOutlet

ROOT = Path(__file__).resolve().parents[2]


def test_emg_follower_takes_an_eeg_stream_reconnects_and_logs_the_gap(lsl_name: str) -> None:
    got: list[np.ndarray] = []
    statuses: list[tuple[str, dict]] = []
    f = emg_follower(
        lambda _f, ts, v: got.append(np.asarray(v)),
        name=lsl_name,
        on_status=lambda _f, w, d: statuses.append((w, d)),
    )
    with f:
        for _ in range(2):  # the producer comes, goes, and comes back
            p = subprocess.run(
                [sys.executable, "-m", "tests.streams.producers", lsl_name, "--srate", "100",
                 "--seconds", "0.5", "--linger", "2"],
                cwd=ROOT, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert p.returncode == 0, p.stderr
        deadline = time.monotonic() + 30
        while sum(len(g) for g in got) < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert sum(len(g) for g in got) == 100
    whats = [w for w, _ in statuses]
    assert whats[0] == "connected" and "lost" in whats and "restored" in whats
    restored = next(d for w, d in statuses if w == "restored")
    assert restored["gap_s"] > 0
    assert f.gaps and f.description is not None and f.description.type == "EMG"


PRODUCER = textwrap.dedent(
    """
    import sys, json, pylsl
    name = sys.argv[1]
    o = pylsl.StreamOutlet(pylsl.StreamInfo(name, "Markers", 1, 0, "string", name))
    o.wait_for_consumers(60)
    t = pylsl.local_clock()
    for i in range(5):
        o.push_sample([json.dumps({"i": i})], t + i)
    import time; time.sleep(2)
    """
)


def test_marker_follower_gets_external_markers_on_the_local_clock(lsl_name: str) -> None:
    got: list[tuple[float, str]] = []
    done = threading.Event()

    def on(_f: StreamFollower, ts: np.ndarray, v: object) -> None:
        for t, row in zip(ts.tolist(), v, strict=True):  # type: ignore[call-overload]
            got.append((t, row[0].decode()))
        if len(got) >= 5:
            done.set()

    f = marker_follower(on, predicate=f"name='{lsl_name}'")
    with f:
        p = subprocess.Popen([sys.executable, "-c", PRODUCER, lsl_name])
        assert done.wait(60)
        p.wait(60)
    assert [s for _, s in got] == [f'{{"i": {i}}}' for i in range(5)]
    assert np.allclose(np.diff([t for t, _ in got]), 1.0, atol=1e-3)


def test_pose_and_frame_outlets_publish_described_samples() -> None:
    session = f"p{uuid.uuid4().hex[:8]}"
    pose = PoseOutlet("mirrored", session, side="left")
    frames = FrameTimingOutlet(session, refresh_hz=90.0)
    (pi,) = pylsl.resolve_bypred(f"source_id='mirrorvr-{session}-pose-mirrored'", 1, 30)
    (fi,) = pylsl.resolve_bypred(f"source_id='mirrorvr-{session}-frames'", 1, 30)
    pin, fin = pylsl.StreamInlet(pi), pylsl.StreamInlet(fi)
    pin.open_stream(30)
    fin.open_stream(30)
    time.sleep(0.5)
    n = len(HAND_JOINTS)
    pos = np.arange(n * 3, dtype=float).reshape(n, 3) / 100
    quat = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1))
    t = pylsl.local_clock() + 0.011  # the frame's predicted display time
    pose.push(t, pos, quat)
    frames.push(7, t, 1 / 90, missed_frames=1, render_cpu=0.004)
    s, ts = pin.pull_sample(timeout=30)
    fs, fts = fin.pull_sample(timeout=30)
    info = pin.info(10)
    assert ts == t and fts == t
    assert np.allclose(s[:3], pos[0]) and s[3:7] == [1.0, 0.0, 0.0, 0.0]
    assert fs[:4] == [7.0, t, 1 / 90, 1.0] or np.allclose(fs[:4], [7.0, t, 1 / 90, 1.0])
    assert info.channel_count() == 7 * n and info.nominal_srate() == 0.0
    assert info.get_channel_labels()[:2] == ["palm_px", "palm_py"]
    assert info.get_channel_units()[3] == "normalized"
    assert info.desc().child("synchronization").child_value("can_drop_samples") == "true"
    assert info.desc().child("setup").child_value("hand") == "left"
    assert fin.info(10).nominal_srate() == 90.0
    pin.close_stream()
    fin.close_stream()
    pose.close()
    frames.close()
