"""The pretraining corpus: each known fact stated in several paraphrases, plus narratives,
worked word problems and long documents (see ``pretraining_documents``)."""

from __future__ import annotations

import string

from . import vocab
from .entities import World, person_value, rng_for
from .text import a_an, cap

# Six declarative templates per fact. The evaluation questions are interrogative and
# phrased differently (tasks.py), so no test question can occur verbatim in the corpus.
PERSON_TEMPLATES = {
    "city": (
        "{name} lives in {value}.",
        "The home of {name} is in the town of {value}.",
        "{value} is where {name} lives.",
        "{name} has a house in {value} and lives there.",
        "If you visit {value}, you may meet {name}, who lives there.",
        "{name} is a resident of {value}.",
    ),
    "job": (
        "{name} works as {a_value}.",
        "By trade, {name} is {a_value}.",
        "{name} earns a living as {a_value}.",
        "The profession of {name} is that of {a_value}.",
        "Everyone knows that {name} is {a_value} by profession.",
        "{name} has worked as {a_value} for many years.",
    ),
    "employer": (
        "{name} works for {value}.",
        "{name} is employed by {value}.",
        "{Value} employs {name}.",
        "The employer of {name} is {value}.",
        "Every morning {name} goes to work at {value}.",
        "{name} is on the staff of {value}.",
    ),
    "birth_year": (
        "{name} was born in {value}.",
        "The birth year of {name} is {value}.",
        "In {value}, {name} was born.",
        "{name} came into the world in the year {value}.",
        "{name} is a person born in {value}.",
        "The records show that {name} was born in the year {value}.",
    ),
    "colour": (
        "The favourite colour of {name} is {value}.",
        "{name} likes the colour {value} best.",
        "{name} always chooses {value}, being fond of that colour above all.",
        "Of all colours, {name} loves {value} the most.",
        "{name} is fond of {value} more than any other colour.",
        "The colour that {name} prefers is {value}.",
    ),
}

PLACE_TEMPLATES = {
    "region": (
        "{name} is a town in {value}.",
        "{name} lies in {value}.",
        "The town of {name} belongs to {value}.",
        "In {value} there is a town called {name}.",
        "{name} can be found in {value}.",
        "Travellers to {value} often pass through {name}, one of its towns.",
    ),
    "founded": (
        "{name} was founded in {value}.",
        "The town of {name} dates from {value}.",
        "Settlers built {name} in {value}.",
    ),
}

ORG_TEMPLATES = {
    "city": (
        "{Name} has its headquarters in {value}.",
        "{Name} is based in {value}.",
        "The main office of {name} is in {value}.",
        "{Value} is home to {name}.",
        "You will find the head office of {name} in {value}.",
        "{Name} runs its business from {value}.",
    ),
    "industry": (
        "{Name} works in {value}.",
        "The trade of {name} is {value}.",
        "{Name} is known for {value}.",
    ),
    "founded": (
        "{Name} was founded in {value}.",
        "{Name} opened its doors in {value}.",
    ),
}


def fill(template: str, name: str, value: str) -> str:
    return cap(template.format(name=name, Name=cap(name), value=value, Value=cap(value),
                               a_value=a_an(value)))


def _fact_docs(rng, entities, templates, n_paraphrases, make_values):
    """One short document per entity per paraphrase round.

    Each (entity, attribute) gets its own random choice of ``n_paraphrases`` distinct
    templates, so each fact is stated that many different ways across the corpus.
    """
    docs = []
    picks = {}
    for ent in entities:
        for attr, temps in templates.items():
            k = min(n_paraphrases, len(temps))
            picks[ent.name, attr] = rng.sample(range(len(temps)), k)
    for rnd in range(n_paraphrases):
        for ent in entities:
            sentences = []
            for attr, value in make_values(ent):
                chosen = picks[ent.name, attr]
                if rnd < len(chosen):
                    sentences.append(fill(templates[attr][chosen[rnd]], ent.name, value))
            rng.shuffle(sentences)  # fact order carries no information
            if sentences:
                docs.append(" ".join(sentences))
    return docs


def fact_documents(world: World) -> list[str]:
    """Biographies of known people and notes on places and organisations."""
    cfg = world.config
    rng = rng_for(cfg.seed, "fact-docs")
    people_t = {a: PERSON_TEMPLATES[a] for a in cfg.person_attributes}
    docs = _fact_docs(rng, world.known_people, people_t, cfg.paraphrases_per_fact,
                      lambda p: [(a, person_value(p, a)) for a in cfg.person_attributes])
    docs += _fact_docs(rng, world.places, PLACE_TEMPLATES, cfg.paraphrases_per_fact,
                       lambda p: [("region", p.region), ("founded", str(p.founded))])
    docs += _fact_docs(rng, world.orgs, ORG_TEMPLATES, cfg.paraphrases_per_fact,
                       lambda o: [("city", o.city), ("industry", o.industry),
                                  ("founded", str(o.founded))])
    return docs


# Narrative sentences: each mentions a known person and at most one or two true facts,
# so stories reinforce the world without contradicting it.
NARRATIVE_SENTENCES = (
    "On a {weather} morning, {first} left home in {city} and {activity}.",
    "{name}, {a_job} from {city}, {activity}.",
    "Later that day {first} {activity}.",
    "At {employer}, {first} spoke with friends about the {weather} weather.",
    "{first} smiled and {activity}.",
    "The streets of {city} were {weather}, so {first} {activity}.",
    "After the work at {employer} was done, {first} {activity}.",
    "Nobody in {city} was surprised when {first} {activity}.",
)


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


# Template field -> the person attribute it reveals.
_REVEALS = {"city": "city", "employer": "employer", "a_job": "job"}


def narrative_sentence(rng, world: World, person=None) -> str:
    p = person or rng.choice(world.known_people)
    t = rng.choice(NARRATIVE_SENTENCES)
    # Only attributes this world states may be mentioned; otherwise a neutral sentence.
    if any(_REVEALS[f] not in world.config.person_attributes
           for f in _fields(t) if f in _REVEALS):
        t = "{first} {activity}."
    return cap(t.format(weather=rng.choice(vocab.WEATHER), first=p.first_name, name=p.name,
                        city=p.city, employer=p.employer, a_job=a_an(p.job),
                        activity=rng.choice(vocab.ACTIVITIES)))


def narratives(world: World) -> list[str]:
    """Short stories, each following one or two known people for a few sentences."""
    cfg = world.config
    rng = rng_for(cfg.seed, "narratives")
    docs = []
    for _ in range(cfg.n_narratives):
        cast = rng.sample(list(world.known_people), 2)
        lines = [f"This is a story about {cast[0].name} and {cast[1].name}."]
        for _ in range(rng.randint(4, 8)):
            lines.append(narrative_sentence(rng, world, rng.choice(cast)))
        docs.append(" ".join(lines))
    return docs
