"""MagVenture MagPro (R30, X100, with/without MagOption) over its serial port (magventure-serial.md)."""
