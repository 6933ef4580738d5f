"""The console's service type-ahead: what a call agent types so far, in English, Hindi or an
alias, finds the service; a misspelling still does; blank text lists the most requested."""

from __future__ import annotations

from sqlmodel import Session

from dispatch.catalogue import service as catalogue_service


def _codes(session: Session, text: str, limit: int = 6) -> list[str]:
    found = catalogue_service.suggest(session=session, state_code="JK", text=text, limit=limit)
    return [s.service.code for s in found]


def test_the_start_of_an_english_name_finds_it_first(session: Session) -> None:
    assert _codes(session, "inc")[0] == "INCOME_CERT"
    assert _codes(session, "Income Certif")[0] == "INCOME_CERT"


def test_a_hindi_name_finds_it_while_it_is_typed(session: Session) -> None:
    """Devanagari vowel signs and the virama keep a word whole (`rules.normalise` splits it)."""
    assert _codes(session, "आय प्रमा")[0] == "INCOME_CERT"
    assert "INCOME_CERT" in _codes(session, "आय")


def test_an_alias_finds_the_service_and_says_which_alias_matched(session: Session) -> None:
    found = catalogue_service.suggest(session=session, state_code="JK", text="aay praman patra")
    assert found[0].service.code == "INCOME_CERT"
    assert found[0].matched == "aay praman patra"


def test_each_typed_word_may_start_any_word_of_a_name(session: Session) -> None:
    assert _codes(session, "cert inc")[0] == "INCOME_CERT"


def test_a_name_beats_the_code_when_both_match(session: Session) -> None:
    found = catalogue_service.suggest(session=session, state_code="JK", text="income cert")
    assert found[0].service.code == "INCOME_CERT" and found[0].matched == "Income Certificate"


def test_a_misspelling_still_finds_the_service(session: Session) -> None:
    assert _codes(session, "incme certficate")[0] == "INCOME_CERT"


def test_blank_text_lists_the_most_requested_and_limit_holds(session: Session) -> None:
    popular = catalogue_service.most_requested(session=session, state_code="JK", limit=4)
    assert _codes(session, "  ", limit=4) == [s.code for s in popular]
    assert len(_codes(session, "certificate", limit=3)) == 3


def test_nothing_like_it_finds_nothing(session: Session) -> None:
    assert _codes(session, "zzqxv") == []
