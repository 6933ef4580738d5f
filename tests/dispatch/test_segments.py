"""SMS segments: GSM-7 texts hold 160 characters alone and 153 per segment when split (the
extension table's characters count 2); anything else goes as UCS-2, 70 UTF-16 code units alone
and 67 per segment. Hindi is always UCS-2."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.notifications.segments import (
    GSM_BASIC,
    GSM_EXTENSION,
    Encoding,
    count,
    is_gsm,
)

#: 10 Devanagari code points (letters, vowel signs, a virama), each one UTF-16 unit.
HINDI_10 = "नमस्ते दुन"
assert len(HINDI_10) == 10


def test_english_messages() -> None:
    text = "DigiDost: request JK-26-000123-7 booked. Agent visits Monday 3 June 09:00-11:00."
    found = count(text)
    assert (found.encoding, found.segments, found.units) == (Encoding.GSM7, 1, len(text))


def test_a_hindi_message_is_ucs2() -> None:
    text = "DigiDost: अनुरोध JK-26-000123-7 दर्ज हुआ। एजेंट सोमवार, 3 जून 09:00-11:00 आएँगे।"
    found = count(text)
    assert found.encoding is Encoding.UCS2 and found.units == len(text)
    assert found.segments == 2  # 75 characters: more than 70, not more than 2 x 67


def test_one_rupee_sign_makes_an_english_text_ucs2() -> None:
    assert count("Fee ₹50").encoding is Encoding.UCS2
    assert count("Fee Rs 50").encoding is Encoding.GSM7


@pytest.mark.parametrize(
    ("length", "segments"),
    [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm7_boundaries(length: int, segments: int) -> None:
    assert count("a" * length).segments == segments


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs2_boundaries_in_hindi(length: int, segments: int) -> None:
    text = (HINDI_10 * 30)[:length]
    found = count(text)
    assert found.encoding is Encoding.UCS2 and found.segments == segments


def test_extension_characters_count_two_and_are_not_split() -> None:
    assert count("€" * 80).segments == 1  # 160 septets
    assert count("€" * 80 + "a").segments == 2
    assert count("{" * 76).units == 152
    # 76 braces fill a segment but one septet: the 77th does not fit in it, so 306 septets
    # that would fill two segments exactly take three.
    assert count("{" * 77 + "a" * 152).segments == 3


def test_a_character_beyond_the_bmp_is_two_units_and_not_split() -> None:
    assert count("😀").units == 2 and count("😀").encoding is Encoding.UCS2
    assert count("😀" * 35).segments == 1  # 70 units
    assert count("a" * 66 + "😀" + "a" * 3).segments == 2  # 71 units
    assert count("a" * 66 + "😀" + "a" * 66).segments == 3  # 134 units; the pair moves on


SMS_TEXT = st.text(
    alphabet=st.sampled_from(sorted(GSM_BASIC | GSM_EXTENSION) + list("नमस्ते₹दुनिया😀")),
    max_size=700,
)


@given(SMS_TEXT, SMS_TEXT)
def test_more_text_never_costs_fewer_segments(text: str, more: str) -> None:
    assert count(text).segments <= count(text + more).segments


@given(SMS_TEXT)
def test_gsm7_only_when_every_character_is_gsm(text: str) -> None:
    gsm = all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)
    assert is_gsm(text) is gsm
    assert (count(text).encoding is Encoding.GSM7) is gsm


@given(SMS_TEXT)
def test_segments_hold_what_they_must(text: str) -> None:
    found = count(text)
    single = 160 if found.encoding is Encoding.GSM7 else 70
    split = 153 if found.encoding is Encoding.GSM7 else 67
    if found.units <= single:
        assert found.segments == 1
    else:
        # never fewer than the units need; at most one unit lost per segment to a pair kept whole
        assert -(-found.units // split) <= found.segments <= -(-found.units // (split - 1))
