"""Render the analysis report screenshots in docs/images/ (headless Chromium).

Builds demo data the way the tests do — simulated sessions (run_session on the simulated
clock, emulated TTL box) plus an XDF with frame timing, tracked/mirrored poses and EMG, with a
few dropped frames and late pulses injected — runs ``mirrorvr analyze`` on one session and on a
small study, and screenshots both reports with ``chromium --headless``.

    .venv/bin/python scripts/report_screenshots.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]


def shoot(html: Path, png: Path, height: int) -> None:
    """Screenshot ``html`` at 1100 × ``height`` px."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise SystemExit("chromium not found: apt-get install chromium (scripts/apt-packages.txt)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size=1100,{height}",
             f"--screenshot={png}", html.as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    print(f"wrote {png}")


def main() -> None:
    from tests.analysis.conftest import CUE_LOCKED_PLAN, shift_pulses, simulate, write_session_xdf
    from tests.conftest import SHORT_PLAN

    from mirrorvr.analysis.report import analyze_paths, find_recordings

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        study = t / "study"
        study.mkdir()
        one = simulate(study, CUE_LOCKED_PLAN.replace("trials = 16", "trials = 40"), "T2-s1")
        rng = np.random.default_rng(3)
        shift_pulses(one, np.abs(rng.normal(0.0004, 0.0003, 8)))
        write_session_xdf(one / "recording.xdf", one, dropped=[400, 401, 1500], emg=True)
        for i, seed in enumerate((21, 22, 23)):
            simulate(study, CUE_LOCKED_PLAN, f"T2-s{i + 2}", seed=seed)
        for i, seed in enumerate((31, 32)):
            s = simulate(study, SHORT_PLAN, f"T1-s{i + 1}", seed=seed)
            shift_pulses(s, np.abs(rng.normal(0.0003, 0.0002, 120)))
        for f in study.glob("*.toml"):
            f.unlink()
        analyze_paths([one], t / "single")
        shoot(t / "single" / "report.html", args.out / "report-session.png", 3300)
        analyze_paths(find_recordings(study), t / "pooled", pooled=True)
        shoot(t / "pooled" / "report.html", args.out / "report-study.png", 1500)


if __name__ == "__main__":
    main()
