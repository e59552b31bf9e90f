"""The suite's own metrics (beside lm-eval): validation perplexity, reward-model accuracy per
rating bucket, Self-BLEU of sampled responses. Each returns tidy rows (task, metric, value,
stderr, n) so they join lm-eval's rows in one results table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import pandas as pd

from evals.api import ROW_COLUMNS

# Llama 2 (Touvron et al. 2023, Table 8) reports reward-model accuracy per preference rating.
RATING_BUCKETS = ("significantly_better", "better", "slightly_better", "negligibly_better")


def _rows(records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=ROW_COLUMNS)


def mean_stderr(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and its standard error (None with fewer than two values)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


# ----------------------------------------------------------------------------- perplexity


def validation_perplexity(
    model, tokenizer, texts: Iterable[str], *, seq_len: int | None = None, batch_size: int = 8,
    task: str = "validation",
) -> pd.DataFrame:
    """Perplexity on held-out text: documents joined with </s> (as packing does), cut into
    non-overlapping windows of `seq_len` (default: the model context); every token but a
    window's first is predicted. Rows: loss (mean NLL in nats, stderr over tokens) and
    perplexity = exp(loss); n = predicted tokens. Windows of equal length are batched, so the
    number does not depend on `batch_size` beyond float round-off.
    """
    import torch

    ids: list[int] = []
    eos = tokenizer.eos_token_id
    for text in texts:
        ids.extend(tokenizer.encode(text, add_special_tokens=False))
        if eos is not None:
            ids.append(eos)
    seq_len = int(seq_len or getattr(model.config, "max_position_embeddings", 512))
    windows = [ids[i : i + seq_len] for i in range(0, len(ids), seq_len)]
    windows = [w for w in windows if len(w) >= 2]
    if not windows:
        raise ValueError("validation_perplexity: need at least 2 tokens of text")
    device = next(model.parameters()).device
    nll: list[torch.Tensor] = []
    model.eval()
    with torch.no_grad():
        full = [w for w in windows if len(w) == seq_len]
        rest = [w for w in windows if len(w) != seq_len]
        batches = [full[i : i + batch_size] for i in range(0, len(full), batch_size)] + [[w] for w in rest]
        for batch in batches:
            x = torch.tensor(batch, device=device)
            logits = model(input_ids=x).logits.float()
            lp = torch.log_softmax(logits[:, :-1], dim=-1)
            nll.append(-lp.gather(-1, x[:, 1:, None]).squeeze(-1).flatten().cpu())
    tok_nll = torch.cat(nll).double()
    n = tok_nll.numel()
    loss = tok_nll.mean().item()
    stderr = (tok_nll.std(unbiased=True) / math.sqrt(n)).item() if n > 1 else None
    return _rows([
        {"task": task, "metric": "loss", "value": loss, "stderr": stderr, "n": n},
        {"task": task, "metric": "perplexity", "value": math.exp(loss), "stderr": None, "n": n},
    ])


# ----------------------------------------------------------------------------- reward model


def _bucket(label) -> str:
    if label is None:
        return "unrated"
    text = str(label).strip().lower().replace("-", " ").replace("/", " ")
    text = "_".join(text.split())
    for b in RATING_BUCKETS:
        if text.startswith(b):
            return b
    if text.startswith("negligibly") or text == "unsure":
        return "negligibly_better"
    return text


def reward_accuracy(
    chosen_scores: Sequence[float], rejected_scores: Sequence[float], ratings: Sequence | None = None,
    *, task: str = "reward",
) -> pd.DataFrame:
    """Accuracy (chosen scored strictly above rejected) overall and per rating bucket.

    Rows: metric "acc" over all pairs, and "acc/<bucket>" per bucket (Llama 2's
    significantly_better, better, slightly_better, negligibly_better first, other labels
    after, sorted). stderr is the binomial standard error.
    """
    if len(chosen_scores) != len(rejected_scores):
        raise ValueError("reward_accuracy: chosen and rejected scores differ in length")
    if not chosen_scores:
        raise ValueError("reward_accuracy: no pairs")
    hits = [float(c > r) for c, r in zip(chosen_scores, rejected_scores, strict=True)]
    labels = [_bucket(r) for r in ratings] if ratings is not None else None
    rows = []
    mean, se = mean_stderr(hits)
    rows.append({"task": task, "metric": "acc", "value": mean, "stderr": se, "n": len(hits)})
    if labels is not None:
        present = set(labels)
        order = [b for b in RATING_BUCKETS if b in present] + sorted(present - set(RATING_BUCKETS))
        for b in order:
            sub = [h for h, lab in zip(hits, labels, strict=True) if lab == b]
            mean, se = mean_stderr(sub)
            rows.append({"task": task, "metric": f"acc/{b}", "value": mean, "stderr": se, "n": len(sub)})
    return _rows(rows)


def score_texts(model, tokenizer, texts: Sequence[str], *, max_length: int | None = None) -> list[float]:
    """Scalar rewards from a sequence-classification head (num_labels=1), one text at a time
    (so no padding enters the score)."""
    import torch

    device = next(model.parameters()).device
    out = []
    model.eval()
    with torch.no_grad():
        for text in texts:
            enc = tokenizer(text, return_tensors="pt", truncation=max_length is not None, max_length=max_length)
            logits = model(**{k: v.to(device) for k, v in enc.items()}).logits
            out.append(float(logits.reshape(-1)[0]))
    return out


def _get(pair, key, default=None):
    if isinstance(pair, Mapping):
        return pair.get(key, default)
    return getattr(pair, key, default)


def pair_texts(pair) -> tuple[str, str]:
    """Default rendering of a preference pair for a reward model: prompt + response."""
    prompt = _get(pair, "prompt", "") or ""
    return prompt + _get(pair, "chosen"), prompt + _get(pair, "rejected")


def reward_model_accuracy(
    model_or_score_fn, pairs: Sequence, tokenizer=None, *, rating_key: str = "rating",
    task: str = "reward", max_length: int | None = None,
    render: Callable[[object], tuple[str, str]] = pair_texts,
) -> pd.DataFrame:
    """Accuracy of a reward model on preference pairs, overall and per rating bucket.

    `pairs`: mappings or objects (e.g. `harness.data.posttrain.PreferencePair`) with chosen,
    rejected, an optional prompt and an optional rating; `render(pair)` gives the two texts
    scored (default prompt + response; pass the reward stage's own formatting).
    `model_or_score_fn` is a reward model (with `tokenizer`) or a function from a list of
    texts to a list of scores.
    """
    texts = [render(p) for p in pairs]
    chosen = [c for c, _ in texts]
    rejected = [r for _, r in texts]
    if callable(model_or_score_fn) and tokenizer is None:
        score: Callable = model_or_score_fn
    else:
        def score(texts):
            return score_texts(model_or_score_fn, tokenizer, texts, max_length=max_length)
    ratings = [_get(p, rating_key) for p in pairs]
    if all(r is None for r in ratings):
        ratings = None
    return reward_accuracy(score(chosen), score(rejected), ratings, task=task)


# ----------------------------------------------------------------------------- Self-BLEU


def self_bleu(responses: Sequence[str]) -> float:
    """Self-BLEU (Zhu et al. 2018): each response scored by sacrebleu's sentence BLEU against all
    the others as references, averaged; 0-100, higher = less diverse."""
    import sacrebleu

    if len(responses) < 2:
        raise ValueError("self_bleu needs at least 2 responses")
    bleu = sacrebleu.metrics.BLEU(effective_order=True)
    scores = []
    for i, hyp in enumerate(responses):
        refs = [r for j, r in enumerate(responses) if j != i]
        scores.append(bleu.sentence_score(hyp, refs).score)
    return sum(scores) / len(scores)


def self_bleu_rows(groups: Mapping[str, Sequence[str]] | Sequence[Sequence[str]], *, task: str = "self_bleu") -> pd.DataFrame:
    """Self-BLEU per prompt (its sampled responses), mean over prompts with its stderr."""
    values = [self_bleu(g) for g in (groups.values() if isinstance(groups, Mapping) else groups)]
    mean, se = mean_stderr(values)
    return _rows([{"task": task, "metric": "self_bleu", "value": mean, "stderr": se, "n": len(values)}])


def sample_responses(
    model, tokenizer, prompts: Sequence[str], *, num_samples: int = 4, max_new_tokens: int = 48,
    temperature: float = 1.0, top_p: float = 1.0, seed: int = 0,
) -> dict[str, list[str]]:
    """Sample `num_samples` responses per prompt (one prompt at a time, seeded)."""
    import torch

    device = next(model.parameters()).device
    out: dict[str, list[str]] = {}
    for k, prompt in enumerate(prompts):
        torch.manual_seed(seed + k)
        enc = tokenizer(prompt, return_tensors="pt").to(device)
        gen = model.generate(
            **enc, do_sample=True, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
            num_return_sequences=num_samples, pad_token_id=tokenizer.eos_token_id,
        )
        n = enc["input_ids"].shape[1]
        out[prompt] = [tokenizer.decode(g[n:], skip_special_tokens=True) for g in gen]
    return out
