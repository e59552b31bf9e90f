import random

import pytest
from transformers import AutoTokenizer

from harness.tokenizer import train_tokenizer

SAMPLES = [
    "Plain ASCII, with punctuation: (a+b)=c; done!",
    "Numbers 1234567890 and 3.14159 and 2023-07-18",
    "Accents: naïve café, Ærøskøbing, São Paulo, Überraschung",
    "CJK: 東京は日本の首都です。北京欢迎你。한국어",
    "Emoji: 🙂🚀🦙 and a flag 🇫🇷",
    "  leading spaces, double  spaces, tabs\tand\nnewlines\n",
]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    rng = random.Random(0)
    words = "the llama walked to the market in 1987 and bought 42 apples for the café owner".split()
    texts = [" ".join(rng.choice(words) for _ in range(40)) for _ in range(400)]
    folder = tmp_path_factory.mktemp("tok")
    train_tokenizer(texts, vocab_size=400, out_dir=folder)
    return AutoTokenizer.from_pretrained(str(folder))  # stock loader, no project code


@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip_is_exact(tokenizer, text):
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(ids) == text


def test_digits_are_split(tokenizer):
    pieces = tokenizer.convert_ids_to_tokens(tokenizer.encode("1987 42", add_special_tokens=False))
    digit_pieces = [p.lstrip("▁") for p in pieces if any(c.isdigit() for c in p)]
    assert digit_pieces == list("198742")


def test_unknown_characters_fall_back_to_bytes(tokenizer):
    pieces = tokenizer.convert_ids_to_tokens(tokenizer.encode("🦙", add_special_tokens=False))
    assert tokenizer.unk_token not in pieces
    assert pieces[-4:] == ["<0xF0>", "<0x9F>", "<0xA6>", "<0x99>"]


def test_llama_special_tokens(tokenizer):
    assert (tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    assert tokenizer("hi").input_ids[0] == 1  # <s> prepended, as Llama's tokenizer does


def test_training_is_deterministic(tmp_path):
    texts = [f"document {i} says {i * 7} llamas ate {i % 13} apples" for i in range(300)]
    a = train_tokenizer(texts, 300, tmp_path / "a")
    b = train_tokenizer(texts, 300, tmp_path / "b")
    assert a.get_vocab() == b.get_vocab()
    assert (tmp_path / "a" / "tokenizer.model").read_bytes() == (tmp_path / "b" / "tokenizer.model").read_bytes()


def test_printable_ascii_never_falls_back_to_bytes(tokenizer):
    # The fixture's training text has no apostrophe, brackets or quotes; chat data does.
    text = "[INST] Don't say \"hi\"; use {x} | (y) & 50% ~ @z! [/INST]"
    pieces = tokenizer.convert_ids_to_tokens(tokenizer.encode(text, add_special_tokens=False))
    assert not [p for p in pieces if p.startswith("<0x")], pieces
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text


def test_a_corpus_too_small_for_the_vocabulary_gives_a_smaller_tokenizer(tmp_path):
    # small-gpu asks for 32k pieces; the generated small world supports ~3.5k. SentencePiece
    # 0.2.2 aborts the whole process there (bpe_model_trainer.cc "Check failed: freq > 0"),
    # so this runs in a child process, where an abort is a failure and not a dead test session.
    import subprocess
    import sys

    from support import child_env

    code = ("import sys; from harness.tokenizer import train_tokenizer; "
            "texts = [f'Ann has {i} red apples and the dog ran to the park.' for i in range(200)]; "
            "print(len(train_tokenizer(texts, 4000, sys.argv[1])))")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                          env=child_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 259 < int(proc.stdout.split()[-1]) < 4000
