"""Metric correctness on hand-made predictions with known values (SQuAD v1.1 official rules,
SQuAD v2.0 official rules, SCROLLS metrics)."""

import math

import pytest

from evals_fixtures import REPO  # noqa: F401  (puts the repo on sys.path)

from evals import metrics as M


@pytest.mark.parametrize(
    "text, normal",
    [
        ("The  Quick, Brown fox!", "quick brown fox"),
        ("an apple", "apple"),
        ("A.B.C.", "abc"),  # punctuation goes before articles are matched
        ("theatre", "theatre"),  # 'the' only as a whole word
        ("  Denver   Broncos ", "denver broncos"),
    ],
)
def test_normalize_answer(text, normal):
    assert M.normalize_answer(text) == normal


@pytest.mark.parametrize(
    "pred, golds, em, f1",
    [
        ("the Eiffel Tower!", ["Eiffel tower"], 100.0, 100.0),  # article, case, punctuation
        ("Denver Broncos", ["Broncos"], 0.0, 200 / 3),  # P 1/2, R 1
        ("in France", ["France", "in France"], 100.0, 100.0),  # max over several gold answers
        ("Paris, France", ["France", "the French Republic"], 0.0, 200 / 3),
        ("", ["France"], 0.0, 0.0),
        ("the", ["a"], 100.0, 0.0),  # both normalise to "": EM 1 but F1 0 (official v1.1 script)
        ("Broncos Broncos", ["Broncos"], 0.0, 200 / 3),  # repeated tokens count once per match
    ],
)
def test_squad_v1_scores(pred, golds, em, f1):
    s = M.squad_v1_scores(pred, golds)
    assert s["exact_match"] == pytest.approx(em)
    assert s["f1"] == pytest.approx(f1)


def test_squad_v1_corpus_mean():
    out = M.squad_v1_evaluate(["in France", "Denver Broncos", "x"], [["France", "in France"], ["Broncos"], ["y"]])
    assert out["exact_match"] == pytest.approx(100 / 3)
    assert out["f1"] == pytest.approx((100 + 200 / 3) / 3)


def test_squad_v2_official_values():
    preds = [
        {"id": "a", "prediction_text": "France", "no_answer_probability": 0.1},
        {"id": "b", "prediction_text": "", "no_answer_probability": 0.9},
        {"id": "c", "prediction_text": "Paris", "no_answer_probability": 0.2},
    ]
    refs = [
        {"id": "a", "answers": {"text": ["France", "the France"], "answer_start": [0, 0]}},
        {"id": "b", "answers": {"text": [], "answer_start": []}},
        {"id": "c", "answers": {"text": [], "answer_start": []}},
    ]
    out = M.squad_v2_evaluate(preds, refs)
    assert out["exact"] == pytest.approx(200 / 3)
    assert out["f1"] == pytest.approx(200 / 3)
    assert out["HasAns_exact"] == 100.0 and out["HasAns_total"] == 1
    assert out["NoAns_exact"] == 50.0 and out["NoAns_total"] == 2
    assert out["best_exact"] == pytest.approx(100.0) and out["best_exact_thresh"] == 0.1


def test_scrolls_metrics_match_the_scrolls_docstring_example():
    # tau/scrolls metrics/scrolls.py documents these inputs and outputs
    preds = ["exact match example", "hello there", "general kenobi"]
    refs = [["exact match example"], ["hello", "hi there"], ["commander kenobi"]]
    r = M.scrolls_rouge(preds, refs)
    assert r["rouge1"] == 72.2222 and r["rouge2"] == 33.3333 and r["rougeL"] == 72.2222
    assert r["geometric_mean"] == 55.8136
    assert M.scrolls_exact_match(preds, refs) == 33.3333
    assert M.scrolls_f1(preds, refs) == 72.2222


def test_scrolls_rouge_tokenisation_and_longest_common_subsequence():
    # rouge-score lower-cases and drops punctuation; no stemming in SCROLLS
    assert M.scrolls_rouge(["The Budget!"], [["the budget"]])["rouge1"] == 100.0
    assert M.scrolls_rouge(["budgets"], [["budget"]])["rouge1"] == 0.0
    # LCS "a c d" of "a b c d" and "a c e d": P = R = 3/4
    r = M.scrolls_rouge(["a b c d"], [["a c e d"]])
    assert r["rougeL"] == 75.0
    assert r["rouge2"] == 0.0
    assert math.isclose(r["rouge1"], 75.0)
