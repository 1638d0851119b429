"""Recordings for the analysis tests: real simulated sessions (``run_session``) and XDF files
written with our and other producers' conventions, with known injected timing faults."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mirrorvr.config.loader import load_plan
from mirrorvr.run.session import LaunchOptions, run_session
from mirrorvr.session.eventlog import read_events
from mirrorvr.streams.layout import FRAMES, MARKERS, pose_spec
from tests.analysis.xdfgen import XdfFile, header_xml
from tests.conftest import SHORT_PLAN

CUE_LOCKED_PLAN = textwrap.dedent(
    """
    [session]
    name = "cue locked test"
    seed = 11

    [patient]
    id = "T-2"
    amputation_side = "right"

    [[blocks]]
    kind = "rating"
    timepoint = "pre"
    duration_s = 0.5
    timeout_s = 20

    [[blocks]]
    kind = "laterality"
    trials = 16
    angles_deg = [0, 90, 180]
    time_limit_s = 3.0
    inter_trial_s = 0.2

    [[blocks]]
    kind = "imagery"
    movements = ["fist", "pronation"]
    repetitions = 8
    cue_s = 0.5
    imagery_s = 0.5
    rest_s = 0.5

    [[blocks]]
    kind = "rating"
    timepoint = "post"
    duration_s = 0.5
    timeout_s = 20

    [stimulation]
    mode = "cue-locked"
    intensity_pct_rmt = 110

    [stimulation.cue_locked]
    delay_ms = 300

    [stimulation.motor_threshold]
    rmt_pct_mso = 45
    measured_on = "2026-01-10"

    [devices]
    stimulator = { kind = "ttl-box" }

    [screening]
    completed_on = "2026-01-10"
    completed_by = "test nurse"
    """
)


def simulate(tmp: Path, plan_text: str, name: str, seed: int | None = None) -> Path:
    """Run a whole simulated session (emulated TTL box on a pty) into ``tmp/name``."""
    p = tmp / f"{name}.toml"
    p.write_text(plan_text, encoding="utf-8")
    plan = load_plan(p)
    if seed is not None:
        plan = plan.model_copy(update={"session": plan.session.model_copy(update={"seed": seed})})
    out = tmp / name
    run_session(plan, LaunchOptions(out=out))
    return out


@pytest.fixture(scope="session")
def concurrent_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SHORT_PLAN: 6 concurrent trains of 20 pulses at 20 Hz in mirror-therapy rests."""
    return simulate(tmp_path_factory.mktemp("sim"), SHORT_PLAN, "concurrent")


@pytest.fixture(scope="session")
def cue_locked_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 cue-locked pulses 300 ms after imagery cues, 16 laterality trials, pre/post pain."""
    return simulate(tmp_path_factory.mktemp("sim"), CUE_LOCKED_PLAN, "cuelocked")


def shift_pulses(folder: Path, errors_s: np.ndarray) -> Path:
    """Rewrite a session's log so pulse k is ``errors_s[k]`` late (a known injected error)."""
    lines = (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()
    out, k = [], 0
    for line in lines:
        obj = json.loads(line)
        if obj["kind"] == "pulse":
            obj["t"] = obj["planned"] + float(errors_s[k])
            k += 1
        out.append(json.dumps(obj))
    assert k == len(errors_s), f"{k} pulses in the log, {len(errors_s)} errors given"
    (folder / "events.jsonl").write_text("\n".join(out) + "\n", encoding="utf-8")
    return folder


def write_session_xdf(
    path: Path,
    folder: Path,
    *,
    frame_rate: float = 90.0,
    dropped: list[int] | None = None,
    clock_offsets: list[tuple[float, float]] | None = None,
    emg: bool = False,
    emg_channels: dict[str, float] | None = None,
) -> dict[str, float]:
    """An XDF of a simulated session in mirrorvr's stream conventions: JSON markers, frame
    timing (with ``dropped`` frame indices left out), tracked and mirrored poses, optional EMG.

    ``emg_channels`` maps EMG channel labels to the MEP amplitude (µV) injected on each
    (default: one channel ``FDI`` with 500 µV, i.e. ~1000 µV peak-to-peak).

    Returns facts about what was written (frames due, frames dropped).
    """
    amps = emg_channels or {"FDI": 500.0}
    emg = emg or emg_channels is not None
    events = read_events(folder / "events.jsonl").events
    t0, t1 = events[0].t, events[-1].t
    n = int((t1 - t0) * frame_rate)
    idx = np.arange(n)
    keep = np.setdiff1d(idx, np.asarray(dropped or [], dtype=int))
    ft = t0 + keep / frame_rate
    missed = np.zeros(len(keep))
    # missed_frames: refresh intervals skipped before this frame
    prev = np.concatenate([[-1], keep[:-1]])
    missed = (keep - prev - 1).astype(float)
    missed[0] = 0.0
    dur = np.concatenate([[1 / frame_rate], np.diff(ft)])
    frames = np.column_stack([keep, ft, dur, missed, np.full(len(keep), 0.002)])
    # mirrorvr's own stream layouts (docs/streams.md), two joints to keep files small
    joints = ("palm", "wrist")
    headers = [
        MARKERS.header_xml("test"),
        FRAMES.header_xml("test"),
        pose_spec("tracked", joints, "left").header_xml("test"),
        pose_spec("mirrored", joints, "right").header_xml("test"),
    ]
    if emg:
        headers.append(
            header_xml(
                "EMG-amp",
                "EMG",
                len(amps),
                "float32",
                2000.0,
                labels=list(amps),
                units=["uV"] * len(amps),
            )
        )
    rng = np.random.default_rng(1)
    pose = rng.normal(0, 0.01, (len(keep), 14)).astype(np.float32)
    x = XdfFile(path, headers)
    try:
        x.samples(1, [e.t for e in events], [[e.to_json()] for e in events])
        x.samples(2, ft, frames)
        x.samples(3, ft, pose)
        mirrored = pose.copy()
        mirrored[:, 0] *= -1
        x.samples(4, ft, mirrored)
        if emg:
            pulses = [e.t for e in events if e.kind == "pulse"]
            ts = np.arange(t0, t1, 1 / 2000.0)
            sig = rng.normal(0, 2.0, (len(ts), len(amps)))
            for p in pulses:  # a biphasic MEP 20-35 ms after each pulse
                w = (ts > p + 0.020) & (ts < p + 0.035)
                wave = np.sin(np.linspace(0, 2 * np.pi, w.sum()))
                sig[w] += np.outer(wave, list(amps.values()))
            x.samples(5, ts, sig)
        for ct, off in clock_offsets or []:
            for sid in range(1, len(headers) + 1):
                x.clock_offset(sid, ct, off)
        x.boundary()
    finally:
        x.close()
    return {"due": n, "dropped": n - len(keep)}
