"""Small text helpers shared by the generators (articles, plurals, capitals, tokens)."""

from __future__ import annotations

# Characters per token of a 512-piece SentencePiece BPE trained on the tiny world's corpus
# (measured: 598k characters -> 207k tokens). Words+punctuation would undercount by ~1.6x,
# which matters when a fact must sit between a 256- and a 512-token window.
CHARS_PER_TOKEN = 2.9


def approx_token_count(text: str) -> int:
    """Estimated BPE-512 token count of ``text`` (characters / 2.9).

    Pass the trained tokenizer's count (``lambda s: len(sp.encode(s))``) to
    ``write_benchmarks(..., count_tokens=...)`` where distances must be exact, or for a
    larger vocabulary (fewer, longer tokens).
    """
    return round(len(text) / CHARS_PER_TOKEN)


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
