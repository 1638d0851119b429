"""Faults an emulator can inject, chosen per run (``mirrorvr emulate ... --fault KIND[:P][@N]``).

A fault strikes the N-th frame the emulator receives after the device was first armed
(default N = 3), so it lands in the armed phase of a session whichever command that is. All
faults are one-shot except ``nul``, which from then on precedes every reply with NUL bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from mirrorvr.errors import DeviceError

#: kind → what it does (the fault matrix in docs/fault-matrix.md has one row per kind)
FAULT_KINDS: dict[str, str] = {
    "garbage": "random non-protocol bytes before one reply",
    "nul": "leading NUL bytes before every reply from then on",
    "checksum": "one reply with a wrong checksum / CRC",
    "drop": "one reply never sent (the command is still carried out)",
    "late": "one reply sent late (P seconds, default 1.5 s: past the driver's timeout)",
    "conflict": "one command refused as conflicting with the state (not carried out)",
    "disconnect": "the link closes (cable pulled) at that frame; with P, plugged back in P s later",
    "overtemp": "the coil over-heats (Magstim 42.5 °C, MagPro 45 °C): the device disarms itself and flags it",
    "error-bits": "the device raises its error bits / disables itself (fatal error)",
}


@dataclass(frozen=True)
class Fault:
    """One fault to inject."""

    kind: str
    at: int = 3
    param: float | None = None

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """``KIND[:PARAM][@N]``, e.g. ``late:2.0@4``, ``drop``, ``garbage@1``."""
        body, _, at = spec.partition("@")
        kind, _, param = body.partition(":")
        if kind not in FAULT_KINDS:
            raise DeviceError(f"--fault: unknown fault '{kind}' (known: {', '.join(FAULT_KINDS)})")
        try:
            n = int(at) if at else 3
            p = float(param) if param else None
        except ValueError:
            raise DeviceError(
                f"--fault {spec}: use KIND[:PARAM][@N] with a number PARAM and a whole N"
            ) from None
        if n < 1:
            raise DeviceError(f"--fault {spec}: N counts frames from 1")
        return cls(kind, n, p)

    def spec(self) -> str:
        """The command-line form."""
        p = "" if self.param is None else f":{self.param:g}"
        return f"{self.kind}{p}@{self.at}"


#: bytes no Magstim or MagVenture frame starts with (FE inside is fine: resync handles it)
GARBAGE = bytes([0x13, 0x37, 0xA5, 0x5A, 0xFE, 0x02])
