"""Fixtures for OpenXR tests: the simulated runtime (built once) and a private X server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mirrorvr.sim.xr_runtime import build_runtime
from mirrorvr.sim.xvfb import Xvfb


@pytest.fixture(scope="session")
def xr_manifest() -> Path:
    """The simulated runtime's manifest (built by `make`, once per checkout and change)."""
    return build_runtime()


@pytest.fixture(scope="session")
def x_display() -> Iterator[str]:
    """A private Xvfb for GLX (OpenXR's OpenGL binding on Linux)."""
    with Xvfb() as x:
        yield x.display


def run_python(
    code: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (the runtime reads its configuration once per
    process, so each configuration gets its own process)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
