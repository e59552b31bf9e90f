"""Long inputs: the query stays whole, the document loses its start (the end next to the question
stays, as lm-eval's own left truncation keeps it), and the document budget follows the model's
context (twice the context, at least twice the text)."""

import pytest

from evals_fixtures import mini_data, tiny_ckpt  # noqa: F401

from evals.lm_tasks import fit_document


def _ntok(tok, text):
    return len(tok(text, add_special_tokens=False)["input_ids"])


def test_fit_document_keeps_query_and_document_end(tiny_ckpt):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_ckpt))
    doc = " ".join(f"Line {i}: the committee met about item {i}." for i in range(300))
    render = lambda d: f"{d}\n\nQuestion: What was discussed?\nAnswer:"  # noqa: E731
    for budget in (64, 128, 256):
        cut = fit_document(tok, doc, render, budget)
        assert doc.endswith(cut) and len(cut) < len(doc)
        assert cut.endswith("item 299.")  # the sentence next to the question survives
        assert _ntok(tok, render(cut)) <= budget
        assert _ntok(tok, render(cut)) >= budget - 8  # uses the budget, not far below it
    assert fit_document(tok, "short", render, 256) == "short"
    assert fit_document(tok, doc, render, 3) == ""  # query alone does not fit: no document


def _qmsum_prompt(mini_data, tiny_ckpt, max_length):
    from evals.api import task_manager

    meta = {"data_source": str(mini_data), "pretrained": str(tiny_ckpt), "max_length": max_length}
    task = task_manager(meta).load(["scrolls_qmsum"])["tasks"]["scrolls_qmsum"]
    doc = next(iter(task.validation_docs()))
    return task, doc, task.doc_to_text(doc)


@pytest.mark.parametrize("task_name", ["scrolls_qmsum"])
def test_scrolls_prompt_fits_context_and_doubles_with_it(mini_data, tiny_ckpt, task_name):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_ckpt))
    kept = {}
    for ctx in (512, 1024):
        task, doc, prompt = _qmsum_prompt(mini_data, tiny_ckpt, ctx)
        assert prompt.endswith(f"\n\nQuestion: {doc['question']}\nAnswer:")  # query whole, at the end
        assert doc["text"].endswith(prompt[: -len(f"\n\nQuestion: {doc['question']}\nAnswer:")])
        assert _ntok(tok, prompt) + 1 <= ctx - 256  # + BOS, leaves lm-eval's 256 generation tokens
        kept[ctx] = _ntok(tok, prompt[: prompt.rindex("\n\nQuestion:")])
    assert kept[1024] >= 2 * kept[512]


def test_without_a_model_nothing_is_cut(mini_data):
    from evals.api import task_manager

    task = task_manager({"data_source": str(mini_data)}).load(["scrolls_qmsum"])["tasks"]["scrolls_qmsum"]
    doc = next(iter(task.validation_docs()))
    assert task.doc_to_text(doc).startswith(doc["text"] + "\n\nQuestion:")
