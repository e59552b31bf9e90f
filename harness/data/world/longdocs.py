"""Long documents with facts placed at a chosen distance (in tokens) from the question.

The distance is measured from the first token of the fact's sentence to the end of the
document body; the question follows the body (SCROLLS prompts put it after the text:
"{text}\\n\\nQuestion: {question}\\nAnswer:"), so with a window of W tokens the fact is
visible only if distance + question length <= W.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from . import vocab
from .corpus import narrative_sentence
from .entities import World

CountTokens = Callable[[str], int]


@dataclass(frozen=True)
class LocalFact:
    """A fact that holds only inside one document (a locker number, a password...)."""

    kind: str
    name: str
    value: str
    statement: str
    question: str


def states(doc: str, value: str) -> bool:
    """Whether `doc` contains `value` as a whole word (a multiple-choice option offered as
    "not in the document" must not be)."""
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", doc) is not None


def local_fact(rng, name: str, kind: str | None = None, avoid: tuple[str, ...] = ()) -> LocalFact:
    kinds = {k[0]: k for k in vocab.LOCAL_FACT_KINDS}
    kind, statement, question, value_kind = kinds[kind] if kind else rng.choice(vocab.LOCAL_FACT_KINDS)
    while True:
        if value_kind == "number":
            value = str(rng.randint(100, 999))
        else:
            value = rng.choice(vocab.PASSWORD_WORDS)
            value = value.capitalize() if kind == "boat" else value
        if value not in avoid:
            break
    return LocalFact(kind, name, value, statement.format(name=name, value=value),
                     question.format(name=name))


def build_long_document(rng, world: World, n_tokens: int, facts: list[tuple[LocalFact, int]],
                        count_tokens: CountTokens) -> tuple[str, list[int]]:
    """Narrative filler of about ``n_tokens`` with each fact inserted so that its distance
    to the end is as close as the sentence grain allows to its target.

    Returns the text and the measured distance of each fact (in ``count_tokens`` units).
    """
    fact_tokens = sum(count_tokens(f.statement) for f, _ in facts)
    sents, counts = [], []
    while sum(counts) + fact_tokens < n_tokens:
        s = narrative_sentence(rng, world)
        sents.append(s)
        counts.append(count_tokens(s))
    # Insert the nearest fact first: a fact inserted later lands further from the end,
    # before it, and so does not change the distance of those already placed.
    order = sorted(range(len(facts)), key=lambda i: facts[i][1])
    for i in order:
        fact, target = facts[i]
        own = count_tokens(fact.statement)
        suffix, best, best_err = 0, len(sents), abs(own - target)
        for j in range(len(sents) - 1, -1, -1):
            suffix += counts[j]
            err = abs(own + suffix - target)
            if err < best_err:
                best, best_err = j, err
        sents.insert(best, fact.statement)
        counts.insert(best, own)
    text = " ".join(sents)
    distances = []
    for fact, _ in facts:
        start = text.index(fact.statement)
        distances.append(count_tokens(text[start:]))
    return text, distances


def placed_document(rng, world: World, n_tokens: int, target: LocalFact,
                    distance: tuple[int, int], distractors: list[LocalFact],
                    count_tokens: CountTokens, tries: int = 50) -> tuple[str, int]:
    """A document whose target fact lies ``distance[0]..distance[1]`` tokens before the end.

    Distractors (same kind of fact about other people) go anywhere, so a model that only
    sees the end of the document cannot answer by copying the only candidate in view.
    The sentence grain (~10-20 tokens) is far finer than a window, and the measured
    distance is checked, retrying with fresh filler if a real tokenizer's count drifts.
    """
    lo, hi = distance
    for _ in range(tries):
        want = rng.randint(lo, hi)
        facts = [(target, want)] + [(d, rng.randint(0, n_tokens)) for d in distractors]
        text, measured = build_long_document(rng, world, n_tokens, facts, count_tokens)
        if lo <= measured[0] <= hi:
            return text, measured[0]
    raise RuntimeError(f"could not place a fact {lo}-{hi} tokens from the end in {tries} tries; "
                       f"is the window narrower than a sentence?")
