"""liblsl's configuration text (pure): its own log goes to a file, not the terminal."""

from __future__ import annotations

import configparser

import pytest

from mirrorvr.streams.lslconfig import LslConfigError, config_content


def test_log_file_goes_in_the_log_section_and_keeps_the_base() -> None:
    text = config_content(base="[lab]\nSessionID = x\n", log_file="/tmp/s/lsl.log")
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(text)
    assert cp["log"]["file"] == "/tmp/s/lsl.log" and cp["lab"]["SessionID"] == "x"


def test_log_file_must_be_one_line() -> None:
    with pytest.raises(LslConfigError, match="one line"):
        config_content(log_file="/tmp/a\nb")
