"""`dispatch.matching`: what a caller said, in any script and spelling, against names."""

from __future__ import annotations

import csv

import pytest

from dispatch import matching
from dispatch.config import REPO_ROOT

PLACES = [
    ("ramnagar", ["Ramnagar"]),
    ("rainawari", ["Rainawari"]),
    ("udhampur", ["Udhampur"]),
    ("srinagar", ["Srinagar"]),
    ("suchetgarh", ["Suchetgarh"]),
]


def best(said: str, candidates: list[tuple[str, list[str]]] = PLACES) -> str | None:
    ranked = matching.rank(said, candidates, limit=1)
    return ranked[0].key if ranked else None


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("रामनगर", "ramnagar"),  # Devanagari for a name known only in Latin script
        ("رام نگر", "ramnagar"),  # Urdu script
        ("raam nagar", "ramnagar"),  # spelling and spacing
        ("रैनवारी", "rainawari"),  # a vowel dropped by the recogniser
        ("rainawadi", "rainawari"),  # a consonant misheard
        ("उधमपूर", "udhampur"),
        ("मैं सुचेतगढ़ में रहता हूँ", "suchetgarh"),  # filler words around the name
    ],
)
def test_a_name_known_only_in_latin_script_is_found_from_any_script(
    said: str, expected: str
) -> None:
    assert best(said) == expected


def test_nothing_close_matches_nothing() -> None:
    assert best("pension") is None
    assert best("") is None
    assert best("गाँव") is None  # only a filler word


def test_a_name_in_the_callers_own_script_beats_a_transliteration() -> None:
    candidates = [("a", ["Rampur", "रामपुर"]), ("b", ["Ramnagar", "रामनगर"])]
    ranked = matching.rank("रामनगर", candidates)
    assert ranked[0].key == "b" and ranked[0].score == 1.0


def test_devanagari_words_stay_whole_and_nukta_and_candrabindu_are_folded() -> None:
    assert matching.normalise("किश्तवाड़") == matching.normalise("किश्तवाड")
    assert matching.normalise("गाँव वाला") == matching.normalise("गांव वाला")
    assert matching.normalise("आय प्रमाण पत्र").split() == ["आय", "प्रमाण", "पत्र"]


def test_skeletons_agree_across_scripts() -> None:
    assert matching.skeleton("Rainawari") == matching.skeleton("रैनावारी") == "rnvr"
    assert matching.skeleton("Srinagar") == matching.skeleton("श्रीनगर")


def _seed_villages(state: str) -> list[dict[str, str]]:
    with (REPO_ROOT / "seed_data" / state / "villages.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("state", ["jk", "pb"])
def test_every_seed_village_is_found_by_its_hindi_and_urdu_names_within_its_block(
    state: str,
) -> None:
    """What the phone line does after a block is chosen: each village of the block, said in
    Hindi or in Urdu as the seed data writes it, is matched to itself."""
    rows = _seed_villages(state)
    by_block: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_block.setdefault(row["block_code"], []).append(row)
    missed = []
    for block_rows in by_block.values():
        candidates = [
            (r["name"], [r["name"], r["name_hi"], r["name_ur"], *r["aliases"].split(";")])
            for r in block_rows
        ]
        for row in block_rows:
            for said in (row["name_hi"], row["name_ur"]):
                if best(said, candidates) != row["name"]:
                    missed.append((row["name"], said))
    assert missed == []


def test_a_short_alias_matches_only_as_a_whole_word() -> None:
    """ "LL" is the learner licence when said, not the "all" in "nowhere at all"."""
    licence = [("learner", ["Learner Licence", "LL"])]
    assert best("nowhere at all", licence) is None
    assert best("LL chahiye", licence) == "learner"


def test_a_place_is_compared_with_the_words_that_could_be_it() -> None:
    """A short word does not match a long name by being inside it (Mumbai is not Islamabad),
    and a name said as one word or two is the same name."""
    districts = [("ANT", ["Anantnag", "Anant Nag", "Islamabad"]), ("SMB", ["Samba"])]
    assert matching.rank("Mumbai", districts, threshold=0.7) == []
    assert best("anant nag", districts) == "ANT" and best("anantnag", districts) == "ANT"
