"""The generated world: determinism, no leakage, known facts in the corpus, layouts."""

import csv
import dataclasses
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.data import realdata as rd
from harness.data.world import (WorldConfig, build_world, corpus_stats, pretraining_documents,
                                world_config, write_benchmarks)
from harness.data.world.vocab import LOCAL_FACT_KINDS
from harness.data.world.tasks import MMLU_QUESTIONS, MMLU_SUBJECTS


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny():
    world = build_world(world_config("tiny"))
    return world, pretraining_documents(world)


@pytest.fixture(scope="module")
def tiny_bench(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    return write_benchmarks(tiny[0], out)


def test_same_seed_gives_byte_identical_output(tmp_path):
    cfg = world_config("micro", seed=3)
    a, b = build_world(cfg), build_world(cfg)
    assert a == b
    assert pretraining_documents(a) == pretraining_documents(b)
    write_benchmarks(a, tmp_path / "a")
    write_benchmarks(b, tmp_path / "b")
    da, db = _tree_digest(tmp_path / "a"), _tree_digest(tmp_path / "b")
    assert da == db and len(da) > 10


_DIGEST_SCRIPT = """
import hashlib, pathlib, sys, tempfile
from harness.data.world import build_world, pretraining_documents, world_config, write_benchmarks
from harness.data import posttrain
w = build_world(world_config("micro", seed=5))
h = hashlib.sha256("\\0".join(pretraining_documents(w)).encode())
h.update(repr(posttrain.preference_pairs(w, "helpfulness")).encode())
out = pathlib.Path(tempfile.mkdtemp())
write_benchmarks(w, out)
for p in sorted(out.rglob("*")):
    if p.is_file():
        h.update(str(p.relative_to(out)).encode() + p.read_bytes())
print(h.hexdigest())
"""


def test_output_does_not_depend_on_the_process_hash_seed():
    # Python salts str hashes per process; nothing may iterate a set or seed from hash().
    digests = set()
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        run = subprocess.run([sys.executable, "-c", _DIGEST_SCRIPT], env=env,
                             cwd=Path(__file__).parents[1],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        digests.add(run.stdout.strip())
    assert len(digests) == 1


def test_different_seed_gives_different_world():
    a, b = build_world(world_config("micro", seed=0)), build_world(world_config("micro", seed=1))
    assert a.people != b.people
    assert pretraining_documents(a) != pretraining_documents(b)


def test_config_is_frozen_and_validated():
    cfg = world_config("tiny")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_people = 5
    with pytest.raises(ValueError, match="person_attributes"):
        WorldConfig(person_attributes=("height",))
    with pytest.raises(ValueError, match="scrolls_tasks"):
        WorldConfig(scrolls_tasks=(("far", 300, 900),), scrolls_doc_tokens=700)
    with pytest.raises(ValueError, match="annotator_noise"):
        WorldConfig(annotator_noise=-0.1)
    with pytest.raises(ValueError, match="unknown world size"):
        world_config("huge")
    with pytest.raises(ValueError, match="n_people"):
        build_world(WorldConfig(n_people=10**6))


def test_tiny_world_is_fast_and_sized_for_the_calibration():
    t = time.perf_counter()
    world = build_world(world_config("tiny"))
    docs = pretraining_documents(world)
    assert time.perf_counter() - t < 10
    assert 300 <= len(world.people) <= 600 and 3 <= len(world.config.person_attributes) <= 4
    assert world.config.paraphrases_per_fact >= 4
    stats = corpus_stats(world)
    assert stats["total"]["docs"] == len(docs)
    # Facts (stated and retold in narratives) are most of the corpus, as in the calibration.
    assert stats["facts"]["share"] + stats["narratives"]["share"] > 0.5
    # Long documents are several thousand tokens.
    assert max(len(d) for d in docs) / 2.9 > 2000


def _asked_fact(ex) -> str:
    """The sentence of a SCROLLS-shaped example that states the asked fact (exactly one)."""
    for _, statement, question, _ in LOCAL_FACT_KINDS:
        m = re.fullmatch(re.escape(question).replace(re.escape("{name}"), "(.+)"), ex.question)
        if m:
            want = statement.format(name=m.group(1), value=ex.output)
            assert ex.text.count(want) == 1 and ex.text.count(m.group(1)) == 1
            return want
    raise AssertionError(f"unrecognised question {ex.question!r}")


def _sentences_with(docs_by_name, name, value):
    pat = re.compile(r"(?<!\w)" + re.escape(value) + r"(?!\w)", re.I)
    return [s for d in docs_by_name.get(name, ()) for s in re.split(r"(?<=[.?!])\s", d)
            if name in s and pat.search(s.replace(name, ""))]


def test_known_facts_are_stated_in_several_paraphrases_and_heldout_never(tiny):
    world, docs = tiny
    by_name = {}
    for d in docs:
        for p in world.people:
            if p.name in d:
                by_name.setdefault(p.name, []).append(d)
    n_para = world.config.paraphrases_per_fact
    for p in world.known_people:
        for attr in world.config.person_attributes:
            sentences = _sentences_with(by_name, p.name, str(getattr(p, attr)))
            distinct = {s for s in sentences}
            assert len(distinct) >= n_para, (p.name, attr, sentences)
    # Held-out people are never named, so their facts cannot be learned.
    assert world.heldout_people
    assert not any(p.name in by_name for p in world.heldout_people)
    for place in world.places:
        assert any(place.name in d and place.region in d for d in docs)


def test_eval_questions_never_appear_verbatim_in_corpus(tiny, tiny_bench):
    _, docs = tiny
    corpus = "\n".join(docs)
    paths = tiny_bench
    questions = [q.question for root in (paths["mmlu"], paths["mmlu_heldout"])
                 for split in ("test", "dev") for qs in rd.load_mmlu(root, split).values() for q in qs]
    questions += [p.question for p in rd.load_gsm8k(paths["gsm8k"], "test")]
    questions += [q.question for q in rd.load_squad(paths["squad"])]
    for key in [k for k in paths if k.startswith("scrolls/")]:
        for split in ("validation", "test"):
            questions += [e.question for e in rd.load_scrolls(paths[key], split)]
    assert len(questions) > 2000
    leaked = [q for q in questions if q in corpus]
    assert not leaked, leaked[:5]
    # ...while the train split of GSM8K is exactly what the corpus teaches.
    train = rd.load_gsm8k(paths["gsm8k"], "train")
    assert all(p.question in corpus for p in train)


def test_mmlu_layout_matches_the_real_files_byte_for_byte_in_form(tiny_bench):
    root = tiny_bench["mmlu"]
    for split, n in (("dev", 5), ("test", None)):
        for path in sorted((root / split).glob(f"*_{split}.csv")):
            raw = path.read_bytes()
            assert raw.startswith(b"question,choice0,choice1,choice2,choice3,answer\n")
            assert b"\r" not in raw and raw.endswith(b"\n")
            rows = list(csv.reader(path.open(newline="")))[1:]
            assert all(r[5] in "0123" and len(set(r[1:5])) == 4 for r in rows)
            if n:
                assert len(rows) == n
    subjects = rd.load_mmlu(root)
    assert set(subjects) >= {MMLU_SUBJECTS[a] for a in world_config("tiny").person_attributes}
    # Answer positions are balanced (no letter bias to exploit).
    answers = [q.answer for qs in subjects.values() for q in qs]
    assert all(0.18 < answers.count(k) / len(answers) < 0.32 for k in range(4))


def test_mmlu_answers_are_the_world_facts(tiny, tiny_bench):
    world = tiny[0]
    people = {p.name: p for p in world.people}
    for root, pool in ((tiny_bench["mmlu"], world.known_people),
                       (tiny_bench["mmlu_heldout"], world.heldout_people)):
        qs = rd.load_mmlu(root)
        for attr, subject in MMLU_SUBJECTS.items():
            if attr not in world.config.person_attributes:
                continue
            names = set()
            for q in qs[subject]:
                pattern = MMLU_QUESTIONS[attr].replace("?", r"\?").format(name="(.+)")
                name = re.fullmatch(pattern, q.question).group(1)
                assert q.choices[q.answer] == str(getattr(people[name], attr))
                names.add(name)
            assert names <= {p.name for p in pool}


@pytest.mark.skipif(not rd.data_dir().is_dir(), reason=f"real data folder {rd.data_dir()} absent")
def test_generated_files_load_with_the_same_loaders_as_the_real_ones(tiny_bench):
    real = rd.data_dir()
    for root in (real / "mmlu", tiny_bench["mmlu"]):
        assert rd.load_mmlu(root, "dev") and rd.load_mmlu(root, "test")
    for root in (real / "gsm8k", tiny_bench["gsm8k"]):
        assert rd.load_gsm8k(root, "train") and rd.load_gsm8k(root, "test")
    for root in (real / "squad", tiny_bench["squad"]):
        assert rd.load_squad(root)
    for root in (real / "scrolls" / "qmsum", tiny_bench["scrolls/world_far"]):
        assert rd.load_scrolls(root, "validation") and rd.load_scrolls(root, "test")
    # Same JSON keys in the same order as the official files.
    real_g = json.loads((real / "gsm8k" / "test.jsonl").open().readline())
    gen_g = json.loads((tiny_bench["gsm8k"] / "test.jsonl").open().readline())
    assert list(real_g) == list(gen_g)
    with gzip.open(real / "scrolls" / "qmsum" / "validation.jsonl.gz", "rt") as f:
        real_s = json.loads(f.readline())
    with gzip.open(tiny_bench["scrolls/world_far"] / "validation.jsonl.gz", "rt") as f:
        gen_s = json.loads(f.readline())
    assert list(real_s) == list(gen_s)


def test_gsm8k_worked_answers_are_correct(tiny_bench):
    for split in ("train", "test"):
        for p in rd.load_gsm8k(tiny_bench["gsm8k"], split):
            calcs = re.findall(r"<<([^=>]+)=([^>]+)>>", p.answer)
            assert len(calcs) >= 2  # multi-step
            for expr, val in calcs:
                assert eval(expr, {"__builtins__": {}}) == float(val)  # noqa: S307 (digits and + - * /)
            assert float(calcs[-1][1]) == float(p.final) and int(p.final) >= 0


def test_squad_spans_match_and_answer_the_question(tiny_bench):
    qs = rd.load_squad(tiny_bench["squad"])  # the loader checks every offset
    assert len(qs) >= 100 and len({q.id for q in qs}) == len(qs)
    assert all(q.answers[0] and q.question.endswith("?") for q in qs)


def test_scrolls_fact_distance_is_within_the_knob(tiny, tiny_bench):
    world = tiny[0]
    for task, lo, hi in world.config.scrolls_tasks:
        root = tiny_bench[f"scrolls/{task}"]
        meta = [json.loads(l) for l in (root / "validation.meta.jsonl").open()]
        examples = rd.load_scrolls(root, "validation")
        assert len(examples) == world.config.n_scrolls_per_split == len(meta)
        for ex, m in zip(examples, meta):
            assert ex.id == m["id"] and lo <= m["distance_tokens"] <= hi
            # The asked fact is stated once, and the person is named nowhere else.
            fact = _asked_fact(ex)
            assert len(ex.text) - ex.text.index(fact) == m["distance_chars"]


def test_scrolls_distance_knob_with_a_custom_token_counter(tmp_path):
    # A whitespace "tokenizer" stands in for the trained BPE: distances follow the counter.
    words = lambda s: len(s.split())  # noqa: E731
    cfg = dataclasses.replace(world_config("micro"), scrolls_doc_tokens=500,
                              scrolls_tasks=(("far", 300, 450),))
    paths = write_benchmarks(build_world(cfg), tmp_path, count_tokens=words)
    for ex in rd.load_scrolls(paths["scrolls/far"], "test"):
        fact = _asked_fact(ex)
        assert 300 <= words(ex.text[ex.text.index(fact):]) <= 450


def test_scrolls_multiple_choice_files_parse_as_quality_with_balanced_answers(tiny, tiny_bench):
    """scrolls/<task>_mc: the QA task's questions and documents, four choices in QuALITY's
    layout; the gold letter cycles A-D and two distractors are values the document states."""
    from evals.lm_tasks import QuALITY

    world = tiny[0]
    for task, _, _ in world.config.scrolls_tasks:
        qa = [json.loads(x) for x in gzip.open(tiny_bench[f"scrolls/{task}"] / "validation.jsonl.gz")]
        mc = [json.loads(x) for x in gzip.open(tiny_bench[f"scrolls/{task}_mc"] / "validation.jsonl.gz")]
        assert [r["output"] for r in mc] == [r["output"] for r in qa]
        golds = []
        for q, m in zip(qa, mc):
            doc = QuALITY._process_doc(None, {"id": m["id"], "pid": m["pid"], "input": m["input"],
                                              "outputs": [m["output"]]})[0]
            question, text = q["input"].split("\n\n", 1)
            assert doc["question"] == question and doc["text"] == text  # same question, same document
            assert len(set(doc["choices"])) == 4 and doc["choices"][doc["gold"]] == m["output"]
            stated = [c for c in doc["choices"] if re.search(rf"(?<!\w){re.escape(c)}(?!\w)", text)]
            assert m["output"] in stated and len(stated) == 3
            golds.append(doc["gold"])
        assert {g: golds.count(g) for g in range(4)} == {g: len(golds) // 4 for g in range(4)}


def test_recall_documents_end_with_a_question_about_a_fact_they_state(tiny):  # noqa: C901
    from harness.data.world.documents import recall_documents

    world = tiny[0]
    docs = recall_documents(world)
    assert world.config.n_recall_docs == 0 and docs == []  # off on tiny
    world = build_world(world_config("micro"))
    docs = recall_documents(world)
    assert len(docs) == world.config.n_recall_docs == 10
    for d in docs[:50]:
        body, qa = d.rsplit("\n\nQuestion: ", 1)
        question, answer = qa.split("\nAnswer: ")
        for kind, statement, q_template, _ in LOCAL_FACT_KINDS:
            m = re.fullmatch(re.escape(q_template).replace(re.escape("{name}"), "(.+)"), question)
            if m:
                assert statement.format(name=m.group(1), value=answer) in body
                break
        else:
            raise AssertionError(question)
