"""Scoring functions, written out from their official definitions so nothing is fetched.

- SQuAD v1.1: the official `evaluate-v1.1.py` (normalise: lower case, drop punctuation, drop
  the articles a/an/the, collapse whitespace; EM and token F1, max over gold answers; 0-100).
- SQuAD v2.0: the official `evaluate-v2.0.py` as the HF `squad_v2` metric runs it (what
  lm-eval's `squadv2` task aggregates): exact, f1, HasAns_*, NoAns_*, best_exact, best_f1.
- SCROLLS: `tau/scrolls` metrics/scrolls.py: ROUGE-1/2/L F-measure from `rouge-score` without
  stemming, max over the references of an example, mean over examples, x100, rounded to
  4 decimals; EM and F1 as in SQuAD v1.1 (max over references), x100, rounded to 4 decimals.
  SCROLLS splits summaries into sentences (nltk) before scoring; that only changes ROUGE-Lsum,
  which we do not report, so ROUGE-1/2/L here equal SCROLLS' exactly.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (SQuAD's official rule)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


# ----------------------------------------------------------------------------- SQuAD v1.1


def squad_exact(prediction: str, ground_truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def squad_f1(prediction: str, ground_truth: str) -> float:
    pred = normalize_answer(prediction).split()
    gold = normalize_answer(ground_truth).split()
    num_same = sum((Counter(pred) & Counter(gold)).values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred)
    recall = num_same / len(gold)
    return (2 * precision * recall) / (precision + recall)


def max_over_ground_truths(metric_fn, prediction: str, ground_truths: Iterable[str]) -> float:
    return max(metric_fn(prediction, gt) for gt in ground_truths)


def squad_v1_scores(prediction: str, ground_truths: Sequence[str]) -> dict[str, float]:
    """Per-question scores on the 0-100 scale; their mean is the official script's number."""
    return {
        "exact_match": 100.0 * max_over_ground_truths(squad_exact, prediction, ground_truths),
        "f1": 100.0 * max_over_ground_truths(squad_f1, prediction, ground_truths),
    }


def squad_v1_evaluate(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """The official v1.1 corpus numbers for aligned predictions and gold-answer lists."""
    per = [squad_v1_scores(p, refs) for p, refs in zip(predictions, references, strict=True)]
    n = len(per)
    return {k: sum(s[k] for s in per) / n for k in ("exact_match", "f1")}


# ----------------------------------------------------------------------------- SQuAD v2.0


def _v2_tokens(s: str) -> list[str]:
    return normalize_answer(s).split() if s else []


def _v2_exact(a_gold: str, a_pred: str) -> int:
    return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def _v2_f1(a_gold: str, a_pred: str) -> float:
    gold, pred = _v2_tokens(a_gold), _v2_tokens(a_pred)
    num_same = sum((Counter(gold) & Counter(pred)).values())
    if len(gold) == 0 or len(pred) == 0:
        return int(gold == pred)  # if either is no-answer, F1 is 1 if they agree, 0 otherwise
    if num_same == 0:
        return 0
    precision = num_same / len(pred)
    recall = num_same / len(gold)
    return (2 * precision * recall) / (precision + recall)


def _best_thresh(preds, scores, na_probs, has_ans):
    num_no_ans = sum(1 for k in has_ans if not has_ans[k])
    cur = best = num_no_ans
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if has_ans[qid]:
            diff = scores[qid]
        else:
            diff = -1 if preds[qid] else 0
        cur += diff
        if cur > best:
            best, best_thresh = cur, na_probs[qid]
    return 100.0 * best / len(scores), best_thresh


def squad_v2_evaluate(predictions: Sequence[dict], references: Sequence[dict], na_prob_thresh: float = 1.0) -> dict:
    """`predictions`: {id, prediction_text, no_answer_probability}; `references`: {id, answers:
    {text: [...]}} (the HF `squad_v2` metric's inputs). Returns its dict (0-100 scale)."""
    preds = {p["id"]: p["prediction_text"] for p in predictions}
    na_probs = {p["id"]: p["no_answer_probability"] for p in predictions}
    has_ans = {r["id"]: bool(r["answers"]["text"]) for r in references}
    exact_raw, f1_raw = {}, {}
    for ref in references:
        qid = ref["id"]
        golds = [t for t in ref["answers"]["text"] if normalize_answer(t)] or [""]
        if qid not in preds:
            continue
        exact_raw[qid] = max(_v2_exact(g, preds[qid]) for g in golds)
        f1_raw[qid] = max(_v2_f1(g, preds[qid]) for g in golds)

    def thresh(scores):
        return {
            qid: (float(not has_ans[qid]) if na_probs[qid] > na_prob_thresh else s) for qid, s in scores.items()
        }

    exact_t, f1_t = thresh(exact_raw), thresh(f1_raw)

    def summary(qids):
        return {
            "exact": 100.0 * sum(exact_t[k] for k in qids) / len(qids),
            "f1": 100.0 * sum(f1_t[k] for k in qids) / len(qids),
            "total": len(qids),
        }

    out = summary(list(exact_t))
    has = [k for k in has_ans if has_ans[k]]
    no = [k for k in has_ans if not has_ans[k]]
    if has:
        out.update({f"HasAns_{k}": v for k, v in summary(has).items()})
    if no:
        out.update({f"NoAns_{k}": v for k, v in summary(no).items()})
    out["best_exact"], out["best_exact_thresh"] = _best_thresh(preds, exact_raw, na_probs, has_ans)
    out["best_f1"], out["best_f1_thresh"] = _best_thresh(preds, f1_raw, na_probs, has_ans)
    return out


# ----------------------------------------------------------------------------- SCROLLS

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def scrolls_rouge(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """SCROLLS ROUGE: F-measure x100, max over an example's references, mean, rounded to 4 places."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(rouge_types=list(ROUGE_TYPES), use_stemmer=False)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for pred, refs in zip(predictions, references, strict=True):
        per_ref = [scorer.score(ref, pred) for ref in refs]
        for key in ROUGE_TYPES:
            totals[key] += max(s[key].fmeasure * 100 for s in per_ref)
    n = len(predictions)
    out = {key: totals[key] / n for key in ROUGE_TYPES}
    out["geometric_mean"] = (out["rouge1"] * out["rouge2"] * out["rougeL"]) ** (1.0 / 3.0)
    return {key: round(v, 4) for key, v in out.items()}


def scrolls_exact_match(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    total = sum(max_over_ground_truths(squad_exact, p, refs) for p, refs in zip(predictions, references, strict=True))
    return round(100.0 * total / len(predictions), 4)


def scrolls_f1(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    total = sum(max_over_ground_truths(squad_f1, p, refs) for p, refs in zip(predictions, references, strict=True))
    return round(100.0 * total / len(predictions), 4)
