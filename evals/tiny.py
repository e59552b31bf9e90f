"""A tiny random Llama checkpoint folder (HF safetensors + tokenizer + run.json), in the layout
the exporter writes: for tests and benchmarks of the eval layer, not for scores."""

from __future__ import annotations

import json
from pathlib import Path

TOKENIZER_TEXT = (
    "Question: What is the capital of France?\nAnswer: The capital of France is Paris.\n"
    "Janet has 3 apples and buys 4 more. How many apples does she have? 3 + 4 = 7 #### 7\n"
    "Title: Normans\n\nBackground: The Normans were the people who gave their name to Normandy.\n"
    "A. one\nB. two\nC. three\nD. four\nAnswer: B\n"
    "Professor E: So, OK. Doesn't look like it crashed. That's great.\n"
    "Grad G: So I think maybe what's causing it to crash is I keep starting it and stopping it.\n"
    "What is a summary of the preceding text? The group discussed the recordings.\n"
)


def make_tiny_checkpoint(
    out_dir: str | Path,
    *,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    max_position_embeddings: int = 512,
    vocab_size: int = 384,
    seed: int = 0,
    texts: list[str] | None = None,
) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from harness.tokenizer import train_tokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpus = texts or [TOKENIZER_TEXT * 3 + "".join(chr(c) for c in range(32, 127))]
    tok = train_tokenizer(corpus, vocab_size, out)
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
        max_position_embeddings=max_position_embeddings, bos_token_id=1, eos_token_id=2,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(out)
    run = {
        "stage": "pretrain",
        "config": {"model": {"hidden_size": hidden_size, "layers": layers, "heads": heads, "kv_heads": kv_heads},
                   "preset": "tiny-test"},
        "seed": seed,
        "git_commit": "0" * 40,
        "tokens_seen": 0,
        "wall_time_s": 0.0,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    (out / "run.json").write_text(json.dumps(run, indent=2))
    return out
