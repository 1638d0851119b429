"""The safety governor's rules, split by concern (all pure functions over plain data).

``train_table``  the train-duration table (shipped data, UNVERIFIED) and its conservative lookup
``limits``       the project baseline, loosening checks and logged overrides
``runtime``      the run-time gate every train/pulse passes (``authorize``)
``plan_check``   the whole-plan check before a session (and again on resume)

``mirrorvr.stim.governor`` is the public face of this package.
"""
