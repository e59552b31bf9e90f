"""SentencePiece BPE tokenizer with the Llama 2 choices, saved so that stock
`transformers.AutoTokenizer.from_pretrained(folder)` loads it.

Paper choices (Touvron et al. 2023, sec. 2.1): BPE via SentencePiece, numbers split into
individual digits, unknown UTF-8 characters decomposed into bytes (byte fallback), 32k vocab.
We also keep SentencePiece's identity normalisation and whitespace as written (as the
released Llama tokenizer does), which is what makes decode(encode(s)) == s exact.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable
from pathlib import Path

# Token ids fixed as in Llama: 0 <unk>, 1 <s>, 2 </s>; no pad token (callers that pad use </s>).
UNK, BOS, EOS = "<unk>", "<s>", "</s>"
SPM_FILE = "tokenizer.model"
# string.printable less whitespace (SentencePiece writes the space as "▁" itself).
REQUIRED_CHARS = "".join(chr(c) for c in range(33, 127))
# Specials and the 256 byte pieces. A vocabulary with no room for the required characters and a
# few dozen merges besides (only tests train one that small) goes without them.
_META_PIECES = 3 + 256


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    out_dir: str | Path,
    *,
    max_sentences: int = 200_000,
    max_sentence_length: int = 16_384,
    model_max_length: int | None = None,
):
    """Train a BPE SentencePiece model on `texts` and save an HF tokenizer folder.

    `texts` are documents; they are split into lines because SentencePiece trains on
    "sentences" and silently drops ones longer than `max_sentence_length` bytes.
    Training is single-threaded so the same texts always give the same vocabulary.
    Returns the loaded `transformers` tokenizer.
    """
    import sentencepiece as spm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def sentences():
        for doc in texts:
            for line in doc.split("\n"):
                if line.strip():
                    yield line[: max_sentence_length // 4]  # worst case 4 bytes per char

    sample = list(itertools.islice(sentences(), max_sentences))
    if not sample:
        raise ValueError("train_tokenizer: no text to train on (all documents empty)")

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sample),
        model_writer=model,
        model_type="bpe",
        vocab_size=vocab_size,
        split_digits=True,  # paper: numbers split into individual digits
        byte_fallback=True,  # paper: unknown UTF-8 characters decomposed into bytes
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        allow_whitespace_only_pieces=True,
        character_coverage=0.99995,
        # Printable ASCII is always a piece of its own, whether or not the training text has it:
        # a character left to byte fallback is one of 256 byte tokens the model rarely sees, and
        # sampling then garbles it (the world's corpus has no apostrophe, so SFT refusals'
        # "can't" came out as "can\x02t" and the oracle no longer read them as refusals).
        required_chars=REQUIRED_CHARS if vocab_size >= _META_PIECES + len(REQUIRED_CHARS) + 32 else "",
        max_sentence_length=max_sentence_length,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        unk_piece=UNK,
        bos_piece=BOS,
        eos_piece=EOS,
        num_threads=1,
        hard_vocab_limit=False,  # a tiny corpus may not support the requested size
        minloglevel=2,
    )
    (out_dir / SPM_FILE).write_bytes(model.getvalue())
    return _hf_from_spm_folder(out_dir, model_max_length)


def _hf_from_spm_folder(folder: Path, model_max_length: int | None):
    """Convert the SentencePiece model in `folder` into a fast HF tokenizer and save it there.

    transformers converts `tokenizer.model` with its own SentencePiece converter (needs
    protobuf); the resulting `tokenizer.json` is what later loads need, with no sentencepiece.
    """
    from transformers import AutoTokenizer

    kwargs = dict(add_bos_token=True, add_eos_token=False, bos_token=BOS, eos_token=EOS, unk_token=UNK)
    if model_max_length:
        kwargs["model_max_length"] = model_max_length
    tok = AutoTokenizer.from_pretrained(str(folder), **kwargs)
    tok.save_pretrained(str(folder))
    return load_tokenizer(folder)


def load_tokenizer(folder: str | Path):
    from transformers import AutoTokenizer

    folder = Path(folder)
    if not (folder / "tokenizer.json").exists() and not (folder / SPM_FILE).exists():
        raise FileNotFoundError(f"no tokenizer in {folder}: expected tokenizer.json or {SPM_FILE}")
    return AutoTokenizer.from_pretrained(str(folder))


def encode_document(tokenizer, text: str) -> list[int]:
    """Token ids of one document without special tokens (packing adds </s> between documents)."""
    return tokenizer.encode(text, add_special_tokens=False)
