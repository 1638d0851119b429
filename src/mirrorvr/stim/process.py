"""The session side of the stimulation process (:mod:`mirrorvr.stim.child`).

:class:`StimulationProcess` starts the child, talks to it over three pipes (commands, messages,
e-stop) and watches it; :class:`RemoteStimulator` is the stimulator seam across the boundary
(arm, disarm, intensity, status); :class:`ProcessExecutor` is the stimulation executor whose
trains run in the child: it passes each train through the governor *here*, logs the durable
intent, and hands the train over ahead of time with its exact pulse times. The child re-checks
every pulse with its own guard, journals it, and sends it back; this side logs it in the
session's event log (and so on LSL) with the child's stamp.

E-stop first: :meth:`ProcessExecutor.estop`, :meth:`~ProcessExecutor.halt` and
:meth:`RemoteStimulator.disarm` write one byte on the e-stop pipe, which a thread of the child
blocked on it answers at once — not behind queued trains or a command in progress. Device
faults come up the message pipe as they happen and become the runner's e-stop.

If the child dies, this side logs it (durable), copies what the child journaled but never sent
into the event log, disarms the device through the port itself (best effort) and e-stops the
session. If this side dies, the child disarms and exits (see :mod:`.child`).
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
from mirrorvr.session.timeline import Step
from mirrorvr.stim import errors as stim_errors
from mirrorvr.stim import governor
from mirrorvr.stim.base import (
    Capabilities,
    DisarmOutcome,
    Stimulator,
    StimulatorStatus,
    TrainSpec,
    outcome_from_reply,
)
from mirrorvr.stim.executor import StimulationExecutor, TrainResult
from mirrorvr.stim.guard import GuardLimits
from mirrorvr.stim.journal import JOURNAL_NAME, missing_records, read_journal
from mirrorvr.stim.priority import MESSAGES_RT_PRIORITY, try_realtime
from mirrorvr.stim.scheduler import GIL_SWITCH_INTERVAL_S

log = logging.getLogger(__name__)

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
            },
            "rt_priority": rt_priority,
            "late_tolerance_s": late_tolerance_s,
            "lock_memory": lock_memory,
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

    def set_guard_intensity(self, pct_mso: float) -> None:
        """The train intensity the child's guard allows, once the plan's is known (after a
        threshold hunt at session start); the child refuses it once a train has run."""
        self.call("guard_intensity", pct_mso)

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


class RemoteStimulator(Stimulator):
    """The stimulator in the stimulation process, seen from the session process."""

    def __init__(self, process: StimulationProcess) -> None:
        self.process = process
        r = process.ready
        self.kind = str(r.get("kind", process.device.kind))
        self._caps = Capabilities(**r["capabilities"])
        self._wire = float(r.get("trigger_wire_s", 0.0))
        self._hold = float(r.get("hold_s", 0.0))

    @property
    def capabilities(self) -> Capabilities:
        """The driver's capabilities, as the child reported them."""
        return self._caps

    @property
    def trigger_wire_s(self) -> float:
        """The driver's line time of a trigger."""
        return self._wire

    @property
    def hold_s(self) -> float:
        """The driver's pulse width (held line), released in the child."""
        return self._hold

    def connect(self) -> None:
        """The child connected the device when it started."""

    def arm(self) -> None:
        """Arm in the child (the guard then allows pulses)."""
        self.process.call("arm", timeout=30.0)

    def disarm(self) -> DisarmOutcome:
        """Disarm through the e-stop channel; if the child is gone, through the port here."""
        if self.process.alive:
            reply = self.process.request_disarm("D")
            if reply is not None:
                return outcome_from_reply(reply)
            if threading.current_thread() is self.process._reader:
                return DisarmOutcome("unknown", "disarm request", "reply awaited on its own reader")
        return self.process.disarm_outcome_directly()

    def set_intensity(self, pct_mso: float) -> None:
        """Set and verify the intensity in the child."""
        self.process.call("set_intensity", pct_mso, timeout=30.0)

    def trigger(self) -> float:
        """One pulse now, outside a train (threshold hunts): the child's guard decides too."""
        return float(self.process.call("trigger"))

    def start_train(self, train: TrainSpec) -> float:
        """Trains go to the child whole (:class:`ProcessExecutor`), never through here."""
        raise DeviceError("device-timed trains run in the stimulation process, not through it")

    def device_limits(self, intensity_pct_mso: float, frequency_hz: float) -> governor.DeviceLimits:
        """The driver's limits, asked in the child."""
        v = self.process.call("device_limits", intensity_pct_mso, frequency_hz)
        return governor.DeviceLimits(**v)

    def status(self) -> StimulatorStatus:
        """The driver's status in the child (disconnected if the child is gone)."""
        if not self.process.alive:
            return StimulatorStatus(False, False, False, None, ("stimulation process gone",))
        v = dict(self.process.call("status"))
        v["faults"] = tuple(v.get("faults", ()))
        return StimulatorStatus(**v)

    def close(self) -> None:
        """Stop the child (it disarms and closes the device)."""
        self.process.close()


class ProcessExecutor(StimulationExecutor):
    """A stimulation executor whose trains run in the stimulation process."""

    def __init__(self, *, process: StimulationProcess, **kw: Any) -> None:
        super().__init__(stimulator=RemoteStimulator(process), scheduler=None, **kw)
        self.process = process
        self._open: dict[tuple[Any, Any], tuple[Step, governor.StimRequest, int, str]] = {}
        self._idle = threading.Event()
        self._idle.set()
        self._dev_limits: governor.DeviceLimits | None = None
        process.on_message = self._on_message

    def device_limits(self) -> governor.DeviceLimits:
        """The driver's limits at the plan's settings (asked once: they are fixed)."""
        if self._dev_limits is None:
            self._dev_limits = super().device_limits()
        return self._dev_limits

    # ---- delivery ------------------------------------------------------------------------
    def submit(self, step: Step, onset: float) -> None:
        """Authorize and log the intent here, then hand the train to the child."""
        admitted = self.admit(step, onset)
        if isinstance(admitted, TrainResult):
            return
        request, offsets, timing = admitted
        key = (step.index, step.data["train"])
        with self._lock:
            self._open[key] = (step, request, len(offsets), timing)
            self._idle.clear()
        try:
            self.process.send(
                {
                    "op": "train",
                    "step": step.index,
                    "train": step.data["train"],
                    "times": [onset + o for o in offsets],
                    "intensity_pct_mso": request.intensity_pct_mso,
                    "frequency_hz": request.frequency_hz,
                    "timing": timing,
                }
            )
        except DeviceError as e:  # the child is gone: its death is handled by the reader
            self._close_train(key, TrainResult(status="fault", reason=str(e)))

    def _close_train(self, key: tuple[Any, Any], result: TrainResult) -> None:
        with self._lock:
            entry = self._open.pop(key, None)
            if not self._open:
                self._idle.set()
        if entry is not None:
            step, request, n, timing = entry
            self.conclude(step, request, n, result, timing)

    def _on_message(self, msg: Message) -> None:
        ev = str(msg.get("ev"))
        data = {k: v for k, v in msg.items() if k not in ("ev", "t")}
        if ev in ("pulse", "pulse_missed", "guard_refused"):
            self.log.append(ev, float(msg["t"]), durable=ev == "guard_refused", **data)
        elif ev == "train_outcome":
            self._close_train(
                (msg["step"], msg["train"]),
                TrainResult(
                    delivered=int(msg["delivered"]),
                    missed=int(msg["missed"]),
                    status=str(msg["status"]),
                    reason=str(msg["reason"]),
                ),
            )
        elif ev == "fault":
            self.log.append(
                "device", float(msg["t"]), durable=True, what="fault", reason=msg["reason"]
            )
            self._fault_async(str(msg["reason"]))
        elif ev == "died":
            self._child_died(int(msg.get("code", -1)))

    def _fault_async(self, reason: str) -> None:
        # the runner's e-stop waits for the child's disarm confirmation, which this (reader)
        # thread delivers: run it on a thread of its own
        if self.on_fault is not None:
            cb = self.on_fault
            threading.Thread(target=cb, args=(reason,), name="stim fault", daemon=True).start()

    def _child_died(self, code: int) -> None:
        t = self.clock.now()
        self.log.append(
            "device",
            t,
            durable=True,
            what="stim_process_died",
            exit_code=code,
            reason="the stimulation process exited unexpectedly",
        )
        # what the child journaled but never sent: into the session log, stamps unchanged
        for rec in missing_records(list(self.log), read_journal(self.process.journal_path)):
            if rec["kind"] == "train_intent":
                continue  # this side logged the intent before handing the train over
            data = {k: v for k, v in rec.items() if k not in ("t", "kind")}
            if rec["kind"] == "train_outcome":
                self._close_train(
                    (data["step"], data["train"]),
                    TrainResult(
                        delivered=int(data["delivered"]),
                        missed=int(data["missed"]),
                        status=str(data["status"]),
                        reason=str(data["reason"]),
                    ),
                )
            else:
                self.log.append(str(rec["kind"]), float(rec["t"]), recovered=True, **data)
        # trains without an outcome stay open in the log: they count in full as possibly
        # delivered (resume budgets against that), never fewer
        with self._lock:
            self._open.clear()
            self._idle.set()
        disarmed = self.process.disarm_directly()
        self.log.append(
            "device", self.clock.now(), durable=True, what="disarm_after_death", written=disarmed
        )
        self._fault_async(f"stimulation process died (exit code {code})")

    # ---- control (any thread) ------------------------------------------------------------
    def cancel(self, reason: str = "") -> None:
        """Drop pending trains and stop the running one at its next wait (pause/abort)."""
        self._sim_stop.set()
        with contextlib.suppress(DeviceError):
            self.process.send({"op": "cancel", "reason": reason})

    def halt(self, reason: str) -> None:
        """Cancel and disarm at once through the e-stop channel."""
        self._sim_stop.set()
        if self.process.alive and self.process.request_disarm("H") is not None:
            return
        self.process.disarm_directly()

    def estop(self, cause: str) -> None:
        """Emergency stop through the e-stop channel; the log says what the child confirmed."""
        t_call = self.clock.now()
        self._sim_stop.set()
        self.estopped = cause
        reply = self.process.request_disarm("E") if self.process.alive else None
        if reply is None:
            outcome = self.process.disarm_outcome_directly()
            t_done = self.clock.now()
        else:
            outcome = outcome_from_reply(reply)
            t_done = float(reply["t_done"])
        if not outcome.confirmed:
            cause = f"{cause} (disarm {outcome.status})"
        self.log.append(
            "estop",
            t_call,
            durable=True,
            cause=cause,
            **outcome.fields(),  # only what the child (or the port) confirmed
            disarm_s=t_done - t_call,
        )

    def resume(self) -> None:
        """Accept trains again (the runner re-ran the governor's plan check)."""
        super().resume()
        with contextlib.suppress(DeviceError):
            self.process.send({"op": "reset"})

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every handed-over train has its outcome (or the child died)."""
        return self._idle.wait(timeout)


def guard_limits(
    plan: Any,
    timeline: Any,
    budget: int,
    counted: int,
    late_tolerance_s: float,
    extra_pulses: int = 0,
) -> GuardLimits:
    """The child's guard for a plan: its intensity, its fastest pulse rate, the pulses left
    (``extra_pulses``: single pulses outside the timeline, e.g. a threshold hunt's)."""
    profile = governor.effective_limits(plan.safety).profile
    rate = 1.0 / float(profile.min_single_pulse_interval_s)
    for step in timeline.steps:
        offs = [float(o) for o in step.data.get("offsets", ())]
        for a, b in itertools.pairwise(offs):
            if b > a:
                rate = max(rate, 1.0 / (b - a))
    return GuardLimits(
        max_intensity_pct_mso=float(plan.stimulation.intensity_pct_mso),
        max_rate_hz=rate,
        max_pulses=max(0, budget - counted) + extra_pulses,
        jitter_s=late_tolerance_s,
        max_single_intensity_pct_mso=float(profile.max_intensity_pct_mso),
    )
