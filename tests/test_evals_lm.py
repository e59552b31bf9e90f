"""evaluate() end to end on a tiny random checkpoint: tidy rows with run.json fields, batch-size
invariance, agreement with the stock `lm-eval` command line, every task family, the CLI."""

import json
import os
import subprocess

from support import child_env

import pandas as pd
import pytest

from evals_fixtures import REPO, mini_data, tiny_ckpt  # noqa: F401

from evals.api import evaluate, export_task_dir, lm_eval_command
from evals.data import default_data_root

VALUE_COLS = ["task", "metric", "value", "stderr", "n"]


def _leaves_as_text(x):
    """lm-eval's sample files store response leaves as text; compare on that form."""
    if isinstance(x, (list, tuple)):
        return [_leaves_as_text(v) for v in x]
    return str(x)


def _resps(raw):
    return {t: [s["resps"] for s in samples] for t, samples in raw["samples"].items()}


def test_rows_are_tidy_and_carry_run_json(tiny_ckpt, mini_data):
    df = evaluate(tiny_ckpt, "mmlu_anatomy,gsm8k,squad", data=mini_data, limit=2)
    assert list(df.columns[:5]) == VALUE_COLS
    assert set(zip(df.task, df.metric)) == {
        ("mmlu_anatomy", "acc"), ("gsm8k", "exact_match/strict-match"), ("gsm8k", "exact_match/flexible-extract"),
        ("squad", "exact_match"), ("squad", "f1"),
    }
    assert (df.n == 2).all()
    run = json.loads((tiny_ckpt / "run.json").read_text())
    for key in ("stage", "seed", "git_commit", "tokens_seen", "wall_time_s", "parameters"):
        assert (df[key] == run[key]).all()
    assert (df["config.model.hidden_size"] == 64).all()
    assert (df["checkpoint"] == str(tiny_ckpt)).all()


def test_scores_identical_at_batch_size_1_and_8(tiny_ckpt, mini_data):
    tasks = "mmlu_anatomy,mmlu_abstract_algebra,squad,gsm8k,scrolls_qmsum,scrolls_quality"
    df1, raw1 = evaluate(tiny_ckpt, tasks, data=mini_data, limit=3, batch_size=1, return_raw=True)
    df8, raw8 = evaluate(tiny_ckpt, tasks, data=mini_data, limit=3, batch_size=8, return_raw=True)
    pd.testing.assert_frame_equal(df1[VALUE_COLS], df8[VALUE_COLS])  # scores: exactly equal
    r1, r8 = _resps(raw1), _resps(raw8)
    assert r1.keys() == r8.keys()
    for task in r1:
        for a, b in zip(r1[task], r8[task], strict=True):
            if isinstance(a[0][0], str):  # generations: identical text
                assert a == b, task
            else:  # log-likelihoods: padding changes matmul shapes, so float round-off only
                for (lla, ga), (llb, gb) in zip((x[0] for x in a), (x[0] for x in b), strict=True):
                    assert lla == pytest.approx(llb, rel=1e-5, abs=1e-4) and ga == gb, task


@pytest.mark.parametrize(
    "source, tasks, limit",
    [("mini", "mmlu_anatomy,squad,gsm8k,scrolls_qmsum", 2), ("real", "mmlu,squad,scrolls_qmsum", 1)],
)
def test_agrees_with_stock_lm_eval_command_line(tiny_ckpt, mini_data, tmp_path, source, tasks, limit):
    if source == "real":
        data = default_data_root()
        if not (data / "mmlu").is_dir():
            pytest.skip(f"real data not found at {data}")
    else:
        data = mini_data
    ours, raw = evaluate(tiny_ckpt, tasks, data=data, limit=limit, return_raw=True)
    out = tmp_path / "lm_eval_out"
    env = child_env(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    env.pop("PYTHONPATH", None)  # the task files find the suite themselves
    cmd = lm_eval_command(tiny_ckpt, tasks, str(data), REPO / "evals" / "tasks", limit=limit,
                          extra=["--log_samples", "--output_path", str(out)])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results_file = next(out.rglob("results_*.json"))
    theirs = json.loads(results_file.read_text())
    from evals.api import results_to_rows

    pd.testing.assert_frame_equal(ours[VALUE_COLS], results_to_rows(theirs)[VALUE_COLS])
    for task, resps in _resps(raw).items():
        sample_file = next(out.rglob(f"samples_{task}_*.jsonl"))
        cli = [json.loads(line)["resps"] for line in sample_file.read_text().splitlines()]
        assert cli == _leaves_as_text(resps), task


def test_every_scrolls_subset_and_squadv2_score(tiny_ckpt, mini_data):
    names = ["scrolls_qmsum", "scrolls_quality", "scrolls_qasper", "scrolls_narrativeqa", "scrolls_contractnli",
             "scrolls_govreport", "scrolls_summscreenfd", "squadv2"]
    df = evaluate(tiny_ckpt, names, data=mini_data, limit=2)
    got = {t: set(df[df.task == t].metric) for t in names}
    assert got["scrolls_qmsum"] == got["scrolls_govreport"] == got["scrolls_summscreenfd"] == {"rouge1", "rouge2", "rougeL"}
    assert got["scrolls_quality"] == got["scrolls_contractnli"] == {"em", "acc", "acc_norm"}
    assert got["scrolls_qasper"] == got["scrolls_narrativeqa"] == {"f1"}
    assert {"exact", "f1", "HasAns_exact", "NoAns_exact", "best_exact", "best_f1"} <= got["squadv2"]
    assert df.value.between(0, 100).all()
    assert dict(zip(df.task, df.n))["scrolls_qmsum"] == 2


def test_cli_writes_jsonl_and_rejects_unknown_tasks(tiny_ckpt, mini_data, tmp_path, capsys):
    from evals.__main__ import main

    out = tmp_path / "results.jsonl"
    rc = main(["--checkpoint", str(tiny_ckpt), "--tasks", "mmlu_anatomy,squad", "--data", str(mini_data),
               "--limit", "2", "--out", str(out)])
    assert rc == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {(r["task"], r["metric"]) for r in rows} == {("mmlu_anatomy", "acc"), ("squad", "exact_match"), ("squad", "f1")}
    assert all(r["stage"] == "pretrain" and r["n"] == 2 for r in rows)
    rc = main(["--checkpoint", str(tiny_ckpt), "--tasks", "mmlu,nope", "--data", str(mini_data)])
    err = capsys.readouterr().err
    assert rc == 2 and "nope" in err and "scrolls_qmsum" in err and "gsm8k" in err
    rc = main(["--checkpoint", str(tiny_ckpt), "--tasks", "mmlu", "--data", str(tmp_path / "absent")])
    assert rc == 2 and "absent" in capsys.readouterr().err


def test_missing_data_file_in_a_run_names_it(tiny_ckpt, tmp_path):
    (tmp_path / "gsm8k").mkdir()
    from evals.data import DataLayoutError

    with pytest.raises(DataLayoutError, match=r"gsm8k/train\.jsonl.*question"):
        evaluate(tiny_ckpt, "gsm8k", data=tmp_path, limit=1)


def test_exported_task_dir_serves_the_world_to_stock_lm_eval(tmp_path, monkeypatch):
    world = pytest.importorskip("harness.data.world")
    if not hasattr(world, "write_benchmarks"):
        pytest.skip("harness.data.world.write_benchmarks not written yet")
    from lm_eval.tasks import TaskManager

    from evals.data import mmlu_subjects_in, resolve_data

    monkeypatch.setenv("LLAMA2_SUITE_CACHE", str(tmp_path / "cache"))
    root = resolve_data("world")
    folder = export_task_dir(root, tmp_path / "tasks")
    tm = TaskManager(include_path=str(folder), include_defaults=False, metadata={"data_source": root})
    loaded = tm.load(["mmlu", "squad", "scrolls_world_near"])
    subjects = {f"mmlu_{s}" for s in mmlu_subjects_in(root)}
    assert subjects <= set(loaded["tasks"]) and "mmlu_anatomy" not in loaded["tasks"]
    assert len(list((REPO / "evals" / "tasks" / "mmlu").glob("mmlu_*.yaml"))) == 57  # static files untouched


def test_generated_world_scores(tiny_ckpt, tmp_path, monkeypatch):
    world = pytest.importorskip("harness.data.world")
    if not hasattr(world, "write_benchmarks"):
        pytest.skip("harness.data.world.write_benchmarks not written yet")
    monkeypatch.setenv("LLAMA2_SUITE_CACHE", str(tmp_path))
    df = evaluate(tiny_ckpt, "mmlu,scrolls_world_far,scrolls_world_far_mc", data="world", limit=4)
    mmlu = df[df.task == "mmlu"].iloc[0]
    assert mmlu.metric == "acc" and mmlu.n > 1  # the world's own subjects
    assert set(df[df.task == "scrolls_world_far"].metric) == {"f1"}
    mc = df[df.task == "scrolls_world_far_mc"].set_index("metric")
    # QuALITY's metrics on the multiple-choice form; 4 questions -> accuracy in quarters
    assert {"acc", "acc_norm", "em"} <= set(mc.index) and mc.loc["acc", "value"] * 4 in {0, 1, 2, 3, 4}


def test_world_cloze_groups_score_choice_text(tiny_ckpt, tmp_path, monkeypatch):
    """`mmlu_cloze` / `mmlu_heldout_cloze`: lm-eval's continuation template on the world's
    subjects; requests end in the choice text itself, not a letter."""
    pytest.importorskip("harness.data.world")
    monkeypatch.setenv("LLAMA2_SUITE_CACHE", str(tmp_path))
    df, raw = evaluate(tiny_ckpt, "mmlu_cloze,mmlu_heldout_cloze", data="world", limit=1, return_raw=True)
    assert {"mmlu_cloze", "mmlu_heldout_cloze"} <= set(df.task)
    assert set(df[df.task.str.startswith("mmlu_cloze_")].metric) == {"acc", "acc_norm"}
    sample = next(iter(raw["samples"].values()))[0]
    continuation = sample["arguments"][0][1] if isinstance(sample["arguments"][0], (list, tuple)) else sample["arguments"]["gen_args_0"]["arg_1"]
    assert continuation.strip() not in {"A", "B", "C", "D"}
    assert "Question:" in (sample["arguments"][0][0] if isinstance(sample["arguments"][0], (list, tuple)) else sample["arguments"]["gen_args_0"]["arg_0"])
