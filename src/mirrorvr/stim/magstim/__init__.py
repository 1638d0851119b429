"""Magstim 200², BiStim² and Rapid² over their serial host interface (magstim-serial.md)."""
