"""Running device emulators: in this process (``mirrorvr emulate``) or as a child process.

Each emulator family registers a factory in :data:`EMULATORS`; the stimulator-driver work adds
Magstim and MagVenture families next to the TTL box.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

from mirrorvr.errors import DeviceError
from mirrorvr.sim.pty_link import PtyLink
from mirrorvr.sim.ttl_box import TTLBoxEmulator, open_log


class Emulator(Protocol):
    """What ``run_emulator`` needs of an emulator."""

    def serve(self) -> None:
        """Serve until stopped."""
        ...

    def stop(self) -> None:
        """Make ``serve`` return."""
        ...


EmulatorFactory = Callable[[PtyLink, IO[str] | None, dict[str, Any]], Emulator]


def _ttl_box(link: PtyLink, log: IO[str] | None, opts: dict[str, Any]) -> Emulator:
    emu = TTLBoxEmulator(link, log)
    if opts.get("emg"):
        # the simulated patient's muscle, answering each pulse this box delivers at the
        # intensity the stimulator's panel is set to (see mirrorvr.sim.emg_stream)
        from mirrorvr.sim.emg_stream import body_from_options, read_panel

        body = body_from_options(opts)
        assert body is not None
        pub, panel, default = body

        def answer(t: float, code: int) -> None:
            pub.pulse(t, read_panel(panel, default) if panel else default)

        emu.on_pulse = answer
    return emu


EMULATORS: dict[str, EmulatorFactory] = {"ttl-box": _ttl_box}


def run_emulator(kind: str, link: str | Path, log: str | Path | None = None, **opts: Any) -> None:
    """Serve emulator ``kind`` on a new pty linked at ``link`` until SIGTERM/SIGINT."""
    if kind not in EMULATORS:
        raise DeviceError(f"no emulator for '{kind}' (available: {', '.join(sorted(EMULATORS))})")
    pty = PtyLink.open(link)
    log_file = open_log(log)
    emu = EMULATORS[kind](pty, log_file, opts)

    def _stop(signum: int, frame: object) -> None:
        emu.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        emu.serve()
    finally:
        pty.close()
        if log_file is not None:
            log_file.close()


def _die_with_parent() -> None:
    # An emulator outliving a crashed session would hold the port; Linux can signal the child
    # when its parent dies (PR_SET_PDEATHSIG). Elsewhere the emulator is stopped explicitly.
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class EmulatorProcess:
    """An emulator in its own process, on a pty reachable through ``link``."""

    def __init__(
        self,
        kind: str,
        link: str | Path,
        log: str | Path | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.kind = kind
        self.link = Path(link)
        self.log = Path(log) if log else None
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> EmulatorProcess:
        """Start the process and wait until its pty link exists."""
        if self.link.is_symlink():
            self.link.unlink()
        cmd = [sys.executable, "-m", "mirrorvr", "emulate", self.kind, "--link", str(self.link)]
        if self.log:
            cmd += ["--log", str(self.log)]
        cmd += self.extra_args
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=os.environ.copy(),
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while not self.link.exists():
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise DeviceError(f"emulator {self.kind} exited at start: {err.strip()}")
            if time.monotonic() > deadline:
                self.stop()
                raise DeviceError(f"emulator {self.kind} did not create {self.link} in {timeout} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Terminate the emulator (it logs its pulse count on the way out)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
