"""Rendering: the panda3d scene (limb, cues, rating, laterality), frame phases, displays.

The scene is display-independent: :class:`~mirrorvr.render.scene.MirrorScene` builds its graph
under a root node it is given and never creates cameras; a display backend (offscreen, window,
OpenXR) brings its own cameras and renders the root. No panda3d builtins (``base``, ``render``)
are used anywhere: engine objects are created here and passed explicitly.
"""
