"""The therapist console: a local web app over the clinic store and a live session."""

from __future__ import annotations
