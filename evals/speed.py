"""Inference speed and memory per attention variant (MHA / GQA / MQA): the measurements behind
the Llama 2 paper's GQA throughput comparison (tokens/s with a KV cache at several batch sizes
and context lengths, KV-cache bytes, peak RSS).

Greedy decoding by hand (prefill once, then one token a step reusing the cache), so the timing
is the model's and not `generate`'s bookkeeping.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd


def attention_kind(n_heads: int, n_kv_heads: int) -> str:
    if n_kv_heads == n_heads:
        return "MHA"
    if n_kv_heads == 1:
        return "MQA"
    return f"GQA-{n_kv_heads}"


def kv_cache_bytes_formula(config, batch_size: int, tokens: int, bytes_per_element: int) -> int:
    """2 (K and V) x layers x batch x kv heads x tokens x head dim x bytes."""
    n_heads = config.num_attention_heads
    n_kv = getattr(config, "num_key_value_heads", None) or n_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // n_heads
    return 2 * config.num_hidden_layers * batch_size * n_kv * tokens * head_dim * bytes_per_element


def cache_bytes(cache) -> int:
    """Bytes held by a transformers KV cache (DynamicCache or legacy tuples)."""
    import torch

    total = 0
    layers = getattr(cache, "layers", None)
    if layers is not None:
        for layer in layers:
            for name in ("keys", "values"):
                t = getattr(layer, name, None)
                if isinstance(t, torch.Tensor):
                    total += t.numel() * t.element_size()
        return total
    for name in ("key_cache", "value_cache"):
        for t in getattr(cache, name, []) or []:
            total += t.numel() * t.element_size()
    if total == 0 and isinstance(cache, (tuple, list)):
        for layer in cache:
            for t in layer:
                total += t.numel() * t.element_size()
    return total


class PeakRSS:
    """Peak resident set size of this process during a `with` block (sampled every `interval` s)."""

    def __init__(self, interval: float = 0.002):
        import psutil

        self._proc = psutil.Process(os.getpid())
        self.interval = interval
        self.peak = 0
        self.start = 0
        self._stop = threading.Event()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self):
        self.start = self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


@dataclass
class _Run:
    prefill_s: float
    decode_s: float
    kv_bytes: int


def _greedy(model, input_ids, new_tokens: int) -> _Run:
    import torch

    with torch.inference_mode():
        t0 = time.perf_counter()
        out = model(input_ids=input_ids, use_cache=True)
        past = out.past_key_values
        nxt = out.logits[:, -1:].argmax(-1)
        t1 = time.perf_counter()
        for _ in range(new_tokens - 1):
            out = model(input_ids=nxt, past_key_values=past, use_cache=True)
            past = out.past_key_values
            nxt = out.logits[:, -1:].argmax(-1)
        t2 = time.perf_counter()
    return _Run(t1 - t0, t2 - t1, cache_bytes(past))


def measure_inference(
    model,
    batch_sizes: Sequence[int] = (1, 4, 8),
    context_lengths: Sequence[int] = (128, 256),
    *,
    new_tokens: int = 32,
    repeats: int = 1,
    warmup: bool = True,
    seed: int = 0,
    label: str | None = None,
) -> pd.DataFrame:
    """Time greedy decoding with a KV cache for each (batch size, context length).

    Rows: attention (MHA / GQA-k / MQA), n_heads, n_kv_heads, batch_size, context_length,
    new_tokens, prefill_s, decode_s, decode_tokens_per_s (batch x new tokens / decode time),
    prefill_tokens_per_s, kv_cache_bytes (measured in the cache at the end),
    kv_cache_bytes_formula, peak_rss_bytes and rss_increase_bytes (over the run).
    The best of `repeats` runs is kept (least disturbed by other processes).
    """
    import torch

    cfg = model.config
    n_heads = cfg.num_attention_heads
    n_kv = getattr(cfg, "num_key_value_heads", None) or n_heads
    device = next(model.parameters()).device
    dtype_bytes = next(model.parameters()).element_size()
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    max_pos = getattr(cfg, "max_position_embeddings", None)
    if warmup:
        _greedy(model, torch.randint(3, cfg.vocab_size, (1, 8), generator=gen).to(device), 2)
    rows = []
    for ctx in context_lengths:
        if max_pos is not None and ctx + new_tokens > max_pos:
            raise ValueError(f"context {ctx} + {new_tokens} new tokens exceeds the model's {max_pos} positions")
        for bs in batch_sizes:
            ids = torch.randint(3, cfg.vocab_size, (bs, ctx), generator=gen).to(device)
            best = None
            gc.collect()
            with PeakRSS() as mem:
                for _ in range(repeats):
                    run = _greedy(model, ids, new_tokens)
                    if best is None or run.decode_s < best.decode_s:
                        best = run
            rows.append({
                "variant": label or attention_kind(n_heads, n_kv),
                "attention": attention_kind(n_heads, n_kv),
                "n_heads": n_heads,
                "n_kv_heads": n_kv,
                "batch_size": bs,
                "context_length": ctx,
                "new_tokens": new_tokens,
                "prefill_s": best.prefill_s,
                "decode_s": best.decode_s,
                "prefill_tokens_per_s": bs * ctx / best.prefill_s,
                "decode_tokens_per_s": bs * (new_tokens - 1) / best.decode_s if new_tokens > 1 else float("nan"),
                "kv_cache_bytes": best.kv_bytes,
                "kv_cache_bytes_formula": kv_cache_bytes_formula(cfg, bs, ctx + new_tokens - 1, dtype_bytes),
                "peak_rss_bytes": mem.peak,
                "rss_increase_bytes": mem.peak - mem.start,
            })
    return pd.DataFrame(rows)


def attention_variants(base_config, kv_heads: Iterable[int] = ()):
    """Configs that differ from `base_config` only in the number of KV heads (default: MHA,
    GQA with half and a quarter of the heads where they divide, MQA)."""
    import copy

    h = base_config.num_attention_heads
    kvs = list(kv_heads) or sorted({h, h // 2 if h % 2 == 0 else h, h // 4 if h % 4 == 0 else h, 1}, reverse=True)
    out = []
    for k in kvs:
        if h % k:
            raise ValueError(f"{k} KV heads do not divide {h} attention heads")
        cfg = copy.deepcopy(base_config)
        cfg.num_key_value_heads = k
        out.append(cfg)
    return out


def compare_attention(
    base_config, kv_heads: Iterable[int] = (), *, seed: int = 0, dtype=None, **measure_kwargs
) -> pd.DataFrame:
    """Build a random LlamaForCausalLM per attention variant and `measure_inference` each.

    Randomly initialised weights time the same as trained ones; only the shapes matter.
    """
    import torch
    from transformers import LlamaForCausalLM

    frames = []
    for cfg in attention_variants(base_config, kv_heads):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(cfg)
        if dtype is not None:
            model = model.to(dtype)
        frames.append(measure_inference(model, **measure_kwargs))
        del model
        gc.collect()
    return pd.concat(frames, ignore_index=True)
