"""Chat with any checkpoint (optionally base + LoRA adapter), interactively or in batch."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.data.sft import prompt_ids
from harness.stages import common


def load(checkpoint, adapter=None):
    model, _ = common.load_causal_lm(checkpoint, "checkpoint")
    if adapter:
        from peft import PeftModel

        if not (Path(adapter) / "adapter_config.json").exists():
            raise FileNotFoundError(f"adapter not found: {adapter} (expected adapter_config.json)")
        model = PeftModel.from_pretrained(model, str(adapter))
    return model, common.load_tokenizer_from(checkpoint)


def respond(model, tok, prompts: list[str], *, temperature: float = 0.7, max_new_tokens: int = 128,
            seed: int = 0) -> list[str]:
    ids = [prompt_ids(tok, p) for p in prompts]
    out = common.sample(model, ids, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
                        pad_id=tok.eos_token_id, eos_id=tok.eos_token_id)
    return [tok.decode(o, skip_special_tokens=True).strip() for o in out]


def main(checkpoint, adapter=None, prompts=None, temperature=0.7, max_new_tokens=128, seed=0) -> int:
    model, tok = load(checkpoint, adapter)
    if prompts:  # batch: one answer per prompt, in order
        for p, r in zip(prompts, respond(model, tok, prompts, temperature=temperature,
                                          max_new_tokens=max_new_tokens, seed=seed)):
            print(f">>> {p}\n{r}")
        return 0
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            print("> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            return 0
        if line.strip():
            print(respond(model, tok, [line.strip()], temperature=temperature, max_new_tokens=max_new_tokens,
                          seed=seed)[0], flush=True)
