import gzip
import json

import numpy as np
import pytest

from harness import config
from harness.data.packing import RowSampler, pack, prepare_pretraining_data, tokenize
from harness.data.sources import DataError, load_documents


def write_jsonl(path, records, gz=False):
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8") as fh:
        for r in records:
            fh.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path


def test_jsonl_gz_and_txt_folder_sources(tmp_path):
    write_jsonl(tmp_path / "a.jsonl.gz", [{"text": "first doc"}, {"text": "second doc"}], gz=True)
    (tmp_path / "b.txt").write_text("third doc")
    assert load_documents(str(tmp_path)) == ["first doc", "second doc", "third doc"]


def test_corrupt_jsonl_line_names_file_and_line(tmp_path):
    f = write_jsonl(tmp_path / "c.jsonl", [{"text": "ok"}, '{"text": "broken', {"text": "ok"}])
    with pytest.raises(DataError, match=r"c\.jsonl:2: not valid JSON"):
        load_documents(str(f))


def test_missing_text_field_names_file_and_line(tmp_path):
    f = write_jsonl(tmp_path / "d.jsonl", [{"text": "ok"}, {"body": "no text"}])
    with pytest.raises(DataError, match=r"d\.jsonl:2: missing field 'text'"):
        load_documents(str(f))


def test_missing_and_empty_sources_name_the_path(tmp_path):
    with pytest.raises(DataError, match=r"not found: .*nowhere"):
        load_documents(str(tmp_path / "nowhere"))
    write_jsonl(tmp_path / "e.jsonl", [{"text": "  "}])
    with pytest.raises(DataError, match=r"e\.jsonl.* is empty"):
        load_documents(str(tmp_path / "e.jsonl"))
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(DataError, match="emptydir holds no"):
        load_documents(str(tmp_path / "emptydir"))


def test_gutenberg_corpus_is_a_source(data_root):
    docs = load_documents(str(data_root / "corpus" / "gutenberg"), max_documents=3)
    assert len(docs) == 3 and all(len(d) > 10_000 for d in docs)


class _FakeTok:
    bos_token_id, eos_token_id = 1, 2

    def __call__(self, docs, add_special_tokens=False):
        return {"input_ids": [[10 + len(w) for w in d.split()] for d in docs]}


def test_documents_are_framed_and_packed():
    stream = tokenize(_FakeTok(), ["a bb", "ccc"])
    assert stream.tolist() == [1, 11, 12, 2, 1, 13, 2]
    assert pack(stream, 3).tolist() == [[1, 11, 12], [2, 1, 13]]  # ragged tail dropped


def test_split_is_deterministic_and_disjoint(tmp_path):
    docs = [{"text": f"document number {i} " + "word " * 50} for i in range(50)]
    write_jsonl(tmp_path / "c.jsonl", docs)
    cfg = config.load("tiny-cpu", [f"data.source={tmp_path / 'c.jsonl'}", "data.val_fraction=0.1", "data.seq_len=32"])
    a = prepare_pretraining_data(cfg, tmp_path / "run_a")
    b = prepare_pretraining_data(cfg, tmp_path / "run_b")
    assert np.array_equal(a.train, b.train) and np.array_equal(a.val, b.val)
    meta = json.loads((tmp_path / "run_a" / "data" / "meta.json").read_text())
    assert meta["val_documents"] == 5 and meta["train_documents"] == 45
    other = prepare_pretraining_data(config.apply_overrides(cfg, ["run.seed=1"]), tmp_path / "run_c")
    assert not np.array_equal(a.val, other.val)


def test_row_sampler_accumulation_and_ranks_cover_the_same_rows():
    one = RowSampler(100, seed=3, micro_batch=8, accum=1, world=1, rank=0)
    accum = RowSampler(100, seed=3, micro_batch=1, accum=8, world=1, rank=0)
    ranks = [RowSampler(100, seed=3, micro_batch=2, accum=2, world=2, rank=r) for r in range(2)]
    for step in range(30):  # crosses epochs
        want = sorted(one.rows(step, 0).tolist())
        assert sorted(np.concatenate([accum.rows(step, m) for m in range(8)]).tolist()) == want
        assert sorted(np.concatenate([s.rows(step, m) for s in ranks for m in range(2)]).tolist()) == want
