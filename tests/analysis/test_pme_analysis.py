"""PME figures in the analysis: offline CV from the calibration file, tasks, pooled columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mirrorvr.analysis.report import analyze_paths
from mirrorvr.config.loader import plan_from_dict
from mirrorvr.run.session import LaunchOptions, run_session


def test_report_and_pooled_table_carry_pme_figures(tmp_path: Path) -> None:
    plan = plan_from_dict(
        {
            "session": {"name": "pme analysis", "seed": 2},
            "patient": {"id": "T-A", "amputation_side": "left"},
            "blocks": [
                {
                    "kind": "phantom_motor_execution",
                    "motions": ["hand_close", "wrist_extension"],
                    "calibration_repetitions": 2,
                    "contraction_s": 2.0,
                    "rest_s": 2.0,
                    "tasks": 2,
                    "task_limit_s": 6.0,
                }
            ],
        },
        "pme-analysis",
    )
    folder = tmp_path / "s"
    run_session(plan, LaunchOptions(out=folder))
    out = tmp_path / "report"
    summary = analyze_paths([folder, folder], out, pooled=True)
    # decisions are on the pme stream, not the markers: the log and the XDF still agree
    assert not [w for w in summary["sessions"][0]["warnings"] if "disagree" in w]
    pme = summary["sessions"][0]["outcomes"]["pme"]
    assert pme["available"]
    cal = pme["calibration"][0]
    assert cal["source"].startswith("pme-calibration-")  # recomputed offline from the windows
    assert cal["classes"] == ["rest", "hand_close", "wrist_extension"]
    assert sum(map(sum, cal["confusion"])) == sum(cal["windows"].values())
    assert 0.8 <= cal["cv_accuracy"] <= 1.0
    assert pme["tasks"]["n"] == 2
    assert pme["decisions"]["latency_median_ms"] is None  # simulated clock: no latency
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Phantom motor execution" in html and "completion rate" in html
    table = pd.read_csv(out / "sessions.csv")
    assert table["pme_cv_accuracy"].notna().all()
    assert (table["pme_tasks"] == 2).all()
