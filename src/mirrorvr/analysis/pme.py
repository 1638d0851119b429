"""Phantom motor execution outcomes of one recording: calibration, tasks, decoding latency.

* **Calibration**: the offline cross-validated accuracy and confusion matrix of each PME block,
  recomputed here from the calibration windows the session kept (``pme-calibration-<b>.npz``;
  folds by repetition, :func:`mirrorvr.decoding.evaluate.cross_validate`), or, without that
  file (a bare XDF), the figures the session logged when it fitted its model.
* **Tasks**: completion rate and completion time (onset to the end of the hold) of the target
  tasks (``pme_task`` events), overall and per motion.
* **Decoding**: decisions per class and the latency from a window's last sample to its
  decision (real-time sessions only; 0 on a simulated clock), from the ``pme`` events or,
  without an event log, the ``mirrorvr-pme`` stream.

Pure functions over a :class:`~mirrorvr.analysis.recording.Recording` (and the session folder's
files); ``available`` is False for recordings without phantom motor execution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mirrorvr.analysis.recording import Recording
from mirrorvr.decoding.evaluate import cross_validate

STREAM = "mirrorvr-pme"


def _calibration(rec: Recording) -> list[dict[str, Any]]:
    out = []
    for _, row in rec.of_kind("pme_model").iterrows():
        d = dict(row["data"])
        if d.get("reloaded"):  # a resumed session reloaded a model fitted (and listed) before
            continue
        entry: dict[str, Any] = {
            "block": d.get("block"),
            "ok": bool(d.get("ok")),
            "classes": d.get("classes"),
            "windows": d.get("windows"),
            "cv_accuracy": d.get("cv_accuracy"),
            "confusion": d.get("confusion"),
            "source": "session log",
        }
        if not entry["ok"]:
            entry["error"] = d.get("error")
        cal_file = d.get("calibration_file")
        folder = Path(rec.source)
        if cal_file and folder.is_dir() and (folder / cal_file).exists():
            with np.load(folder / cal_file, allow_pickle=False) as z:
                labels = [str(v) for v in z["labels"]]
                cv = cross_validate(z["x"], labels, z["groups"].tolist(), classes=d.get("classes"))
            entry.update(
                cv_accuracy=cv.accuracy,
                confusion=cv.confusion.tolist(),
                per_class=cv.per_class(),
                folds=cv.folds,
                source=cal_file,
            )
        out.append(entry)
    return out


def _tasks(rec: Recording) -> dict[str, Any]:
    rows = [dict(r) for r in rec.of_kind("pme_task")["data"]]
    if not rows:
        return {"n": 0, "completed": 0, "completion_rate": None, "median_completion_s": None}
    done = [r for r in rows if r.get("completed")]
    times = [float(r["completion_s"]) for r in done if r.get("completion_s") is not None]
    by_motion: dict[str, dict[str, Any]] = {}
    for m in sorted({str(r.get("movement")) for r in rows}):
        mine = [r for r in rows if r.get("movement") == m]
        ok = [float(r["completion_s"]) for r in mine if r.get("completed")]
        by_motion[m] = {
            "n": len(mine),
            "completion_rate": len(ok) / len(mine),
            "median_completion_s": float(np.median(ok)) if ok else None,
        }
    return {
        "n": len(rows),
        "completed": len(done),
        "completion_rate": len(done) / len(rows),
        "median_completion_s": float(np.median(times)) if times else None,
        "by_motion": by_motion,
    }


def _decisions(rec: Recording) -> dict[str, Any]:
    ev = rec.of_kind("pme")
    if len(ev):
        data = list(ev["data"])
        motions = [str(d.get("motion")) for d in data]
        lat = np.array([float(d.get("latency_s") or 0.0) for d in data])
    elif STREAM in rec.other and len(rec.other[STREAM]):
        sig = rec.other[STREAM]
        codes = rec.other[STREAM].data[:, sig.channels.index("motion")]
        names = {v: k for k, v in _codes().items()}
        motions = [names.get(int(c), str(int(c))) for c in codes]
        lat = sig.data[:, sig.channels.index("latency")]
    else:
        return {"n": 0}
    counts = {m: motions.count(m) for m in sorted(set(motions))}
    live = lat[lat > 0]
    return {
        "n": len(motions),
        "per_class": counts,
        "latency_median_ms": float(np.median(live) * 1000) if len(live) else None,
        "latency_p99_ms": float(np.percentile(live, 99) * 1000) if len(live) else None,
        "latency_max_ms": float(live.max() * 1000) if len(live) else None,
    }


def _codes() -> dict[str, int]:
    from mirrorvr.config.plan import PME_MOTION_CODES

    return PME_MOTION_CODES


def pme_outcomes(rec: Recording) -> dict[str, Any]:
    """Calibration, task and decoding figures of every PME block in ``rec``."""
    calibration = _calibration(rec)
    tasks = _tasks(rec)
    decisions = _decisions(rec)
    available = bool(calibration or tasks["n"] or decisions["n"])
    return {
        "available": available,
        "calibration": calibration,
        "tasks": tasks,
        "decisions": decisions,
    }


def pme_row(outcome: dict[str, Any]) -> dict[str, Any]:
    """The pooled table's PME columns (None where a session has no PME)."""
    cal = [c for c in outcome.get("calibration", []) if c.get("ok")]
    tasks = outcome.get("tasks", {})
    dec = outcome.get("decisions", {})
    return {
        "pme_cv_accuracy": cal[0]["cv_accuracy"] if cal else None,
        "pme_classes": len(cal[0]["classes"]) if cal else None,
        "pme_tasks": tasks.get("n") or None,
        "pme_completion_rate": tasks.get("completion_rate"),
        "pme_median_completion_s": tasks.get("median_completion_s"),
        "pme_latency_median_ms": dec.get("latency_median_ms"),
        "pme_latency_p99_ms": dec.get("latency_p99_ms"),
    }
