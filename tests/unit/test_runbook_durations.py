"""Runbook durations: what `parse_duration` reads and how `format_duration` writes one.

Covers:
- reading: Prometheus-style `<integer><unit>` pairs, largest unit first, to seconds;
  refused, with a hint saying what to change: spaces (even only around the duration, or a
  tab), digits other than 0-9 (Arabic-Indic `\u0663\u0660m` is not
  30 minutes), fractions, signs, bare numbers,
  units out of order or in upper case;
- writing (the JSON Schema's defaults): `600.0` is `10m`; every whole number of
  milliseconds is written as the shortest text that reads back as the same seconds;
  anything else is refused.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healer.runbook.model import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("0s", 0.0), ("500ms", 0.5), ("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0),
    ("1d", 86400.0), ("2w", 1209600.0), ("1y", 31536000.0), ("00001m", 60.0),
    ("1y2w3d4h5m6s7ms", 33019506.007),
])
def test_durations_are_read_as_seconds(text: str, seconds: float) -> None:
    """Each unit counts as documented; several pairs add up."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("text", "hint"), [
    (" 2h ", "(no spaces: write 2h)"),
    ("\t5m", "(no spaces: write 5m)"),
    ("30s\n", "(no spaces: write 30s)"),
    ("1h 30m", "(no spaces: write 1h30m)"),
    ("\u0663\u0660m", "(write the digits as 0-9)"),  # 30 in Arabic-Indic digits
    ("1h\u0663\u0660m", "(write the digits as 0-9)"),
    ("\uff15m", "(write the digits as 0-9)"),  # a fullwidth 5
    ("1.5h", "(no fractions: write 1h30m, not 1.5h)"),
    ("-5m", "(a duration cannot be negative)"),
    ("30", "(every number needs a unit: y, w, d, h, m, s or ms)"),
    ("30m1h", "(largest unit first, each unit once: 1h30m)"),
    ("10M", "(units are lower case)"),
    ("5mins", "(units are y, w, d, h, m, s and ms)"),
])
def test_a_duration_people_mistype_is_refused_with_a_hint(text: str, hint: str) -> None:
    """A sloppy or ambiguous duration is refused, saying what to write instead."""
    with pytest.raises(DurationError) as refused:
        parse_duration(text)
    assert str(refused.value) == (f"expected a duration like 30s, 5m or 1h30m, got {text!r} "
                                  f"{hint}")


@pytest.mark.parametrize(("seconds", "text"), [
    (0.0, "0s"), (0.5, "500ms"), (30.0, "30s"), (300.0, "5m"), (600.0, "10m"),
    (3600.0, "1h"), (5400.0, "90m"), (3601.0, "1h1s"), (86400.0, "1d"),
    (8 * 86400.0, "8d"), (371 * 86400.0, "53w"), (366 * 86400.0, "1y1d"),
    (1327510.1, "2w117910100ms"),  # not 1327510100ms: at most 9 digits a number
])
def test_seconds_are_written_as_the_shortest_duration(seconds: float, text: str) -> None:
    """A default in seconds is offered as the duration a person would write: `10m`."""
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10**15))
def test_a_written_duration_reads_back_as_the_same_seconds(milliseconds: int) -> None:
    """Whatever `format_duration` writes, `parse_duration` reads back unchanged."""
    seconds = milliseconds / 1000
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("seconds", [-1.0, 0.0001, float("inf"), float("nan"), 1e20])
def test_seconds_that_no_duration_can_write_are_refused(seconds: float) -> None:
    """Negative, sub-millisecond, infinite or too many seconds have no duration text."""
    with pytest.raises(ValueError, match="seconds is"):
        format_duration(seconds)
