"""The sweep runner end to end through `python -m ablations`: a run killed mid-training is
resumed with no finished run lost, and re-running a finished sweep trains nothing.

Tiny settings (a small corpus, 64-token rows, 20 steps, no lm-eval tasks) keep it to a few
harness processes; the slow test scores a real sweep with lm-eval and the inference probe."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from support import REPO, child_env

TINY = ["data.seq_len=64", "run.micro_batch_size=8", "run.global_batch_size=8", "run.eval_batches=2",
        "optim.warmup_steps=2", "run.checkpoint_every=4", "run.precision=fp32"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    lines = [json.dumps({"text": " ".join(f"Llama {j} of herd {i} eats {(i * j) % 97} apples." for j in range(30))})
             for i in range(60)]
    (folder / "c.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "c.jsonl"


def sweep(*args, env=None, timeout=900):
    full = child_env(PYTHONPATH=str(REPO), **(env or {}))
    full.pop("ABLATIONS_FAULT", None)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "ablations", *args], cwd=REPO, env=full, capture_output=True,
                          text=True, timeout=timeout)


def snapshot(run_dir):
    """mtimes of everything training and scoring write (a re-run that trains changes them)."""
    return {str(p.relative_to(run_dir)): p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}


def test_killed_run_resumes_and_finished_runs_are_kept_and_not_retrained(tmp_path, corpus):
    out = tmp_path / "store"
    args = ["gqa", "--variants", "gqa_uptrain", "--seeds", "0", "--steps", "20", "--tasks", "none",
            "--probes", "validation", "--out", str(out), "--set", f"data.source={corpus}", *TINY]
    # 1. mha trains and is scored; its uptrained GQA (2 steps, checkpoint every step) is SIGKILLed at step 2.
    first = sweep(*args, env={"ABLATIONS_FAULT": "gqa_uptrain/seed0:kill@2"})
    assert first.returncode == 2, first.stdout + first.stderr
    assert "gqa_uptrain/seed0 failed (exit -9)" in first.stderr and "re-run" in first.stderr
    mha, up = out / "runs" / "mha" / "seed0", out / "runs" / "gqa_uptrain" / "seed0"
    assert (mha / "rows.jsonl").exists() and not (up / "rows.jsonl").exists()
    assert (up / "checkpoints" / "latest").read_text().strip() == "step_00000001"
    mha_files = snapshot(mha)

    # 2. The same command: the finished run is skipped, the killed one resumes and completes.
    second = sweep(*args)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "[mha/seed0] finished earlier: skipped" in second.stdout
    assert "[gqa_uptrain/seed0] resuming from step_00000001" in second.stdout
    assert snapshot(mha) == mha_files  # the finished run was not touched
    steps = [json.loads(x)["step"] for x in (up / "metrics.jsonl").read_text().splitlines() if "loss" in x
             and "val_loss" not in x]
    assert steps == [1, 2]
    info = json.loads((up / "hf" / "run.json").read_text())
    assert info["stage"] == "uptrain" and info["config"]["model"]["attention"] == "gqa:2"
    assert info["uptrained_from"] == str(mha) and info["source_steps"] == 20
    hf_config = json.loads((up / "hf" / "config.json").read_text())  # the converted model, not the source's
    assert hf_config["num_key_value_heads"] == 2 and hf_config["num_attention_heads"] == 6
    assert (up / "hf" / "tokenizer.json").exists() or any((up / "hf").glob("tokenizer*"))

    results = pd.read_json(out / "results.jsonl", lines=True)
    assert set(results["run"]) == {"mha/seed0", "gqa_uptrain/seed0"}
    assert {"run", "ablation", "variant", "seed", "step", "task", "metric", "value", "stderr", "n", "config_hash",
            "git_commit"} <= set(results.columns)
    assert set(results["task"]) == {"validation"} and results["config_hash"].nunique() == 2
    curves = pd.read_json(out / "curves.jsonl", lines=True)
    assert len(curves[(curves.run == "mha/seed0") & (curves.metric == "loss")]) == 20
    for name in ("summary.csv", "paired.csv", "report.md", "manifest.json"):
        assert (out / name).exists(), name
    paired = pd.read_csv(out / "paired.csv")
    assert set(paired["variant"]) == {"gqa_uptrain"} and set(paired["baseline"]) == {"mha"}

    # 3. Re-running a finished sweep trains nothing and scores nothing.
    before = {p: snapshot(p) for p in (mha, up)}
    third = sweep(*args)
    assert third.returncode == 0, third.stderr
    assert third.stdout.count("finished earlier: skipped") == 2
    assert {p: snapshot(p) for p in (mha, up)} == before

    # 4. A different config in the same store is refused, naming the difference.
    other = sweep(*[a if a != "20" else "24" for a in args])
    assert other.returncode == 2 and "will not mix" in other.stderr and "run.max_steps" in other.stderr


@pytest.mark.slow
def test_gqa_sweep_scores_quality_speed_and_kv_memory(tmp_path):
    """The real gqa record on the generated world, shortened: every variant, one seed, lm-eval
    rows, validation loss, and KV-cache bytes in the ratio kv_heads / heads."""
    out = tmp_path / "gqa"
    proc = sweep("gqa", "--seeds", "0", "--steps", "12", "--limit", "2", "--out", str(out), "--set",
                 "run.checkpoint_every=6", timeout=3600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = pd.read_json(out / "results.jsonl", lines=True)
    assert set(df["variant"]) == {"mha", "mqa", "gqa", "gqa_uptrain"}
    assert {"mmlu", "squad", "validation", "speed"} <= set(df["task"])  # gsm8k: not on tiny-cpu (see gqa.py)
    kv = df[(df.metric == "kv_cache_bytes") & (df.task == "speed") & (df.context_length == 448)
            & (df.batch_size == 32)].set_index("variant")["value"]
    assert kv["mqa"] / kv["mha"] == pytest.approx(1 / 6)
    assert kv["gqa"] / kv["mha"] == pytest.approx(2 / 6)
    assert kv["gqa_uptrain"] == kv["gqa"]
    assert (out / "report.md").exists() or (out / "report.html").exists()
