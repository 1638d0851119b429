"""Pose sources: synthetic motion, filters, replay files and an LSL stream (real pylsl)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mirrorvr.tracking.filters import HandFilter, OneEuroFilter
from mirrorvr.tracking.joints import Joint
from mirrorvr.tracking.lsl_source import LSLPoseSource, PoseLayout, decode, encode
from mirrorvr.tracking.motion import MOVEMENTS, min_jerk
from mirrorvr.tracking.replay import PoseFileError, PoseRecorder, ReplaySource
from mirrorvr.tracking.synthetic import SyntheticSource


def test_min_jerk_profile_is_smooth_and_bell_shaped() -> None:
    tau = np.linspace(0, 1, 101)
    x = np.asarray(min_jerk(tau))
    v = np.gradient(x, tau)
    assert x[0] == 0 and np.isclose(x[-1], 1) and np.all(np.diff(x) >= 0)
    assert abs(v[0]) < 1e-3 and abs(v[-1]) < 1e-3 and np.argmax(v) == 50


@pytest.mark.parametrize("movement", MOVEMENTS)
def test_every_movement_moves_the_hand_and_returns_to_rest(movement: str) -> None:
    src = SyntheticSource("right", seed=1, noise=False)
    rest = src.poll(0.0).hands["right"].positions
    src.perform(movement, 1.0, 6.0)
    travel = max(
        float(np.abs(src.poll(1.0 + k * 0.1).hands["right"].positions - rest).max())
        for k in range(60)
    )
    assert travel > 0.02, f"{movement} hardly moves the hand"
    assert np.allclose(src.poll(7.5).hands["right"].positions, rest)


def test_fist_brings_fingertips_towards_the_wrist() -> None:
    src = SyntheticSource("left", seed=0, noise=False)
    src.perform("fist", 0.0, 2.5)
    open_, fist = src.poll(-1).hands["left"], src.poll(1.25).hands["left"]
    w = Joint.WRIST
    for tip in (Joint.INDEX_TIP, Joint.MIDDLE_TIP):
        assert np.linalg.norm(fist.positions[tip] - fist.positions[w]) < 0.7 * np.linalg.norm(
            open_.positions[tip] - open_.positions[w]
        )


def test_noise_is_seeded() -> None:
    a, b, c = (SyntheticSource("right", seed=s) for s in (3, 3, 4))
    pa, pb, pc = (s.poll(2.0).hands["right"].positions for s in (a, b, c))
    assert np.array_equal(pa, pb) and not np.array_equal(pa, pc)


def test_one_euro_smooths_jitter_and_follows_steps() -> None:
    f = OneEuroFilter(min_cutoff=1.0, beta=0.5)
    rng = np.random.default_rng(0)
    out = [f(np.array([rng.normal(0, 0.002)]), k / 90) for k in range(90)]
    assert np.std(out[30:]) < 0.5 * 0.002
    for k in range(90, 180):
        y = f(np.array([0.2]), k / 90)
    assert abs(y[0] - 0.2) < 0.01
    hf = HandFilter()
    src = SyntheticSource("right", noise=False)
    h = hf(src.poll(0.0).hands["right"])
    assert np.allclose(np.linalg.norm(h.orientations, axis=1), 1.0)


def test_replay_round_trip_and_bad_files(tmp_path: Path) -> None:
    src = SyntheticSource("right", seed=2)
    src.perform("wrist_flexion", 0.0, 2.0)
    path = tmp_path / "rec.poses.jsonl"
    with PoseRecorder(path) as rec:
        for k in range(21):
            rec.write(src.poll(k * 0.1))
    rp = ReplaySource(path)
    first = rp.poll(100.0)
    assert first.t == 100.0
    assert np.allclose(
        first.hands["right"].positions, src.poll(0.0).hands["right"].positions, atol=1e-5
    )
    mid = rp.poll(101.05).hands["right"].positions  # between samples 10 and 11: interpolated
    a, b = src.poll(1.0).hands["right"].positions, src.poll(1.1).hands["right"].positions
    assert np.allclose(mid, (a + b) / 2, atol=2e-3)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"format": "mirrorvr-poses", "version": 1})
        + '\n{"t": 1, "side": "right", "p": [1, 2]}\n'
    )
    with pytest.raises(PoseFileError, match=r"bad\.jsonl:2: bad pose sample"):
        ReplaySource(bad)
    (tmp_path / "x.jsonl").write_text("hello\n")
    with pytest.raises(PoseFileError, match="not a mirrorvr pose recording"):
        ReplaySource(tmp_path / "x.jsonl")


def test_lsl_encoding_round_trip_and_malformed_samples() -> None:
    frame = SyntheticSource("left", seed=1).poll(3.0)
    back = decode(encode(frame), 3.0)
    assert set(back.hands) == {"left"}
    assert np.allclose(back.hands["left"].positions, frame.hands["left"].positions, atol=1e-6)
    with pytest.raises(ValueError, match="channels"):
        decode([0.0] * 10, 0.0)
    bad = encode(frame)
    bad[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        decode(bad, 0.0)


def _yup_mm_xyzw(positions: np.ndarray, orientations: np.ndarray) -> list[float]:
    """World poses as a motion-capture system sends them: y-up stage, millimetres, xyzw."""
    p = np.stack([positions[:, 0], positions[:, 2], -positions[:, 1]], axis=1) * 1000.0
    w, x, y, z = orientations.T
    q = np.stack([x, z, -y, w], axis=1)
    return np.concatenate([p, q], axis=1).ravel().tolist()


def test_pos_quat_layout_reads_y_up_millimetres_and_nan_means_untracked() -> None:
    leg = SyntheticSource("right", noise=False, limb="lower").poll(0.0).legs["right"]
    layout = PoseLayout("pos-quat", limb="lower", side="right", axes="y-up", units="mm")
    assert layout.channels == 6 * 7
    got = layout.decode(_yup_mm_xyzw(leg.positions, leg.orientations), 1.0).legs["right"]
    assert np.allclose(got.positions, leg.positions, atol=1e-9)
    assert np.allclose(np.abs(np.sum(got.orientations * leg.orientations, axis=1)), 1.0)
    occluded = [float("nan")] * layout.channels
    assert layout.decode(occluded, 1.0).legs == {}
    with pytest.raises(ValueError, match="42 channels"):
        layout.decode([0.0] * 41, 1.0)


def test_lsl_pose_source_reads_a_real_stream_and_refuses_the_wrong_layout(lsl_name: str) -> None:
    import threading
    import time

    import pylsl

    from mirrorvr.errors import DeviceError

    leg = SyntheticSource("left", noise=False, limb="lower").poll(0.0).legs["left"]
    layout = PoseLayout("pos-quat", limb="lower", side="left", axes="y-up", units="mm")
    info = pylsl.StreamInfo(lsl_name, "MoCap", layout.channels, 100, "float32", lsl_name)
    outlet = pylsl.StreamOutlet(info)
    running = True

    def push() -> None:
        while running:
            outlet.push_sample(_yup_mm_xyzw(leg.positions, leg.orientations))
            time.sleep(0.01)

    thread = threading.Thread(target=push, daemon=True)
    thread.start()
    try:
        src = LSLPoseSource(lsl_name, layout=layout, timeout=10.0)
        got = src.poll(0.0).legs["left"]
        assert np.allclose(got.positions, leg.positions, atol=1e-4)  # float32 millimetres
        src.close()
        with pytest.raises(DeviceError, match="the plan expects the mirrorvr hand layout"):
            LSLPoseSource(lsl_name, timeout=10.0)
    finally:
        running = False
        thread.join()


def test_batched_hand_filter_is_two_one_euro_filters() -> None:
    # the reference: the filter as written in the paper, one for positions, one for quaternions
    pos, rot = OneEuroFilter(1.5, 0.5), OneEuroFilter(1.5, 0.5)
    hf = HandFilter(min_cutoff=1.5, beta=0.5)
    src = SyntheticSource("right", seed=4)
    src.perform("fist", 0.2, 1.5)
    last = None
    for k in range(120):
        h = src.poll(k / 90).hands["right"]
        q = h.orientations
        if last is not None:
            q = np.where(np.sum(q * last, axis=-1, keepdims=True) < 0, -q, q)
        last = q
        p_ref, q_ref = pos(h.positions, h.t), rot(q, h.t)
        q_ref = q_ref / np.linalg.norm(q_ref, axis=1, keepdims=True)
        got = hf(h)
        assert np.allclose(got.positions, p_ref, atol=1e-12)
        assert np.allclose(got.orientations, q_ref, atol=1e-12)
