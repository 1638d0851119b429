"""Rendering: panda3d scene, mirrored limb, cues; display backends (OpenXR, window, offscreen)."""
