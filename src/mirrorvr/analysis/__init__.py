"""Offline analysis: sessions, recordings, MEPs, outcomes, reports."""
