"""`mirrorvr --help` and commands that start no session do not import the session machinery."""

from __future__ import annotations

import subprocess
import sys


def test_the_cli_imports_no_plan_model_numpy_or_session_assembly() -> None:
    code = (
        "import sys, mirrorvr.cli\n"
        "heavy = ('pydantic', 'numpy', 'pylsl', 'mirrorvr.run.session', 'mirrorvr.config.plan')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
