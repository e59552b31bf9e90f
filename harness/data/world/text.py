"""Small text helpers shared by the generators (articles, plurals, capitals, tokens)."""

from __future__ import annotations

import re

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def approx_token_count(text: str) -> int:
    """Words plus punctuation marks: a stand-in for a real tokenizer's count.

    A BPE vocabulary of 512 splits rarer words further, so real counts run higher; pass
    the trained tokenizer's count to ``write_benchmarks(..., count_tokens=...)`` where
    the distance must be exact.
    """
    return len(_TOKEN_RE.findall(text))


def a_an(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def cap(sentence: str) -> str:
    """Capitalise the first letter only ("the Blue Mill Guild ..." -> "The Blue ...")."""
    return sentence[:1].upper() + sentence[1:]


_IRREGULAR = {"loaf": "loaves", "pair": "pairs", "knife": "knives"}


def plural(noun: str) -> str:
    """'jar of honey' -> 'jars of honey', 'brush' -> 'brushes'; enough for vocab.ITEMS."""
    head, sep, tail = noun.partition(" of ")
    if head in _IRREGULAR:
        head = _IRREGULAR[head]
    elif head.endswith(("s", "sh", "ch", "x")):
        head += "es"
    else:
        head += "s"
    return head + sep + tail
