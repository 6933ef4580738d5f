"""Matching what a caller said (or a call agent typed) to names: services, districts, blocks,
villages. Pure functions, no database.

Speech recognisers spell the same word many ways, and each writes in the script of the language
it listens in: the Hindi one hears "रामनगर" where the seed data says "Ramnagar", the Urdu one
"رام نگر". So a phrase scores by the best of:
- whole words of it found in what was said ("income certificate chahiye");
- fuzzy similarity in its own script (rapidfuzz), which forgives small spelling differences;
- fuzzy similarity of both sides' Latin consonant skeletons (anyascii transliterates any
  script; vowels, aspiration and doubled letters are where spellings of one name differ most),
  weighted lower: the fallback that matches a name across scripts when no name in the
  caller's script is known.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from anyascii import anyascii
from rapidfuzz import fuzz

#: Words callers say around a name that carry no meaning for the match.
_FILLER_WORDS = """
    i want need a an the for my of to get make apply new please is in at from live
    chahiye mujhe hai ka ki ke banwana banana karna mera meri mere main mein se hoon hun
    village gaon gaanv district zila jila block tehsil mohalla area
    कि का की के मुझे चाहिए है बनवाना बनाना करना मेरा मेरी मेरे मैं में से हूँ हूं रहता रहती
    गाँव गांव गाव ज़िला जिला ब्लॉक तहसील मोहल्ला इलाका
    میں میرا میری مجھے چاہیے ہے کا کی کے سے گاؤں ضلع تحصیل بلاک محلہ
"""
FILLER = frozenset(_FILLER_WORDS.split())
#: Below this a phrase does not match at all.
THRESHOLD = 0.6
#: Cross-script (transliterated) similarity counts for less than a match in the same script.
ACROSS_SCRIPTS = 0.85
#: Shorter names and aliases match only as whole words: one letter apart is another word.
SHORTEST_FUZZY = 4
_VOWELS = re.compile(r"[aeiouy]+")


def words(text: str) -> list[str]:
    """The case-folded words of `text`: runs of letters, combining marks (Devanagari and
    Arabic vowel signs) and digits, the parts of a word in any script; everything else
    separates them."""
    kept = (ch if unicodedata.category(ch)[0] in "LMN" else " " for ch in text)
    return "".join(kept).casefold().split()


@lru_cache(maxsize=8192)
def normalise(text: str) -> str:
    """Case-folded words of `text` without punctuation or filler words. Devanagari's nukta and
    candrabindu are folded (ड़/ड, ँ/ं are spelled either way by recognisers)."""
    text = unicodedata.normalize("NFD", text).casefold()
    text = text.replace("\u093c", "").replace("\u0901", "\u0902")
    text = unicodedata.normalize("NFC", text)
    return " ".join(w for w in words(text) if w not in FILLER)


@lru_cache(maxsize=8192)
def skeleton(text: str) -> str:
    """The Latin consonants of normalised `text`, aspiration and doubling folded: "Rainawari",
    "रैनावारी" and "رعناواری" all give "rnvr"."""
    latin = anyascii(text).lower()
    latin = latin.replace("w", "v").replace("z", "j").replace("q", "k").replace("ph", "f")
    latin = latin.replace("h", "")
    latin = re.sub(r"[^a-z ]", "", latin)
    latin = _VOWELS.sub("", latin)
    latin = re.sub(r"(.)\1+", r"\1", latin)
    return " ".join(latin.split())


@dataclass(frozen=True)
class Match:
    key: str
    score: float


def _windows(words: list[str], size: int) -> list[str]:
    """Runs of about `size` consecutive words (one fewer or more: a name may be said as one
    word or two), so a name is compared with the words that could be it, not the sentence."""
    runs = []
    for n in {max(1, size - 1), size, size + 1}:
        runs += [" ".join(words[i : i + n]) for i in range(max(1, len(words) - n + 1))]
    return runs


def _similarity(query_words: list[str], phrase: str) -> float:
    """The best similarity (0..1) of `phrase` to a run of the query's words, with and without
    the spaces (Anant Nag / Anantnag)."""
    size = len(phrase.split())
    joined = phrase.replace(" ", "")
    return max(
        max(fuzz.ratio(run, phrase), fuzz.ratio(run.replace(" ", ""), joined)) / 100
        for run in _windows(query_words, size)
    )


def score(query: str, phrase: str) -> float:
    """How well `phrase` matches what was said, 0..1 (both normalised already)."""
    if not query or not phrase:
        return 0.0
    if f" {phrase} " in f" {query} ":
        return 1.0
    q_words, p_words = query.split(), phrase.split()
    overlap = len(set(q_words) & set(p_words)) / len(set(p_words)) * 0.95
    if len(phrase.replace(" ", "")) < SHORTEST_FUZZY:  # "LL", "PRC": whole words only
        return overlap
    same = _similarity(q_words, phrase) * 0.9
    across = 0.0
    p_skel = skeleton(phrase)
    if len(p_skel.replace(" ", "")) >= 3:
        q_skels = [s for s in (skeleton(w) for w in q_words) if s]
        if q_skels:
            across = _similarity(q_skels, p_skel) * ACROSS_SCRIPTS
    return max(overlap, same, across)


def rank(
    query: str,
    candidates: Iterable[tuple[str, list[str]]],
    *,
    limit: int = 3,
    threshold: float = THRESHOLD,
) -> list[Match]:
    """Rank (key, phrases) candidates against `query`: best first, weak matches dropped."""
    q = normalise(query)
    if not q:
        return []
    best: dict[str, float] = {}
    for key, phrases in candidates:
        for phrase in phrases:
            s = score(q, normalise(phrase))
            if s > best.get(key, 0.0):
                best[key] = s
    ranked = sorted(
        (Match(k, s) for k, s in best.items() if s >= threshold), key=lambda m: -m.score
    )
    return ranked[:limit]
