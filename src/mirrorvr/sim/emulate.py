"""Running device emulators: in this process (``mirrorvr emulate``) or as a child process.

A session starts its emulator as ``python -m mirrorvr.sim.emulate`` (:func:`main`): the same
options as ``mirrorvr emulate`` without importing the CLI, so a child starts in tens of
milliseconds instead of half a second.

Each emulator family registers a factory in :data:`EMULATORS`: the TTL box, the Magstim family
(200², BiStim², Rapid²) and the MagVenture MagPro. Options (faults, line delay, timing, Rapid²
firmware and unlock code) come from ``mirrorvr emulate`` and are ignored where they do not apply.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

from mirrorvr.errors import DeviceError
from mirrorvr.sim.pty_link import PtyLink
from mirrorvr.sim.ttl_box import TTLBoxEmulator, open_log


class Emulator(Protocol):
    """What ``run_emulator`` needs of an emulator."""

    #: the pty it serves now (a re-plugged cable gets a new one)
    link: PtyLink

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


def _stim_kw(opts: dict[str, Any]) -> dict[str, Any]:
    from mirrorvr.sim.faults import Fault

    faults = opts.get("faults") or []
    return {
        "line_delay": bool(opts.get("line_delay", True)),
        "timing": str(opts.get("timing", "real")),
        "faults": [f if isinstance(f, Fault) else Fault.parse(str(f)) for f in faults],
        "idle_disarm_s": float(opts.get("idle_disarm_s", 60.0)),
    }


def _magstim(model: str) -> EmulatorFactory:
    def make(link: PtyLink, log: IO[str] | None, opts: dict[str, Any]) -> Emulator:
        from mirrorvr.sim.magstim import DEFAULT_UNLOCK_CODE, MagstimEmulator

        return MagstimEmulator(
            link,
            log,
            model=model,
            version=str(opts.get("firmware") or "9.0"),
            unlock_code=str(opts.get("unlock_code") or DEFAULT_UNLOCK_CODE),
            stale_interval=bool(opts.get("stale_interval", False)),
            **_stim_kw(opts),
        )

    return make


def _magventure(link: PtyLink, log: IO[str] | None, opts: dict[str, Any]) -> Emulator:
    from mirrorvr.sim.magventure import MagVentureEmulator

    return MagVentureEmulator(link, log, **_stim_kw(opts))


EMULATORS: dict[str, EmulatorFactory] = {
    "ttl-box": _ttl_box,
    "magstim-200": _magstim("200"),
    "magstim-bistim": _magstim("bistim"),
    "magstim-rapid": _magstim("rapid"),
    "magventure": _magventure,
}


def run_emulator(kind: str, link: str | Path, log: str | Path | None = None, **opts: Any) -> None:
    """Serve emulator ``kind`` on a new pty linked at ``link`` until SIGTERM/SIGINT."""
    if kind not in EMULATORS:
        raise DeviceError(f"no emulator for '{kind}' (available: {', '.join(sorted(EMULATORS))})")
    pty = PtyLink.open()
    log_file = open_log(log)
    try:
        emu = EMULATORS[kind](pty, log_file, opts)
    except (ValueError, DeviceError) as e:
        pty.close()
        raise DeviceError(f"emulator {kind}: {e}") from None
    pty.make_link(link)  # only now can a client find it: the emulator is built and serves next

    def _stop(signum: int, frame: object) -> None:
        # Not emu.stop() itself: a handler runs in the main thread, which may be inside the
        # serve loop's Event.wait() holding that Event's plain Lock at this very bytecode, so
        # setting it here deadlocked (an emulator outlived its killed session, stuck on a
        # futex). From a thread of its own, set() just waits for the lock to be released.
        threading.Thread(target=emu.stop, name="emulator-stop", daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        emu.serve()
    finally:
        emu.link.close()  # a re-plugged cable's pty (idempotent: the same one otherwise)
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
        cmd = [sys.executable, "-m", "mirrorvr.sim.emulate", self.kind, "--link", str(self.link)]
        if self.log:
            cmd += ["--log", str(self.log)]
        cmd += self.extra_args
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=os.environ.copy(),
            preexec_fn=_die_with_parent,
            # out of the terminal's process group: Ctrl-C goes to the session, which disarms
            # through this emulator first and then stops it
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        pause = 0.001  # the child needs ~50 ms: poll finely at first, then back off
        while not self.link.exists():
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise DeviceError(f"emulator {self.kind} exited at start: {err.strip()}")
            if time.monotonic() > deadline:
                self.stop()
                raise DeviceError(f"emulator {self.kind} did not create {self.link} in {timeout} s")
            time.sleep(pause)
            pause = min(pause * 1.5, 0.01)
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
        # an emulator killed (not stopped) leaves its pty link dangling in the session folder,
        # where copying the folder would then fail: remove it
        if self.link.is_symlink() and not self.link.exists():
            self.link.unlink(missing_ok=True)

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class EmulatorThread:
    """An emulator served from a thread of this process, on a real pty (fast tests, benchmarks).

    The bytes still cross a real pseudo-terminal; only the process boundary is saved. Use
    :class:`EmulatorProcess` where the emulator must not share this process's GIL.
    """

    def __init__(self, kind: str, link: str | Path, log: str | Path | None = None, **opts: Any):
        if kind not in EMULATORS:
            raise DeviceError(
                f"no emulator for '{kind}' (available: {', '.join(sorted(EMULATORS))})"
            )
        self.kind, self.link, self.log, self.opts = kind, Path(link), log, opts
        self.emulator: Any = None
        self._pty: PtyLink | None = None
        self._log_file: IO[str] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EmulatorThread:
        """Open the pty and start serving."""
        self._pty = PtyLink.open(self.link)
        self._log_file = open_log(self.log)
        self.emulator = EMULATORS[self.kind](self._pty, self._log_file, self.opts)
        self._thread = threading.Thread(
            target=self.emulator.serve, name=f"emulator {self.kind}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the pty and the log."""
        if self.emulator is not None:
            self.emulator.stop()
        if self._thread is not None:
            self._thread.join(5)
        if self.emulator is not None:
            self.emulator.link.close()  # a re-plugged cable's pty (else the one below)
        if self._pty is not None:
            self._pty.close()
        if self._log_file is not None:
            self._log_file.close()

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m mirrorvr.sim.emulate",
        description="Serve an emulated device on a new pseudo-terminal until interrupted "
        "(the options of `mirrorvr emulate`).",
    )
    ap.add_argument("kind", help="device to emulate, e.g. ttl-box")
    ap.add_argument("--link", required=True, help="symlink to create pointing at the new pty")
    ap.add_argument("--log", default=None, help="JSON Lines log of every received frame")
    ap.add_argument("--emg", default=None, help="publish the simulated patient's EMG on LSL")
    ap.add_argument("--true-mt", type=float, default=48.0)
    ap.add_argument("--panel", default=None)
    ap.add_argument("--panel-intensity", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fault", action="append", default=[], help="KIND[:PARAM][@N]")
    ap.add_argument("--line-delay", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--timing", default="real", choices=["real", "fast"])
    ap.add_argument("--firmware", default=None)
    ap.add_argument("--unlock-code", default=None)
    ap.add_argument("--idle-disarm", type=float, default=60.0)
    ap.add_argument(
        "--stale-interval",
        action="store_true",
        help="Magstim: acknowledge the BiStim² interval without applying it (read-back fault)",
    )
    return ap


def main(argv: list[str] | None = None) -> None:
    """``python -m mirrorvr.sim.emulate KIND --link PATH [...]``: bad input exits 2, one line."""
    a = _parser().parse_args(argv)
    body = dict(
        emg=a.emg,
        true_mt=a.true_mt,
        panel=Path(a.panel) if a.panel else None,
        panel_intensity=a.panel_intensity,
        seed=a.seed,
    )
    try:
        run_emulator(
            a.kind,
            a.link,
            a.log,
            faults=a.fault,
            line_delay=a.line_delay,
            timing=a.timing,
            firmware=a.firmware,
            unlock_code=a.unlock_code,
            idle_disarm_s=a.idle_disarm,
            stale_interval=a.stale_interval,
            **(body if a.emg else {}),
        )
    except DeviceError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
