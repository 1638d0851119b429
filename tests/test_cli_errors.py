"""The CLI's one error boundary: bad invocations print one clear line and exit 2, never a
traceback; a session that ends aborted exits 1; the codes are in ``--help``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mirrorvr.cli.app import EXIT_SESSION, EXIT_USAGE, run_cli
from tests.conftest import mirrorvr_cmd


def _sub(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        mirrorvr_cmd(*args),
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A private clinic database, a plain file (not a folder) and a folder."""
    monkeypatch.setenv("MIRRORVR_CLINIC_DB", str(tmp_path / "clinic.sqlite"))
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("not a folder\n")
    return {"file": a_file, "dir": tmp_path}


# (arguments, words the one error line must contain); {file} = a plain file, {dir} = tmp_path
BAD = [
    (["sim", "--nonsense"], ["No such option", "--nonsense"]),
    (["nonsense"], ["No such command", "nonsense"]),
    (["patients", "add"], ["Missing argument"]),
    (["rate", "P1", "abc", "--timepoint", "pre"], ["Invalid value", "value"]),
    (["rate", "P1", "-3", "--timepoint", "pre"], ["-3"]),
    (["rate", "P1", "5"], ["--timepoint"]),
    (["rate", "P1", "5", "--timepoint", "pre"], ["no patient", "P1"]),
    (["sim", "--seed", "abc"], ["Invalid value", "--seed"]),
    (["sim", "--out", "{file}/session"], ["{file}"]),
    (["analyze", "{dir}/none", "--out", "{file}"], ["{file}", "a file is in the way"]),
    (["export-bids", "{dir}/none", "--out", "{dir}/bids"], ["{dir}/none"]),
    (["console", "--port", "99999"], ["--port", "65535"]),
    (["record", "--duration", "-5"], ["--duration", "above 0"]),
    (["validate", "--today", "someday"], ["--today", "someday"]),
    (["validate", "no-such-plan"], ["no-such-plan"]),
    (["sim", "--display", "hologram"], ["--display", "hologram"]),
    (["sim", "--estimate-mt", "guess"], ["--estimate-mt", "guess"]),
    (["sim", "--true-mt", "900", "--estimate-mt", "ml-pest"], ["--true-mt"]),
    (["threshold", "--isi", "soon"], ["threshold options"]),
    (["resume", "{dir}/none"], ["{dir}/none"]),
    (["xdf", "info", "{dir}/none.xdf"], ["{dir}/none.xdf"]),
    (["safety", "no-such-plan"], ["no-such-plan"]),
    (["sim", "--stimulator", "warp-drive:/dev/null"], ["warp-drive"]),
    (["patients", "show", "NOBODY"], ["NOBODY"]),
]


@pytest.mark.parametrize(("args", "words"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_invocation_is_one_line_and_exit_2(
    args: list[str], words: list[str], places: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    fill = {k: str(v) for k, v in places.items()}
    code = run_cli([a.format(**fill) for a in args])
    captured = capsys.readouterr()
    assert code == EXIT_USAGE, captured.err
    assert "Traceback" not in captured.err + captured.out
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: "), captured.err
    text = " ".join(lines)
    for w in words:
        assert w.format(**fill) in text, (w, captured.err)


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for code in ("0 done", "1 a session ended aborted", "2 bad usage", "130 interrupted"):
        assert code in text


@pytest.mark.parametrize("args", [["sim", "--nonsense"], ["nonsense"], ["console", "--port", "0"]])
def test_real_process_bad_invocation_no_traceback(args: list[str]) -> None:
    res = _sub(*args)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and res.stderr.startswith("error: ")


def test_aborted_session_exits_1(tmp_path: Path, short_plan: Path) -> None:
    # a Magstim 200 cannot give 20-Hz trains: the runner's checks abort the session
    plan = short_plan.read_text().replace(
        'kind = "ttl-box", pulse_width_ms = 1.0', 'kind = "magstim-200"'
    )
    short_plan.write_text(plan)
    res = _sub("sim", str(short_plan), "--out", str(tmp_path / "s"))
    assert res.returncode == EXIT_SESSION, res.stderr
    assert "aborted" in res.stdout and "Traceback" not in res.stderr
