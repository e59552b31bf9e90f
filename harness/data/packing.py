"""Pretraining data: documents -> tokenizer -> token stream joined by </s> -> fixed-length rows.

The split into train and validation is by document and by seed, so no document is in
both. Packed arrays are cached in the run folder (`data/`) with a fingerprint of the
data config, so a resumed run reads exactly the tokens the killed run read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from harness.config import Config, ConfigError
from harness.data.sources import DataError, load_documents
from harness.tokenizer import load_tokenizer, train_tokenizer


@dataclass
class PackedData:
    train: np.ndarray  # [n_rows, seq_len] int32
    val: np.ndarray  # [n_rows, seq_len] int32
    tokenizer_dir: Path
    documents: int
    train_tokens: int


def _fingerprint(cfg: Config) -> str:
    key = {"data": asdict(cfg.data), "vocab": cfg.model.vocab_size, "seed": cfg.run.seed}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def split_documents(docs: list[str], seed: int, val_fraction: float) -> tuple[list[str], list[str]]:
    """(train, validation) documents: a seeded split by document, each side in corpus order.
    The tokenizer trains on the leading train documents."""
    order = np.random.default_rng(seed).permutation(len(docs))
    n_val = max(1, int(round(len(docs) * val_fraction)))
    return [docs[i] for i in sorted(order[n_val:])], [docs[i] for i in sorted(order[:n_val])]


def prepare_pretraining_data(cfg: Config, run_dir: Path) -> PackedData:
    """Build (or reload from `run_dir/data`) the packed train and validation rows."""
    cache = Path(run_dir) / "data"
    meta_file = cache / "meta.json"
    fingerprint = _fingerprint(cfg)
    if meta_file.exists():
        meta = json.loads(meta_file.read_text())
        if meta.get("fingerprint") == fingerprint:
            return PackedData(
                train=np.load(cache / "train.npy"), val=np.load(cache / "val.npy"),
                tokenizer_dir=Path(meta["tokenizer_dir"]), documents=meta["documents"],
                train_tokens=meta["train_tokens"],
            )

    d = cfg.data
    docs = load_documents(d.source, world_size=d.world_size, seed=cfg.run.seed, max_documents=d.max_documents)
    if len(docs) < 2:
        raise DataError(f"data source {d.source!r} has {len(docs)} document(s); need at least 2 for a train/validation split")
    train_docs, val_docs = split_documents(docs, cfg.run.seed, d.val_fraction)

    if d.tokenizer:
        tokenizer_dir = Path(d.tokenizer)
        tokenizer = load_tokenizer(tokenizer_dir)
    else:
        tokenizer_dir = Path(run_dir) / "tokenizer"
        tokenizer = train_tokenizer(train_docs[: d.tokenizer_train_documents], cfg.model.vocab_size,
                                    tokenizer_dir, model_max_length=cfg.model.max_seq_len)
    if len(tokenizer) > cfg.model.vocab_size:
        raise ConfigError(
            f"tokenizer at {tokenizer_dir} has {len(tokenizer)} tokens but model.vocab_size={cfg.model.vocab_size}"
        )

    train = pack(tokenize(tokenizer, train_docs), d.seq_len)
    val = pack(tokenize(tokenizer, val_docs), d.seq_len)
    if len(train) == 0:
        raise DataError(f"data source {d.source!r} is too small: fewer than data.seq_len={d.seq_len} training tokens")
    if len(val) == 0:
        # A tiny held-out set still gets one row, padded by repetition, so validation runs.
        stream = tokenize(tokenizer, val_docs)
        val = np.resize(stream, (1, d.seq_len)).astype(np.int32)

    cache.mkdir(parents=True, exist_ok=True)
    np.save(cache / "train.npy", train)
    np.save(cache / "val.npy", val)
    meta = {"fingerprint": fingerprint, "tokenizer_dir": str(tokenizer_dir), "documents": len(docs),
            "train_documents": len(train_docs), "val_documents": len(val_docs),
            "train_tokens": int(train.size), "val_tokens": int(val.size), "seq_len": d.seq_len}
    meta_file.write_text(json.dumps(meta, indent=2))
    return PackedData(train, val, tokenizer_dir, len(docs), int(train.size))


def tokenize(tokenizer, docs: list[str]) -> np.ndarray:
    """One stream: <s> doc </s> <s> doc </s> ... (Llama's document framing)."""
    from transformers.utils import logging as hf_logging

    # Documents are longer than the model's context before packing; that warning is noise here.
    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        ids = tokenizer(docs, add_special_tokens=False)["input_ids"]
    finally:
        hf_logging.set_verbosity(previous)
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    stream = []
    for doc in ids:
        stream.append(bos)
        stream.extend(doc)
        stream.append(eos)
    return np.asarray(stream, dtype=np.int32)


def pack(stream: np.ndarray, seq_len: int) -> np.ndarray:
    """Cut the stream into full rows; the ragged tail is dropped."""
    n = len(stream) // seq_len
    return stream[: n * seq_len].reshape(n, seq_len)


class RowSampler:
    """Which rows a process reads for (step, micro-step): a pure function of the seed.

    Every optimiser step consumes `global_batch_size` rows in the order of a seeded
    per-epoch permutation, split across processes and micro-steps. So batch 8 x accum 1
    and batch 1 x accum 8 see the same rows per step, and a resumed run continues with
    exactly the rows the straight run would have read.
    """

    def __init__(self, n_rows: int, seed: int, micro_batch: int, accum: int, world: int, rank: int):
        self.n_rows, self.seed = n_rows, seed
        self.micro_batch, self.accum, self.world, self.rank = micro_batch, accum, world, rank
        self._perms: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n_rows)}
        return self._perms[epoch]

    def rows(self, step: int, micro: int) -> np.ndarray:
        start = ((step * self.accum + micro) * self.world + self.rank) * self.micro_batch
        positions = np.arange(start, start + self.micro_batch)
        return np.array([self._perm(p // self.n_rows)[p % self.n_rows] for p in positions])
