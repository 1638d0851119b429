"""Lab Streaming Layer outlets and inlets, stream metadata, the XDF writer and the recorder.

``layout`` defines every stream mirrorvr publishes (one source of truth for outlets, the XDF
written from an event log, and ``docs/streams.md``); ``xdf_writer`` writes XDF 1.0 files;
``outlets`` turns session events into LSL samples; ``lslconfig`` sets liblsl's configuration
before any other LSL call.
"""
