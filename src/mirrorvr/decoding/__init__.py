"""Decoding motion from multichannel surface EMG (phantom motor execution). Pure, numpy only.

The classic pattern-recognition chain of myoelectric control: overlapping windows
(:mod:`.windows`) → time-domain features per channel (:mod:`.features`) → linear discriminant
analysis (:mod:`.lda`) → rest threshold and majority-vote smoothing, plus a proportional speed
(:mod:`.postprocess`); :mod:`.decoder` strings them together for a stream of samples, and
:mod:`.evaluate` cross-validates a calibration. No I/O: the session's PME engine feeds samples
in and logs what comes out (docs/phantom-motor-execution.md).
"""
