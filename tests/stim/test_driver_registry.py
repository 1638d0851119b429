"""Every registered driver kind, one loop: the lists of kinds agree, and each driver connects to
its emulator over a real pty, sets its intensity if it can, arms, fires one pulse and disarms."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from mirrorvr.config.plan import StimulatorDevice, StimulatorKind
from mirrorvr.run.stimulation import emulated_device, emulator_args
from mirrorvr.sim.emulate import EMULATORS, EmulatorProcess
from mirrorvr.sim.fault_matrix import FAMILIES
from mirrorvr.stim.factory import DRIVERS, make_stimulator
from mirrorvr.stim.transport import PORT_SETTINGS


def test_the_lists_of_kinds_agree() -> None:
    kinds = set(DRIVERS)
    assert kinds == set(get_args(StimulatorKind)) - {"none"}  # what a plan may name
    assert kinds == set(EMULATORS)  # every driver can be tested and simulated
    assert kinds - {"ttl-box"} == set(FAMILIES)  # the fault matrix covers every serial family
    assert kinds <= set(PORT_SETTINGS)  # and knows the line settings of each


@pytest.mark.parametrize("kind", sorted(DRIVERS))
def test_driver_against_its_emulator(kind: str, tmp_path: Path) -> None:
    dev = emulated_device(StimulatorDevice(kind=kind))  # type: ignore[arg-type]
    link = tmp_path / "dev.pty"
    with EmulatorProcess(
        kind, link, tmp_path / "emu.jsonl", extra_args=emulator_args(dev, realtime=False)
    ):
        stim = make_stimulator(dev, str(link))
        with stim:
            assert stim.kind == kind and stim.status().connected
            if stim.capabilities.sets_intensity:
                stim.set_intensity(30)
                assert stim.status().intensity_pct_mso == 30
            stim.arm()
            assert stim.status().armed
            stim.trigger()
            stim.disarm()
            assert not stim.status().armed
    assert (tmp_path / "emu.jsonl").read_text().strip()  # the emulator heard the driver
