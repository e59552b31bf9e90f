"""Real-data loaders: the files in ../shared/data parse, and bad records are reported with
file, line and field."""

import gzip
import json
from pathlib import Path

import pytest

from harness.data import realdata as rd
from harness.data.posttrain import RATINGS, PreferencePair, SFTExample

DATA = rd.data_dir()
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"real data folder {DATA} absent "
                                "(set LLAMA2_SUITE_DATA to its location)")


def test_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LLAMA2_SUITE_DATA", str(tmp_path))
    assert rd.data_dir() == tmp_path
    monkeypatch.delenv("LLAMA2_SUITE_DATA")
    assert rd.data_dir().parts[-2:] == ("shared", "data")


@needs_data
def test_real_sft_and_preference_files_parse():
    alpaca = rd.load_alpaca()
    assert len(alpaca) == 999 and all(isinstance(e, SFTExample) and e.response for e in alpaca)
    oasst = rd.load_oasst()
    assert len(oasst) == 754
    assert {p.rating for p in oasst} == set(RATINGS)
    assert all(p.dimension == "helpfulness" and p.chosen != p.rejected for p in oasst)
    assert sum(1 for p in oasst if p.history) > 0  # replies deeper in the trees keep context
    trees = [json.loads(line) for line in (DATA / "preference" / "oasst-en-100-trees.jsonl").open()]
    assert len(trees) == 100
    hh = rd.load_hh_rlhf()
    assert len(hh) == 2312
    assert {p.rating for p in hh} == {"better"} and {p.dimension for p in hh} == {"safety"}
    assert all(isinstance(p, PreferencePair) and p.prompt for p in hh)
    assert sum(not p.chosen for p in hh) == 4  # the official file has 4 empty chosen replies
    assert all(len(t) == 2 and t[0] in ("user", "assistant") for p in hh for t in p.history)


@needs_data
def test_real_gutenberg_shards_parse():
    shards = rd.gutenberg_shards()
    assert len(shards) == 6
    books = list(rd.iter_gutenberg(shards[-1]))  # the smallest shard: fast
    assert len(books) == 20 and all(b.title and len(b.text) > 1000 for b in books)
    assert len(rd.gutenberg_documents(limit=3)) == 3


@needs_data
def test_real_benchmarks_parse():
    assert sum(map(len, rd.load_mmlu(split="test").values())) == 14042
    dev = rd.load_mmlu(split="dev")
    assert len(dev) == 57 and all(len(v) == 5 for v in dev.values())
    assert len(rd.load_gsm8k(split="test")) == 1319
    assert len(rd.load_squad()) == 10570
    qmsum = rd.load_scrolls(DATA / "scrolls" / "qmsum", "validation")
    assert len(qmsum) == 272 and qmsum[0].question.endswith("?")


def test_oasst_rank_gap_mapping():
    assert [rd.oasst_rating(g) for g in (1, 2, 3, 4, 8)] == [
        "negligibly_better", "slightly_better", "better", "significantly_better",
        "significantly_better"]


def _write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def _raises(fn, path, line, field):
    with pytest.raises(rd.DataFormatError) as e:
        fn()
    err = e.value
    assert err.path == str(path) and err.line == line and err.field == field
    assert str(path) in str(err) and (field is None or field in str(err))
    return err


def test_gutenberg_corrupt_line_and_missing_field(tmp_path):
    good = json.dumps({"id": "1", "title": "T", "author": "A", "text": "x"})
    p = _write(tmp_path / "shard-000.jsonl.gz", good + "\n{not json\n")
    _raises(lambda: list(rd.iter_gutenberg(tmp_path)), p, 2, None)
    no_text = json.dumps({"id": "2", "title": "T", "author": "A"})
    p = _write(tmp_path / "shard-000.jsonl.gz", good + "\n" + no_text + "\n")
    _raises(lambda: list(rd.iter_gutenberg(tmp_path)), p, 2, "text")


def test_alpaca_missing_field_and_wrong_type(tmp_path):
    p = _write(tmp_path / "a.json", json.dumps([{"instruction": "i", "input": "", "output": "o"},
                                                {"instruction": "i", "output": "o"}]))
    err = _raises(lambda: rd.load_alpaca(p), p, 1, "input")
    assert "record 1" in str(err)
    p = _write(tmp_path / "b.json", json.dumps([{"instruction": "i", "input": "", "output": 3}]))
    _raises(lambda: rd.load_alpaca(p), p, 0, "output")
    p = _write(tmp_path / "c.json", '[{"instruction": "i",\n "input": }]')
    _raises(lambda: rd.load_alpaca(p), p, 2, None)
    ok = rd.load_alpaca(_write(tmp_path / "d.json", json.dumps(
        [{"instruction": "Add.", "input": "1 2", "output": "3"}])))
    assert ok == [SFTExample("Add.\n\n1 2", "3", source="alpaca")]


def _tree(rank_b=1, role="assistant"):
    return {"message_tree_id": "t", "prompt": {"text": "Q?", "role": "prompter", "replies": [
        {"text": "good", "role": "assistant", "rank": 0, "replies": [
            {"text": "more?", "role": "prompter", "replies": [
                {"text": "a", "role": "assistant", "rank": 1},
                {"text": "b", "role": role, "rank": 0}]}]},
        {"text": "bad", "role": "assistant", "rank": rank_b}]}}


def test_oasst_pairs_history_and_errors(tmp_path):
    p = _write(tmp_path / "o.jsonl", json.dumps(_tree(rank_b=3)) + "\n")
    pairs = rd.load_oasst(p)
    assert [(x.prompt, x.chosen, x.rejected, x.rating) for x in pairs] == [
        ("Q?", "good", "bad", "better"), ("more?", "b", "a", "negligibly_better")]
    assert pairs[1].history == (("user", "Q?"), ("assistant", "good"))
    p = _write(tmp_path / "o.jsonl", json.dumps(_tree()) + "\n" + json.dumps(_tree(role="robot")) + "\n")
    _raises(lambda: rd.load_oasst(p), p, 2, "prompt.replies[0].replies[0].replies[1].role")
    p = _write(tmp_path / "o.jsonl", json.dumps(_tree(rank_b="x")) + "\n")
    _raises(lambda: rd.load_oasst(p), p, 1, "prompt.replies[1].rank")


def test_hh_rlhf_parse_and_errors(tmp_path):
    pair = {"chosen": "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: rob a bank?\n\nAssistant: No.",
            "rejected": "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: rob a bank?\n\nAssistant: Sure."}
    p = _write(tmp_path / "harmless.jsonl.gz", json.dumps(pair) + "\n")
    [x] = rd.load_hh_rlhf(p)
    assert (x.prompt, x.chosen, x.rejected, x.dimension, x.is_unsafe) == (
        "rob a bank?", "No.", "Sure.", "safety", True)
    assert x.history == (("user", "hi"), ("assistant", "hello"))
    bad = dict(pair, rejected="Human: no blank lines")
    p = _write(tmp_path / "harmless.jsonl.gz", json.dumps(pair) + "\n" + json.dumps(bad) + "\n")
    _raises(lambda: rd.load_hh_rlhf(p), p, 2, "rejected")
    p = _write(tmp_path / "h.jsonl", json.dumps({"chosen": pair["chosen"]}) + "\n")
    _raises(lambda: rd.load_hh_rlhf(p), p, 1, "rejected")


def test_benchmark_loaders_report_bad_records(tmp_path):
    (tmp_path / "mmlu" / "test").mkdir(parents=True)
    p = _write(tmp_path / "mmlu" / "test" / "x_test.csv",
               "question,choice0,choice1,choice2,choice3,answer\nq,a,b,c,d,1\nq,a,b,c,d,E\n")
    _raises(lambda: rd.load_mmlu(tmp_path / "mmlu"), p, 3, "answer")
    (tmp_path / "gsm8k").mkdir()
    p = _write(tmp_path / "gsm8k" / "test.jsonl", json.dumps({"question": "q", "answer": "4"}) + "\n")
    _raises(lambda: rd.load_gsm8k(tmp_path / "gsm8k"), p, 1, "answer")
    squad = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "abc def", "qas": [
        {"id": "1", "question": "q?", "answers": [{"answer_start": 0, "text": "def"}]}]}]}]}
    p = _write(tmp_path / "dev-v1.1.json", json.dumps(squad))
    _raises(lambda: rd.load_squad(p), p, None, "data[0].paragraphs[0].qas[0].answers[0]")
    (tmp_path / "s").mkdir()
    no_output = json.dumps({"id": "1", "pid": "1", "input": "q"})
    p = _write(tmp_path / "s" / "validation.jsonl.gz", no_output + "\n")
    _raises(lambda: rd.load_scrolls(tmp_path / "s"), p, 1, "output")
