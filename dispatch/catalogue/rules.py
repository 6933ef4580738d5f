"""Pure catalogue rules: fees by state rule, and matching what a caller said to a service."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from dispatch.catalogue.models import ServiceCategory

# Words callers say around the service name that carry no meaning for the match.
_FILLER = frozenset(
    [
        "i",
        "want",
        "need",
        "a",
        "an",
        "the",
        "for",
        "my",
        "of",
        "to",
        "get",
        "make",
        "apply",
        "new",
        "please",
        "chahiye",
        "mujhe",
        "hai",
        "ka",
        "ki",
        "ke",
        "banwana",
        "banana",
        "karna",
        "mera",
        "meri",
        "mere",
        "कि",
        "का",
        "की",
        "के",
        "मुझे",
        "चाहिए",
        "है",
        "बनवाना",
        "बनाना",
        "करना",
        "मेरा",
        "मेरी",
    ]
)


def doorstep_fee(
    category: ServiceCategory, *, citizen_fee_paise: int, business_fee_paise: int
) -> int:
    """The state's fixed doorstep fee for a service category."""
    return business_fee_paise if category is ServiceCategory.BUSINESS else citizen_fee_paise


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text).casefold()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(w for w in text.split() if w not in _FILLER)


@dataclass(frozen=True)
class Match:
    key: str
    score: float


def rank(query: str, candidates: Iterable[tuple[str, list[str]]], *, limit: int = 3) -> list[Match]:
    """Rank (key, phrases) candidates against `query`; best first, weak matches dropped.

    A phrase scores by whole-word overlap with the query, or by fuzzy similarity (speech
    recognisers spell Hindi words in many ways), whichever is higher.
    """
    q = normalise(query)
    if not q:
        return []
    q_words = set(q.split())
    best: dict[str, float] = {}
    for key, phrases in candidates:
        for phrase in phrases:
            p = normalise(phrase)
            if not p:
                continue
            p_words = set(p.split())
            overlap = len(q_words & p_words) / len(p_words)
            fuzzy = difflib.SequenceMatcher(None, q, p).ratio()
            contained = 1.0 if f" {p} " in f" {q} " else 0.0
            score = max(overlap * 0.95, fuzzy * 0.9, contained)
            if score > best.get(key, 0.0):
                best[key] = score
    ranked = sorted((Match(k, s) for k, s in best.items() if s >= 0.6), key=lambda m: -m.score)
    return ranked[:limit]
