"""The emulator's own entry point: what a session starts, without the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_entry_imports_neither_the_cli_nor_liblsl_and_reports_bad_input_in_one_line(
    tmp_path: Path,
) -> None:
    code = (
        "import sys\n"
        "from mirrorvr.sim import emulate\n"
        "try:\n"
        f"    emulate.main(['no-such-device', '--link', {str(tmp_path / 'x')!r}])\n"
        "except SystemExit as e:\n"
        "    heavy = [m for m in ('mirrorvr.cli', 'typer', 'pylsl', 'numpy') if m in sys.modules]\n"
        "    print('exit', e.code, 'heavy', heavy)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "exit 2 heavy []"
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and "no emulator for 'no-such-device'" in err[0]
