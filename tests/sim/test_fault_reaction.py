"""A device fault under ``on_device_fault = "pause"``: heard at once, disarmed, the outcome
logged as the device confirmed it (real driver, real executor, emulator on a pty)."""

from __future__ import annotations

from pathlib import Path

from mirrorvr.sim.fault_reaction import pause_markdown, pause_reaction


def test_a_pulled_cable_is_heard_and_its_disarm_is_not_claimed(tmp_path: Path) -> None:
    r = pause_reaction("magstim-200", "disconnect", tmp_path)
    assert r.heard_s is not None and r.disarm_done_s is not None, r
    # the cable is gone: nothing can confirm the disarm (the unit's watchdog does it)
    assert r.disarm in ("failed", "unknown"), r
    assert "gone" in r.message or "failed" in r.message


def test_a_unit_that_disables_itself_confirms_the_pause_disarm(tmp_path: Path) -> None:
    r = pause_reaction("magventure", "error-bits", tmp_path)
    assert r.heard_s is not None, r
    assert r.disarm == "confirmed", r
    table = pause_markdown([r], folder_note=str(tmp_path))
    assert "| magventure | `error-bits` | armed |" in table and "confirmed" in table
