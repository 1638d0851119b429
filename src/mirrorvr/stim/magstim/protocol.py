"""Magstim framing, checksum, reply lengths and status bytes (pure: no I/O).

A host packet is a command character, data bytes and a checksum (``~sum & 0xFF``); a normal
reply echoes the command character, carries the instrument status byte, command data and the
same kind of checksum (magstim-serial.md §2–§5).
"""

from __future__ import annotations

from dataclasses import dataclass

#: data byte of commands that carry none (the unit ignores its value)
PAD = b"@"

#: the mode byte of ``E``: disarm, arm, fire (magstim-serial.md §4.4)
MODE_DISARM, MODE_ARM, MODE_FIRE = b"A", b"B", b"H"


def checksum(data: bytes) -> int:
    """Magstim checksum of a packet without its checksum: the inverted low byte of the sum."""
    return (~sum(data)) & 0xFF


def frame(cmd: str, data: bytes = PAD) -> bytes:
    """A complete host packet: command character, data, checksum."""
    body = cmd.encode("ascii") + data
    return body + bytes([checksum(body)])


def valid(packet: bytes) -> bool:
    """Whether a packet (checksum included) sums to 0xFF in its low byte."""
    return len(packet) >= 2 and sum(packet) & 0xFF == 0xFF


def digits(value: int, width: int, what: str, lo: int = 0, hi: int | None = None) -> bytes:
    """``value`` as ``width`` zero-padded ASCII digits; out-of-range values are refused."""
    top = 10**width - 1 if hi is None else hi
    if not lo <= value <= top:
        raise ValueError(f"{what} must be {lo}..{top}, got {value}")
    return str(value).zfill(width).encode("ascii")


def tenths(value: float, what: str) -> int:
    """A value in tenths (0.1 Hz, 0.1 s, 0.1 ms); more than one decimal is refused."""
    t = round(value * 10)
    if abs(t - value * 10) > 1e-6:
        raise ValueError(f"{what} takes at most one decimal, got {value}")
    return t


@dataclass(frozen=True)
class InstrumentStatus:
    """The instrument status byte (magstim-serial.md §4.1)."""

    raw: int

    @property
    def standby(self) -> bool:
        """Bit 0."""
        return bool(self.raw & 0x01)

    @property
    def armed(self) -> bool:
        """Bit 1: armed and charging (drops once ready)."""
        return bool(self.raw & 0x02)

    @property
    def ready(self) -> bool:
        """Bit 2: ready to fire."""
        return bool(self.raw & 0x04)

    @property
    def coil_present(self) -> bool:
        """Bit 3."""
        return bool(self.raw & 0x08)

    @property
    def replace_coil(self) -> bool:
        """Bit 4."""
        return bool(self.raw & 0x10)

    @property
    def error(self) -> bool:
        """Bit 5: an error is present."""
        return bool(self.raw & 0x20)

    @property
    def fatal(self) -> bool:
        """Bit 6: the error is fatal."""
        return bool(self.raw & 0x40)

    @property
    def remote(self) -> bool:
        """Bit 7: remote control active."""
        return bool(self.raw & 0x80)

    @property
    def charged(self) -> bool:
        """Armed or ready: the capacitors hold charge."""
        return self.armed or self.ready


@dataclass(frozen=True)
class RapidStatus:
    """The Rapid status byte (magstim-serial.md §4.2)."""

    raw: int

    @property
    def enhanced(self) -> bool:
        """Bit 0: enhanced power mode."""
        return bool(self.raw & 0x01)

    @property
    def train_running(self) -> bool:
        """Bit 1."""
        return bool(self.raw & 0x02)

    @property
    def wait(self) -> bool:
        """Bit 2: post-train lockout."""
        return bool(self.raw & 0x04)

    @property
    def single_pulse(self) -> bool:
        """Bit 3: single-pulse mode (0 = train mode)."""
        return bool(self.raw & 0x08)


@dataclass(frozen=True)
class Reply:
    """A parsed normal reply."""

    cmd: str
    raw: bytes
    status: InstrumentStatus | None
    rapid: RapidStatus | None
    data: bytes

    def number(self, start: int, width: int) -> int:
        """ASCII digits ``data[start:start+width]`` as an integer."""
        return int(self.data[start : start + width].decode("ascii"))


Version = tuple[int, ...]

#: commands answered with a Rapid status byte after the instrument status
RAPID_STATUS_CMDS = frozenset("\\[DB^_x")


def reply_length(cmd: str, version: Version | None) -> int | None:
    """Total length of a normal reply to ``cmd`` (None: variable, i.e. ``N``).

    Raises KeyError for a character no Magstim answers.
    """
    v = version or (0,)
    fixed = {
        "@": 3, "A": 3, "C": 3, "E": 3, "Q": 3, "R": 3, "Y": 3, "Z": 3, "b": 3,
        "J": 12, "F": 9, "B": 4, "D": 4, "[": 4, "^": 4, "_": 4, "I": 6, "x": 6,
    }  # fmt: skip
    if cmd in fixed:
        return fixed[cmd]
    if cmd == "N":
        return None
    if cmd == "\\":
        return 24 if v >= (9,) else 22 if v >= (7,) else 21
    if cmd == "o":
        return 8 if v >= (10,) else 7
    if cmd == "n":
        return 6 if v >= (10,) else 4
    raise KeyError(cmd)


def parse_reply(raw: bytes) -> Reply:
    """Split a complete, checksum-valid normal reply into its parts."""
    cmd = chr(raw[0])
    if cmd == "N":
        return Reply(cmd, raw, None, None, raw[1:-2])
    status = InstrumentStatus(raw[1])
    if cmd in RAPID_STATUS_CMDS or (cmd == "n" and len(raw) >= 4):
        return Reply(cmd, raw, status, RapidStatus(raw[2]), raw[3:-1])
    return Reply(cmd, raw, status, None, raw[2:-1])


def parse_version(data: bytes) -> Version:
    """``V9.0`` (without the 00 terminator) → ``(9, 0)``."""
    text = data.decode("ascii", errors="replace").lstrip("V")
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        raise ValueError(f"software version reply {data!r} is not V<major>.<minor>") from None


@dataclass(frozen=True)
class Widths:
    """Digit widths that depend on the Rapid² firmware (magstim-serial.md §6.2)."""

    pulses: int
    duration: int
    wait: int


def widths(version: Version | None) -> Widths:
    """Digit widths of pulses, duration and wait for firmware ``version``."""
    v = version or (0,)
    return Widths(
        pulses=5 if v >= (9,) else 4,
        duration=4 if v >= (9,) else 3,
        wait=4 if v >= (7,) else 3,
    )
