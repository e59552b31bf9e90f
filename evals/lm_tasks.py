"""lm-eval task code behind the YAML overlays in `evals/tasks/`.

The YAML files copy lm-eval's stock task definitions and swap only the data source: their
`custom_dataset` points at the loaders here, which read the data switch from the task
metadata (`data_source`, set by `evals.evaluate` or `lm-eval --metadata`).

SCROLLS and SQuAD v2 are Python tasks in lm-eval. Its SCROLLS module no longer imports
(it needs `transformers.data.metrics`, gone in transformers 5) and fetches its metric script
from the hub, and its SQuAD v2 fetches the `squad_v2` metric, so the classes below restate
lm-eval's classes (prompts, requests, per-document results: identical) with local data and the
local metrics of `evals.metrics`.

Long inputs: the document is truncated, never the query. When the metadata names the model
(`pretrained`, which `lm-eval --model_args pretrained=...` also puts there), the document
loses its start so the whole prompt fits the model's context minus the generation budget:
the end next to the question stays, as when lm-eval's HFLM left-truncates a long context
itself, but cut between the document's tokens. A model with twice the context therefore
reads twice the document, reaching twice as far back from the question.
"""

from __future__ import annotations

import re
from functools import lru_cache, reduce
from typing import ClassVar

import numpy as np

from evals import data as D
from evals import metrics as M

DEFAULT_MAX_GEN_TOKS = 256  # lm-eval HFLM.max_gen_toks


# ----------------------------------------------------------------------------- YAML hooks


def mmlu_dataset(subject: str, data_source: str | None = None, mmlu_folder: str = "mmlu", **_):
    return D.load_mmlu(subject, data_source, folder=mmlu_folder)


def gsm8k_dataset(data_source: str | None = None, **_):
    return D.load_gsm8k(data_source)


def squad_dataset(data_source: str | None = None, **_):
    return D.load_squad("v1.1", data_source)


def squad_process_results(doc: dict, results: list[str]) -> dict[str, float]:
    """Official SQuAD v1.1 EM and F1 for one question (0-100; the mean is the official score)."""
    return M.squad_v1_scores(results[0], doc["answers"]["text"])


# ----------------------------------------------------------------------------- truncation


@lru_cache(maxsize=8)
def _context_of(pretrained: str, max_length: int | None):
    """(tokenizer, max context length) as lm-eval's HFLM resolves them for `pretrained`."""
    from lm_eval.models.utils import resolve_max_length
    from transformers import AutoConfig, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(pretrained)
    if max_length is None:
        max_length = resolve_max_length(AutoConfig.from_pretrained(pretrained), tok)
    return tok, int(max_length)


def fit_document(tokenizer, document: str, render, budget: int) -> str:
    """Cut `document` from its start so that `render(document)` is at most `budget` tokens.

    `render` builds the full prompt around the document (the query stays whole). What is kept
    is the document's end, next to the question that follows it: the tokens lm-eval's HFLM
    itself keeps when it left-truncates a long context, but cut at a token boundary of the
    document's own tokenisation, so the kept text is verbatim. (The world's SCROLLS-shaped
    tasks measure a fact's distance back from the question on the same assumption.)
    """

    def n_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    if n_tokens(render(document)) <= budget:
        return document
    keep = budget - n_tokens(render(""))
    if keep <= 0:
        return ""
    enc = tokenizer(document, add_special_tokens=False, return_offsets_mapping=True)
    offsets = enc["offset_mapping"]
    keep = min(keep, len(offsets))
    while keep > 0:
        cut = document[offsets[len(offsets) - keep][0]:].lstrip()
        if n_tokens(render(cut)) <= budget:
            return cut
        keep -= max(1, (n_tokens(render(cut)) - budget))
    return ""


class _LocalTask:
    """Mixin: keeps the metadata lm-eval hands the constructor (lm-eval's own Python tasks drop it)."""

    VERSION = 0

    def __init__(self, config=None):
        meta = dict((config or {}).get("metadata") or {})
        self._suite_meta = meta
        self._fit_cache: dict = {}
        super().__init__(config={"metadata": {**meta, "version": self.VERSION}})

    @property
    def data_source(self):
        return self._suite_meta.get("data_source")

    def _budget(self):
        pretrained = self._suite_meta.get("pretrained")
        if not isinstance(pretrained, str):
            return None
        max_length = self._suite_meta.get("max_length")
        tok, ctx = _context_of(pretrained, int(max_length) if max_length else None)
        gen = int(self._suite_meta.get("max_gen_toks") or DEFAULT_MAX_GEN_TOKS)
        # one token for the BOS a tokenizer may add
        return tok, ctx - gen - 1

    def fit(self, key, document: str, render) -> str:
        budget = self._budget()
        if budget is None:
            return document
        tok, n = budget
        ck = (key, n)
        if ck not in self._fit_cache:
            self._fit_cache[ck] = fit_document(tok, document, render, n)
        return self._fit_cache[ck]


# ----------------------------------------------------------------------------- SCROLLS
# Restated from lm_eval/tasks/scrolls/task.py (lm-eval 0.4.x), data and metric made local.

from lm_eval.api.instance import Instance  # noqa: E402
from lm_eval.api.metrics import mean  # noqa: E402
from lm_eval.api.task import ConfigurableTask  # noqa: E402


def _process_doc_prepended_question(doc):
    # "When a query is given in addition to the raw text (as in QMSum, Qasper, NarrativeQA,
    # QuALITY, and ContractNLI), we prepend it to the text, using two newlines as a natural
    # separator"
    inp = doc["input"]
    split = inp.find("\n\n")
    return {
        "id": doc["id"],
        "pid": doc["pid"],
        "input": inp,
        "outputs": doc["outputs"],
        "question": inp[0:split],
        "text": inp[split + 2 :],
    }


class _SCROLLSTask(_LocalTask, ConfigurableTask):
    VERSION = 2
    DATASET_PATH = "tau/scrolls"
    DATASET_NAME = None
    SUBSET: str = ""

    def has_training_docs(self):
        return "train" in self.dataset

    def has_validation_docs(self):
        return True

    def has_test_docs(self):
        return False

    def _docs(self, split):
        from datasets import Dataset

        processed = [d for doc in self.dataset[split] for d in self._process_doc(doc)]
        return Dataset.from_dict({key: [d[key] for d in processed] for key in processed[0]})

    def training_docs(self):
        return self._docs("train")

    def validation_docs(self):
        return self._docs("validation")

    def should_decontaminate(self):
        return True

    def doc_to_decontamination_query(self, doc):
        return doc["input"]

    def download(self, *args, **kwargs):
        self.dataset = D.load_scrolls(self.SUBSET, self.data_source)

    def doc_to_target(self, doc):
        return " " + ", ".join(doc["outputs"])

    def _render_query(self, doc):
        return lambda text: f"{text}\n\nQuestion: {doc['question']}\nAnswer:"

    def doc_to_text(self, doc):
        render = self._render_query(doc)
        return render(self.fit(doc["id"], doc["text"], render))

    def higher_is_better(self):
        return {x: True for x in self._scrolls_metrics()}

    def _scrolls_metrics(self):
        raise NotImplementedError

    def _metric(self, predictions, references) -> dict:
        raise NotImplementedError

    def _make_compute_metrics(self, value):
        def compute_metrics(samples):
            predictions, references = zip(*samples, strict=False)
            return self._metric(list(predictions), list(references))[value]

        return compute_metrics

    def aggregation(self):
        return {key: self._make_compute_metrics(value) for key, value in self._scrolls_metrics().items()}


class _SCROLLSMultipleChoiceTask(_SCROLLSTask):
    def _scrolls_metrics(self):
        return None

    def aggregation(self):
        return {"em": mean, "acc": mean, "acc_norm": mean}

    def higher_is_better(self):
        return {"em": True, "acc": True, "acc_norm": True}

    def process_results(self, doc, results):
        gold = doc["gold"]
        lls, _ = zip(*results, strict=False)
        acc = 1.0 if np.argmax(lls) == gold else 0.0
        completion_len = np.array([float(len(i)) for i in doc["choices"]])
        acc_norm = 1.0 if np.argmax(lls / completion_len) == gold else 0.0
        return {"acc": acc, "acc_norm": acc_norm, "em": acc_norm * 100.0}

    def construct_requests(self, doc, ctx, chat_template=None, apply_chat_template=False, **kwargs):
        return [
            Instance(
                request_type="loglikelihood",
                doc=doc,
                arguments=(ctx, f" {choice}") if not apply_chat_template else (ctx, f"{choice}"),
                idx=i,
                **kwargs,
            )
            for i, choice in enumerate(doc["choices"])
        ]


class _SCROLLSSummaryTask(_SCROLLSTask):
    def _process_doc(self, doc):
        return [doc]

    def _scrolls_metrics(self):
        return {"rouge1": "rouge1", "rouge2": "rouge2", "rougeL": "rougeL"}

    def _metric(self, predictions, references):
        return M.scrolls_rouge(predictions, references)

    def process_results(self, doc, results):
        return {k: (results[0], doc["outputs"]) for k in ("rouge1", "rouge2", "rougeL")}

    def construct_requests(self, doc, ctx, chat_template=None, apply_chat_template=False, **kwargs):
        return Instance(request_type="generate_until", doc=doc, arguments=(ctx, {"until": ["\n"]}), idx=0, **kwargs)

    def doc_to_text(self, doc):
        render = lambda text: f"{text}\n\nQuestion: What is a summary of the preceding text?\nAnswer:"  # noqa: E731
        return render(self.fit(doc["id"], doc["input"], render))


class Qasper(_SCROLLSTask):
    SUBSET = DATASET_NAME = "qasper"

    def _process_doc(self, doc):
        doc = _process_doc_prepended_question(doc)
        doc["is_yes_no"] = reduce(
            lambda prev, cur: prev and M.normalize_answer(cur) in ["yes", "no"], doc["outputs"], True
        )
        return [doc]

    def _scrolls_metrics(self):
        return {"f1": "f1"}

    def _metric(self, predictions, references):
        return {"f1": M.scrolls_f1(predictions, references)}

    def process_results(self, doc, results):
        if doc["is_yes_no"]:
            prediction = " yes" if results[0] > results[1] else " no"
        elif len(results[0].strip()) == 0:
            prediction = "Unanswerable"
        else:
            prediction = results[0]
        return {"f1": (prediction, doc["outputs"])}

    def construct_requests(self, doc, ctx, chat_template=None, apply_chat_template=False, **kwargs):
        if doc["is_yes_no"]:
            return [
                Instance(request_type="loglikelihood", doc=doc,
                         arguments=(ctx, " yes") if not apply_chat_template else (ctx, "yes"), idx=0, **kwargs),
                Instance(request_type="loglikelihood", doc=doc,
                         arguments=(ctx, " no") if not apply_chat_template else (ctx, "no"), idx=1, **kwargs),
            ]
        return Instance(request_type="generate_until", doc=doc, arguments=(ctx, {"until": ["\n"]}), idx=0, **kwargs)


class QuALITY(_SCROLLSMultipleChoiceTask):
    SUBSET = DATASET_NAME = "quality"
    _multiple_choice_pattern = re.compile(r" *\([A-D]\) *")

    @staticmethod
    def _normalize_answer(text):
        return " ".join(text.split()).strip()

    def _process_doc(self, doc):
        doc = _process_doc_prepended_question(doc)
        split = doc["text"].find("\n\n", doc["text"].find("(D)"))
        choices_text = doc["text"][:split]
        doc["text"] = doc["text"][split:].strip()
        doc["choices"] = [
            QuALITY._normalize_answer(choice)
            for choice in re.split(QuALITY._multiple_choice_pattern, choices_text)[1:]
        ]
        doc["gold"] = doc["choices"].index(QuALITY._normalize_answer(doc["outputs"][0]))
        return [doc]


class NarrativeQA(_SCROLLSTask):
    SUBSET = "narrative_qa"
    DATASET_NAME = "narrative_qa"

    def _process_doc(self, doc):
        return [_process_doc_prepended_question(doc)]

    def _scrolls_metrics(self):
        return {"f1": "f1"}

    def _metric(self, predictions, references):
        return {"f1": M.scrolls_f1(predictions, references)}

    def process_results(self, doc, results):
        return {"f1": (results[0], doc["outputs"])}

    def construct_requests(self, doc, ctx, chat_template=None, apply_chat_template=False, **kwargs):
        return Instance(request_type="generate_until", doc=doc, arguments=(ctx, {"until": ["\n"]}), idx=0, **kwargs)


class _SubsetFromConfig:
    """Mixin for SCROLLS-layout subsets beyond the official seven: the folder under
    `scrolls/` is the task config's `scrolls_subset`."""

    def __init__(self, config=None):
        subset = (config or {}).get("scrolls_subset")
        if not subset:
            raise ValueError(f"{type(self).__name__} needs `scrolls_subset: <folder under scrolls/>` in its YAML")
        self.SUBSET = self.DATASET_NAME = subset
        super().__init__(config)


class SCROLLSQA(_SubsetFromConfig, NarrativeQA):
    """Question answering (the generated world's `world_near` / `world_far`): NarrativeQA's
    prompt, requests and F1."""


class SCROLLSMultipleChoice(_SubsetFromConfig, QuALITY):
    """Multiple choice in QuALITY's layout (the generated world's `world_near_mc` /
    `world_far_mc`): QuALITY's parsing, requests and accuracy."""


class ContractNLI(_SCROLLSMultipleChoiceTask):
    SUBSET = DATASET_NAME = "contract_nli"
    CHOICES: ClassVar[list[str]] = ["Not mentioned", "Entailment", "Contradiction"]

    def _process_doc(self, doc):
        doc = _process_doc_prepended_question(doc)
        doc["choices"] = ContractNLI.CHOICES
        doc["gold"] = ContractNLI.CHOICES.index(doc["outputs"][0])
        return [doc]

    def _render_query(self, doc):
        return lambda text: f"{text}\n\nHypothesis: {doc['question']}\nConclusion:"


class GovReport(_SCROLLSSummaryTask):
    SUBSET = DATASET_NAME = "gov_report"


class SummScreenFD(_SCROLLSSummaryTask):
    SUBSET = DATASET_NAME = "summ_screen_fd"


class QMSum(_SCROLLSSummaryTask):
    SUBSET = DATASET_NAME = "qmsum"

    def _process_doc(self, doc):
        return [_process_doc_prepended_question(doc)]

    def doc_to_text(self, doc):
        return _SCROLLSTask.doc_to_text(self, doc)


# ----------------------------------------------------------------------------- SQuAD v2

from lm_eval.tasks.squadv2.task import SQuAD2 as _StockSQuAD2  # noqa: E402


class SQuAD2(_LocalTask, _StockSQuAD2):
    """lm-eval's `squadv2` (prompt, requests, per-document results inherited unchanged) on a
    local `squad/dev-v2.0.json` with the official v2 metric computed here."""

    VERSION = 3

    def download(self, *args, **kwargs):
        self.dataset = D.load_squad("v2.0", self.data_source)

    def has_training_docs(self):
        return "train" in self.dataset

    def training_docs(self):
        return self.dataset["train"]

    def aggregation(self):
        def agg(key):
            def fn(items):
                predictions, references = zip(*items, strict=False)
                return M.squad_v2_evaluate(predictions, references).get(key, 0)

            return fn

        return {k: agg(k) for k in self.higher_is_better()}


__all__ = [
    "ContractNLI", "GovReport", "NarrativeQA", "QMSum", "Qasper", "QuALITY", "SCROLLSMultipleChoice", "SCROLLSQA", "SQuAD2",
    "SummScreenFD",
    "fit_document", "gsm8k_dataset", "mmlu_dataset", "squad_dataset", "squad_process_results",
]
