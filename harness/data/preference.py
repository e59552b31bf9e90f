"""Preference data for the reward models: a jsonl file format, the paper's data mixes,
and pair tokenisation in the SFT chat format (so the RM scores what the policy writes).

File format, one pair per line::

    {"prompt": str, "chosen": str, "rejected": str, "rating": one of RATINGS,
     "dimension": "helpfulness"|"safety" (optional), "is_unsafe": bool (optional),
     "history": [[role, text], ...] (optional)}

A missing field or an unknown rating raises ``DataFormatError`` naming file, line and field.

Mixes (paper sec. 3.2.2): the helpfulness RM sees all helpfulness pairs plus an equal
number drawn from safety (and other, e.g. open-source) pairs; the safety RM sees safety
pairs and helpfulness + other pairs in the ratio 9:1.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch

from harness.data.posttrain import DIMENSIONS, RATINGS, PreferencePair
from harness.data.realdata import DataFormatError, iter_jsonl
from harness.data.sft import prompt_ids, response_ids

FIELDS = {"prompt": str, "chosen": str, "rejected": str, "rating": str}


def load_preference_file(path, dimension: str | None = None) -> list[PreferencePair]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"preference file not found: {path}")
    pairs = []
    for line, r in iter_jsonl(path, FIELDS):
        if r["rating"] not in RATINGS:
            raise DataFormatError(path, line, "rating", f"unknown rating {r['rating']!r}; expected one of {RATINGS}")
        dim = r.get("dimension", dimension or "helpfulness")
        if dim not in DIMENSIONS:
            raise DataFormatError(path, line, "dimension", f"unknown dimension {dim!r}; expected one of {DIMENSIONS}")
        history = r.get("history", [])
        if not isinstance(history, list) or not all(
                isinstance(t, list) and len(t) == 2 and all(isinstance(x, str) for x in t) for t in history):
            raise DataFormatError(path, line, "history", "expected a list of [role, text] pairs")
        pairs.append(PreferencePair(r["prompt"], r["chosen"], r["rejected"], r["rating"], dim,
                                    history=tuple(tuple(t) for t in history),
                                    is_unsafe=bool(r.get("is_unsafe", dim == "safety")), source=str(path)))
    return pairs


def write_preference_file(pairs: list[PreferencePair], path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for p in pairs:
            f.write(json.dumps({"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected,
                                "rating": p.rating, "dimension": p.dimension, "is_unsafe": p.is_unsafe,
                                "history": [list(t) for t in p.history]}) + "\n")
    return path


def split_heldout(pairs: list[PreferencePair], fraction: float, seed: int) -> tuple[list, list]:
    """(train, held-out), by a seeded shuffle; at least one pair held out."""
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n = max(1, int(round(len(pairs) * fraction)))
    return [pairs[i] for i in order[n:]], [pairs[i] for i in order[:n]]


def rm_mix(kind: str, helpful: list, safety: list, other: list = (), seed: int = 0) -> list[PreferencePair]:
    """The paper's training mix for the ``kind`` ("helpfulness" or "safety") reward model."""
    rng = random.Random(seed)
    if kind == "helpfulness":
        # all helpfulness data + an equal amount sampled from safety and other data
        rest = list(safety) + list(other)
        mix = list(helpful) + rng.sample(rest, min(len(helpful), len(rest)))
    elif kind == "safety":
        # safety data : (helpfulness + other) = 90 : 10
        rest = list(helpful) + list(other)
        mix = list(safety) + rng.sample(rest, min(len(rest), max(1, round(len(safety) / 9))))
    else:
        raise ValueError(f"reward model kind must be one of {DIMENSIONS}, got {kind!r}")
    rng.shuffle(mix)
    return mix


def encode_pair(tok, pair: PreferencePair, max_len: int) -> tuple[list[int], list[int]]:
    """Chosen and rejected token ids in the chat format, prompt cut from the left to fit."""
    p = prompt_ids(tok, pair.prompt, pair.history)
    out = []
    for resp in (pair.chosen, pair.rejected):
        r = response_ids(tok, resp)[: max_len - 1]
        out.append(p[-(max_len - len(r)):] + r)
    return out[0], out[1]


def pad_right(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention mask), right-padded: with a causal model the padding cannot change
    any earlier position, and the RM reads the score at the last real token."""
    n = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    return ids, mask
