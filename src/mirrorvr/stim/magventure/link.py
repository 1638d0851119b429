"""The MagPro serial link: the reader thread (frames, latest message of each kind, faults),
requests and their replies, the immediate disable write, and the status supervisor."""

from __future__ import annotations

import collections
import logging
import threading
import time

from mirrorvr.errors import DeviceError
from mirrorvr.session.clock import local_clock
from mirrorvr.stim.base import Capabilities, Stimulator
from mirrorvr.stim.errors import (
    DeviceFaultError,
    DisconnectedError,
    NoReplyError,
)
from mirrorvr.stim.magventure.protocol import (
    FrameReader,
    PulseSetup,
    Status,
    decode_message9,
    frame,
)
from mirrorvr.stim.transport import SerialTransport, is_pty

log = logging.getLogger(__name__)

DISABLE_FRAME = frame(bytes([0x02, 0x00]))
#: coil temperature the driver treats as a fault (the unit's own limit is undocumented)
COIL_LIMIT_C = 40
TIMING_PAGE = 2


def valid_rep_rate(hz: float) -> int:
    """Rep rate ×10 as sent by command 6: 0.1–0.9 Hz by 0.1, then 1–100 Hz by 1 Hz."""
    x10 = round(hz * 10)
    ok = (1 <= x10 <= 9 and abs(hz * 10 - x10) < 1e-6) or (
        10 <= x10 <= 1000 and abs(hz - round(hz)) < 1e-6
    )
    if not ok:
        raise DeviceError(
            f"MagPro rep rate {hz:g} Hz is not settable (0.1–0.9 Hz by 0.1, 1–100 Hz by 1)"
        )
    return x10


class MagProLink(Stimulator):
    """A MagVenture MagPro on a serial port (38400 8N1, COM2 of the unit)."""

    kind = "magventure"

    def __init__(
        self,
        port: str,
        *,
        transport: SerialTransport | None = None,
        reply_timeout_s: float = 1.0,
        supervise: bool = True,
    ) -> None:
        self.port = port
        self.transport = transport or SerialTransport.for_device(self.kind, port, timeout=0.05)
        self.reply_timeout_s = reply_timeout_s
        self.supervise = supervise
        self.reader = FrameReader()
        self.status_byte: Status | None = None
        self.amplitude_a: int | None = None
        self.amplitude_b: int | None = None
        self.coil_temp_c: int | None = None
        self.coil_type: int | None = None
        self.serial_number: int | None = None
        self.page: int | None = None
        self.train_running = False
        self.pulse_setup: PulseSetup | None = None
        self.didt: list[tuple[float, int, int]] = []
        self.unknown_messages: list[int] = []
        self.messages: collections.deque[tuple[float, bytes]] = collections.deque(maxlen=1000)
        self.last_disarm_write_t: float | None = None
        self._seen: dict[int, int] = collections.defaultdict(int)
        self._last: dict[int, bytes] = {}
        self._history: dict[int, list[bytes]] = collections.defaultdict(list)
        self._cond = threading.Condition()
        self._cmd_lock = threading.RLock()
        self._expect_enabled = False
        self._fault: DeviceError | None = None
        self._connected = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_traffic = 0.0

    @property
    def capabilities(self) -> Capabilities:
        """Device-timed trains (command 6 + 4); serial single triggers ≤ 1 Hz (20–80 ms replies)."""
        return Capabilities(sets_intensity=True, device_timed_trains=True, max_host_rate_hz=1.0)

    @property
    def trigger_wire_s(self) -> float:
        """The trigger frame's 5 bytes on a real 38400-baud line (≈ 1.3 ms); none on a pty."""
        return 0.0 if is_pty(self.port) else self.transport.byte_time(5)

    # ------------------------------------------------------------------ reader thread

    def _reader_loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.transport.read(1)
                if data:
                    data += self.transport.read(self.transport.in_waiting())
            except DeviceError as e:
                if not self._stop.is_set():
                    self._record_fault(
                        DisconnectedError(f"{self.port}: the MagPro link is gone ({e})")
                    )
                return
            if not data:
                if self.reader.buf:  # a partial frame and 50 ms of silence: it was garbage
                    for body in self.reader.stale():
                        self._dispatch(body, local_clock())
                continue
            t = local_clock()
            for body in self.reader.feed(data):
                self._dispatch(body, t)

    def _dispatch(self, body: bytes, t: float) -> None:
        mid = body[0]
        self.messages.append((t, body))
        self._last_traffic = t
        fault: DeviceError | None = None
        try:
            if mid in (0x00, 0x05) and len(body) >= 9:
                self.status_byte = Status(body[1])
                self.serial_number = int.from_bytes(body[2:5], "big")
                self.coil_temp_c, self.coil_type = body[5], body[6]
                self.amplitude_a, self.amplitude_b = body[7], body[8]
                if mid == 0x05 and len(body) >= 15:
                    self.page, self.train_running = body[13], bool(body[14])
            elif mid == 0x01 and len(body) >= 4:
                self.amplitude_a, self.amplitude_b = body[1], body[2]
                self.status_byte = Status(body[3])
            elif mid == 0x02 and len(body) >= 4:
                self.didt.append((t, body[1], body[2]))
                self.status_byte = Status(body[3])
            elif mid == 0x03 and len(body) >= 4:
                self.coil_temp_c, self.coil_type = body[1], body[2]
                self.status_byte = Status(body[3])
            elif mid == 0x08 and len(body) >= 4:
                self.page, self.train_running = body[1], bool(body[2])
                self.status_byte = Status(body[3])
            elif mid == 0x09:
                self.pulse_setup = decode_message9(body)
            elif mid not in (0x04, 0x06, 0x07, 0x0A, 0x0B, 0x0C):
                self.unknown_messages.append(mid)
                log.warning("%s: unknown MagPro message %d: %s", self.port, mid, body.hex(" "))
        except (ValueError, IndexError) as e:
            log.warning("%s: undecodable MagPro message %s: %s", self.port, body.hex(" "), e)
        st = self.status_byte
        if (
            self.coil_temp_c is not None
            and self.coil_temp_c > COIL_LIMIT_C
            and self.coil_temp_c != 90
        ):
            # 90 °C is what a Cool-B35 reports without a cooling unit (magventure-serial.md §5.1)
            fault = DeviceFaultError(
                f"{self.port}: MagPro coil over-temperature ({self.coil_temp_c} °C > "
                f"{COIL_LIMIT_C} °C): let the coil cool down"
            )
        elif self._expect_enabled and st is not None and not st.enabled and mid in (1, 2, 3, 8):
            extra = (
                f" (also sent unknown message(s) {self.unknown_messages})"
                if self.unknown_messages
                else ""
            )
            fault = DeviceFaultError(
                f"{self.port}: the MagPro disabled itself (message {mid}){extra}: check its "
                "display for an error, the coil and the front panel"
            )
        with self._cond:
            self._seen[mid] += 1
            self._last[mid] = body
            self._history[mid].append(body)
            self._cond.notify_all()
        if fault is not None:
            self._record_fault(fault)

    def _record_fault(self, e: DeviceError) -> None:
        first = self._fault is None
        if first:
            self._fault = e
            log.error("%s", e)
            self._expect_enabled = False
            self._write_disable()
        with self._cond:
            self._cond.notify_all()
        if first:
            # supervisor or reader found it: the session hears of it now, armed or not
            self.report_fault(str(e))

    # ------------------------------------------------------------------ requests

    def _write_disable(self) -> float | None:
        """Best effort (fault paths): the write time, or ``None`` if it could not be made."""
        if not self.transport.is_open:
            return None
        try:
            return self._write_disable_or_raise()
        except DeviceError:
            return None

    def _write_disable_or_raise(self) -> float:
        t = self.transport.write(DISABLE_FRAME)
        self.last_disarm_write_t = t
        return t

    def _request(
        self, body: bytes, expect: int | None, timeout: float | None = None
    ) -> tuple[float, bytes]:
        """Write one command; wait for message ``expect`` (None: nothing to wait for)."""
        self._raise_if_faulted()
        with self._cmd_lock:
            with self._cond:
                n0 = self._seen[expect] if expect is not None else 0
            try:
                t = self.transport.write(frame(body))
            except DeviceError as e:
                raise self._fail(e) from None
            if expect is None:
                return t, b""
            deadline = time.monotonic() + (timeout or self.reply_timeout_s)
            with self._cond:
                while self._seen[expect] <= n0 and self._fault is None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        bad = (
                            f"; {self.reader.bad_frames} corrupt frame(s) discarded so far"
                            if self.reader.bad_frames
                            else ""
                        )
                        err = NoReplyError(
                            f"{self.port}: no message {expect} from the MagPro within "
                            f"{timeout or self.reply_timeout_s:g} s after command {body[0]}"
                            f"{bad}: check COM2, the null-modem cable and 38400 baud"
                        )
                        break
                    self._cond.wait(left)
                else:
                    err = None
                hist = self._history[expect]
                reply = hist[n0] if len(hist) > n0 else b""
            if err is not None:
                raise self._fail(err) from None
            self._raise_if_faulted()
            return t, reply

    def _raise_if_faulted(self) -> None:
        if self._fault is not None:
            raise type(self._fault)(
                f"{self._fault} (the driver stays faulted and the unit disabled: reconnect "
                "after fixing the cause)"
            )
        if not self._connected:
            raise DeviceError(f"MagPro on {self.port} is not connected")

    def _fail(self, e: DeviceError) -> DeviceError:
        first = self._fault is None
        self._record_fault(e)
        note = "; the unit was told to disable" if self.transport.is_open else "; the port is gone"
        if first:
            return type(e)(f"{e}{note}")
        return e

    # ------------------------------------------------------------------ supervisor

    def _supervise_loop(self) -> None:
        while not self._stop.is_set():
            period = 0.5 if self._expect_enabled else 2.0
            if self._stop.wait(0.05):
                return
            if self._fault is not None:
                return
            if local_clock() - self._last_traffic < period:
                continue
            if not self._cmd_lock.acquire(timeout=0.05):
                continue
            try:
                self._request(bytes([0x00]), 0x00)
            except DeviceError:
                return  # recorded as the fault
            finally:
                self._cmd_lock.release()
