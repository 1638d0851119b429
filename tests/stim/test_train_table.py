"""The shipped train-duration table and its conservative lookup."""

from __future__ import annotations

import pytest

from mirrorvr.stim.safety.train_table import TABLE_PATH, default_table, lookup, parse_table


def test_table_ships_with_provenance_and_unverified_banner() -> None:
    text = TABLE_PATH.read_text()
    assert text.startswith("# UNVERIFIED")
    t = default_table()
    assert not t.verified
    assert "Wassermann" in t.source and "Rossi" in t.source
    assert t.frequencies == (1, 5, 10, 20, 25)
    assert t.intensities[0] == 100 and t.intensities[-1] == 220


@pytest.mark.parametrize(
    ("freq", "mt", "limit", "row", "col", "printed"),
    [
        (20, 110, 1.6, 20, 110, "1.6"),  # exact cell
        (10, 100, 5.0, 10, 100, ">5"),  # ">" cell = the longest tested
        (10, 90, 5.0, 10, 100, ">5"),  # below the lowest column → lowest column
        (15, 100, 2.05, 20, 100, "2.05"),  # between rows → next higher frequency
        (0.5, 100, 1800.0, 1, 100, ">1800"),  # below the lowest row → lowest row
        (20, 115, 1.0, 20, 120, "1.0"),  # between columns → next higher intensity
        (5, 210, 1.4, 5, 210, "1.6"),  # non-monotone 1.6 at 210 % capped by 1.4 at 200 %
        (1, 130, 50.0, 1, 130, ">50"),
    ],
)
def test_lookup_is_conservative(freq, mt, limit, row, col, printed) -> None:
    cell = lookup(default_table(), freq, mt)
    assert cell is not None
    assert (cell.limit_s, cell.frequency_hz, cell.intensity_pct_mt, cell.printed) == (
        pytest.approx(limit),
        row,
        col,
        printed,
    )


def test_no_cell_beyond_the_table() -> None:
    assert lookup(default_table(), 30, 100) is None  # above 25 Hz
    assert lookup(default_table(), 10, 230) is None  # above 220 % MT


def test_envelope_is_monotone() -> None:
    t = default_table()
    for i, row in enumerate(t.limits):
        for j, v in enumerate(row):
            if j:
                assert v <= row[j - 1]
            if i:
                assert v <= t.limits[i - 1][j]


def test_parse_rejects_ragged_rows() -> None:
    with pytest.raises(ValueError, match="one cell per intensity"):
        parse_table("frequency_hz,100,110\n1,5\n")
