"""Shared fixtures: real processes, real ptys, real files; LSL kept on this machine."""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import socket
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs are reproducible (same examples every run); local runs explore new examples.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("dev", deadline=None)
#: ``--hypothesis-profile=thorough``: the long run recorded in docs/safety.md (oracle test)
settings.register_profile("thorough", deadline=None, max_examples=10_000)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

# Subprocesses (emulators, `python -m mirrorvr`) must import this checkout's code.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(SRC), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
)

# --- LSL kept on this machine, in a session of its own -------------------------------------
# liblsl reads its configuration once, at the first call that needs it, so this runs at
# conftest import, before any test module can open a stream. The file named by LSLAPICFG is
# also what every child process (producers, `python -m mirrorvr ...`) reads, so they join the
# same private session. ~8 engineers run tests on this machine at once: a unique SessionID
# keeps our streams invisible to theirs and theirs to ours.
LSL_SESSION_ID = f"mirrorvr-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _free_port_block(size: int) -> int:
    """The first port of ``size`` consecutive ports free right now (TCP and UDP)."""
    rng = random.Random(uuid.uuid4().int)
    for _ in range(200):
        base = rng.randrange(20000, 60000 - size)
        try:
            with contextlib.ExitStack() as stack:
                for port in (base, base + size // 2, base + size - 1):
                    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                        s = stack.enter_context(socket.socket(socket.AF_INET, kind))
                        s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free block of ports for the tests' LSL configuration")


# A session id alone is not enough when several test processes (pytest-xdist workers, other
# engineers' runs) publish at once. Machine-scope discovery rides on IPv6 multicast, which on
# this VM goes through eth0 and, with many outlets on the machine, a resolver was seen missing
# streams of its own process for minutes. So each test run also gets ports of its own: a query
# port, and a block of outlet ports that the resolver scans by unicast on 127.0.0.1
# (KnownPeers), a second path that does not depend on multicast.
LSL_PORT_RANGE = 128  # ~4 ports per outlet: room for 32 outlets of this run at once
LSL_BASE_PORT = _free_port_block(LSL_PORT_RANGE + 1)
LSL_CONFIG = (
    f"[multicast]\nResolveScope = machine\n\n"
    f"[lab]\nSessionID = {LSL_SESSION_ID}\nKnownPeers = {{127.0.0.1}}\n\n"
    f"[ports]\nMulticastPort = {LSL_BASE_PORT}\nBasePort = {LSL_BASE_PORT + 1}\n"
    f"PortRange = {LSL_PORT_RANGE}\n"
)
_lsl_cfg_dir = tempfile.mkdtemp(prefix="mirrorvr-lsl-")
LSL_CONFIG_FILE = Path(_lsl_cfg_dir) / "lsl_api.cfg"
LSL_CONFIG_FILE.write_text(LSL_CONFIG, encoding="utf-8")
os.environ["LSLAPICFG"] = str(LSL_CONFIG_FILE)

from mirrorvr.streams.lslconfig import configure_lsl  # noqa: E402  (needs LSLAPICFG set)

configure_lsl()

_names = itertools.count()


def unique_stream_name(prefix: str = "test") -> str:
    """A stream name no other test (in this or another process) uses: prefix-pid-n-random."""
    return f"{prefix}-{os.getpid()}-{next(_names)}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def lsl_name(request: pytest.FixtureRequest) -> str:
    """A unique LSL stream name for this test."""
    return unique_stream_name(request.node.name[:24].replace("[", "-").replace("]", ""))


def mirrorvr_cmd(*args: str) -> list[str]:
    """Command line running this checkout's CLI."""
    return [sys.executable, "-m", "mirrorvr", *args]


SHORT_PLAN = textwrap.dedent(
    """
    [session]
    name = "short test plan"
    seed = 5

    [patient]
    id = "T-1"
    amputation_side = "left"

    [[blocks]]
    kind = "rating"
    timepoint = "pre"
    duration_s = 0.5
    timeout_s = 20

    [[blocks]]
    kind = "mirror"
    movements = ["fist", "pronation"]
    repetitions = 6
    cue_s = 0.2
    movement_s = 0.4
    rest_s = 1.4
    randomise = true

    [[blocks]]
    kind = "rating"
    timepoint = "post"
    duration_s = 0.5
    timeout_s = 20

    [stimulation]
    mode = "concurrent"
    intensity_pct_rmt = 90
    rest_lead_s = 0.1

    [stimulation.motor_threshold]
    rmt_pct_mso = 50
    measured_on = "2026-01-10"

    [stimulation.protocol]
    pulse_repetition_interval_s = 0.05
    levels = [{ duration_s = 1.0, repetition_interval_s = 2.0 }, { duration_s = 12.0 }]

    [devices]
    stimulator = { kind = "ttl-box", pulse_width_ms = 1.0 }

    [screening]
    completed_on = "2026-01-10"
    completed_by = "test nurse"

    # 1-s gaps keep real-time tests short; the baseline is 5 s (Chen 1997), so it is overridden
    [[safety.overrides]]
    rule = "min_intertrain_interval_s"
    value = 1.0
    reason = "test plan: short gaps keep real-time tests fast"
    approved_by = "test suite"
    approved_on = "2026-01-10"
    """
)


@pytest.fixture
def short_plan(tmp_path: Path) -> Path:
    """A plan of ~13 s with 6 concurrent trains of 20 pulses (120 pulses)."""
    p = tmp_path / "short.toml"
    p.write_text(SHORT_PLAN, encoding="utf-8")
    return p


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--port PATH --device-kind KIND``: run the hardware tests against a real stimulator."""
    parser.addoption("--port", default=None, help="serial port of a real stimulator")
    parser.addoption(
        "--device-kind",
        default=None,
        help="magstim-200 | magstim-bistim | magstim-rapid | magventure (with --port)",
    )
    parser.addoption("--unlock-code", default=None, help="Rapid² ≥ V9 unlock code (with --port)")


@pytest.fixture
def hardware(request: pytest.FixtureRequest) -> tuple[str, str, str | None]:
    """(kind, port, unlock code) of a real stimulator; skips unless ``--port`` was given."""
    port = request.config.getoption("--port")
    kind = request.config.getoption("--device-kind")
    if not port:
        pytest.skip("hardware test: give --port PATH --device-kind KIND to run it")
    if not kind:
        pytest.fail(
            "--port needs --device-kind (magstim-200|magstim-bistim|magstim-rapid|magventure)"
        )
    return str(kind), str(port), request.config.getoption("--unlock-code")
