"""MagVenture MagPro driver: commands 0–9 (+ the undocumented 0A–0C gets), a reader thread.

The MagPro talks whenever it likes: after every pulse (message 2, di/dt), on enable/disable and
coil changes (3), amplitude changes (1), page and train changes (8), and in reply to gets (0, 5,
9, 0A–0C). A reader thread turns the byte stream into frames (resynchronising on garbage),
keeps the latest of each message, wakes whoever waits for one, and watches for faults: the unit
disabling itself while the session expects it enabled, a coil over 40 °C, unknown message IDs.
A supervisor thread asks for the status (command 0) every 0.5 s while enabled (2 s otherwise)
so a silent or vanished unit is noticed even between pulses; the protocol has no keep-alive.

Safety as in the Magstim driver: any error disarms (command 2, 0) and faults the driver;
``disarm`` writes at once from the calling thread; intensities are whole percent rounded down.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time

from mirrorvr.errors import DeviceError
from mirrorvr.session.clock import local_clock
from mirrorvr.stim.base import Capabilities, DisarmOutcome, Stimulator, StimulatorStatus, TrainSpec
from mirrorvr.stim.errors import (
    ConflictError,
    DeviceFaultError,
    DisconnectedError,
    NoReplyError,
    ReadbackMismatch,
)
from mirrorvr.stim.magventure.protocol import (
    MODELS,
    PAGES,
    FrameReader,
    PulseSetup,
    Status,
    burst_ipi_index,
    decode_message9,
    frame,
    i16,
    ratio_index,
    twin_ipi_index,
    u16,
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


class MagPro(Stimulator):
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

    # ------------------------------------------------------------------ Stimulator API

    def connect(self) -> None:
        """Open the port, start the reader, read status, long status and pulse setup."""
        self.transport.open()
        self.transport.reset_input()
        self._stop.clear()
        self._fault = None
        self._connected = True
        reader = threading.Thread(
            target=self._reader_loop, name=f"magpro-reader {self.port}", daemon=True
        )
        reader.start()
        self._threads = [reader]
        try:
            self._request(bytes([0x00]), 0x00, timeout=max(2.0, self.reply_timeout_s))
            self._request(bytes([0x05]), 0x05)
            self._request(bytes([0x09, 0x00]), 0x09)
        except DeviceError as e:
            self.close()
            raise DeviceError(
                f"{e} — is a MagPro on {self.port}? (`mirrorvr devices --probe` checks)"
            ) from None
        if self.supervise:
            sup = threading.Thread(
                target=self._supervise_loop, name=f"magpro-supervisor {self.port}", daemon=True
            )
            sup.start()
            self._threads.append(sup)

    def arm(self) -> None:
        """Enable (command 2, 1) and verify from the unit's message 3 that it is enabled."""
        _, body = self._request(bytes([0x02, 0x01]), 0x03)
        if not Status(body[3]).enabled:
            raise self._fail(
                ConflictError(f"{self.port}: the MagPro did not enable (status {body[3]:02x})")
            )
        self._expect_enabled = True

    def disarm(self) -> DisarmOutcome:
        """Write disable (command 2, 0) now, from this thread; wait briefly for its message 3.

        ``confirmed`` only when a message 3 after the write reports the unit not enabled; a
        write that could not be made is ``failed`` (it used to return silently); no message 3
        within 0.5 s is ``unknown``.
        """
        self._expect_enabled = False
        with self._cond:
            n0 = self._seen[0x03]
        if not self.transport.is_open:
            return DisarmOutcome("failed", "write disable", f"{self.port} is closed")
        try:
            self._write_disable_or_raise()
        except DeviceError as e:
            log.warning("%s: disable could not be written: %s", self.port, e)
            return DisarmOutcome("failed", "write disable", str(e))
        deadline = time.monotonic() + 0.5
        with self._cond:
            while (
                self._seen[0x03] <= n0 and time.monotonic() < deadline and not self._stop.is_set()
            ):
                self._cond.wait(0.05)
            seen = self._seen[0x03] > n0
        st = self.status_byte
        if not seen or st is None:
            return DisarmOutcome("unknown", "read status (message 3)", "no reply within 0.5 s")
        if st.enabled:
            return DisarmOutcome("failed", "status after disable", "the MagPro reports enabled")
        return DisarmOutcome("confirmed")

    def set_intensity(self, pct_mso: float) -> None:
        """Amplitude A (whole percent, rounded down), verified by the unit's message 1."""
        pct = math.floor(pct_mso + 1e-9)
        if not 0 <= pct <= 100:
            raise DeviceError(f"MagPro amplitude must be 0..100 % MSO, got {pct_mso}")
        _, body = self._request(bytes([0x01, pct, 0x00]), 0x01)
        if body[1] != pct:
            raise self._fail(
                ReadbackMismatch(
                    f"{self.port}: amplitude set to {pct} but the MagPro reports {body[1]}"
                )
            )

    def trigger(self) -> float:
        """Single trigger (command 3); confirmed by the di/dt message 2 the unit sends after it."""
        if not self._expect_enabled:
            self._raise_if_faulted()
            raise DeviceError(f"trigger refused: the MagPro on {self.port} is disabled")
        try:
            t, _ = self._request(bytes([0x03]), 0x02)
        except NoReplyError as e:
            raise NoReplyError(
                f"{e} (no di/dt after the trigger: the pulse may or may not have gone out)"
            ) from None
        return t

    def set_page(self, page: int) -> None:
        """Select a page (command 7); verified by message 8."""
        if page not in (1, 2, 3, 4, 7):
            raise DeviceError(f"MagPro page {page} cannot be selected (settable: 1, 2, 3, 4, 7)")
        _, body = self._request(bytes([0x07, page, 0x00]), 0x08)
        if body[1] != page:
            raise self._fail(
                ReadbackMismatch(
                    f"{self.port}: asked for page {PAGES.get(page)}, the MagPro shows {PAGES.get(body[1], body[1])}"
                )
            )

    def set_train(self, rate_hz: float, pulses: int, trains: int = 1, iti_s: float = 1.0) -> None:
        """Train parameters (command 6, Timing page), verified with the Timing-menu get (0B)."""
        rate = valid_rep_rate(rate_hz)
        if not 1 <= pulses <= 1000:
            raise DeviceError(f"MagPro pulses in train must be 1..1000, got {pulses}")
        if not 1 <= trains <= 500:
            raise DeviceError(f"MagPro number of trains must be 1..500, got {trains}")
        iti = round(iti_s * 10)
        if not 1 <= iti <= 1200:
            raise DeviceError(f"MagPro inter-train interval must be 0.1..120 s, got {iti_s}")
        if self.page != TIMING_PAGE:
            self.set_page(TIMING_PAGE)
        self._request(bytes([0x06]) + u16(rate) + u16(pulses) + u16(trains) + u16(iti), None)
        _, body = self._request(bytes([0x0B, 0x00]), 0x0B)
        got = (int.from_bytes(body[3:5], "big"), int.from_bytes(body[5:7], "big"),
               int.from_bytes(body[7:9], "big"), int.from_bytes(body[9:11], "big"))  # fmt: skip
        if got != (rate, pulses, trains, iti):
            raise self._fail(
                ReadbackMismatch(
                    f"{self.port}: train set to {(rate, pulses, trains, iti)} (×10 Hz, "
                    f"pulses, trains, ×10 s) but the MagPro reports {got}"
                )
            )

    def start_train(self, train: TrainSpec) -> float:
        """Set amplitude and one train, then start it (command 4); message 8 confirms."""
        if not self._expect_enabled:
            self._raise_if_faulted()
            raise DeviceError(f"train refused: the MagPro on {self.port} is disabled")
        self.set_intensity(train.intensity_pct_mso)
        self.set_train(train.frequency_hz, train.n_pulses)
        t, body = self._request(bytes([0x04]), 0x08)
        if not body[2]:
            raise self._fail(
                ConflictError(
                    f"{self.port}: the MagPro did not start the train (message 8 {body.hex(' ')})"
                )
            )
        return t

    def set_delays(self, in_ms: float, out_ms: float, charge_ms: int) -> None:
        """Input/output trigger and charge delays (command 8), verified with the 0A get."""
        vals = (round(in_ms * 10), round(out_ms * 10), int(charge_ms))
        self._request(
            bytes([0x08]) + u16(vals[0]) + i16(vals[1]) + u16(vals[2]) + b"\x00\x00", None
        )
        _, body = self._request(bytes([0x0A, 0x00]), 0x0A)
        got = (int.from_bytes(body[2:4], "big"), int.from_bytes(body[4:6], "big", signed=True),
               int.from_bytes(body[6:8], "big"))  # fmt: skip
        if got != vals:
            raise self._fail(
                ReadbackMismatch(f"{self.port}: delays set to {vals}, read back {got}")
            )

    def set_pulse_setup(self, *, model: int, mode: int, direction: int, waveform: int,
                        pulses_per_burst: int = 2, ipi_ms: float = 10.0, ratio: float = 1.0) -> None:  # fmt: skip
        """Pulse setup (command 9 set), verified by reading message 9 (indices → values)."""
        if mode in (2, 3) and waveform == 3:
            raise DeviceError("Twin/Dual mode cannot be combined with Biphasic Burst")
        if not 2 <= pulses_per_burst <= 5:
            raise DeviceError(f"pulses per burst must be 2..5, got {pulses_per_burst}")
        # validate against the device's tables before sending (refuse, never clip)
        _ = burst_ipi_index(ipi_ms) if waveform == 3 else twin_ipi_index(ipi_ms)
        _ = ratio_index(ratio) if mode != 3 else None
        body = bytes([0x09, 0x01, model, mode, direction, waveform, 5 - pulses_per_burst])
        body += u16(round(ipi_ms * 10)) + u16(round(ratio * 100))
        self._request(body, None)
        _, m9 = self._request(bytes([0x09, 0x00]), 0x09)
        ps = decode_message9(m9)
        want = (model, mode, direction, waveform, pulses_per_burst, ipi_ms)
        got = (ps.model, ps.mode, ps.direction, ps.waveform, ps.pulses_per_burst, ps.ipi_ms)
        if want != got:
            raise self._fail(
                ReadbackMismatch(f"{self.port}: pulse setup {want} read back as {got}")
            )

    def page_and_count(self) -> tuple[int, int]:
        """(page, stimulus count) from the undocumented 0C get ([XL]; UNVERIFIED)."""
        _, body = self._request(bytes([0x0C, 0x00]), 0x0C)
        return body[13], int.from_bytes(body[9:11], "big")

    def status(self) -> StimulatorStatus:
        """A fresh status (command 0) when possible, else the last one known."""
        if self._connected and self._fault is None:
            try:
                self._request(bytes([0x00]), 0x00)
            except DeviceError:
                pass
        st = self.status_byte
        return StimulatorStatus(
            connected=self._connected and self.transport.is_open,
            armed=bool(st and st.enabled),
            ready=bool(st and st.enabled),
            intensity_pct_mso=self.amplitude_a,
            faults=(str(self._fault),) if self._fault else (),
            extra={
                "model": MODELS[st.model] if st and st.model < len(MODELS) else None,
                "coil_temp_c": self.coil_temp_c,
                "page": self.page,
                "discarded_bytes": self.reader.discarded,
            },
        )

    def close(self) -> None:
        """Disable, stop the threads, close the port."""
        self.disarm()
        # ``disarm`` may have been answered by the message 3 of an earlier disable (a fault's)
        # while its own answer is still on the line: let the reader take what is there, so that
        # every message the unit sent is recorded before the port closes.
        deadline = time.monotonic() + 0.2
        while self._threads and time.monotonic() < deadline:
            try:
                if not self.transport.is_open or self.transport.in_waiting() == 0:
                    break
            except DeviceError:
                break
            time.sleep(0.002)
        self._stop.set()
        for th in self._threads:
            if th is not threading.current_thread():
                th.join(2.0)
        self._threads = []
        self._connected = False
        self.transport.close()
