"""The world: people, places, organisations and items, all drawn from one seed."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from . import vocab
from .config import WorldConfig

BIRTH_YEARS = tuple(range(1940, 2000))
FOUNDING_YEARS = tuple(range(1600, 1900))


def rng_for(seed: int, part: str) -> random.Random:
    """An independent, reproducible stream per part of the generator.

    Seeding with a string is stable across processes (it is hashed with SHA-512, not
    Python's salted ``hash``), and separate streams mean that adding, say, more word
    problems does not reshuffle the people.
    """
    return random.Random(f"llama2-suite-world:{seed}:{part}")


@dataclass(frozen=True)
class Place:
    name: str
    region: str
    founded: int


@dataclass(frozen=True)
class Org:
    name: str
    city: str  # headquarters: a Place name
    industry: str
    founded: int


@dataclass(frozen=True)
class Item:
    name: str
    price: int  # in coins


@dataclass(frozen=True)
class Person:
    name: str
    city: str  # where they live: a Place name
    job: str
    employer: str  # an Org name
    birth_year: int
    colour: str  # favourite colour

    @property
    def first_name(self) -> str:
        return self.name.split(" ")[0]


@dataclass(frozen=True)
class World:
    config: WorldConfig
    people: tuple[Person, ...]
    places: tuple[Place, ...]
    orgs: tuple[Org, ...]
    items: tuple[Item, ...]
    # Names of people whose facts are never written into the corpus (guessing control).
    heldout: frozenset[str] = field(default_factory=frozenset)

    @property
    def known_people(self) -> tuple[Person, ...]:
        """People whose facts the pretraining corpus states."""
        return tuple(p for p in self.people if p.name not in self.heldout)

    @property
    def heldout_people(self) -> tuple[Person, ...]:
        return tuple(p for p in self.people if p.name in self.heldout)

    def person(self, name: str) -> Person:
        for p in self.people:
            if p.name == name:
                return p
        raise KeyError(name)

    def domain(self, attribute: str) -> tuple[str, ...]:
        """Every value an attribute can take, as strings (the pool for wrong choices)."""
        if attribute == "city" or attribute == "org_city":
            return tuple(p.name for p in self.places)
        if attribute == "employer":
            return tuple(o.name for o in self.orgs)
        if attribute == "job":
            return vocab.JOBS
        if attribute == "colour":
            return vocab.COLOURS
        if attribute == "birth_year":
            return tuple(str(y) for y in BIRTH_YEARS)
        if attribute == "region":
            return vocab.REGIONS
        if attribute == "industry":
            return vocab.INDUSTRIES
        raise KeyError(attribute)


def person_value(person: Person, attribute: str) -> str:
    return str(getattr(person, attribute))


def build_world(cfg: WorldConfig) -> World:
    """Draw the world from ``cfg.seed``; same config, identical world."""
    n_place_names = len(vocab.PLACE_PREFIXES) * len(vocab.PLACE_SUFFIXES)
    n_org_names = len(vocab.ORG_ADJECTIVES) * len(vocab.ORG_NOUNS) * len(vocab.ORG_KINDS)
    n_person_names = len(vocab.FIRST_NAMES) * len(vocab.SURNAMES)
    for what, need, have in (("n_places", cfg.n_places, n_place_names),
                             ("n_orgs", cfg.n_orgs, n_org_names),
                             ("n_people", cfg.n_people, n_person_names)):
        if need > have:
            raise ValueError(f"WorldConfig.{what}={need} exceeds the {have} distinct names available")

    rng = rng_for(cfg.seed, "entities")
    place_names = rng.sample([a + b for a in vocab.PLACE_PREFIXES for b in vocab.PLACE_SUFFIXES],
                             cfg.n_places)
    places = tuple(Place(n, rng.choice(vocab.REGIONS), rng.choice(FOUNDING_YEARS))
                   for n in place_names)

    org_names = rng.sample([f"the {a} {n} {k}" for a in vocab.ORG_ADJECTIVES
                            for n in vocab.ORG_NOUNS for k in vocab.ORG_KINDS], cfg.n_orgs)
    orgs = tuple(Org(n, rng.choice(place_names), rng.choice(vocab.INDUSTRIES),
                     rng.choice(FOUNDING_YEARS)) for n in org_names)

    items = tuple(Item(name, rng.randint(2, 30)) for name in vocab.ITEMS)

    # Attributes are drawn independently, so no fact can be inferred from another one:
    # the model must memorise each (as in the DESIGN calibration experiment).
    person_names = rng.sample([f"{f} {s}" for f in vocab.FIRST_NAMES for s in vocab.SURNAMES
                               if f != s], cfg.n_people)
    people = tuple(Person(name=n, city=rng.choice(place_names), job=rng.choice(vocab.JOBS),
                          employer=rng.choice(org_names), birth_year=rng.choice(BIRTH_YEARS),
                          colour=rng.choice(vocab.COLOURS)) for n in person_names)

    n_heldout = round(cfg.n_people * cfg.heldout_fraction)
    heldout = frozenset(p.name for p in rng.sample(list(people), n_heldout))
    return World(config=cfg, people=people, places=places, orgs=orgs, items=items,
                 heldout=heldout)


def unused_names(world: World, pool: str) -> list[str]:
    """Names of nobody in the world, split into two disjoint pools.

    "corpus" names appear in pretraining long documents, "eval" names in reading and
    long-context benchmarks, so a benchmark question (which names its person) can never
    occur verbatim in the corpus, and no memorised fact can answer it.
    """
    taken = {p.name for p in world.people}
    names = [f"{f} {s}" for f in vocab.FIRST_NAMES for s in vocab.SURNAMES
             if f != s and f"{f} {s}" not in taken]
    rng_for(world.config.seed, "unused-names").shuffle(names)
    if pool == "corpus":
        return names[0::2]
    if pool == "eval":
        return names[1::2]
    raise ValueError(f"pool must be 'corpus' or 'eval', got {pool!r}")
