"""Data switch and loaders: real files parse completely; bad input names the file and layout;
unknown tasks list the known ones."""

import json

import pytest

from evals_fixtures import mini_data, real_data  # noqa: F401

from evals import data as D


def test_real_mmlu_parses_completely(real_data):
    n_test = n_dev = 0
    for subject in D.MMLU_SUBJECTS:
        ds = D.load_mmlu(subject, str(real_data))
        n_test += len(ds["test"])
        n_dev += len(ds["dev"])
        assert len(ds["dev"]) == 5
    assert len(D.MMLU_SUBJECTS) == 57
    assert (n_test, n_dev) == (14042, 285)
    row = D.load_mmlu("abstract_algebra", str(real_data))["test"][2]
    assert row["choices"][2:] == ["0,1", "0,4"] and row["answer"] == 3  # quoted commas stay whole


def test_real_gsm8k_squad_qmsum_parse_completely(real_data):
    assert len(D.load_gsm8k(str(real_data))["test"]) == 1319
    squad = D.load_squad("v1.1", str(real_data))["validation"]
    assert len(squad) == 10570
    assert all(len(a["text"]) >= 1 for a in squad["answers"])
    qmsum = D.load_scrolls("qmsum", str(real_data))["validation"]
    assert len(qmsum) == 272


def test_mmlu_cells_stay_text(mini_data):
    row = D.load_mmlu("anatomy", str(mini_data))["test"][0]
    assert row["choices"] == ["None", "0.50", "x0, y", "007"]  # no NaN, no float, no int
    assert row["question"].startswith('Which, of "these"')


def test_scrolls_duplicate_ids_merge_outputs(mini_data):
    ds = D.load_scrolls("qmsum", str(mini_data))["validation"]
    assert len(ds) == 2 and ds[0]["outputs"] == ["The budget.", "The schedule."]
    assert len(D.load_scrolls("narrative_qa", str(mini_data))["validation"][0]["outputs"]) == 2


def test_squad_v2_layout_keeps_unanswerable(mini_data):
    ds = D.load_squad("v2.0", str(mini_data))["validation"]
    assert [len(a["text"]) for a in ds["answers"]] == [2, 1, 0]


def test_missing_file_names_file_and_layout(tmp_path):
    (tmp_path / "mmlu").mkdir()
    with pytest.raises(D.DataLayoutError) as e:
        D.load_mmlu("anatomy", str(tmp_path))
    assert "anatomy_test.csv" in str(e.value) and "question,choice0" in str(e.value)
    with pytest.raises(D.DataLayoutError) as e:
        D.load_scrolls("qmsum", str(tmp_path))
    assert "scrolls/qmsum/validation.jsonl.gz" in str(e.value) and '"input"' in str(e.value)
    with pytest.raises(D.DataLayoutError) as e:
        D.resolve_data(tmp_path / "nope")
    assert "nope" in str(e.value)


def test_wrong_layout_names_file_and_layout(tmp_path):
    d = tmp_path / "mmlu" / "test"
    d.mkdir(parents=True)
    (d / "anatomy_test.csv").write_text("question,A,B,C,D,answer\nq,a,b,c,d,A\n")
    with pytest.raises(D.DataLayoutError) as e:
        D.load_mmlu("anatomy", str(tmp_path))
    assert "anatomy_test.csv" in str(e.value) and "answer 0-3" in str(e.value)

    g = tmp_path / "gsm8k"
    g.mkdir()
    (g / "train.jsonl").write_text(json.dumps({"q": "x", "a": "y"}) + "\n")
    with pytest.raises(D.DataLayoutError) as e:
        D.load_gsm8k(str(tmp_path))
    assert "train.jsonl line 1" in str(e.value) and '"question"' in str(e.value)

    s = tmp_path / "squad"
    s.mkdir()
    (s / "dev-v1.1.json").write_text(json.dumps([{"question": "x"}]))
    with pytest.raises(D.DataLayoutError) as e:
        D.load_squad("v1.1", str(tmp_path))
    assert "dev-v1.1.json" in str(e.value) and "paragraphs" in str(e.value)

    q = tmp_path / "scrolls" / "qmsum"
    q.mkdir(parents=True)
    (q / "validation.jsonl").write_text(json.dumps({"id": "1", "input": "x"}) + "\n")
    with pytest.raises(D.DataLayoutError) as e:
        D.load_scrolls("qmsum", str(tmp_path))
    assert "validation.jsonl line 1" in str(e.value) and '"output"' in str(e.value)


def test_unknown_task_lists_known_ones():
    from evals.api import UnknownTaskError, parse_tasks

    with pytest.raises(UnknownTaskError) as e:
        parse_tasks("mmlu,squad3")
    msg = str(e.value)
    assert "squad3" in msg
    for name in ("mmlu", "gsm8k", "squad", "squadv2", "scrolls_qmsum", "scrolls_quality"):
        assert name in msg
    assert parse_tasks("mmlu,scrolls") == ["mmlu", "scrolls"]


def test_world_switch_writes_benchmarks_once(tmp_path, monkeypatch):
    world = pytest.importorskip("harness.data.world")
    if not hasattr(world, "write_benchmarks"):
        pytest.skip("harness.data.world.write_benchmarks not written yet")
    monkeypatch.setenv("LLAMA2_SUITE_CACHE", str(tmp_path))
    root = D.resolve_data("world")
    assert D.resolve_data(None) == root == D.resolve_data("world:tiny:0")  # cached, not rewritten
    subjects = D.mmlu_subjects_in(root)
    assert subjects and not set(subjects) & set(D.MMLU_SUBJECTS)  # the world has its own subjects
    assert len(D.load_mmlu(subjects[0], root)["dev"]) == 5
    assert len(D.load_gsm8k(root)["test"]) > 0
    assert len(D.load_squad("v1.1", root)["validation"]) > 0
    assert len(D.load_scrolls("world_far", root)["validation"]) > 0
