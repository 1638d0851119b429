"""`mirrorvr analyze`: self-contained report.html, summary.json, pooled study tables."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd

from tests.analysis.conftest import CUE_LOCKED_PLAN, simulate, write_session_xdf
from tests.conftest import mirrorvr_cmd


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(mirrorvr_cmd(*args), capture_output=True, text=True, timeout=300)


def _self_contained(html: str) -> None:
    # nothing fetched from anywhere: no external src/href, every image a data: URI
    assert not re.search(r"""(src|href)=["'](https?:|//|file:)""", html)
    imgs = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]+)"', html)
    assert imgs
    for _alt, b64 in imgs:
        assert base64.b64decode(b64)[:8] == b"\x89PNG\r\n\x1a\n"


def test_analyze_one_session(cue_locked_session: Path, tmp_path: Path) -> None:
    res = _run("analyze", str(cue_locked_session), "--out", str(tmp_path / "r"))
    assert res.returncode == 0, res.stderr
    html = (tmp_path / "r" / "report.html").read_text()
    _self_contained(html)
    alts = re.findall(r'<img alt="([^"]*)"', html)
    assert {"timing histograms", "raster", "laterality RT by angle", "pain"} <= set(alts)
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    sess = s["sessions"][0]
    assert sess["patient"] == "T-2" and sess["counts"]["pulses"] == 8
    assert sess["outcomes"]["pain"]["rule"] == "immpact-moderate@1"
    assert s["responder_rule"]["id"] == "immpact-moderate@1"
    # every QA metric is in summary.json and in the HTML table
    for m in sess["qa"]["metrics"]:
        assert f">{m['name']}<" in html
    assert "pulse_timing_error_ms" in res.stdout + html


def test_analyze_foreign_xdf(tmp_path: Path) -> None:
    from tests.analysis.test_loader import _foreign

    x = tmp_path / "lab.xdf"
    _foreign(x)
    res = _run("analyze", str(x), "--out", str(tmp_path / "r"))
    assert res.returncode == 0, res.stderr
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert s["sessions"][0]["counts"]["foreign_markers"] == 9
    assert {st["name"] for st in s["sessions"][0]["streams"]} == {"Trigger", "BioSemi", "Vive"}
    _self_contained((tmp_path / "r" / "report.html").read_text())


def test_pooled_sessions(
    cue_locked_session: Path, concurrent_session: Path, tmp_path: Path
) -> None:
    study = tmp_path / "study"
    study.mkdir()
    shutil.copytree(cue_locked_session, study / "p2-a")
    shutil.copytree(concurrent_session, study / "p1-a")
    simulate(study, CUE_LOCKED_PLAN, "p2-b", seed=12)
    (study / "p2-b.toml").unlink()
    write_session_xdf(study / "p1-a-recording.xdf", concurrent_session)  # a bare XDF too
    # two worker processes; one process in-line must give the same table
    res = _run("analyze", "--sessions", str(study), "--out", str(tmp_path / "r"), "--jobs", "2")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "r"
    csv = pd.read_csv(out / "sessions.csv")
    from mirrorvr.analysis.report import analyze_paths, find_recordings

    analyze_paths(find_recordings(study), tmp_path / "one", pooled=True, jobs=1)
    pd.testing.assert_frame_equal(csv, pd.read_csv(tmp_path / "one" / "sessions.csv"))
    pq = pd.read_parquet(out / "sessions.parquet")
    assert len(csv) == len(pq) == 4
    assert sorted(csv["session"]) == sorted(["p2-a", "p1-a", "p2-b", "p1-a-recording"])
    assert {"pain_pre", "pain_post", "responder", "pulse_timing_error_ms_p95", "qa_status"} <= set(
        csv.columns
    )
    assert csv.groupby("patient").size().to_dict() == {"T-1": 2, "T-2": 2}
    s = json.loads((out / "summary.json").read_text())
    assert s["pooled"]["sessions"] == 4 and s["pooled"]["patients"] == 2
    assert s["pooled"]["pulses_delivered"] == 120 + 120 + 8 + 8
    html = (out / "report.html").read_text()
    _self_contained(html)
    assert "Study overview" in html and "Pain across sessions" in html


def test_analyze_usage_errors(tmp_path: Path) -> None:
    res = _run("analyze", "--out", str(tmp_path))
    assert res.returncode == 2 and "either a PATH" in " ".join(res.stderr.split())
    res = _run("analyze", str(tmp_path / "missing"), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "no such session folder" in " ".join(res.stderr.split())
    assert "Traceback" not in res.stderr


def test_analyze_what_mirrorvr_sim_recorded(short_plan: Path, tmp_path: Path) -> None:
    folder = tmp_path / "sim"
    res = _run("sim", str(short_plan), "--out", str(folder))
    assert res.returncode == 0, res.stderr
    xdfs = sorted(folder.glob("*.xdf"))
    for target, name in [(folder, "folder"), *[(x, x.stem) for x in xdfs]]:
        out = tmp_path / name
        res = _run("analyze", str(target), "--out", str(out))
        assert res.returncode == 0, res.stderr
        s = json.loads((out / "summary.json").read_text())["sessions"][0]
        assert s["counts"]["pulses"] == 120 and s["counts"]["ratings"] == 2
        assert s["outcomes"]["dose"]["pulses_delivered"] == 120
        assert s["qa"]["status"] == "pass"
        if xdfs:  # the session's own XDF (issue 5) is read with the folder
            assert "mirrorvr-markers" in {st["name"] for st in s["streams"]}


def test_report_mep_channels_and_escaping(concurrent_session: Path, tmp_path: Path) -> None:
    import tomllib

    import tomli_w

    from mirrorvr.analysis.report import analyze_paths

    folder = tmp_path / "s"
    shutil.copytree(concurrent_session, folder)
    write_session_xdf(folder / "rec.xdf", folder, emg_channels={"FDI": 500.0, "<APB>": 150.0})
    plan = tomllib.loads((folder / "plan.toml").read_text())
    plan["stimulation"]["mep_channel"] = "<APB>"
    (folder / "plan.toml").write_text(tomli_w.dumps(plan))
    analyze_paths([folder], tmp_path / "r")
    html = (tmp_path / "r" / "report.html").read_text()
    _self_contained(html)
    # every EMG channel has a row; the plan's channel leads; text from a recording is escaped
    assert "EMG-amp / &lt;APB&gt; (headline)" in html and "EMG-amp / FDI" in html
    assert "<APB>" not in html
    assert "chosen by plan" in html
