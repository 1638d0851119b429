"""Assembling phantom motor execution: where each PME block's EMG (and simulated patient) comes from.

The PME engine (:mod:`mirrorvr.session.pme`) owns no device; this module gives it, per block,
an EMG feed and, in simulation, the simulated patient who executes the cued motions.
"""

from __future__ import annotations

import os

from mirrorvr.config.plan import PhantomMotorExecutionBlock, SessionPlan
from mirrorvr.session.pme import EmgFeed, FeedFactory, PmePatient


def pme_feeds(plan: SessionPlan, realtime: bool, simulated: bool) -> FeedFactory:
    """The EMG feed (and simulated patient) of each phantom motor execution block.

    Simulated clock: the simulated residual limb, rendered as the session advances. Real time
    and simulated: the same limb published on LSL by a thread of this process under a name of
    its own, read back through an LSL inlet like an amplifier. Real time with a patient: the
    amplifier's stream named in the block (``emg_stream``).
    """
    from mirrorvr.sim.residual_emg import (
        ResidualEmgModel,
        ResidualLimbEmg,
        ResidualPatient,
        SimulatedResidualFeed,
    )

    seed = plan.session.seed

    def make(index: int, block: PhantomMotorExecutionBlock) -> tuple[EmgFeed, PmePatient | None]:
        model = ResidualEmgModel(channels=block.emg_channels)
        if not realtime:
            limb = ResidualLimbEmg(model, t0=0.0, seed=seed * 100 + index, patient_seed=seed)
            return SimulatedResidualFeed(limb), ResidualPatient(limb, seed=seed + index)
        from mirrorvr.streams.emg_feed import LslEmgFeed

        if not simulated:
            feed = LslEmgFeed(block.emg_stream, block.emg_channels)
            feed.wait_connected(10.0)
            return feed, None
        from mirrorvr.sim.residual_emg_stream import ResidualEmgPublisher

        name = f"{block.emg_stream}-sim-{os.getpid()}-{index}"  # unique: other sessions run
        pub = ResidualEmgPublisher(
            name, model, seed=seed * 100 + index, patient_seed=seed, source_id=name
        ).start()
        # closing the feed stops the publisher too (the block is over)
        feed = LslEmgFeed(name, block.emg_channels, also_close=pub.stop)
        try:
            feed.wait_connected(30.0)  # a loaded machine may take a while to connect
        except Exception:
            feed.close()
            raise
        return feed, ResidualPatient(pub.limb, seed=seed + index)

    return make
