"""Benchmark-shaped tasks written in the official layouts of their real counterparts.

    mmlu/{test,dev}/<subject>_{test,dev}.csv   cais/mmlu CSV (question,choice0..3,answer)
    mmlu_heldout/...                           same, about people the corpus never states
    gsm8k/{train,test}.jsonl                   question, answer ending "#### <number>"
    squad/dev-v1.1.json                        SQuAD v1.1 (data -> paragraphs -> qas)
    scrolls/<task>/{validation,test}.jsonl.gz  SCROLLS (id, pid, input, output)

so ``harness.data.realdata``'s loaders read these and ``../shared/data`` alike.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from pathlib import Path

from .corpus import PERSON_TEMPLATES, fill
from .documents import train_problems
from .entities import Person, World, person_value, rng_for, unused_names
from .longdocs import CountTokens, local_fact, placed_document, states
from .problems import word_problems
from .text import approx_token_count, cap

# Interrogative and worded unlike any corpus template (tests check no verbatim overlap).
MMLU_QUESTIONS = {
    "city": "Which town does {name} live in?",
    "job": "What is the occupation of {name}?",
    "employer": "Which organisation employs {name}?",
    "birth_year": "In which year was {name} born?",
    "colour": "Which colour does {name} like best?",
}
MMLU_SUBJECTS = {
    "city": "people_home_town",
    "job": "people_occupation",
    "employer": "people_employer",
    "birth_year": "people_birth_year",
    "colour": "people_favourite_colour",
}
PLACE_SUBJECT, PLACE_QUESTION = "places_region", "Which region is the town of {name} in?"
ORG_SUBJECT, ORG_QUESTION = "organisations_headquarters", "In which town does {name} have its headquarters?"

SQUAD_QUESTIONS = {
    "city": "Where does {name} live?",
    "job": "What does {name} do for a living?",
    "employer": "Who employs {name}?",
    "birth_year": "When was {name} born?",
    "colour": "What colour does {name} like most?",
}

# Bumped whenever the files written here change, so cached copies (evals.data) are rewritten.
# 2: scrolls/<task>_mc (QuALITY layout) beside every SCROLLS-shaped QA task.
BENCHMARK_FORMAT = 2
MMLU_HEADER = ["question", "choice0", "choice1", "choice2", "choice3", "answer"]
N_DEV = 5  # the 5-shot pool per subject, as in MMLU


def mmlu_row(rng, question: str, answer: str, domain: tuple[str, ...]) -> list:
    wrong = rng.sample([v for v in domain if v != answer], 3)
    pos = rng.randrange(4)
    choices = wrong[:pos] + [answer] + wrong[pos:]
    return [question] + choices + [pos]


def _write_csv(path: Path, rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # "\n" line ends and minimal quoting, byte for byte like the cais/mmlu files here.
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(MMLU_HEADER)
        w.writerows(rows)


def mmlu_subjects(world: World) -> dict[str, dict[str, list[list]]]:
    """{subject: {"dev": rows, "test": rows, "heldout": rows}}; rows are CSV rows.

    Dev rows (the few-shot pool) are about entities left out of that subject's test set,
    so a few-shot prompt never contains the answer to its own question.
    """
    cfg = world.config
    rng = rng_for(cfg.seed, "mmlu")
    out = {}
    for attr in cfg.person_attributes:
        known = list(world.known_people)
        rng.shuffle(known)
        q = MMLU_QUESTIONS[attr]
        rows = [mmlu_row(rng, q.format(name=p.name), person_value(p, attr), world.domain(attr))
                for p in known]
        held = [mmlu_row(rng, q.format(name=p.name), person_value(p, attr), world.domain(attr))
                for p in world.heldout_people]
        out[MMLU_SUBJECTS[attr]] = {"dev": rows[:N_DEV], "test": rows[N_DEV:], "heldout": held}
    for subject, q, ents, get, dom in (
            (PLACE_SUBJECT, PLACE_QUESTION, world.places, lambda e: e.region, "region"),
            (ORG_SUBJECT, ORG_QUESTION, world.orgs, lambda e: e.city, "org_city")):
        ents = list(ents)
        rng.shuffle(ents)
        rows = [mmlu_row(rng, cap(q.format(name=e.name)), get(e), world.domain(dom)) for e in ents]
        out[subject] = {"dev": rows[:N_DEV], "test": rows[N_DEV:], "heldout": []}
    return out


def write_mmlu(world: World, out_dir: Path) -> tuple[Path, Path]:
    root, held_root = out_dir / "mmlu", out_dir / "mmlu_heldout"
    for subject, parts in mmlu_subjects(world).items():
        _write_csv(root / "dev" / f"{subject}_dev.csv", parts["dev"])
        _write_csv(root / "test" / f"{subject}_test.csv", parts["test"])
        if parts["heldout"]:
            # Same dev pool, so the held-out score differs from the main one only in
            # whether the corpus stated the facts.
            _write_csv(held_root / "dev" / f"{subject}_dev.csv", parts["dev"])
            _write_csv(held_root / "test" / f"{subject}_test.csv", parts["heldout"])
    return root, held_root


def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")  # json's defaults, as in the official GSM8K files


def gsm8k_test_problems(world: World):
    exclude = frozenset(p.question for p in train_problems(world))
    return word_problems(world, world.config.n_test_problems, "test", exclude=exclude)


def write_gsm8k(world: World, out_dir: Path) -> Path:
    root = out_dir / "gsm8k"
    for split, probs in (("train", train_problems(world)), ("test", gsm8k_test_problems(world))):
        _write_jsonl(root / f"{split}.jsonl", [{"question": p.question, "answer": p.answer}
                                                for p in probs])
    return root


def _value_span(sentence: str, name: str, value: str) -> int:
    """Offset of ``value`` in ``sentence`` outside the person's name ("grey" vs "Rosa Grey")."""
    masked = sentence.replace(name, "\0" * len(name))
    for v in (value, cap(value)):
        m = re.search(r"(?<!\w)" + re.escape(v) + r"(?!\w)", masked)
        if m:
            return m.start()
    raise AssertionError(f"value {value!r} not found in {sentence!r}")


def squad_data(world: World) -> dict:
    """Reading comprehension about visitors, people outside the world: only the paragraph
    can answer, never memory."""
    rng = rng_for(world.config.seed, "squad")
    names = unused_names(world, "eval")[: world.config.n_squad_paragraphs]
    articles: dict[str, list] = {}
    for i, name in enumerate(names):
        p = Person(name=name, city=rng.choice(world.domain("city")), job=rng.choice(world.domain("job")),
                   employer=rng.choice(world.domain("employer")),
                   birth_year=int(rng.choice(world.domain("birth_year"))),
                   colour=rng.choice(world.domain("colour")))
        attrs = list(PERSON_TEMPLATES)
        rng.shuffle(attrs)
        context, qas = "", []
        for attr in attrs:
            sentence = fill(rng.choice(PERSON_TEMPLATES[attr]), name, person_value(p, attr))
            start = len(context) + (1 if context else 0) + _value_span(sentence, name, person_value(p, attr))
            context = f"{context} {sentence}" if context else sentence
            text = context[start:start + len(person_value(p, attr))]
            qas.append({"answers": [{"answer_start": start, "text": text}],
                        "question": SQUAD_QUESTIONS[attr].format(name=name),
                        "id": f"world-squad-{i:05d}-{attr}"})
        articles.setdefault(p.city, []).append({"context": context, "qas": qas})
    return {"data": [{"title": title, "paragraphs": paras} for title, paras in articles.items()],
            "version": "1.1"}


def write_squad(world: World, out_dir: Path) -> Path:
    root = out_dir / "squad"
    root.mkdir(parents=True, exist_ok=True)
    (root / "dev-v1.1.json").write_text(json.dumps(squad_data(world)), encoding="utf-8")
    return root


def _write_jsonl_gz(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    # mtime=0 and no file name in the header: gzip output is byte-identical across runs.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
        for r in records:
            gz.write((json.dumps(r) + "\n").encode("utf-8"))
    path.write_bytes(buf.getvalue())


def scrolls_examples(world: World, task: str, lo: int, hi: int, split: str,
                     count_tokens: CountTokens) -> tuple[list[dict], list[dict], list[dict]]:
    """SCROLLS records (question, blank line, document), a side table of distances, and the
    same questions multiple-choice in QuALITY's layout (question, blank line, "(A) .. (D) ..",
    blank line, document): the answer and the two distractor values the document also states
    (other people's facts of the same kind) and one value it does not, the answer's letter
    cycling A-D. Scored by log-likelihood, the multiple-choice form measures retrieval from
    far context long before a small model can generate the exact value."""
    cfg = world.config
    rng = rng_for(cfg.seed, f"scrolls-{task}-{split}")
    mc_rng = rng_for(cfg.seed, f"scrolls-{task}-{split}-choices")  # own stream: drawing choices does not move the documents
    pool = unused_names(world, "eval")
    prefix = "val" if split == "validation" else split
    records, meta, mc = [], [], []
    for i in range(cfg.n_scrolls_per_split):
        target_name, *other = rng.sample(pool, 3)
        target = local_fact(rng, target_name)
        distractors = []
        for n in other:  # distinct values: each distractor is a real alternative
            distractors.append(local_fact(rng, n, target.kind, avoid=(target.value, *(d.value for d in distractors))))
        doc, dist = placed_document(rng, world, cfg.scrolls_doc_tokens, target, (lo, hi),
                                    distractors, count_tokens)
        ex_id = f"{prefix}-{task}-{i}"
        records.append({"id": ex_id, "pid": ex_id, "input": f"{target.question}\n\n{doc}",
                        "output": target.value})
        others = [d.value for d in distractors]
        while True:  # a value the document does not contain anywhere
            fresh = local_fact(mc_rng, target_name, target.kind, avoid=(target.value, *others)).value
            if not states(doc, fresh):
                break
        others.append(fresh)
        mc_rng.shuffle(others)
        choices = others[:i % 4] + [target.value] + others[i % 4:]
        options = " ".join(f"({letter}) {c}" for letter, c in zip("ABCD", choices))
        mc.append({"id": ex_id, "pid": ex_id, "input": f"{target.question}\n\n{options}\n\n{doc}",
                   "output": target.value})
        meta.append({"id": ex_id, "distance_tokens": dist,
                     "distance_chars": len(doc) - doc.index(target.statement),
                     "doc_tokens": count_tokens(doc)})
    return records, meta, mc


def write_scrolls(world: World, out_dir: Path, count_tokens: CountTokens) -> dict[str, Path]:
    paths = {}
    for task, lo, hi in world.config.scrolls_tasks:
        root = out_dir / "scrolls" / task
        for split in ("validation", "test"):
            records, meta, mc = scrolls_examples(world, task, lo, hi, split, count_tokens)
            _write_jsonl_gz(root / f"{split}.jsonl.gz", records)
            # Not part of the SCROLLS layout: where each fact sits, for analysis.
            _write_jsonl(root / f"{split}.meta.jsonl", meta)
            _write_jsonl_gz(out_dir / "scrolls" / f"{task}_mc" / f"{split}.jsonl.gz", mc)
        paths[f"scrolls/{task}"] = root
        paths[f"scrolls/{task}_mc"] = out_dir / "scrolls" / f"{task}_mc"
    return paths


def write_benchmarks(world: World, out_dir, count_tokens: CountTokens | None = None
                     ) -> dict[str, Path]:
    """Write every benchmark-shaped task under ``out_dir``; returns {name: folder}.

    ``count_tokens`` measures the SCROLLS fact distances; pass the trained tokenizer's
    ``lambda s: len(tok.encode(s))`` for exact token distances, else words+punctuation.
    """
    out_dir = Path(out_dir)
    count_tokens = count_tokens or approx_token_count
    mmlu, held = write_mmlu(world, out_dir)
    paths = {"mmlu": mmlu, "mmlu_heldout": held, "gsm8k": write_gsm8k(world, out_dir),
             "squad": write_squad(world, out_dir)}
    paths.update(write_scrolls(world, out_dir, count_tokens))
    return paths
