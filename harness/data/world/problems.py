"""Multi-step arithmetic word problems set in the world, with GSM8K-style worked answers.

An answer is a few lines, each step written ``a * b = <<a*b=c>>c`` as in GSM8K, and a
last line ``#### <number>``. Problems use known people and agree with their stated facts
(job, employer, birth year), so the same generator can feed the corpus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .entities import World, rng_for
from .text import a_an, plural

_CALC_RE = re.compile(r"<<[^>]*>>")


@dataclass(frozen=True)
class WordProblem:
    question: str
    answer: str  # worked solution ending "#### <number>"
    result: int
    steps: tuple[int, ...]  # intermediate results, for partial credit in the oracle


def _step(expr: str, value: int, unit: str = "") -> str:
    unit = f" {unit}" if unit else ""
    return f"{expr} = <<{expr.replace(' ', '')}={value}>>{value}{unit}"


def strip_calculator(answer: str) -> str:
    """GSM8K answer without the ``<<...>>`` calculator marks: how the corpus shows it."""
    return _CALC_RE.sub("", answer)


def _shopping(rng, world):
    p = rng.choice(world.known_people)
    i1, i2 = rng.sample(list(world.items), 2)
    n1, n2 = rng.randint(2, 9), rng.randint(2, 9)
    a, b = n1 * i1.price, n2 * i2.price
    pay = (a + b) + rng.randint(1, 60)
    q = (f"{p.name} buys {n1} {plural(i1.name)} at {i1.price} coins each and {n2} "
         f"{plural(i2.name)} at {i2.price} coins each. {p.first_name} pays with {pay} coins. "
         f"How many coins does {p.first_name} get back?")
    lines = [f"The {plural(i1.name)} cost {_step(f'{n1} * {i1.price}', a, 'coins')}.",
             f"The {plural(i2.name)} cost {_step(f'{n2} * {i2.price}', b, 'coins')}.",
             f"Together they cost {_step(f'{a} + {b}', a + b, 'coins')}.",
             f"So {p.first_name} gets back {_step(f'{pay} - {a + b}', pay - a - b, 'coins')}."]
    return q, lines, pay - a - b, (a, b, a + b)


def _workshop(rng, world):
    p = rng.choice(world.known_people)
    item = rng.choice(world.items)
    k, d = rng.randint(3, 12), rng.randint(2, 7)
    made = k * d
    s = rng.randint(1, made - 1)
    q = (f"{p.name} makes {k} {plural(item.name)} every day. After {d} days, "
         f"{p.first_name} sells {s} of them. How many {plural(item.name)} are left?")
    lines = [f"In {d} days {p.first_name} makes {_step(f'{k} * {d}', made)} {plural(item.name)}.",
             f"After selling {s}, {_step(f'{made} - {s}', made - s)} are left."]
    return q, lines, made - s, (made,)


def _savings(rng, world):
    p = rng.choice(world.known_people)
    item = rng.choice(world.items)
    a, w, c = rng.randint(3, 20), rng.randint(2, 10), rng.randint(5, 50)
    saved = a * w
    spend = min(item.price, saved)
    q = (f"{p.name} saves {a} coins every week for {w} weeks, then spends {spend} coins on "
         f"{a_an(item.name)}. Then {p.first_name} "
         f"earns {c} more coins. How many coins does {p.first_name} have now?")
    left = saved - spend
    lines = [f"{p.first_name} saves {_step(f'{a} * {w}', saved, 'coins')}.",
             f"After buying the {item.name}, {_step(f'{saved} - {spend}', left)} coins are left.",
             f"With the new coins {p.first_name} has {_step(f'{left} + {c}', left + c, 'coins')}."]
    return q, lines, saved - spend + c, (saved, saved - spend)


def _sharing(rng, world):
    p = rng.choice(world.known_people)
    item = rng.choice(world.items)
    k = rng.randint(2, 6)
    total = k * rng.randint(2, 12)
    a = rng.randint(1, total - 1)
    b = total - a
    q = (f"{p.name} has {a} {plural(item.name)} and buys {b} more. {p.first_name} shares "
         f"them equally among {k} friends. How many {plural(item.name)} does each friend get?")
    lines = [f"{p.first_name} has {_step(f'{a} + {b}', total)} {plural(item.name)}.",
             f"Each friend gets {_step(f'{total} / {k}', total // k)}."]
    return q, lines, total // k, (total,)


def _travel(rng, world):
    c1, c2 = rng.sample(list(world.places), 2)
    v, h, m = rng.randint(3, 12), rng.randint(2, 8), rng.randint(5, 40)
    q = (f"A cart leaves {c1.name} for {c2.name}. It travels at {v} miles per hour for {h} "
         f"hours, then goes {m} more miles to reach {c2.name}. How many miles is the trip?")
    lines = [f"In {h} hours the cart goes {_step(f'{v} * {h}', v * h, 'miles')}.",
             f"The whole trip is {_step(f'{v * h} + {m}', v * h + m, 'miles')}."]
    return q, lines, v * h + m, (v * h,)


def _age(rng, world):
    if "birth_year" not in world.config.person_attributes:
        return _travel(rng, world)
    # The friend's age gap comes from the two true birth years, so the problem never
    # contradicts a fact the corpus states; the asked-about year stays in the past.
    for _ in range(20):
        p, f = sorted(rng.sample(list(world.known_people), 2), key=lambda x: -x.birth_year)
        d = p.birth_year - f.birth_year
        if 0 < d <= 25:
            break
    else:
        return _travel(rng, world)
    y2 = rng.randint(p.birth_year + 5, 2020)
    older = f.first_name if f.first_name != p.first_name else f.name
    age = y2 - p.birth_year
    q = (f"{p.name} was born in {p.birth_year}. {older} is {d} years older than "
         f"{p.first_name}. How old was {older} in {y2}?")
    lines = [f"In {y2} {p.first_name} was {_step(f'{y2} - {p.birth_year}', age)} years old.",
             f"So {older} was {_step(f'{age} + {d}', age + d)} years old."]
    return q, lines, age + d, (age,)


GENERATORS = (_shopping, _workshop, _savings, _sharing, _travel, _age)


def word_problems(world: World, n: int, split: str, exclude: frozenset[str] = frozenset()
                  ) -> list[WordProblem]:
    """``n`` distinct problems for ``split``; questions in ``exclude`` are skipped, so the
    test split never repeats a train (corpus) question."""
    rng = rng_for(world.config.seed, f"problems-{split}")
    out, seen = [], set(exclude)
    while len(out) < n:
        q, lines, result, steps = rng.choice(GENERATORS)(rng, world)
        if q in seen:
            continue
        seen.add(q)
        out.append(WordProblem(q, "\n".join(lines + [f"#### {result}"]), result, steps))
    return out
