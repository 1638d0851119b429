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

import logging
import math
import threading
import time

from mirrorvr.errors import DeviceError
from mirrorvr.stim.base import DisarmOutcome, StimulatorStatus, TrainSpec
from mirrorvr.stim.errors import (
    ConflictError,
    NoReplyError,
    ReadbackMismatch,
)
from mirrorvr.stim.magventure.link import (
    TIMING_PAGE,
    MagProLink,
    valid_rep_rate,
)
from mirrorvr.stim.magventure.protocol import (
    MODELS,
    PAGES,
    Status,
    burst_ipi_index,
    decode_message9,
    i16,
    ratio_index,
    twin_ipi_index,
    u16,
)

log = logging.getLogger(__name__)


class MagPro(MagProLink):
    """A MagVenture MagPro on a serial port (38400 8N1, COM2 of the unit)."""

    kind = "magventure"

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
