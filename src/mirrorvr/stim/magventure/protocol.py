"""MagVenture frames, CRC-8/MAXIM, resynchronising reader, messages and index tables (pure).

A frame is ``FE LEN BODY CRC FF`` with CRC-8/MAXIM over BODY only; BODY[0] is the command or
message ID (magventure-serial.md §2). FF may occur inside BODY (e.g. a negative delay), so the
reader never splits on FF: it scans for FE, waits for LEN + 4 bytes, checks FF and the CRC, and
on any failure drops one byte and scans again.
"""

from __future__ import annotations

from dataclasses import dataclass

START, END = 0xFE, 0xFF
#: longest BODY of any known frame is 16 bytes (message 0B); a larger LEN is no frame start
MAX_BODY = 32


def _table() -> tuple[int, ...]:
    out = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x8C if c & 1 else c >> 1
        out.append(c)
    return tuple(out)


_CRC = _table()


def crc8(data: bytes) -> int:
    """CRC-8/MAXIM (reflected poly 0x8C, init 0, no final XOR); ``crc8(b"123456789") == 0xA1``."""
    c = 0
    for b in data:
        c = _CRC[c ^ b]
    return c


def frame(body: bytes) -> bytes:
    """A complete frame around ``body`` (ID first)."""
    if not 1 <= len(body) <= 250:
        raise ValueError(f"body must be 1..250 bytes, got {len(body)}")
    return bytes([START, len(body)]) + body + bytes([crc8(body), END])


def u16(v: int) -> bytes:
    """Big-endian unsigned 16-bit."""
    if not 0 <= v <= 0xFFFF:
        raise ValueError(f"{v} does not fit in 16 bits")
    return v.to_bytes(2, "big")


def i16(v: int) -> bytes:
    """Big-endian two's-complement 16-bit."""
    if not -0x8000 <= v <= 0x7FFF:
        raise ValueError(f"{v} does not fit in a signed 16-bit field")
    return v.to_bytes(2, "big", signed=True)


@dataclass
class FrameReader:
    """Turns a byte stream into valid frame bodies; counts what it had to throw away."""

    buf: bytearray | None = None
    discarded: int = 0
    bad_frames: int = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return the bodies of every complete valid frame now available."""
        if self.buf is None:
            self.buf = bytearray()
        self.buf += data
        bodies: list[bytes] = []
        b = self.buf
        while b:
            if b[0] != START:
                i = b.find(START)
                n = len(b) if i < 0 else i
                del b[:n]
                self.discarded += n
                continue
            if len(b) < 2:
                break
            n = b[1]
            if n == 0 or n > MAX_BODY:
                del b[:1]
                self.discarded += 1
                continue
            if len(b) < n + 4:
                break
            body = bytes(b[2 : 2 + n])
            if b[n + 3] == END and crc8(body) == b[n + 2]:
                del b[: n + 4]
                bodies.append(body)
            else:
                # a bad CRC or a missing FF: this FE was not a frame start (or a damaged frame)
                self.bad_frames += 1
                del b[:1]
                self.discarded += 1
        return bodies

    def stale(self) -> list[bytes]:
        """The line went quiet with a partial frame buffered: it was no frame; rescan after it."""
        if not self.buf:
            return []
        del self.buf[:1]
        self.discarded += 1
        return self.feed(b"")


@dataclass(frozen=True)
class Status:
    """The MagPro status byte (magventure-serial.md §4)."""

    raw: int

    @property
    def mode(self) -> int:
        """0 Standard, 1 Power, 2 Twin, 3 Dual."""
        return self.raw & 0x03

    @property
    def waveform(self) -> int:
        """0 Monophasic, 1 Biphasic, 2 Halfsine, 3 Biphasic Burst."""
        return (self.raw >> 2) & 0x03

    @property
    def enabled(self) -> bool:
        """Bit 4: enabled (armed)."""
        return bool(self.raw & 0x10)

    @property
    def model(self) -> int:
        """0 R30, 1 X100, 2 R30+Option, 3 X100+Option, 4 R30+Option+Mono, 5 MST."""
        return self.raw >> 5


def status_byte(model: int, enabled: bool, waveform: int, mode: int) -> int:
    """Compose the status byte."""
    return (model << 5) | (0x10 if enabled else 0) | ((waveform & 3) << 2) | (mode & 3)


#: message ID → frame length (LEN + 4) of the messages whose layout is fixed
MESSAGE_LENGTHS = {0x00: 13, 0x05: 19, 0x01: 8, 0x02: 8, 0x03: 8, 0x04: 17, 0x06: 8, 0x07: 8,
                   0x08: 8, 0x09: 14}  # fmt: skip

PAGES = {1: "Main", 2: "Timing", 3: "Trig", 4: "Config", 6: "Download", 7: "Protocol", 8: "MEP",
         13: "Service", 15: "Treatment", 16: "Treat Select", 17: "Service2", 19: "Calculator"}  # fmt: skip
SETTABLE_PAGES = (1, 2, 3, 4, 7)
MODELS = ("R30", "X100", "R30+Option", "X100+Option", "R30+Option+Mono", "MST")
MODES = ("Standard", "Power", "Twin", "Dual")
WAVEFORMS = ("Monophasic", "Biphasic", "Halfsine", "Biphasic Burst")


# --------------------------------------------------------------------- message 9 index tables


def twin_ipi_ms(index: int) -> float:
    """Twin/Dual IPI index → ms (0 = 3000 ms … 260 = 1 ms)."""
    i = index
    if not 0 <= i <= 260:
        raise ValueError(f"Twin/Dual IPI index {i} outside 0..260")
    if i <= 20:
        return 3000.0 - 100 * i
    if i <= 30:
        return 1000.0 - 50 * (i - 20)
    if i <= 70:
        return 500.0 - 10 * (i - 30)
    if i <= 150:
        return 100.0 - (i - 70)
    if i <= 170:
        return round(20.0 - 0.5 * (i - 150), 1)
    return round(10.0 - 0.1 * (i - 170), 1)


def burst_ipi_ms(index: int) -> float:
    """Biphasic Burst IPI index → ms (0 = 100 ms … 195 = 0.5 ms)."""
    i = index
    if not 0 <= i <= 195:
        raise ValueError(f"Biphasic Burst IPI index {i} outside 0..195")
    if i <= 80:
        return 100.0 - i
    if i <= 100:
        return round(20.0 - 0.5 * (i - 80), 1)
    return round(10.0 - 0.1 * (i - 100), 1)


def ratio_from_index(index: int) -> float:
    """Twin B/A ratio index → ratio (0 = 5.00 … 96 = 0.20)."""
    if not 0 <= index <= 96:
        raise ValueError(f"B/A ratio index {index} outside 0..96")
    return round(5.0 - 0.05 * index, 2)


def _inverse(fn: object, hi: int, value: float, what: str) -> int:
    for i in range(hi + 1):
        if abs(fn(i) - value) < 1e-6:  # type: ignore[operator]
            return i
    raise ValueError(f"{what} {value:g} is not one of the device's settings")


def twin_ipi_index(ms: float) -> int:
    """Twin/Dual IPI in ms → index (refuses values between settings)."""
    return _inverse(twin_ipi_ms, 260, ms, "Twin/Dual IPI (ms)")


def burst_ipi_index(ms: float) -> int:
    """Biphasic Burst IPI in ms → index (refuses values between settings)."""
    return _inverse(burst_ipi_ms, 195, ms, "Biphasic Burst IPI (ms)")


def ratio_index(ratio: float) -> int:
    """Twin B/A ratio → index (refuses values between settings)."""
    return _inverse(ratio_from_index, 96, ratio, "B/A ratio")


@dataclass(frozen=True)
class PulseSetup:
    """Message 9, decoded to values (IPI in ms, ratio as a float)."""

    model: int
    mode: int
    direction: int
    waveform: int
    pulses_per_burst: int
    ipi_ms: float
    ratio: float


def decode_message9(body: bytes) -> PulseSetup:
    """Message 9 (indices) → values; IPI index little-endian (magventure-serial.md §5.2)."""
    if len(body) < 10 or body[0] != 0x09:
        raise ValueError(f"not a message 9: {body.hex(' ')}")
    model, mode, direction, waveform, burst = body[2], body[3], body[4], body[5], body[6]
    ipi_i = body[7] | (body[8] << 8)
    ratio_i = body[9]
    ipi = burst_ipi_ms(ipi_i) if waveform == 3 else twin_ipi_ms(ipi_i)
    ratio = (100 - ratio_i) / 100.0 if mode == 3 else ratio_from_index(ratio_i)
    return PulseSetup(model, mode, direction, waveform, 5 - burst, ipi, ratio)
