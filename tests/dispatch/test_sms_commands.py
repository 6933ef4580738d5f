"""The SMS commands of agents and citizens: examples of each command and alias, and properties
over generated messages (any text is answered, valid commands round-trip, typos are caught)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.fieldwork.commands import (
    HELP_TEXT,
    Arrive,
    Command,
    Complete,
    Fail,
    FailReason,
    Help,
    Malformed,
    NoShow,
    Problem,
    Rating,
    Start,
    Stop,
    fail_reason_for_keypad,
    fail_reason_for_word,
    parse,
)
from dispatch.requests.rules import keypad_digits, make_reference

STATE = "JK"
REF = make_reference(STATE, 26, 123)  # JK-26-000123-5
DIGITS = keypad_digits(REF)
#: GSM 03.38 basic alphabet: a reply using only these fits 160 characters in one SMS.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")


def read(text: str) -> Command:
    return parse(text, default_state=STATE)


def assert_one_sms(reply: str) -> None:
    assert len(reply) <= 160, reply
    assert set(reply) <= GSM7_BASIC, set(reply) - GSM7_BASIC


# --- examples -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"ARR {REF}", Arrive(REF)),
        (f"arrived {REF}", Arrive(REF)),
        (f"Arrive, {REF}.", Arrive(REF)),
        (f"REACHED {DIGITS}", Arrive(REF)),
        ("arr jk 26 000123 5", Arrive(REF)),
        ("ARR jk260001235", Arrive(REF)),
        ("ARR 26-000123-5", Arrive(REF)),
        ("ARR JK – 26 – 000123 – 5", Arrive(REF)),
        (f"  ARR   {REF}  \n", Arrive(REF)),
        (f"ARR PB-{DIGITS}", Arrive("PB-26-000123-5")),
        (f"DONE {REF} 4821", Complete(REF, "4821", None)),
        (f"completed {REF} 48 21", Complete(REF, "4821", None)),
        (f"COMPLETE, {REF}, 4821, cash", Complete(REF, "4821", None)),
        (f"DONE {REF} 4821 412345678901", Complete(REF, "4821", "412345678901")),
        (f"done {REF} 4821 UPI ref 4123 4567 8901", Complete(REF, "4821", "412345678901")),
        (f"DONE {REF} 4821 T2403151234567890", Complete(REF, "4821", "T2403151234567890")),
        (f"FAIL {REF} DOCS", Fail(REF, FailReason.DOCS)),
        (f"failed {REF} portal", Fail(REF, FailReason.PORTAL)),
        (f"FAIL {REF} 3", Fail(REF, FailReason.ADDRESS)),
        (f"FAIL {REF} declined", Fail(REF, FailReason.REFUSED)),
        (f"FAIL {REF} 9 gate locked", Fail(REF, FailReason.OTHER)),
        (f"NOSHOW {REF}", NoShow(REF)),
        (f"no show {REF}", NoShow(REF)),
        (f"No-Show {REF}", NoShow(REF)),
        ("HELP", Help()),
        ("help me", Help()),
        ("STOP", Stop()),
        ("stop", Stop()),
        ("Start", Start()),
        ("5", Rating(5, "")),
        ("4 good service", Rating(4, "good service")),
        ("1.  agent was late\nvery late", Rating(1, "agent was late\nvery late")),
        ("४ अच्छा", Rating(4, "अच्छा")),
    ],
)
def test_examples_of_each_command_and_alias(text: str, expected: Command) -> None:
    assert read(text) == expected


def test_devanagari_and_urdu_digits_read_as_ascii() -> None:
    """Phones with Hindi or Urdu keyboards send their own digits."""
    typed = f"DONE {REF} 4821 412345678901".translate(DEVANAGARI)
    assert read(typed) == Complete(REF, "4821", "412345678901")
    assert read("ARR ۲۶۰۰۰۱۲۳۵") == Arrive(REF)


def test_a_trailing_signature_is_ignored() -> None:
    assert read(f"ARR {REF}\n-- Ramesh Kumar, CSC Anantnag") == Arrive(REF)
    assert read(f"DONE {REF} 4821\nRamesh") == Complete(REF, "4821", None)
    assert read(f"FAIL {REF} 1 - Ramesh") == Fail(REF, FailReason.DOCS)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", Problem.EMPTY),
        (" \n\t\u200b", Problem.EMPTY),
        ("hello", Problem.UNKNOWN_COMMAND),
        ("धन्यवाद", Problem.UNKNOWN_COMMAND),
        (DIGITS, Problem.UNKNOWN_COMMAND),
        ("0", Problem.RATING_RANGE),
        ("7 nice", Problem.RATING_RANGE),
        ("ARR", Problem.REFERENCE_MISSING),
        ("ARR Ramesh", Problem.REFERENCE_MISSING),
        ("ARR JK-26-00123-5", Problem.REFERENCE_LENGTH),
        ("DONE 26000123 54821", Problem.REFERENCE_LENGTH),
        ("ARR JK-26-000123-7", Problem.REFERENCE_CHECK_DIGIT),
        (f"DONE {REF}", Problem.VISIT_CODE_MISSING),
        (f"DONE {REF} cash", Problem.VISIT_CODE_MISSING),
        (f"DONE {REF} 482", Problem.VISIT_CODE_LENGTH),
        (f"DONE {REF} 48210", Problem.VISIT_CODE_LENGTH),
        (f"DONE {REF} 4821 UPI", Problem.UPI_REFERENCE),
        (f"DONE {REF} 4821 41234567890", Problem.UPI_REFERENCE),
        (f"DONE {REF} 4821 UPI abc", Problem.UPI_REFERENCE),
        (f"DONE {REF} 4821 T24-0315", Problem.UPI_REFERENCE),
        (f"FAIL {REF}", Problem.REASON_MISSING),
        (f"FAIL {REF} 5", Problem.REASON_UNKNOWN),
        (f"FAIL {REF} weather", Problem.REASON_UNKNOWN),
    ],
)
def test_malformed_messages_get_a_helpful_reply(text: str, problem: Problem) -> None:
    result = read(text)
    assert isinstance(result, Malformed)
    assert result.problem is problem
    assert_one_sms(result.hint)


def test_a_mistyped_payment_reference_is_refused_not_recorded_as_cash() -> None:
    """Digits after the visit code that are no RRN would otherwise lose the UPI payment."""
    result = read(f"DONE {REF} 4821 9876543210")
    assert isinstance(result, Malformed) and result.problem is Problem.UPI_REFERENCE
    assert "12-digit" in result.hint


def test_replies_show_a_valid_example_in_the_senders_state() -> None:
    result = parse("DONE", default_state="pb")
    assert isinstance(result, Malformed)
    example = make_reference("PB", 26, 123)
    assert f"DONE {example} 4821" in result.hint
    assert parse(f"DONE {example} 4821", default_state="pb") == Complete(example, "4821", None)


def test_a_mistyped_reference_says_so_and_shows_what_was_read() -> None:
    result = read("arr jk 26 000123 7")
    assert isinstance(result, Malformed)
    assert "JK-26-000123-7 looks mistyped" in result.hint


def test_long_input_is_never_echoed() -> None:
    secret = "Aadhaar 1234 5678 9012 " * 50
    for text in (secret, f"ARR {secret}", f"FAIL {REF} {secret}", f"DONE {REF} {secret}"):
        result = read(text)
        assert isinstance(result, Malformed)
        assert "Aadhaar" not in result.hint and "9012" not in result.hint
        assert_one_sms(result.hint)


def test_a_rating_comment_is_capped() -> None:
    result = read("5 " + "thank you " * 500)
    assert isinstance(result, Rating) and result.stars == 5
    assert len(result.comment) <= 500


# --- fail reasons and the help text ---------------------------------------------------------


def test_fail_reasons_by_word_and_by_keypad_digit() -> None:
    assert [(r.code, r.keypad) for r in FailReason] == [
        ("DOCS", 1),
        ("PORTAL", 2),
        ("ADDRESS", 3),
        ("REFUSED", 4),
        ("OTHER", 9),
    ]
    for reason in FailReason:
        assert fail_reason_for_word(reason.code.lower()) is reason
        assert fail_reason_for_keypad(str(reason.keypad)) is reason
        assert reason.description
    assert fail_reason_for_keypad("३") is FailReason.ADDRESS
    assert fail_reason_for_word("Documents") is FailReason.DOCS
    assert fail_reason_for_word("rain") is None
    assert fail_reason_for_keypad("5") is None and fail_reason_for_keypad("") is None


def test_help_text_is_one_sms_listing_every_command_and_reason() -> None:
    assert_one_sms(HELP_TEXT)
    for word in ("ARR", "DONE", "FAIL", "NOSHOW", "STOP", "START", "UPI"):
        assert word in HELP_TEXT
    for reason in FailReason:
        assert f"{reason.keypad} {reason.code}" in HELP_TEXT


# --- properties -----------------------------------------------------------------------------

references = st.builds(
    make_reference,
    st.sampled_from([STATE, "PB", "HP", "UP"]),
    st.integers(min_value=0, max_value=99),
    st.integers(min_value=1, max_value=999_999),
)
gaps = st.text(alphabet=" \t\n,", min_size=1, max_size=3)
edges = st.text(alphabet=" \t\n", max_size=3)
signatures = st.sampled_from(["", "\n-- Ramesh", "\n- Ramesh K", " Thanks"])
visit_codes = st.text(alphabet="0123456789", min_size=4, max_size=4)
upi_references = st.one_of(
    st.none(),
    st.text(alphabet="0123456789", min_size=12, max_size=12),
    st.builds(  # a bank's transaction ID: 8 to 35 letters and digits, with a digit
        "{}{}{}".format,
        st.sampled_from(string.ascii_letters),
        st.text(alphabet=string.ascii_letters + string.digits, min_size=6, max_size=33),
        st.sampled_from(string.digits),
    ),
)


@st.composite
def recased(draw: st.DrawFn, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(ch.swapcase() if flip else ch for ch, flip in zip(text, flips, strict=True))


@st.composite
def typed_references(draw: st.DrawFn) -> tuple[str, str]:
    """A valid reference and how a person may type it: prefix or not, dashes, spaces, case."""
    reference = draw(references)
    state, year, sequence, check = reference.split("-")
    inner = draw(st.sampled_from(["-", " ", "", " - "]))
    digits = inner.join([year, sequence, check])
    if state == STATE and not draw(st.booleans()):
        return reference, digits
    after_state = draw(st.sampled_from(["-", " ", ""]))
    return reference, draw(recased(f"{state}{after_state}{digits}"))


@st.composite
def valid_commands(draw: st.DrawFn) -> tuple[str, Command]:
    """Any valid agent command as typed, with the command it must read as."""
    reference, typed = draw(typed_references())
    kind = draw(st.sampled_from(["ARR", "DONE", "FAIL", "NOSHOW"]))
    aliases = {
        "ARR": ["ARR", "ARRIVE", "ARRIVED", "REACHED"],
        "DONE": ["DONE", "COMPLETE", "COMPLETED"],
        "FAIL": ["FAIL", "FAILED"],
        "NOSHOW": ["NOSHOW", "NO SHOW", "NO-SHOW"],
    }[kind]
    keyword = draw(recased(draw(st.sampled_from(aliases))))
    parts = [keyword, typed]
    expected: Command
    if kind == "ARR":
        expected = Arrive(reference)
    elif kind == "NOSHOW":
        expected = NoShow(reference)
    elif kind == "FAIL":
        reason = draw(st.sampled_from(list(FailReason)))
        by_word = draw(st.booleans())
        parts.append(draw(recased(reason.code)) if by_word else str(reason.keypad))
        expected = Fail(reference, reason)
    else:
        code, upi = draw(visit_codes), draw(upi_references)
        parts.append(code)
        if upi is not None:
            if draw(st.booleans()):
                parts.append(draw(recased("UPI")))
            parts.append(upi)
        expected = Complete(reference, code, upi)
    text = draw(edges)
    for part in parts[:-1]:
        text += part + draw(gaps)
    text += parts[-1] + draw(signatures) + draw(edges)
    if draw(st.booleans()):
        text = text.translate(DEVANAGARI)
    return text, expected


@given(valid_commands())
def test_valid_commands_read_back_as_the_right_command(case: tuple[str, Command]) -> None:
    text, expected = case
    assert read(text) == expected


@given(
    st.one_of(
        st.text(),
        st.builds(str.__mul__, st.text(min_size=1, max_size=20), st.integers(1, 5000)),
        st.builds(
            str.__add__,
            st.sampled_from(["ARR ", "DONE ", f"DONE {REF} ", f"FAIL {REF} ", "no show ", "4"]),
            st.text(alphabet="0123456789०३ -,.JKjkUPIupi\n\u200b", max_size=40),
        ),
    ),
    st.sampled_from([STATE, "pb", "ABCD"]),
)
def test_any_text_is_answered_and_a_malformed_reply_is_one_sms(text: str, state: str) -> None:
    """Parse never raises; a complaint names a known problem and fits one GSM-7 SMS."""
    result = parse(text, default_state=state)
    if isinstance(result, Malformed):
        assert isinstance(result.problem, Problem)
        assert_one_sms(result.hint)


@given(
    references,
    st.integers(min_value=0, max_value=8),
    st.integers(min_value=1, max_value=9),
)
def test_one_digit_changed_is_caught_as_a_mistyped_reference(
    reference: str, position: int, shift: int
) -> None:
    """Verhoeff's check digit catches every single-digit error."""
    digits = keypad_digits(reference)
    wrong = digits[:position] + str((int(digits[position]) + shift) % 10) + digits[position + 1 :]
    result = parse(f"ARR {wrong}", default_state=STATE)
    assert isinstance(result, Malformed)
    assert result.problem is Problem.REFERENCE_CHECK_DIGIT


@given(references, st.integers(min_value=0, max_value=7))
def test_two_adjacent_digits_swapped_are_caught(reference: str, position: int) -> None:
    digits = keypad_digits(reference)
    swapped = digits[:position] + digits[position + 1] + digits[position] + digits[position + 2 :]
    result = parse(f"NOSHOW {swapped}", default_state=STATE)
    if swapped == digits:
        assert result == NoShow(f"{STATE}-{reference.split('-', 1)[1]}")
    else:
        assert isinstance(result, Malformed)
        assert result.problem is Problem.REFERENCE_CHECK_DIGIT


comments = st.text(
    alphabet=st.one_of(st.characters(exclude_categories=("Nd", "C", "Z")), st.just(" ")),
    max_size=100,
)


@given(st.integers(min_value=1, max_value=5), comments)
def test_a_leading_star_count_is_a_rating_with_the_rest_as_comment(
    stars: int, comment: str
) -> None:
    assert read(f"{stars} {comment}") == Rating(stars, comment.strip())
