"""Every fault kind against every stimulator family: a clear driver error (or a clean recovery
where a robust driver absorbs the fault), the emulator ending disarmed, and no stray pulse."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirrorvr.sim.fault_matrix import FAMILIES, TOLERATED, run_cell
from mirrorvr.sim.faults import FAULT_KINDS, Fault

#: the typed error each fault must produce, per family (None: absorbed, session goes on)
EXPECTED: dict[str, dict[str, str | None]] = {
    "garbage": {"magstim": "UnexpectedReplyError", "magventure": None},
    "nul": {"magstim": None, "magventure": None},
    "checksum": {"magstim": "ChecksumError", "magventure": "NoReplyError"},
    "drop": {"magstim": "NoReplyError", "magventure": "NoReplyError"},
    "late": {"magstim": "NoReplyError", "magventure": "NoReplyError"},
    "conflict": {"magstim": "ConflictError", "magventure": "NoReplyError"},
    "disconnect": {"magstim": "DisconnectedError", "magventure": "DisconnectedError"},
    "overtemp": {"magstim": "DeviceFaultError", "magventure": "DeviceFaultError"},
    "error-bits": {"magstim": "DeviceFaultError", "magventure": "DeviceFaultError"},
}
MESSAGE = {
    "checksum": {"magstim": "wrong checksum", "magventure": "corrupt frame"},
    "overtemp": {"magstim": "over-temperature", "magventure": "over-temperature"},
    "error-bits": {"magstim": "fatal error", "magventure": "disabled itself"},
}


def test_every_fault_kind_has_an_expectation() -> None:
    assert set(EXPECTED) == set(FAULT_KINDS)


@pytest.mark.parametrize("kind", list(FAULT_KINDS))
def test_fault(kind: str, tmp_path: Path) -> None:
    for family in FAMILIES:
        fam = "magventure" if family == "magventure" else "magstim"
        cell = run_cell(family, Fault(kind, at=3), tmp_path)
        where = f"{family} × {kind}: {cell}"
        assert cell.stray == 0, where
        assert not cell.ended_armed, where
        expected = EXPECTED[kind][fam]
        if expected is None:
            assert (family, kind) in TOLERATED
            assert cell.error == "" and cell.delivered_ok == cell.attempts == 8, where
            assert cell.emulator_pulses == 8, where
        else:
            assert cell.error_type == expected, where
            assert str(tmp_path) in cell.error, where  # the message names the port
            assert cell.delivered_ok < cell.attempts, where
            if kind in MESSAGE:
                assert MESSAGE[kind][fam] in cell.error, where


def test_fault_spec_parsing() -> None:
    assert Fault.parse("late:2.5@4") == Fault("late", 4, 2.5)
    assert Fault.parse("drop") == Fault("drop", 3, None)
    with pytest.raises(Exception, match="unknown fault 'smoke'"):
        Fault.parse("smoke")
