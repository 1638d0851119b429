"""Session outlets: events logged in one process arrive as described LSL samples in another."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pylsl

from mirrorvr.streams.layout import STIM_CODES

PRODUCER = textwrap.dedent(
    """
    import sys, time
    from mirrorvr.session.eventlog import EventLog
    from mirrorvr.streams.outlets import SessionOutlets
    from mirrorvr.session.clock import local_clock

    session, path = sys.argv[1], sys.argv[2]
    outlets = SessionOutlets(session, device="ttl-box")
    if not outlets.wait_for_consumers(60):
        sys.exit("no consumer")
    log = EventLog(path)
    log.add_sink(outlets)
    t0 = local_clock()
    log.append("state", t0, **{"from": "idle"}, to="running", reason="")
    log.append("cue", t0 + 0.010, step=3, movement="fist", onset=t0 + 0.010)
    log.append("train_intent", t0 + 0.02, step=4, train=0, n_pulses=2, planned_onset=t0 + 0.1,
               intensity_pct_mso=45.0, intensity_pct_rmt=90.0)
    log.append("pulse", t0 + 0.1002, step=4, train=0, i=0, planned=t0 + 0.1,
               intensity_pct_mso=45.0)
    print(t0, flush=True)
    sys.stdin.readline()  # keep the outlets alive until the consumer is done
    outlets.close()
    """
)


def _inlet(pred: str) -> pylsl.StreamInlet:
    (info,) = pylsl.resolve_bypred(pred, 1, 30.0)
    return pylsl.StreamInlet(info, max_buflen=10, recover=False)


def _pull(inlet: pylsl.StreamInlet, n: int) -> list[tuple[list, float]]:
    got = []
    while len(got) < n:
        s, t = inlet.pull_sample(timeout=30.0)
        assert s is not None, f"only {len(got)} of {n} samples arrived"
        got.append((s, t))
    return got


def test_events_become_described_samples(tmp_path: Path) -> None:
    session = f"t{uuid.uuid4().hex[:10]}"
    proc = subprocess.Popen(
        [sys.executable, "-c", PRODUCER, session, str(tmp_path / "events.jsonl")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        inlets = {
            k: _inlet(f"source_id='mirrorvr-{session}-{k}'") for k in ("markers", "stim", "state")
        }
        for i in inlets.values():
            i.open_stream(timeout=30.0)
        markers = _pull(inlets["markers"], 4)
        stim = _pull(inlets["stim"], 2)
        state = _pull(inlets["state"], 1)
        t0 = float(proc.stdout.readline()) if proc.stdout else 0.0
        info = inlets["stim"].info(timeout=10.0)
        mk_info = inlets["markers"].info(timeout=10.0)
        for i in inlets.values():
            i.close_stream()
    finally:
        if proc.stdin:
            proc.stdin.write("done\n")
            proc.stdin.close()
        proc.wait(timeout=60)
    assert proc.returncode == 0

    kinds = [json.loads(s[0])["kind"] for s, _ in markers]
    assert kinds == ["state", "cue", "train_intent", "pulse"]
    # stamped with the event's time (the cue's display time), not the push time
    assert abs(markers[1][1] - (t0 + 0.010)) < 1e-6
    assert json.loads(markers[1][0][0])["movement"] == "fist"

    (intent, _), (pulse, t_p) = stim
    assert intent[0] == STIM_CODES["train_intent"] and intent[7] == 2
    assert pulse[0] == STIM_CODES["pulse"]
    assert abs(pulse[1] - (t0 + 0.1)) < 1e-6 and abs(pulse[2] - t_p) < 1e-6
    assert pulse[3] == 45.0
    assert state[0][0] == ["running", ""]

    assert info.name() == "mirrorvr-stim" and info.type() == "Stimulation"
    assert info.get_channel_labels()[:3] == ["event", "planned_time", "actual_time"]
    assert info.get_channel_units()[1] == "s"
    assert info.desc().child("device").child_value("kind") == "ttl-box"
    sync = mk_info.desc().child("synchronization")
    assert sync.child_value("can_drop_samples") == "false"
    assert mk_info.channel_format() == pylsl.cf_string
