"""Tracking: pose types (OpenXR hand-joint set), pose sources, mirror math and filters.

World frame everywhere in mirrorvr: metres, right-handed, Panda3D axes — x to the patient's
right, y forward (away from the patient), z up. A backend whose runtime uses another frame
(OpenXR is y-up) converts at its edge.
"""
