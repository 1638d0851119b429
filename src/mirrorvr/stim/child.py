"""The stimulation process: ``python -m mirrorvr.stim.child`` (started by :mod:`.process`).

It holds the stimulator driver and its transport (and the driver's keep-alive), and fires the
trains the session process hands over, each with its exact pulse times. Nothing else of the
session lives here: no runner, no event log, no display — so the one thread that times pulses
shares the interpreter with no one (the driver's own keep-alive/reader threads and the e-stop
watcher sleep in blocking calls nearly all the time). The one piece of LSL here is the pulse
stream (:mod:`mirrorvr.stim.pulse_outlet`): each pulse is pushed right after its stamp, so it
reaches LSL without the pipe hop to the session process (liblsl's threads are native ones). It asks for SCHED_FIFO and locks
its memory where permitted, asks the kernel to keep idle CPUs quick to wake (PM QoS,
:func:`~mirrorvr.stim.priority.hold_cpu_latency`), and disables the cyclic garbage collector
(collected when idle).

Channels (all pipes from the session process):

* stdin: JSON-line commands — ``config`` (first line), ``call`` (arm, disarm, set_intensity,
  set_paired_pulse, set_single_pulse, status, trigger, device_limits, guard_intensity,
  reconnect), ``train`` (a paired train: one trigger per device-timed pair), ``cancel``,
  ``reset``, ``exit``;
* stdout: JSON-line messages — ``ready``, ``reply``, ``pulse``, ``pulse_missed``,
  ``guard_refused``, ``train_intent``, ``train_outcome``, ``fault``, ``disarmed``;
* the e-stop pipe (``--estop-fd``): one byte per request, read by a watcher thread blocked in
  ``select`` — ``E`` (e-stop), ``H`` (halt), ``D`` (disarm) all disarm at once from that thread
  (``E``/``H`` also cancel every pending pulse). End of file on it, or on stdin, or the
  ``PR_SET_PDEATHSIG`` signal, means the session process died: disarm, then exit.

Before every pulse the independent :class:`~mirrorvr.stim.guard.PulseGuard` must agree (the
session process already passed the train through the governor). Every train's intent, every
pulse and every outcome is written to the journal in the session folder
(:mod:`mirrorvr.stim.journal`) before it is sent up the pipe.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import gc
import json
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from mirrorvr.child_signals import die_with_parent
from mirrorvr.errors import DeviceError
from mirrorvr.stim.base import disarm_outcome
from mirrorvr.stim.guard import GuardLimits, PulseGuard
from mirrorvr.stim.journal import Journal
from mirrorvr.stim.pairs import triggers
from mirrorvr.stim.priority import (
    BOOST_RT_PRIORITY,
    hold_cpu_latency,
    pin_cpu,
    realtime_boost,
    try_realtime,
)
from mirrorvr.stim.pulse_outlet import WARM_S, PulseOutlet
from mirrorvr.stim.safety.pulse_stream import PairedDevice

#: sleep (select) until this long before a deadline, then spin
SPIN_S = 0.002
#: the largest head start a trigger write gets to compensate its own cost (as the executor)
MAX_LEAD_S = 0.0005
#: how often an idle process looks at the driver's own fault state (keep-alive failures)
HEALTH_PERIOD_S = 0.1

monotonic = time.monotonic  # CLOCK_MONOTONIC = LSL local_clock() on Linux


def _send(msg: dict[str, Any]) -> bool:
    """One message up the pipe; False if the session process is gone (never raises)."""
    # one write per line: a pipe write under PIPE_BUF bytes is atomic, so the main loop and the
    # e-stop watcher never interleave their lines
    try:
        os.write(1, (json.dumps(msg, separators=(",", ":"), default=str) + "\n").encode("utf-8"))
    except OSError:  # EPIPE: the reader died; the journal still has everything
        return False
    return True


def _lock_memory() -> str:
    """mlockall(MCL_CURRENT | MCL_FUTURE) where permitted: no page fault mid-train."""
    if not sys.platform.startswith("linux"):
        return "not available on this OS"
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mlockall(1 | 2) != 0:
        return f"not permitted ({os.strerror(ctypes.get_errno())})"
    return "locked"


class StimChild:
    """The stimulation process's state and loops."""

    def __init__(
        self,
        config: dict[str, Any],
        estop_fd: int,
        journal: Journal,
        outlet: PulseOutlet | None = None,
    ) -> None:
        from mirrorvr.config.plan import StimulatorDevice
        from mirrorvr.stim.factory import make_stimulator

        self.config = config
        self.estop_fd = estop_fd
        self.journal = journal
        #: the pulse stream (``mirrorvr-pulses``), or ``None`` when the session publishes nothing
        self.outlet = outlet
        self.driver = make_stimulator(
            StimulatorDevice.model_validate(config["device"]), str(config["port"])
        )
        self.driver.auto_release = False  # pulse width: released here, by deadline
        self.guard = PulseGuard(GuardLimits(**config["guard"]))
        self.late_tolerance_s = float(config.get("late_tolerance_s", 0.005))
        self.cancel = threading.Event()
        self.estopped = False
        self.trains: collections.deque[dict[str, Any]] = collections.deque()
        self._buf = b""
        self._costs: collections.deque[float] = collections.deque(maxlen=32)
        self._exit = False
        self._sig_r, self._sig_w = os.pipe()
        self._gone_lock = threading.Lock()
        self._faulted = False
        self.intensity: float | None = None  # as last set through this process
        #: the device-timed pair the driver confirmed by read-back (``None``: none)
        self.paired: PairedDevice | None = None
        self._trains_run = 0

    # ---- e-stop watcher (its own thread, blocked in select nearly always) ---------------
    def _on_signal(self, signum: int, frame: object) -> None:
        os.write(self._sig_w, b"P")  # async-signal-safe: the watcher does the work

    def watch_estop(self) -> None:
        """Disarm at once on any e-stop byte; on the parent's death disarm and exit."""
        try_realtime(BOOST_RT_PRIORITY)
        while True:
            r, _, _ = select.select([self.estop_fd, self._sig_r], [], [])
            data = os.read(r[0], 64)
            parent_gone = (r[0] == self.estop_fd and not data) or (
                r[0] == self._sig_r and b"P" in data
            )
            if parent_gone:
                self._parent_gone("the session process died")
            for b in data.decode("ascii", "replace"):
                cause = {"E": "emergency stop", "H": "halt", "D": "disarm"}.get(b)
                if cause is not None:
                    self._disarm(cause, cancel=b in "EH", request=b)

    def _parent_gone(self, cause: str) -> None:
        """Disarm, journal it and exit: whichever thread sees the session process die first
        (the watcher: e-stop pipe closed or the death signal; the main loop: command pipe
        closed). The other blocks here until the process ends, so the journal's last word is
        always this disarm."""
        with self._gone_lock:
            status = self._disarm(cause, cancel=True)
            self.journal.append(
                "disarmed", monotonic(), durable=True, cause="parent died", disarm=status
            )
            os._exit(0)  # the device is disarmed; nothing else here must outlive the session

    def _disarm(self, cause: str, *, cancel: bool, request: str = "") -> str:
        t_call = monotonic()
        if cancel:
            self.cancel.set()
            self.estopped = self.estopped or request == "E"
        self.guard.armed = False
        with realtime_boost():
            out = disarm_outcome(self.driver)  # never raises; says what the device confirmed
        _send(
            {
                "ev": "disarmed",
                "request": request,
                "cause": cause,
                "ok": out.confirmed,
                "disarm": out.status,
                "step": out.step,
                "error": out.detail,
                "t_call": t_call,
                "t_done": monotonic(),
            }
        )
        return out.status

    # ---- commands ----------------------------------------------------------------------
    def _poll_commands(self, timeout: float) -> None:
        """Handle commands arriving within ``timeout`` seconds (0: only those waiting)."""
        r, _, _ = select.select([0], [], [], max(0.0, timeout))
        if not r:
            return
        data = os.read(0, 65536)
        if not data:  # the session process closed our stdin: it is gone
            self._parent_gone("the session process closed the command pipe")
        self._buf += data
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            if line.strip():
                self._command(json.loads(line))

    def _command(self, cmd: dict[str, Any]) -> None:
        op = cmd.get("op")
        if op == "train":
            self.trains.append(cmd)
        elif op == "cancel":
            self.cancel.set()
        elif op == "reset":
            self.cancel.clear()
            self.estopped = False
        elif op == "exit":
            self._exit = True
        elif op == "call":
            self._call(cmd)

    def _call(self, cmd: dict[str, Any]) -> None:
        method, args = str(cmd["method"]), list(cmd.get("args", []))
        reply: dict[str, Any] = {"ev": "reply", "id": cmd["id"], "ok": True, "value": None}
        try:
            if method == "arm":
                self.driver.arm()
                self.guard.armed = True
            elif method == "disarm":
                self.guard.armed = False
                self.driver.disarm()
            elif method == "set_intensity":
                self.driver.set_intensity(float(args[0]))
                self.intensity = float(args[0])
            elif method == "status":
                st = self.driver.status()
                reply["value"] = {**asdict(st), "faults": list(st.faults)}
            elif method == "device_limits":
                reply["value"] = asdict(self.driver.device_limits(float(args[0]), float(args[1])))
            elif method == "guard_intensity":
                if self._trains_run:
                    raise DeviceError("the guard's limits are fixed once a train has run")
                lim = replace(self.guard.limits, max_intensity_pct_mso=float(args[0]))
                if len(args) > 1 and args[1] is not None and lim.pair_interval_ms is not None:
                    lim = replace(lim, max_intensity_b_pct_mso=float(args[1]))
                self.guard.limits = lim
            elif method == "set_paired_pulse":
                if self.guard.armed:
                    raise DeviceError("paired-pulse settings change only while disarmed")
                self.paired = self.driver.set_paired_pulse(float(args[0]), float(args[1]))
                reply["value"] = asdict(self.paired)
            elif method == "set_single_pulse":
                self.paired = None
                self.driver.set_single_pulse()
            elif method == "trigger":
                reply["value"] = self._single_trigger()
            elif method == "reconnect":
                self._reconnect()
            else:
                raise DeviceError(f"the stimulation process has no call '{method}'")
        except DeviceError as e:
            reply.update(ok=False, error=str(e), type=type(e).__name__)
        _send(reply)

    def _reconnect(self) -> None:
        """Close the faulted driver and connect it again (a device-fault pause); it stays
        disarmed and the guard closed until the session arms it after a resume."""
        self.guard.armed = False
        self.intensity = None  # the unit's setting is unknown until set again
        self.paired = None  # so is its pair: set and read back again before any paired train
        with contextlib.suppress(Exception):
            self.driver.close()
        self.driver.connect()  # raises DeviceError while the unit does not answer
        self._faulted = False  # a later fault is reported again

    def _single_trigger(self) -> float:
        """A pulse asked for outside a train (threshold hunt): the guard still decides."""
        now = monotonic()
        if self.paired is not None:  # a trigger would give a pair, not the single pulse asked
            raise DeviceError("the stimulation process's guard refused the pulse: the device "
                              "is set for paired pulses")  # fmt: skip
        # a device whose output is set on its panel reports no intensity here: 0 is checked
        why = self.guard.check(now, self.intensity or 0.0, single=True)
        if why is not None:
            raise DeviceError(f"the stimulation process's guard refused the pulse: {why}")
        t = self.driver.trigger()
        self.guard.fired_at(t)
        hold = self.driver.hold_s
        if hold > 0:
            self._wait(t + hold, stoppable=False, spin=False)
            self.driver.release()
        return t

    # ---- waiting -----------------------------------------------------------------------
    def _wait(
        self,
        deadline: float,
        *,
        stoppable: bool = True,
        spin: bool = True,
        warm: Callable[[float], None] | None = None,
    ) -> bool:
        """Return at ``deadline`` (commands handled meanwhile); False at once if cancelled.

        ``spin``: busy-wait the last ``SPIN_S`` (pulse deadlines). Without it (the end of a
        pulse width, which may run a little long) the wait sleeps throughout, so this
        real-time process leaves the CPU to the session process while a line is held.
        ``warm``: called once with the deadline when ``WARM_S`` or less is left (the pulse
        stream's warm-up push).
        """
        margin = SPIN_S if spin else 0.0
        while True:
            if stoppable and self.cancel.is_set():
                return False
            remaining = deadline - monotonic()
            if remaining <= 0:
                return True
            if warm is not None and remaining <= WARM_S:
                warm(deadline)
                warm = None
            if remaining > margin:
                self._poll_commands(remaining - margin)
            # else spin: the last SPIN_S are a busy loop on the clock

    # ---- trains ------------------------------------------------------------------------
    def _record(self, kind: str, t: float, *, durable: bool = False, **data: Any) -> None:
        """Journal first (survives our death), then tell the session process. A pulse not yet
        on the pulse stream (device-timed trains) is pushed to it first."""
        if kind == "pulse" and self.outlet is not None and "lsl_s" not in data:
            data["lsl_s"] = self.outlet.push(data, t)
        self.journal.append(kind, t, durable=durable, **data)
        _send({"ev": kind, "t": t, **data})

    def run_train(self, tr: dict[str, Any]) -> None:
        """Deliver one handed-over train: intent journaled, every pulse guarded, outcome."""
        self._trains_run += 1
        key = {"step": tr["step"], "train": tr["train"]}
        times: list[float] = [float(x) for x in tr["times"]]
        intensity = float(tr["intensity_pct_mso"])
        delivered = missed = 0
        status, reason = "completed", ""
        if self.cancel.is_set():
            status = "stopped"
            reason = "emergency stop" if self.estopped else "paused or aborted"
            self._record("train_outcome", monotonic(), durable=True, **key, delivered=0,
                         missed=0, status=status, reason=reason, timing=tr["timing"])  # fmt: skip
            return
        self._record("train_intent", monotonic(), durable=True, **key, n_pulses=len(times),
                     timing=tr["timing"], intensity_pct_mso=intensity)  # fmt: skip
        try:
            if tr["timing"] == "device":
                delivered, status, reason = self._device_train(tr, key, times, intensity)
            else:
                paired = bool(tr.get("paired"))
                b = float(tr.get("intensity_b_pct_mso") or 0.0) if paired else None
                delivered, missed, status, reason = self._host_train(key, times, intensity, b)
        finally:
            with contextlib.suppress(DeviceError):
                self.driver.release()
        self._record("train_outcome", monotonic(), durable=True, **key, delivered=delivered,
                     missed=missed, status=status, reason=reason, timing=tr["timing"])  # fmt: skip
        if status == "fault":
            self._fault(reason)

    def _stop_reason(self) -> str:
        return "emergency stop" if self.estopped else "paused or aborted"

    def _device_error(self, e: DeviceError) -> tuple[str, str]:
        if self.cancel.is_set():  # disarmed by an e-stop while we waited: no fault
            return "stopped", self._stop_reason()
        return "fault", str(e)

    def _host_train(
        self,
        key: dict[str, Any],
        times: list[float],
        intensity: float,
        intensity_b: float | None = None,
    ) -> tuple[int, int, str, str]:
        """Host-timed triggers; ``intensity_b`` given: one trigger per device-timed pair."""
        delivered = missed = 0
        wire = self.driver.trigger_wire_s
        hold = self.driver.hold_s
        paired = intensity_b is not None
        pair = self.paired
        if paired and pair is None:
            # never two host-timed triggers for a pair: the device must have confirmed it
            self._record("guard_refused", monotonic(), durable=True, **key, i=0,
                         planned=times[0], reason="no device-timed pair confirmed")  # fmt: skip
            return 0, 0, "refused", "guard: no device-timed pair confirmed by the device"
        last_planned: float | None = None  # the planned time of the last trigger that went out
        warm = self.outlet.warm if self.outlet is not None else None  # once, not per pulse
        for i, planned, two in triggers(times, paired):
            lead = min(min(self._costs), MAX_LEAD_S) if self._costs else 0.0
            record: dict[str, Any] = {**key, "i": i, "planned": planned,
                                      "intensity_pct_mso": intensity}  # fmt: skip
            if two:
                record["unit"] = "A"
            if self.outlet is not None:
                self.outlet.prepare(record)  # only the stamp is left for after the trigger
            confirmed = (pair.interval_ms, pair.power_b_pct_mso) if two and pair else None
            # The guard's verdict is taken before the wait, so that between the deadline and
            # the write only the trigger runs (the Python work there, cold after the wait, was
            # most of mirrorvr's emission tail). It is taken again after the wait whenever
            # anything it reads changed meanwhile: ``armed`` (the e-stop watcher, a disarm
            # command), its count (a single pulse commanded during the wait) or its limits.
            guard = self.guard
            why = guard.check(planned, intensity, pair=confirmed)
            fired, limits = guard.fired, guard.limits
            if not self._wait(planned - lead - wire, warm=warm):
                return delivered, missed, "stopped", self._stop_reason()
            now = monotonic()
            if now - planned > self.late_tolerance_s:
                for k in range(2 if two else 1):  # a pair's trigger carries both pulses
                    missed += 1
                    self._record("pulse_missed", now, **key, i=i + k, planned=times[i + k],
                                 late_s=now - planned)  # fmt: skip
                continue
            if (
                why is not None
                or not guard.armed
                or guard.fired != fired
                or guard.limits is not limits
            ):
                why = guard.check(planned, intensity, pair=confirmed)  # as of now
            if (
                why is not None
                and self.guard.late_gap(planned, last_planned)
                and self.guard.check(planned, intensity, pair=confirmed, rate=False) is None
            ):
                # the previous trigger went out late (a stall in its write), so this one would
                # come too soon after it: skip it like a late pulse, counted; the train goes on
                for k in range(2 if two else 1):
                    missed += 1
                    self._record("pulse_missed", now, **key, i=i + k, planned=times[i + k],
                                 late_s=now - planned, reason=f"guard: {why}")  # fmt: skip
                continue
            if why is not None:
                self._record("guard_refused", now, durable=True, **key, i=i, planned=planned,
                             reason=why)  # fmt: skip
                return delivered, missed, "refused", f"guard: {why}"
            try:
                t_write = self.driver.trigger()
            except DeviceError as e:
                return (delivered, missed, *self._device_error(e))
            if self.outlet is not None:
                # on LSL first: the stamp-to-push delay travels with the pulse's record
                record["lsl_s"] = self.outlet.push_prepared(t_write + wire)
            self.guard.fired_at(t_write, 2 if two else 1)
            last_planned = planned
            self._costs.append(t_write - now)
            delivered += 1
            self._record("pulse", t_write + wire, **record)
            if two and pair is not None:
                # the device gives power B after the interval it confirmed by read-back
                delivered += 1
                self._record("pulse", t_write + wire + pair.interval_ms / 1000.0, **key,
                             i=i + 1, planned=times[i + 1], intensity_pct_mso=intensity_b,
                             unit="B", interval_ms=pair.interval_ms, expected=True)  # fmt: skip
            if hold > 0:
                self._wait(t_write + hold, stoppable=False, spin=False)
                try:
                    self.driver.release()
                except DeviceError as e:
                    return (delivered, missed, *self._device_error(e))
        return delivered, missed, "completed", ""

    def _device_train(
        self, tr: dict[str, Any], key: dict[str, Any], times: list[float], intensity: float
    ) -> tuple[int, str, str]:
        from mirrorvr.stim.base import TrainSpec

        onset = times[0]
        if not self._wait(onset):
            return 0, "stopped", self._stop_reason()
        # the device times the pulses: the guard checks the whole train before its start
        for k, t in enumerate(times):
            why = self.guard.check(t, intensity)
            if why is not None:
                self._record("guard_refused", monotonic(), durable=True, **key, i=k, planned=t,
                             reason=why)  # fmt: skip
                return 0, "refused", f"guard: {why}"
            self.guard.fired_at(t)
        spec = TrainSpec(len(times), float(tr["frequency_hz"]), intensity)
        try:
            t_start = self.driver.start_train(spec) + self.driver.trigger_wire_s
        except DeviceError as e:
            return (0, *self._device_error(e))
        for i, t in enumerate(times):
            self._record("pulse", t_start + (t - onset), **key, i=i, planned=t,
                         intensity_pct_mso=intensity, expected=True)  # fmt: skip
        if not self._wait(times[-1]):
            return len(times), "stopped", self._stop_reason()
        return len(times), "completed", ""

    def _fault(self, reason: str) -> None:
        """Tell the session at once and disarm (it e-stops; the log says why)."""
        if self._faulted:
            return
        self._faulted = True
        self.guard.armed = False
        with contextlib.suppress(Exception):
            self.driver.disarm()
        self.journal.append("fault", monotonic(), durable=True, reason=reason)
        _send({"ev": "fault", "t": monotonic(), "reason": reason})

    def _check_health(self) -> None:
        # a driver faulted by its keep-alive/reader thread (lost remote control, error bits)
        # between trains: push it to the session now rather than at the next train
        fault = getattr(self.driver, "_fault", None)
        if fault is not None and not self._faulted:  # armed or not (issue 13)
            self._fault(f"device fault: {fault}")

    # ---- main loop ---------------------------------------------------------------------
    def serve(self) -> None:
        """Run trains as they come and answer commands until told to exit."""
        last_gc = monotonic()
        while not self._exit:
            if self.trains:
                self.run_train(self.trains.popleft())
                continue
            self._poll_commands(HEALTH_PERIOD_S)
            self._check_health()
            if not self.trains and monotonic() - last_gc > 5.0:
                gc.collect()  # cycles freed while nothing is timed
                last_gc = monotonic()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the stimulation process."""
    ap = argparse.ArgumentParser(prog="python -m mirrorvr.stim.child")
    ap.add_argument("--estop-fd", type=int, required=True)
    ap.add_argument("--parent-pid", type=int, required=True)
    ap.add_argument("--journal", required=True)
    a = ap.parse_args(argv)
    journal = Journal(a.journal)
    child: StimChild | None = None

    def early_exit(signum: int, frame: object) -> None:
        os._exit(0)  # nothing connected yet: nothing to disarm

    signal.signal(signal.SIGTERM, early_exit)
    die_with_parent(a.parent_pid)
    line = sys.stdin.buffer.readline()
    if not line:
        return
    config = json.loads(line)
    # first of all: every thread started from here on (liblsl's, the driver's) inherits it
    _, cpu_status = pin_cpu(config.get("cpu"))
    outlet: PulseOutlet | None = None
    outlet_error = ""
    if config.get("pulse_stream"):
        # before real-time priority and mlockall: liblsl's threads inherit this thread's policy
        try:
            outlet = PulseOutlet(config["pulse_stream"])
        except Exception as e:  # no LSL here: the pulses still reach LSL through the session
            outlet_error = f"{type(e).__name__}: {e}"
    rt_ok, rt_status = (False, "real-time priority not requested")
    if config.get("rt_priority") is not None:
        rt_ok, rt_status = try_realtime(int(config["rt_priority"]))
        if not rt_ok:
            rt_status = (
                f"could not get SCHED_FIFO real-time priority ({rt_status}); pulses run at "
                "normal priority: expect wake-ups up to several ms late under load. Run as root "
                "or grant CAP_SYS_NICE / an rtprio limit (ulimit -r) to fix"
            )
    mlock = _lock_memory() if config.get("lock_memory", True) else "not requested"
    cpu_latency = "not requested"
    if config.get("cpu_latency_us") is not None:
        # held (fd open) until this process ends: idle CPUs wake at once for the pulses
        _, cpu_latency = hold_cpu_latency(int(config["cpu_latency_us"]))
    try:
        child = StimChild(config, a.estop_fd, journal, outlet)
        signal.signal(signal.SIGTERM, child._on_signal)
        child.driver.connect()
    except DeviceError as e:
        _send({"ev": "ready", "ok": False, "error": str(e)})
        if child is not None:
            with contextlib.suppress(Exception):
                child.driver.close()
        return
    threading.Thread(target=child.watch_estop, name="estop-watcher", daemon=True).start()
    drv = child.driver
    _send(
        {
            "ev": "ready",
            "ok": True,
            "pid": os.getpid(),
            "kind": drv.kind,
            "capabilities": asdict(drv.capabilities),
            "trigger_wire_s": drv.trigger_wire_s,
            "hold_s": drv.hold_s,
            "realtime": rt_ok,
            "rt_status": rt_status,
            "memory": mlock,
            "cpu_latency": cpu_latency,
            "cpu": cpu_status,
            "pulse_stream": outlet.name if outlet is not None else None,
            "pulse_stream_error": outlet_error,
        }
    )
    gc.collect()
    gc.freeze()  # what exists now is never scanned again
    gc.disable()
    try:
        child.serve()
    finally:
        with contextlib.suppress(Exception):
            child.driver.close()  # leaves the device disarmed
        if outlet is not None:
            outlet.close()
        journal.close()


if __name__ == "__main__":
    main()
