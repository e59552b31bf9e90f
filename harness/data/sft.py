"""SFT data: the Llama 2 chat format, answer-only labels and packing without leaks.

A turn is ``<s>[INST] {prompt} [/INST] {answer} </s>``: the BOS/EOS special tokens open
and close every exchange (as in Llama 2 chat), so the separator between prompt and answer
is the ``[/INST]`` tag and the answer always ends with ``</s>``. Labels are -100 on every
prompt token (history included) and on the BOS; only the answer and its ``</s>`` are
learned (the paper zeroes the loss on the user prompt; DeepSpeed-Chat does not).

Packing puts several examples in one row of ``seq_len`` tokens. ``position_ids`` restart
at 0 for each example; stock Llama (transformers >= 4.54) turns restarting positions into
a block-diagonal causal mask when no 2D attention mask and no KV cache are passed, so no
token attends across an example boundary (``tests/test_sft.py`` checks logits packed ==
logits alone). The label of an example's first token is -100, so the loss never asks a
previous example to predict the next one either.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from harness.data.posttrain import SFTExample

IGNORE = -100
B_INST, E_INST = "[INST]", "[/INST]"


def prompt_ids(tok, prompt: str, history: tuple[tuple[str, str], ...] = ()) -> list[int]:
    """Token ids of the context a response follows: earlier exchanges, then this prompt."""
    ids: list[int] = []
    turns = list(history)
    # Earlier turns come as (user, assistant) exchanges; a dangling user turn is merged
    # into the prompt (OASST/HH histories always alternate, so this is rare).
    i = 0
    while i + 1 < len(turns) and turns[i][0] == "user" and turns[i + 1][0] == "assistant":
        ids += [tok.bos_token_id] + _enc(tok, f"{B_INST} {turns[i][1].strip()} {E_INST}")
        ids += _enc(tok, f" {turns[i + 1][1].strip()}") + [tok.eos_token_id]
        i += 2
    rest = " ".join(t for _, t in turns[i:])
    text = (rest + "\n\n" + prompt).strip() if rest else prompt.strip()
    return ids + [tok.bos_token_id] + _enc(tok, f"{B_INST} {text} {E_INST}")


def response_ids(tok, response: str) -> list[int]:
    return _enc(tok, f" {response.strip()}") + [tok.eos_token_id]


def _enc(tok, text: str) -> list[int]:
    return tok.encode(text, add_special_tokens=False)


def encode_example(tok, ex: SFTExample, max_len: int) -> tuple[list[int], list[int]] | None:
    """(input ids, labels) for one example; the prompt is cut from the left if too long.
    None when even the answer alone does not fit (such an example teaches nothing whole)."""
    p = prompt_ids(tok, ex.prompt, ex.history)
    r = response_ids(tok, ex.response)
    if len(r) >= max_len:
        return None
    p = p[-(max_len - len(r)):]
    return p + r, [IGNORE] * len(p) + r


@dataclass
class PackedSFT:
    input_ids: torch.Tensor  # [rows, seq_len]
    labels: torch.Tensor  # [rows, seq_len], -100 off-answer
    position_ids: torch.Tensor  # [rows, seq_len], restarting at 0 per example
    examples: int

    def __len__(self) -> int:
        return len(self.input_ids)

    def rows(self, idx) -> dict:
        return {"input_ids": self.input_ids[idx], "labels": self.labels[idx],
                "position_ids": self.position_ids[idx]}


def pack(encoded: list[tuple[list[int], list[int]]], seq_len: int, pad_id: int) -> PackedSFT:
    """Greedy packing in order: an example goes in the current row if it fits, otherwise
    the row is closed and padded (pad tokens: their own segment, label -100)."""
    rows_i, rows_l, rows_p = [], [], []
    cur_i, cur_l, cur_p = [], [], []

    def close():
        if not cur_i:
            return
        n = seq_len - len(cur_i)
        rows_i.append(cur_i + [pad_id] * n)
        rows_l.append(cur_l + [IGNORE] * n)
        rows_p.append(cur_p + list(range(n)))

    for ids, labels in encoded:
        if len(cur_i) + len(ids) > seq_len:
            close()
            cur_i, cur_l, cur_p = [], [], []
        cur_i += ids
        cur_l += labels
        cur_p += list(range(len(ids)))
    close()
    as_t = lambda rows: torch.tensor(np.asarray(rows, dtype=np.int64))  # noqa: E731
    return PackedSFT(as_t(rows_i), as_t(rows_l), as_t(rows_p), len(encoded))


def pack_examples(tok, examples: list[SFTExample], seq_len: int) -> PackedSFT:
    encoded = [e for e in (encode_example(tok, ex, seq_len) for ex in examples) if e is not None]
    if not encoded:
        raise ValueError(f"no SFT example fits in data.seq_len={seq_len} tokens")
    return pack(encoded, seq_len, pad_id=tok.eos_token_id)


def load_sft_examples(source: str, *, world_size: str = "tiny", seed: int = 0,
                      flawed_fraction: float = 0.0) -> list[SFTExample]:
    """``world`` (generated world), ``alpaca[:PATH]`` or ``oasst[:PATH]`` (official layouts;
    default paths under $LLAMA2_SUITE_DATA). Several sources join with ``+``.
    `flawed_fraction` (world only): share of weaker demonstrations, see `sft_examples`."""
    if not 0.0 <= flawed_fraction < 1.0:
        raise ValueError(f"sft.flawed_fraction={flawed_fraction}: expected a fraction in [0, 1)")
    if flawed_fraction and "world" not in [part.partition(":")[0] for part in source.split("+")]:
        raise ValueError(f"sft.flawed_fraction={flawed_fraction} applies to the generated world's "
                         f"demonstrations, but sft.data={source!r} has no 'world' source")
    out: list[SFTExample] = []
    for part in source.split("+"):
        kind, _, path = part.partition(":")
        if kind == "world":
            from harness.data.posttrain import sft_examples
            from harness.data.world import build_world, replace, world_config

            cfg = world_config(world_size, seed)
            out += sft_examples(build_world(replace(cfg, sft_flawed_fraction=flawed_fraction)))
        elif kind == "alpaca":
            from harness.data.realdata import load_alpaca

            out += load_alpaca(Path(path) if path else None)
        elif kind == "oasst":
            out += oasst_sft_examples(Path(path) if path else None)
        else:
            raise ValueError(f"unknown SFT data source {kind!r}: expected world, alpaca[:PATH] or oasst[:PATH]")
    return out


def oasst_sft_examples(path=None) -> list[SFTExample]:
    """OASST as SFT: for each prompt, the top-ranked reply (chosen in some pair, rejected in none)."""
    from harness.data.realdata import load_oasst

    pairs = load_oasst(path)
    rejected = {(p.prompt, p.history, p.rejected) for p in pairs}
    seen, out = set(), []
    for p in pairs:
        key = (p.prompt, p.history)
        if key not in seen and (p.prompt, p.history, p.chosen) not in rejected:
            seen.add(key)
            out.append(SFTExample(p.prompt, p.chosen, history=p.history, source="oasst"))
    return out
