"""Every way a session starts: plain and resumed sessions, a patient's session from the clinic
store, a headset session, the TMS node, a stand-alone threshold hunt, a simulated trial cohort.

The CLI and the therapist console only call these; ``session/`` keeps the ground floor (clock,
events, log, timeline, runner, session folder). See docs/architecture.md.
"""
