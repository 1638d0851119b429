"""The session's link to the stimulation process (:mod:`mirrorvr.stim.child`).

:class:`StimulationProcess` starts the child, talks to it over three pipes (commands, messages,
e-stop) and watches it. The e-stop pipe carries one byte (``E`` e-stop, ``H`` halt, ``D``
disarm), which a thread of the child blocked on it answers at once — not behind queued trains or
a command in progress. If the child is gone, :meth:`StimulationProcess.disarm_directly` disarms
through the port from this side (best effort).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mirrorvr.config.plan import StimulatorDevice
from mirrorvr.errors import DeviceError
from mirrorvr.stim import errors as stim_errors
from mirrorvr.stim.base import DisarmOutcome
from mirrorvr.stim.guard import GuardLimits
from mirrorvr.stim.journal import JOURNAL_NAME
from mirrorvr.stim.priority import LAST_CPU, MESSAGES_RT_PRIORITY, try_realtime
from mirrorvr.stim.scheduler import GIL_SWITCH_INTERVAL_S

# the logger keeps the name it had before this module was split out of mirrorvr.stim.process
log = logging.getLogger("mirrorvr.stim.process")

#: how long a disarm request waits for the child's confirmation before calling it unconfirmed
DISARM_CONFIRM_S = 1.0

Message = dict[str, Any]


def _error_from(reply: Message) -> DeviceError:
    cls = getattr(stim_errors, str(reply.get("type", "")), DeviceError)
    if not (isinstance(cls, type) and issubclass(cls, DeviceError)):
        cls = DeviceError
    return cls(str(reply.get("error", "stimulation process error")))


class StimulationProcess:
    """The child process that holds the stimulator; commands, messages and an e-stop pipe."""

    def __init__(
        self,
        device: StimulatorDevice,
        port: str,
        folder: str | Path,
        guard: GuardLimits,
        *,
        rt_priority: int | None = 80,
        late_tolerance_s: float = 0.005,
        lock_memory: bool = True,
        cpu_latency_us: int | None = 0,
        cpu: int | None = LAST_CPU,
        pulse_stream: dict[str, Any] | None = None,
    ) -> None:
        self.device = device
        self.port = port
        self.folder = Path(folder)
        self.journal_path = self.folder / JOURNAL_NAME
        self.config = {
            "device": device.model_dump(mode="json"),
            "port": port,
            "guard": {
                "max_intensity_pct_mso": guard.max_intensity_pct_mso,
                "max_rate_hz": guard.max_rate_hz,
                "max_pulses": guard.max_pulses,
                "jitter_s": guard.jitter_s,
                "max_single_intensity_pct_mso": guard.max_single_intensity_pct_mso,
                "pair_interval_ms": guard.pair_interval_ms,
                "max_intensity_b_pct_mso": guard.max_intensity_b_pct_mso,
            },
            "rt_priority": rt_priority,
            "late_tolerance_s": late_tolerance_s,
            "lock_memory": lock_memory,
            # PM QoS bound on every CPU's wake-up latency while the child lives (None: none)
            "cpu_latency_us": cpu_latency_us,
            # the one CPU the child's threads run on (mirrorvr.stim.priority.pin_cpu); None: any
            "cpu": cpu,
            # the child's own LSL outlet of pulses (mirrorvr.stim.pulse_outlet); None: none
            "pulse_stream": pulse_stream,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready: Message = {}
        #: every message that is not a reply: pulses, outcomes, faults, ``died``
        self.on_message: Callable[[Message], None] | None = None
        self._estop_w = -1
        self._ids = itertools.count(1)
        self._replies: dict[int, tuple[threading.Event, list[Message]]] = {}
        self._disarms: list[tuple[str, threading.Event, list[Message]]] = []
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._closing = False
        self.dead = threading.Event()
        self._old_switch: float | None = None

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> StimulationProcess:
        """Start the child, connect the device there, wait until it reports ready."""
        self.folder.mkdir(parents=True, exist_ok=True)
        r, w = os.pipe()
        self._estop_w = w
        cmd = [
            sys.executable,
            "-m",
            "mirrorvr.stim.child",
            "--estop-fd",
            str(r),
            "--parent-pid",
            str(os.getpid()),
            "--journal",
            str(self.journal_path),
        ]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(r,), env=os.environ.copy()
        )
        os.close(r)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._write(self.config)
        deadline = time.monotonic() + timeout
        line = b""
        while not line:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self._reap()
                raise DeviceError(
                    f"the stimulation process did not start ({self.device.kind} on {self.port})"
                )
            line = self.proc.stdout.readline()
        self.ready = json.loads(line)
        if not self.ready.get("ok"):
            self._reap()
            raise DeviceError(str(self.ready.get("error", "the stimulation process failed")))
        # the reader must get the GIL within a fraction of a millisecond of a pulse message, not
        # after Python's default 5 ms switch interval (as the pulse scheduler thread did)
        self._old_switch = sys.getswitchinterval()
        sys.setswitchinterval(min(self._old_switch, GIL_SWITCH_INTERVAL_S))
        self._reader = threading.Thread(target=self._read, name="stim-process reader", daemon=True)
        self._reader.start()
        return self

    @property
    def pid(self) -> int | None:
        """The child's process id."""
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        """Whether the child is running."""
        return self.proc is not None and self.proc.poll() is None and not self.dead.is_set()

    def close(self, timeout: float = 5.0) -> None:
        """Ask the child to disarm, close the device and exit; kill it if it does not."""
        self._closing = True
        if self.proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self._write({"op": "exit"})
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reap()

    def _reap(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        # the child is gone, so its stdout ends: let the reader take the last messages first
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(2.0)
        if self.proc is not None:
            for f in (self.proc.stdin, self.proc.stdout):
                with contextlib.suppress(OSError, ValueError):
                    if f is not None:
                        f.close()
        if self._estop_w >= 0:
            with contextlib.suppress(OSError):
                os.close(self._estop_w)
            self._estop_w = -1
        if self._old_switch is not None:
            sys.setswitchinterval(self._old_switch)
            self._old_switch = None

    def __enter__(self) -> StimulationProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- pipes --------------------------------------------------------------------------
    def _write(self, msg: Message) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        data = (json.dumps(msg, separators=(",", ":")) + "\n").encode("utf-8")
        with self._send_lock:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def send(self, msg: Message) -> None:
        """Send a command; a dead child raises ``DeviceError``."""
        try:
            self._write(msg)
        except (OSError, ValueError) as e:
            raise DeviceError(f"the stimulation process is gone ({e})") from None

    def set_guard_intensity(self, pct_mso: float, power_b_pct_mso: float | None = None) -> None:
        """The train intensity (and a pair's power B) the child's guard allows, once the plan's
        is known (after a threshold hunt at session start); the child refuses it once a train
        has run."""
        self.call("guard_intensity", pct_mso, power_b_pct_mso)

    def call(self, method: str, *args: Any, timeout: float = 10.0) -> Any:
        """Run a driver call in the child and return its value (its ``DeviceError`` re-raised)."""
        rid = next(self._ids)
        done: tuple[threading.Event, list[Message]] = (threading.Event(), [])
        with self._lock:
            self._replies[rid] = done
        try:
            self.send({"op": "call", "id": rid, "method": method, "args": list(args)})
            if not done[0].wait(timeout):
                raise DeviceError(f"the stimulation process did not answer '{method}' in time")
        finally:
            with self._lock:
                self._replies.pop(rid, None)
        if not done[1]:
            raise DeviceError(f"the stimulation process died during '{method}'")
        reply = done[1][0]
        if not reply.get("ok"):
            raise _error_from(reply)
        return reply.get("value")

    def request_disarm(self, request: str, timeout: float = DISARM_CONFIRM_S) -> Message | None:
        """E-stop channel: ``E`` e-stop, ``H`` halt, ``D`` disarm. Returns the child's
        confirmation (``ok``, ``t_call``, ``t_done``) or ``None`` if none came in time."""
        waiter: tuple[str, threading.Event, list[Message]] = (request, threading.Event(), [])
        with self._lock:
            self._disarms.append(waiter)
        try:
            os.write(self._estop_w, request.encode("ascii"))
        except OSError:
            with self._lock:
                self._disarms.remove(waiter)
            return None
        if threading.current_thread() is self._reader:
            return None  # the reader delivers the confirmation: it cannot wait for itself
        waiter[1].wait(timeout)
        with self._lock:
            if waiter in self._disarms:
                self._disarms.remove(waiter)
        return waiter[2][0] if waiter[2] else None

    def _lines(self) -> Iterator[bytes]:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            yield from self.proc.stdout
        except (OSError, ValueError):  # closed under us: the process is being reaped
            return

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        # a pulse reaches the event log and LSL as soon as the child sends it, however busy
        # the session process is (where real-time priority is permitted)
        try_realtime(MESSAGES_RT_PRIORITY)
        for line in self._lines():
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            ev = msg.get("ev")
            if ev == "reply":
                with self._lock:
                    w = self._replies.get(int(msg["id"]))
                if w is not None:
                    w[1].append(msg)
                    w[0].set()
            elif ev == "disarmed":
                with self._lock:
                    hits = [d for d in self._disarms if d[0] == msg.get("request")]
                    for d in hits:
                        self._disarms.remove(d)
                for d in hits:
                    d[2].append(msg)
                    d[1].set()
            elif self.on_message is not None:
                try:
                    self.on_message(msg)
                except Exception:  # never stop reading: later pulses must still be logged
                    log.exception("stimulation process message %r failed", msg)
        # end of file: the child exited
        self.dead.set()
        with self._lock:
            waiting = [w[0] for w in self._replies.values()] + [d[1] for d in self._disarms]
        for e in waiting:
            e.set()
        if not self._closing and self.on_message is not None:
            code = self.proc.wait()
            self.on_message({"ev": "died", "code": code})

    # ---- the device without the child --------------------------------------------------
    def disarm_outcome_directly(self) -> DisarmOutcome:
        """The child is gone: disarm through the port here, and say what is known of it."""
        if self.disarm_directly():
            return DisarmOutcome("unknown", "disarm directly", "written; the child is gone")
        return DisarmOutcome("failed", "disarm directly", "the port could not be written")

    def disarm_directly(self) -> bool:
        """The child is gone: open the port here and disarm (best effort); True if written."""
        from mirrorvr.stim.factory import make_stimulator

        drv = make_stimulator(self.device, self.port)
        transport = getattr(drv, "transport", None)
        if transport is None:
            return False
        try:
            transport.open()
            drv.disarm()
            return True
        except DeviceError:
            return False
        finally:
            with contextlib.suppress(Exception):
                transport.close()
