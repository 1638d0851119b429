"""The Magstim serial link: one exchange at a time, reply reading by the protocol's grammar,
the immediate disarm write, fault handling, and the keep-alive thread (see driver.py)."""

from __future__ import annotations

import logging
import threading
import time
from typing import ClassVar

from mirrorvr.errors import DeviceError
from mirrorvr.session.clock import local_clock
from mirrorvr.stim.base import Capabilities, Stimulator
from mirrorvr.stim.errors import (
    ChecksumError,
    ConflictError,
    DeviceFaultError,
    DisconnectedError,
    InvalidCommandError,
    InvalidDataError,
    NoReplyError,
    UnexpectedReplyError,
)
from mirrorvr.stim.magstim.protocol import (
    MODE_DISARM,
    PAD,
    InstrumentStatus,
    Reply,
    Version,
    frame,
    parse_reply,
    reply_length,
    valid,
)
from mirrorvr.stim.priority import KEEPALIVE_RT_PRIORITY, keepalive_priority
from mirrorvr.stim.transport import SerialTransport

log = logging.getLogger(__name__)

DISARM_FRAME = frame("E", MODE_DISARM)


class MagstimLink(Stimulator):
    """The link half of :class:`~mirrorvr.stim.magstim.driver.MagstimDriver`."""

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
