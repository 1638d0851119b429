"""Magstim 200², BiStim² and Rapid² drivers.

One command/reply exchange at a time (a lock serialises them), every reply parsed by the
grammar of magstim-serial.md §3 into a :class:`~mirrorvr.stim.magstim.protocol.Reply` or a
typed exception. A keep-alive thread keeps remote control: it sends a status-returning command
whenever none went out for 0.25 s while charged (device rule: ≤ 1 s) or 2.5 s otherwise
(≤ 10 s); it yields to a waiting time-critical command (fire) and never interleaves with one.

Safety behaviour:

- any protocol error, fault bit, lost remote control or read-back mismatch disarms the device
  (best effort) and leaves the driver *faulted*: every later call except ``disarm``/``close``/
  ``status`` raises the fault until the driver is reconnected;
- ``disarm`` writes ``EAy`` at once from the calling thread, without waiting for an exchange in
  flight; the reply is collected by whichever exchange reads next;
- intensities are whole percent: a fractional plan intensity is rounded *down* (never above
  what the plan allows) and the value set is what ``status`` reports.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import ClassVar

from mirrorvr.errors import DeviceError
from mirrorvr.session.clock import local_clock
from mirrorvr.stim.base import Capabilities, DisarmOutcome, Stimulator, StimulatorStatus, TrainSpec
from mirrorvr.stim.errors import (
    ChecksumError,
    ConflictError,
    DeviceFaultError,
    DisconnectedError,
    EnergyRuleError,
    InvalidCommandError,
    InvalidDataError,
    NoReplyError,
    ProtocolError,
    ReadbackMismatch,
    UnexpectedReplyError,
)
from mirrorvr.stim.magstim import energy
from mirrorvr.stim.magstim.protocol import (
    MODE_ARM,
    MODE_DISARM,
    MODE_FIRE,
    PAD,
    InstrumentStatus,
    Reply,
    Version,
    digits,
    frame,
    parse_reply,
    parse_version,
    reply_length,
    tenths,
    valid,
    widths,
)
from mirrorvr.stim.priority import KEEPALIVE_RT_PRIORITY, keepalive_priority, realtime_boost
from mirrorvr.stim.safety.runtime import DeviceLimits
from mirrorvr.stim.transport import SerialTransport, is_pty

log = logging.getLogger(__name__)

DISARM_FRAME = frame("E", MODE_DISARM)


class MagstimDriver(Stimulator):
    """Shared machinery of the Magstim family (use a subclass for a model)."""

    kind = "magstim-200"
    model_name: ClassVar[str] = "Magstim 200²"
    max_power: ClassVar[int] = 100

    def __init__(
        self,
        port: str,
        *,
        transport: SerialTransport | None = None,
        reply_timeout_s: float = 0.5,
        keepalive_armed_s: float = 0.25,
        keepalive_idle_s: float = 2.5,
        arm_timeout_s: float = 3.0,
        ready_timeout_s: float = 6.0,
        keepalive: bool = True,
        keepalive_nice: int = -10,
        keepalive_rt_priority: int | None = KEEPALIVE_RT_PRIORITY,
    ) -> None:
        self.port = port
        #: the keep-alive thread asks for SCHED_FIFO ``keepalive_rt_priority`` (None: do not),
        #: else nice ``keepalive_nice``; ``keepalive_priority`` says what it got
        self.keepalive_nice = keepalive_nice
        self.keepalive_rt_priority = keepalive_rt_priority
        self.keepalive_priority = "not started"
        self.transport = transport or SerialTransport.for_device(
            self.kind, port, timeout=reply_timeout_s
        )
        self.reply_timeout_s = reply_timeout_s
        self.keepalive_armed_s = keepalive_armed_s
        self.keepalive_idle_s = keepalive_idle_s
        self.arm_timeout_s = arm_timeout_s
        self.ready_timeout_s = ready_timeout_s
        self.keepalive_enabled = keepalive
        self.version: Version | None = None
        self.status_byte: InstrumentStatus | None = None
        self.power_a: int | None = None
        self.nuls_skipped = 0
        #: LSL time the last disarm frame left the host (abort-latency benchmark)
        self.last_disarm_write_t: float | None = None
        self._lock = threading.RLock()
        self._critical = threading.Event()
        self._pending_disarm = 0
        self._pending_lock = threading.Lock()
        self._disarm_reply: InstrumentStatus | None = None  # status in the last disarm reply
        self._last_status_t = 0.0
        self._ready_known = False
        self._expect_charged = False
        self._remote = False
        self._fault: DeviceError | None = None
        self._connected = False
        self._is_pty = False
        self._ka_stop = threading.Event()
        self._ka_thread: threading.Thread | None = None

    # ---------------------------------------------------------------- capabilities / identity

    @property
    def capabilities(self) -> Capabilities:
        """Host-timed single pulses over serial (≈ 8 ms serial fire latency, MagPy's plots)."""
        return Capabilities(
            sets_intensity=True,
            device_timed_trains=False,
            max_host_rate_hz=0.5,
            fixed_delay_s=0.0084,
        )

    @property
    def trigger_wire_s(self) -> float:
        """The fire frame's 3 bytes on a real 9600-baud line (≈ 3.1 ms); none on a pty."""
        return 0.0 if self._is_pty else self.transport.byte_time(3)

    @property
    def keepalive_frame(self) -> bytes:
        """The status-returning command sent when nothing else went out."""
        return frame("Q")

    # ---------------------------------------------------------------- reply reading

    def _read_byte(self, deadline: float, cmd: str, partial: bytes) -> int:
        b = self.transport.read_exact(1, max(0.0, deadline - time.monotonic()))
        if not b:
            if not self.transport.is_open:
                raise DisconnectedError(f"{self.port}: the port closed while waiting for '{cmd}'")
            raise NoReplyError(
                f"{self.port}: no complete reply to Magstim command '{cmd}' within "
                f"{self.reply_timeout_s:g} s (got {partial.hex(' ') or 'nothing'}): check the "
                "cable, that the unit is on, and that nothing else uses the port"
            )
        return b[0]

    def _read_any(self, cmd: str, deadline: float) -> bytes:
        """One reply of any kind, framed by the grammar of magstim-serial.md §3."""
        b0 = self._read_byte(deadline, cmd, b"")
        while b0 == 0:  # units send stray NULs, e.g. at start-up (magneto's changelog)
            self.nuls_skipped += 1
            b0 = self._read_byte(deadline, cmd, b"")
        raw = bytes([b0])
        if b0 == 0x3F:  # '?' alone: unknown command character, no checksum
            return raw
        c = chr(b0)
        if c == "N":
            while raw[-1] != 0 or len(raw) < 2:
                raw += bytes([self._read_byte(deadline, cmd, raw)])
                if len(raw) > 16:
                    raise UnexpectedReplyError(
                        f"{self.port}: version reply {raw.hex(' ')} has no terminator"
                    )
            return raw + bytes([self._read_byte(deadline, cmd, raw)])
        try:
            n = reply_length(c, self.version)
        except KeyError:
            raise UnexpectedReplyError(
                f"{self.port}: received byte {b0:02x} where a reply to '{cmd}' should start: "
                "the line is noisy or another program talks to the unit"
            ) from None
        assert n is not None
        raw += bytes([self._read_byte(deadline, cmd, raw)])
        if raw[1] in (0x3F, 0x53):  # '?' or 'S': an error reply if its checksum says so
            raw += bytes([self._read_byte(deadline, cmd, raw)])
            if valid(raw) or n == 3:
                return raw
        while len(raw) < n:
            rest = self.transport.read_exact(n - len(raw), max(0.0, deadline - time.monotonic()))
            if not rest:
                self._read_byte(deadline, cmd, raw)  # raises NoReplyError naming the partial
            raw += rest
        return raw

    def _read_reply(self, cmd: str, timeout: float | None = None) -> Reply:
        deadline = time.monotonic() + (timeout or self.reply_timeout_s)
        while True:
            raw = self._read_any(cmd, deadline)
            if raw == b"?":
                raise InvalidCommandError(
                    f"{self.port}: the unit does not know command '{cmd}' (reply '?'): "
                    f"is this really a {self.model_name}?"
                )
            if raw[0] == 0x45 and cmd != "E" and self._take_pending_disarm():
                continue  # the reply to a disarm written from another thread
            if len(raw) == 3 and raw[1] in (0x3F, 0x53) and valid(raw):
                if raw[0] != ord(cmd):
                    raise UnexpectedReplyError(
                        f"{self.port}: error reply {raw.hex(' ')} acknowledges '{chr(raw[0])}', "
                        f"not '{cmd}'"
                    )
                if raw[1] == 0x3F:
                    raise InvalidDataError(
                        f"{self.port}: the {self.model_name} refused the data of '{cmd}' "
                        f"(reply {raw.hex(' ')}): value out of range for this unit"
                    )
                raise ConflictError(
                    f"{self.port}: the {self.model_name} refused '{cmd}' in its current state "
                    f"(reply {raw.hex(' ')}: e.g. not in remote control, not ready, or in the "
                    "post-train lockout)"
                )
            if raw[0] != ord(cmd):
                raise UnexpectedReplyError(
                    f"{self.port}: expected a reply to '{cmd}', got {raw.hex(' ')}"
                )
            if not valid(raw):
                raise ChecksumError(
                    f"{self.port}: reply to '{cmd}' has a wrong checksum ({raw.hex(' ')}); "
                    "it was not acted on: check the cable and its length (≤ 1.5 m)"
                )
            return parse_reply(raw)

    def _take_pending_disarm(self) -> bool:
        with self._pending_lock:
            if self._pending_disarm > 0:
                self._pending_disarm -= 1
                return True
            return False

    def _drain_pending_disarms(self) -> None:
        while True:
            with self._pending_lock:
                if self._pending_disarm <= 0:
                    return
                self._pending_disarm -= 1
            reply = self._read_reply("E", timeout=1.0)
            if reply.status is not None:
                self._note_status(reply, "E", self.last_disarm_write_t)
                self._disarm_reply = reply.status

    # ---------------------------------------------------------------- exchanges

    def _exchange(self, cmd: str, data: bytes = PAD, timeout: float | None = None) -> Reply:
        """Send one command and return its checked reply (no fault handling)."""
        packet = frame(cmd, data)
        with self._lock:
            self._drain_pending_disarms()
            self.transport.reset_input()  # stale bytes (a late reply) must not pass as this one
            t_sent = self.transport.write(packet)
            reply = self._read_reply(cmd, timeout)
            if reply.status is not None:
                self._note_status(reply, cmd, t_sent)
            return reply

    def _note_status(self, reply: Reply, cmd: str, t_sent: float | None = None) -> None:
        """Record a reply's status; ``t_sent``: when its command was written.

        The keep-alive period counts from that write — the unit's watchdog counts from the
        command's arrival — so a slow reply does not push the next keep-alive later.
        """
        st = reply.status
        assert st is not None
        self.status_byte = st
        if t_sent is not None:
            self._last_status_t = t_sent
        self._ready_known = st.ready and cmd != "E"

    def _check_status(self, cmd: str) -> None:
        """Raise ``DeviceFaultError`` if the last status shows a fault the session must see."""
        st = self.status_byte
        if st is None:
            return
        if st.error:
            detail = self._describe_error()
            kind = "fatal" if st.fatal else "non-fatal"
            raise DeviceFaultError(
                f"{self.port}: the {self.model_name} reports a {kind} error{detail} "
                f"(status {st.raw:02x}): the session stops; check the unit's display"
            )
        if self._remote and not st.remote and cmd not in ("R", "N"):
            raise DeviceFaultError(
                f"{self.port}: the {self.model_name} dropped remote control (status {st.raw:02x})"
                ": the keep-alive was starved or the unit was switched to local control"
            )
        if self._expect_charged and not st.charged and cmd != "E":
            raise DeviceFaultError(
                f"{self.port}: the {self.model_name} disarmed itself (status {st.raw:02x}): "
                "e.g. its 60 s idle auto-disarm, over-temperature, or the STOP button"
            )

    def _describe_error(self) -> str:
        try:
            t1, t2 = self._temperatures_raw()
        except DeviceError:
            return ""
        hot = max(t1, t2) / 10.0
        if hot > 40.0:
            return f": coil over-temperature ({hot:.1f} °C; the unit refuses to arm above 40 °C)"
        return f" (coil temperatures {t1 / 10:.1f} / {t2 / 10:.1f} °C)"

    def _temperatures_raw(self) -> tuple[int, int]:
        r = self._exchange("F")
        return r.number(0, 3), r.number(3, 3)

    def _command(self, cmd: str, data: bytes = PAD, timeout: float | None = None) -> Reply:
        """An exchange with the safety net: any error disarms and faults the driver."""
        self._raise_if_faulted()
        try:
            with self._lock:
                reply = self._exchange(cmd, data, timeout)
                self._check_status(cmd)
                return reply
        except DeviceError as e:
            raise self._fail(e) from None

    def _raise_if_faulted(self) -> None:
        if self._fault is not None:
            raise type(self._fault)(
                f"{self._fault} (the driver stays faulted and the unit disarmed: reconnect "
                "after fixing the cause)"
            )
        if not self._connected:
            raise DeviceError(f"{self.model_name} on {self.port} is not connected")

    def _fail(self, e: DeviceError) -> DeviceError:
        """Record a fault, disarm at once, and return the error to raise."""
        first = self._fault is None
        if first:
            self._fault = e
        self._expect_charged = False
        note = self._emergency_disarm()
        if first:
            log.error("%s%s", e, note)
        return type(e)(f"{e}{note}")

    def _emergency_disarm(self) -> str:
        if not self.transport.is_open:
            return "; the port is gone, so the unit's own watchdog disarms it"
        try:
            self.last_disarm_write_t = self.transport.write(DISARM_FRAME)
        except DeviceError as e:
            return f"; disarming failed too ({e}): the unit's watchdog disarms it within 1 s"
        with self._lock:
            deadline = time.monotonic() + 2.5
            while time.monotonic() < deadline:  # skip late replies until the disarm's
                try:
                    raw = self._read_any("E", deadline)
                except (NoReplyError, DisconnectedError):
                    break
                except DeviceError:
                    continue  # garbage: keep scanning for the disarm's reply
                if raw[0] == 0x45 and valid(raw):
                    return "; the unit was disarmed"
            return "; the disarm was sent but not acknowledged: check the unit is disarmed"

    # ---------------------------------------------------------------- keep-alive

    def _keepalive_loop(self) -> None:
        self.keepalive_priority = keepalive_priority(
            self.keepalive_rt_priority, self.keepalive_nice
        )
        while not self._ka_stop.is_set():
            charged = self._expect_charged or bool(self.status_byte and self.status_byte.charged)
            period = self.keepalive_armed_s if charged else self.keepalive_idle_s
            wait = self._last_status_t + period - local_clock()
            if wait > 0:
                self._ka_stop.wait(min(wait, 0.05))
                continue
            if self._critical.is_set() or not self._lock.acquire(timeout=0.02):
                continue  # a fire is waiting: it resets the timer itself
            failed: DeviceError | None = None
            try:
                if self._fault is not None:
                    return
                if local_clock() >= self._last_status_t + period:
                    self._exchange(chr(self.keepalive_frame[0]), self.keepalive_frame[1:-1])
                    self._check_status(chr(self.keepalive_frame[0]))
            except DeviceError as e:
                failed = self._fail(e)
            finally:
                self._lock.release()
            if failed is not None:
                # the session hears of it now, armed or not, not at its next train
                self.report_fault(f"keep-alive: {failed}")
                return

    def _start_keepalive(self) -> None:
        if not self.keepalive_enabled:
            return
        self._ka_stop.clear()
        self._ka_thread = threading.Thread(
            target=self._keepalive_loop, name=f"magstim-keepalive {self.port}", daemon=True
        )
        self._ka_thread.start()

    def _stop_keepalive(self) -> None:
        self._ka_stop.set()
        if self._ka_thread is not None and self._ka_thread is not threading.current_thread():
            self._ka_thread.join(2.0)
        self._ka_thread = None

    # ---------------------------------------------------------------- Stimulator API

    def connect(self) -> None:
        """Open the port, take remote control, read the parameters, start the keep-alive."""
        self.transport.open()
        self._is_pty = is_pty(self.port)
        self.transport.reset_input()
        self._fault = None
        self._connected = True
        try:
            self._identify()
            self._remote = True
            self._check_status("Q")
            self.read_parameters()
        except DeviceError as e:
            self._connected = False
            err = self._fail(e)
            self.transport.close()
            raise err from None
        self._start_keepalive()

    def _identify(self) -> None:
        # a unit (or a USB adapter) can be slow to answer the very first command
        self._exchange("Q", timeout=max(2.0, self.reply_timeout_s))

    def read_parameters(self) -> None:
        """Refresh the cached power (``J``)."""
        r = self._command("J")
        self.power_a = r.number(0, 3)

    def arm(self) -> None:
        """Arm and wait until the unit is ready to fire (keep-alive continues meanwhile)."""
        self._raise_if_faulted()
        try:
            self._exchange("E", MODE_ARM)
        except ConflictError:
            pass  # arming an armed unit is a non-fatal conflict (magstim-serial.md §3)
        except DeviceError as e:
            raise self._fail(e) from None
        self._expect_charged = True
        self._wait_ready(self.arm_timeout_s, "arm")

    def _wait_ready(self, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            st = self._command(chr(self.keepalive_frame[0]), self.keepalive_frame[1:-1]).status
            if st is not None and st.ready:
                return
            if time.monotonic() > deadline:
                raise self._fail(
                    DeviceFaultError(
                        f"{self.port}: the {self.model_name} was not ready {timeout:g} s after "
                        f"{what} (status {st.raw if st else 0:02x})"
                    )
                )
            time.sleep(0.02)

    def disarm(self) -> DisarmOutcome:
        """Write the disarm frame now, from this thread; collect its reply if the link is free.

        ``confirmed`` only when the unit acknowledged the disarm with a valid reply; a write that could not be made is ``failed``; a write whose reply was not seen
        (the link busy, lost or garbled) is ``unknown`` (the unit's own watchdog disarms it
        about a second after the last command, magstim-serial.md).
        """
        self._expect_charged = False
        self._ready_known = False
        if not self.transport.is_open:
            return DisarmOutcome("failed", "write disarm", f"{self.port} is closed")
        try:
            # at real-time priority: whichever thread calls, the frame leaves before anything
            # else on the machine can run (the reply is collected at normal priority below)
            with realtime_boost():
                t = self.transport.write(DISARM_FRAME)
        except DeviceError as e:
            log.warning("%s: disarm could not be written: %s", self.port, e)
            return DisarmOutcome("failed", "write disarm", str(e))
        self.last_disarm_write_t = t
        with self._pending_lock:
            self._pending_disarm += 1
        self._disarm_reply = None
        if not self._lock.acquire(timeout=1.0):
            return DisarmOutcome("unknown", "read disarm reply", "the link stayed busy for 1 s")
        try:
            self._drain_pending_disarms()
        except DeviceError as e:
            log.warning("%s: disarm sent, reply not understood: %s", self.port, e)
            with self._pending_lock:
                self._pending_disarm = 0
            return DisarmOutcome("unknown", "read disarm reply", str(e))
        finally:
            self._lock.release()
        st = self._disarm_reply
        if st is None:
            # another thread collected the reply: its status is the latest we know
            return DisarmOutcome("unknown", "read disarm reply", "no reply seen by this call")
        # the reply's status is the state *before* the command (magstim-serial.md §4): a valid
        # reply to the disarm is the unit's acknowledgement that it carried it out
        return DisarmOutcome("confirmed", detail=f"acknowledged (status before: {st.raw:02x})")

    def _power_ok(self, pct: int) -> None:
        if not 0 <= pct <= self.max_power:
            raise DeviceError(
                f"{self.model_name} power must be 0..{self.max_power} % MSO, got {pct}"
            )

    def set_intensity(self, pct_mso: float) -> None:
        """Set power A (whole percent, rounded down) and verify it by reading it back."""
        pct = math.floor(pct_mso + 1e-9)
        self._power_ok(pct)
        self._command("@", digits(pct, 3, "power"))
        self._verify("power A", pct, self._read_power_a())

    def _read_power_a(self) -> int:
        self.read_parameters()
        assert self.power_a is not None
        return self.power_a

    def _verify(self, what: str, sent: int, got: int) -> None:
        if sent != got:
            raise self._fail(
                ReadbackMismatch(
                    f"{self.port}: {what} set to {sent} but the {self.model_name} reports {got}"
                )
            )

    def trigger(self) -> float:
        """Fire one pulse (``EHr``) once the unit reports ready; returns the write time."""
        self._raise_if_faulted()
        if not self._expect_charged:
            raise DeviceError(f"trigger refused: the {self.model_name} on {self.port} is disarmed")
        self._critical.set()
        try:
            with self._lock:
                if not self._ready_known:
                    self._wait_ready(self.ready_timeout_s, "the last pulse (recharge)")
                try:
                    packet = frame("E", MODE_FIRE)
                    self._drain_pending_disarms()
                    self.transport.reset_input()
                    t = self.transport.write(packet)
                    reply = self._read_reply("E")
                    self._note_status(reply, "E", t)
                    self._ready_known = False
                    self._check_status("E")
                except DeviceError as e:
                    raise self._fail(e) from None
                return t
        finally:
            self._critical.clear()

    def status(self) -> StimulatorStatus:
        """A fresh status (one exchange) when possible, else the last one known."""
        if self._connected and self._fault is None:
            try:
                self._command(chr(self.keepalive_frame[0]), self.keepalive_frame[1:-1])
            except DeviceError:
                pass
        st = self.status_byte
        return StimulatorStatus(
            connected=self._connected and self.transport.is_open,
            armed=bool(st and st.charged),
            ready=bool(st and st.ready),
            intensity_pct_mso=self.power_a,
            faults=(str(self._fault),) if self._fault else (),
            extra={
                "status_byte": st.raw if st else None,
                "version": self.version,
                "keepalive_priority": self.keepalive_priority,
            },
        )

    def close(self) -> None:
        """Stop the keep-alive, disarm, hand control back to the unit, close the port."""
        self._stop_keepalive()
        self.disarm()
        if self.transport.is_open and self._connected:
            try:
                with self._lock:
                    self.transport.write(frame("R"))
                    self._read_reply("R")
            except DeviceError:
                pass  # the disarm above is what matters; the unit drops remote by itself
        self._connected = False
        self._remote = False
        self.transport.close()

    # ---------------------------------------------------------------- shared commands

    def temperatures(self) -> tuple[float, float]:
        """Coil temperatures in °C (``F``)."""
        self._raise_if_faulted()
        try:
            t1, t2 = self._temperatures_raw()
        except DeviceError as e:
            raise self._fail(e) from None
        return t1 / 10.0, t2 / 10.0


class Magstim200(MagstimDriver):
    """Magstim 200² (single-pulse monophasic)."""

    kind = "magstim-200"
    model_name = "Magstim 200²"


class BiStim(MagstimDriver):
    """Magstim BiStim² (two 200² units paired: power A/B, inter-pulse interval)."""

    kind = "magstim-bistim"
    model_name = "BiStim²"
    power_b: int | None = None
    interval_raw: int | None = None
    high_resolution = False

    @property
    def capabilities(self) -> Capabilities:
        """Paired pulses at most every 4 s (0.25 Hz, magstim-serial.md §8)."""
        return Capabilities(True, False, 0.25, 0.0084)

    def read_parameters(self) -> None:
        """Refresh power A, power B and the interval (``J``)."""
        r = self._command("J")
        self.power_a, self.power_b, self.interval_raw = (
            r.number(0, 3),
            r.number(3, 3),
            r.number(6, 3),
        )

    def set_power_b(self, pct: int) -> None:
        """Set power B and verify it."""
        self._power_ok(pct)
        self._command("A", digits(pct, 3, "power B"))
        self.read_parameters()
        self._verify("power B", pct, self.power_b or 0)

    def set_interval_ms(self, ms: float) -> None:
        """Inter-pulse interval (0 = simultaneous discharge); 0.1 ms steps in hi-res mode."""
        raw = tenths(ms, "interval") if self.high_resolution else round(ms)
        if not self.high_resolution and abs(ms - raw) > 1e-9:
            raise DeviceError(f"interval {ms} ms needs high-resolution mode (0.1 ms steps)")
        self._command("C", digits(raw, 3, "interval"))
        self.read_parameters()
        self._verify("interval", raw, self.interval_raw or 0)

    def set_high_resolution(self, on: bool) -> None:
        """High-resolution (0.1 ms) interval timing on or off (not while armed)."""
        self._command("Y" if on else "Z")
        self.high_resolution = on
        self.read_parameters()


class Rapid(MagstimDriver):
    """Magstim Rapid² (repetitive): trains, energy rules, firmware-dependent widths."""

    kind = "magstim-rapid"
    model_name = "Rapid²"

    def __init__(
        self,
        port: str,
        *,
        unlock_code: str | None = None,
        voltage: int = 240,
        system_type: int = 0,
        **kw: object,
    ) -> None:
        super().__init__(port, **kw)  # type: ignore[arg-type]
        self.unlock_code = unlock_code
        self.voltage = voltage
        self.system_type = system_type
        self.enhanced = False
        self.frequency_tenths: int | None = None
        self.pulses: int | None = None
        self.duration_tenths: int | None = None
        self.wait_tenths: int | None = None
        self.train_mode = False
        self._rapid_wait = False

    @property
    def max_power(self) -> int:  # type: ignore[override]
        """110 % in enhanced power mode, else 100 %."""
        return 110 if self.enhanced else 100

    @property
    def capabilities(self) -> Capabilities:
        """Device-timed trains; single pulses over serial at most 1 Hz (≈ 5 ms latency)."""
        return Capabilities(True, True, 1.0, 0.0051)

    @property
    def keepalive_frame(self) -> bytes:
        """``x@G`` on firmware ≥ V9, else ``Q@n``."""
        return frame("x") if (self.version or (0,)) >= (9,) else frame("Q")

    def _identify(self) -> None:
        try:
            r = self._exchange("N", b"D", timeout=max(2.0, self.reply_timeout_s))
        except (NoReplyError, ConflictError, InvalidCommandError):
            # some firmware answers N only under remote control (MagPy's model)
            self._exchange("Q")
            r = self._exchange("N", b"D")
        self.version = parse_version(r.data)
        if self.version >= (9,):
            if not self.unlock_code:
                raise DeviceError(
                    f"{self.port}: this Rapid² runs firmware V{'.'.join(map(str, self.version))},"
                    " which needs the unlock code issued by Magstim: set "
                    "devices.stimulator.unlock_code in the plan"
                )
            try:
                self._exchange("Q", self.unlock_code.encode("ascii"), timeout=1.0)
            except NoReplyError:
                raise DeviceError(
                    f"{self.port}: the Rapid² ignored the unlock code (no reply to Q): check "
                    "devices.stimulator.unlock_code (with hyphens, without the checksum)"
                ) from None
        else:
            self._exchange("Q")

    def read_parameters(self) -> None:
        """Refresh power, frequency, pulses, duration and wait (``\\``)."""
        r = self._command("\\")
        w = widths(self.version)
        i = 0
        self.power_a = r.number(i, 3)
        i += 3
        self.frequency_tenths = r.number(i, 4)
        i += 4
        self.pulses = r.number(i, w.pulses)
        i += w.pulses
        self.duration_tenths = r.number(i, w.duration)
        i += w.duration
        self.wait_tenths = r.number(i, w.wait)
        if r.rapid is not None:
            self.enhanced = r.rapid.enhanced
            self.train_mode = not r.rapid.single_pulse
            self._rapid_wait = r.rapid.wait or r.rapid.train_running

    def set_frequency(self, hz: float) -> None:
        """Train frequency in 0.1 Hz steps, verified."""
        t = tenths(hz, "frequency")
        limit = 1000 if self.voltage == 240 else 600
        self._command("B", digits(t, 4, "frequency (0.1 Hz)", 0, limit))
        self.read_parameters()
        self._verify("frequency (0.1 Hz)", t, self.frequency_tenths or 0)

    def set_pulses(self, n: int) -> None:
        """Pulses per train (5 digits on ≥ V9, else 4), verified."""
        w = widths(self.version)
        self._command("D", digits(n, w.pulses, "pulses", 1, 6000))
        self.read_parameters()
        self._verify("pulses", n, self.pulses or 0)

    def set_duration(self, seconds: float) -> None:
        """Train duration (0.1 s); > 0 enters train mode, 0 single-pulse mode. Verified."""
        w = widths(self.version)
        t = tenths(seconds, "duration")
        self._command("[", digits(t, w.duration, "duration (0.1 s)"))
        self.read_parameters()
        self._verify("duration (0.1 s)", t, self.duration_tenths or 0)

    def set_enhanced_power(self, on: bool) -> None:
        """Enhanced power mode (up to 110 %) on or off, verified from the Rapid status."""
        self._command("^" if on else "_")
        self.read_parameters()
        self._verify("enhanced power", int(on), int(self.enhanced))

    def ignore_coil_interlock(self) -> None:
        """Ignore the coil's interlock switch (``b``)."""
        self._command("b")

    def error_code(self) -> str:
        """The current error code (``I``), e.g. ``E01``."""
        r = self._command("I")
        return r.data[:3].decode("ascii", errors="replace")

    def system_status(self) -> int:
        """The extended status word (``x``, ≥ V9): bits from the second (LSB) byte."""
        self._require((9,), "x")
        r = self._command("x")
        return (r.data[0] << 8) | r.data[1]

    def charge_delay_ms(self) -> int:
        """Charge delay (``o``, ≥ V9; UNVERIFIED command)."""
        self._require((9,), "o")
        r = self._command("o")
        return r.number(0, 5 if (self.version or (0,)) >= (10,) else 4)

    def set_charge_delay_ms(self, ms: int) -> None:
        """Set the charge delay (``n``, ≥ V9), verified with ``o``."""
        self._require((9,), "n")
        v10 = (self.version or (0,)) >= (10,)
        self._command("n", digits(ms, 5 if v10 else 4, "charge delay", 1, 10000 if v10 else 2000))
        self._verify("charge delay", ms, self.charge_delay_ms())

    def _require(self, version: Version, cmd: str) -> None:
        if (self.version or (0,)) < version:
            raise DeviceError(
                f"{self.port}: '{cmd}' needs Rapid² firmware ≥ V{version[0]}, this unit runs "
                f"{self.version}"
            )

    def _single_pulse_mode(self) -> None:
        if self.train_mode:
            self.set_duration(0.0)
            self.train_mode = False

    def trigger(self) -> float:
        """One single pulse (leaves train mode first: a fire in train mode starts a train)."""
        if self.train_mode and self._fault is None and self._connected:
            self._single_pulse_mode()
        return super().trigger()

    def check_train(self, train: TrainSpec) -> energy.TrainCheck:
        """The energy rules that depend on the train alone (frequency, on-time, pulses).

        The minimum wait *between* trains is the governor's to time (on the session clock,
        from :meth:`device_limits`); the driver also refuses a train while the unit itself
        reports its post-train lockout.
        """
        power = math.floor(train.intensity_pct_mso + 1e-9)
        return energy.check_train(
            power,
            train.frequency_hz,
            train.n_pulses,
            voltage=self.voltage,
            system_type=self.system_type,
        )

    def device_limits(self, intensity_pct_mso: float, frequency_hz: float) -> DeviceLimits:
        """The Rapid² energy rules at this power and frequency, for the governor."""
        power = math.floor(intensity_pct_mso + 1e-9)
        t_on = energy.max_on_time_s(power, frequency_hz) if frequency_hz > 0 else None
        limited = t_on is not None and t_on <= 60
        n_max = int(t_on * frequency_hz) if limited and t_on is not None else 6000
        gap = energy.min_wait_s(power, frequency_hz, n_max) if frequency_hz > 0 else 0.0
        return DeviceLimits(
            max_frequency_hz=float(energy.max_frequency_hz(power, self.voltage, self.system_type)),
            max_train_pulses=n_max,
            max_train_duration_s=t_on if limited else None,
            min_train_gap_s=max(energy.MIN_WAIT_S, gap),
            max_intensity_pct_mso=float(self.max_power),
            source=f"Rapid² energy rules ({self.voltage} V, type {self.system_type})",
        )

    def start_train(self, train: TrainSpec) -> float:
        """Check the energy rules, set and verify the train, then fire it (one train)."""
        self._raise_if_faulted()
        check = self.check_train(train)
        if not check.ok:
            raise EnergyRuleError(f"{self.port}: train refused: {check.reason}")
        if not self._expect_charged:
            raise DeviceError(f"train refused: the Rapid² on {self.port} is disarmed")
        duration = train.n_pulses / train.frequency_hz
        self.read_parameters()
        if self._rapid_wait:
            raise EnergyRuleError(
                f"{self.port}: train refused: the Rapid² is running a train or in its post-train "
                "lockout (status 'wait'): wait before the next train"
            )
        self.set_duration(max(0.1, round(duration, 1)))
        self.train_mode = True
        self.set_intensity(train.intensity_pct_mso)
        self.set_frequency(train.frequency_hz)
        self.set_pulses(train.n_pulses)
        return MagstimDriver.trigger(self)


__all__ = [
    "BiStim",
    "ChecksumError",
    "ConflictError",
    "InvalidCommandError",
    "InvalidDataError",
    "Magstim200",
    "MagstimDriver",
    "ProtocolError",
    "Rapid",
    "UnexpectedReplyError",
]
