"""Fixtures for the eval-layer tests (import them into a test module: `from evals_fixtures import *`).

- `tiny_ckpt`: a tiny random Llama checkpoint folder with a trained tokenizer and run.json.
- `mini_data`: a data root with small files in every official layout the loaders read
  (mmlu, gsm8k, squad v1.1 and v2.0, all seven SCROLLS subsets).
- `real_data`: ../shared/data (or $LLAMA2_SUITE_DATA); the test is skipped where it is absent.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

__all__ = ["tiny_ckpt", "mini_data", "real_data", "write_mini_data", "REPO"]


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    from evals.tiny import make_tiny_checkpoint

    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny_ckpt"))


@pytest.fixture(scope="session")
def mini_data(tmp_path_factory) -> Path:
    return write_mini_data(tmp_path_factory.mktemp("mini_data"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    from evals.data import default_data_root

    root = default_data_root()
    if not (root / "mmlu").is_dir():
        pytest.skip(f"real data not found at {root}")
    return root


def _jsonl(path: Path, rows: list[dict], gz: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")


LONG = " ".join(
    f"Speaker {i % 3}: the committee discussed item number {i} of the budget and the schedule." for i in range(400)
)


def write_mini_data(root: Path) -> Path:
    root = Path(root)
    # MMLU: two subjects; tricky CSV cells (commas, quotes, "None", numbers that must stay text)
    for split, n in (("test", 3), ("dev", 5)):
        d = root / "mmlu" / split
        d.mkdir(parents=True, exist_ok=True)
        for subject in ("abstract_algebra", "anatomy"):
            with open(d / f"{subject}_{split}.csv", "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["question", "choice0", "choice1", "choice2", "choice3", "answer"])
                for i in range(n):
                    w.writerow([f'Which, of "these" is item {i} in {subject}?', "None", "0.50", f"x{i}, y", "007", i % 4])
    # GSM8K
    qa = [
        ("Tom has 2 apples and gets 3 more. How many apples?", "2 + 3 = <<2+3=5>>5\n#### 5"),
        ("A box holds 4 pens. How many pens in 2 boxes?", "4 * 2 = <<4*2=8>>8\n#### 8"),
        ("Sam had 10 dollars and spent 1,000 cents. How much is left?", "10 - 10 = 0\n#### 0"),
    ]
    _jsonl(root / "gsm8k" / "train.jsonl", [{"question": q, "answer": a} for q, a in qa * 2])
    _jsonl(root / "gsm8k" / "test.jsonl", [{"question": q, "answer": a} for q, a in qa])
    # SQuAD v1.1 and v2.0
    ctx = "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy."
    v1 = {"version": "1.1", "data": [{"title": "Normans", "paragraphs": [{"context": ctx, "qas": [
        {"id": "q1", "question": "In what country is Normandy located?",
         "answers": [{"text": "France", "answer_start": 0}, {"text": "in France", "answer_start": 0}]},
        {"id": "q2", "question": "When were the Normans in Normandy?",
         "answers": [{"text": "10th and 11th centuries", "answer_start": 46}]},
    ]}]}]}
    (root / "squad").mkdir(parents=True, exist_ok=True)
    (root / "squad" / "dev-v1.1.json").write_text(json.dumps(v1))
    v2 = json.loads(json.dumps(v1))
    v2["version"] = "v2.0"
    v2["data"][0]["paragraphs"][0]["qas"].append(
        {"id": "q3", "question": "Who gave their name to Paris?", "answers": [], "is_impossible": True,
         "plausible_answers": [{"text": "The Normans", "answer_start": 0}]}
    )
    (root / "squad" / "dev-v2.0.json").write_text(json.dumps(v2))
    # SCROLLS, all seven subsets (validation), in the tau/scrolls layout
    sc = root / "scrolls"
    _jsonl(sc / "qmsum" / "validation.jsonl.gz", [
        {"id": "m1", "pid": "m1_0", "input": "What did the committee discuss?\n\n" + LONG, "output": "The budget."},
        {"id": "m1", "pid": "m1_1", "input": "What did the committee discuss?\n\n" + LONG, "output": "The schedule."},
        {"id": "m2", "pid": "m2_0", "input": "Summarize the meeting.\n\n" + LONG[:500], "output": "Items were discussed."},
    ], gz=True)
    _jsonl(sc / "quality" / "validation.jsonl", [
        {"id": "k1", "pid": "k1_0",
         "input": "What is discussed?\n\n (A) the budget (B) the weather (C) a film (D) nothing\n\n" + LONG,
         "output": "the budget"},
        {"id": "k2", "pid": "k2_0",
         "input": "Who speaks?\n\n (A) nobody (B) speakers (C) a dog (D) a cat\n\n" + LONG[:800],
         "output": "speakers"},
    ])
    _jsonl(sc / "qasper" / "validation.jsonl", [
        {"id": "p1", "pid": "p1_0", "input": "Is the budget discussed?\n\n" + LONG, "output": "Yes"},
        {"id": "p2", "pid": "p2_0", "input": "What is discussed?\n\n" + LONG[:600], "output": "the budget"},
    ])
    _jsonl(sc / "narrativeqa" / "validation.jsonl", [
        {"id": "n1", "pid": "n1_0", "input": "Who discussed the budget?\n\n" + LONG, "output": "the committee"},
        {"id": "n1", "pid": "n1_1", "input": "Who discussed the budget?\n\n" + LONG, "output": "committee members"},
    ])
    _jsonl(sc / "contract_nli" / "validation.jsonl", [
        {"id": "c1", "pid": "c1_0", "input": "The budget is confidential.\n\n" + LONG, "output": "Not mentioned"},
        {"id": "c2", "pid": "c2_0", "input": "Items are discussed.\n\n" + LONG[:700], "output": "Entailment"},
    ])
    _jsonl(sc / "gov_report" / "validation.jsonl", [
        {"id": "g1", "pid": "g1_0", "input": LONG, "output": "The committee reviewed the budget."},
    ])
    _jsonl(sc / "summ_screen_fd" / "validation.jsonl", [
        {"id": "s1", "pid": "s1_0", "input": LONG[:3000], "output": "Speakers talk about a budget."},
    ])
    return root
