"""End-to-end runs through the CLI: resume after a real SIGKILL, two processes, export
loaded by stock transformers and the stock lm_eval command line."""

import json
import os
import subprocess
import sys

import pytest
import torch

from support import REPO, child_env, run_cli


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    lines = []
    for i in range(60):
        text = " ".join(f"Llama {j} of herd {i} eats {(i * j) % 97} apples." for j in range(30))
        lines.append(json.dumps({"text": text}))
    (folder / "c.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "c.jsonl"


def pretrain_args(out, corpus, *extra):
    return ["pretrain", "--preset", "tiny-cpu", "--out", str(out), "--no-progress", f"data.source={corpus}",
            "data.seq_len=64", "run.micro_batch_size=8", "run.global_batch_size=8", "run.max_steps=8",
            "run.checkpoint_every=4", "run.eval_every=4", "run.eval_batches=2", "optim.warmup_steps=2", *extra]


def losses(run):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if "loss" in r], [r["val_loss"] for r in records if "val_loss" in r]


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, corpus):
    out = tmp_path_factory.mktemp("straight")
    run_cli(*pretrain_args(out, corpus, "run.precision=fp32"))
    return out


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_resume_after_kill_gives_identical_losses(tmp_path, corpus, straight_run, precision):
    if precision == "fp32":
        reference = straight_run
    else:
        reference = tmp_path / "straight"
        run_cli(*pretrain_args(reference, corpus, "run.precision=bf16"))
    killed = tmp_path / "killed"
    args = pretrain_args(killed, corpus, f"run.precision={precision}")
    proc = run_cli(*args, env={"HARNESS_FAULT": "kill@6"}, check=False)
    assert proc.returncode == -9  # SIGKILL mid-step 6: no clean-up ran
    assert (killed / "checkpoints" / "latest").read_text().strip() == "step_00000004"
    assert len(losses(killed)[0]) == 5  # it logged step 5, which resume must redo
    run_cli(*args, "--resume")
    want_train, want_val = losses(reference)
    got_train, got_val = losses(killed)
    assert len(got_train) == 8
    assert got_train == pytest.approx(want_train, abs=1e-6)
    assert got_val == pytest.approx(want_val, abs=1e-6)


def test_two_processes_partition_parameters_and_match_one(tmp_path, corpus, straight_run):
    out = tmp_path / "two"
    env = child_env()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "harness", *pretrain_args(out, corpus, "run.precision=fp32", "run.micro_batch_size=4",
                                            "run.zero3_persistence_threshold=0")]
    proc = subprocess.run(cmd, cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shards = [json.loads((out / "zero_shards" / f"rank{r}.json").read_text()) for r in range(2)]
    full = shards[0]["full_elements"]
    for s in shards:
        assert s["world_size"] == 2 and s["zero_stage"] == 3
        assert s["local_elements"] <= full / 2 + 64 * 40  # half, up to per-parameter padding
        # with persistence off, no rank keeps whole parameters gathered between steps
        assert s["resident_elements_after_training"] <= s["local_elements"]
    assert sum(s["local_elements"] for s in shards) >= full
    # 2 processes x micro batch 4 read the rows 1 process x 8 reads; the gradient
    # all-reduce sums in another order, so losses agree to float32 noise, not bit for bit.
    assert losses(out)[0] == pytest.approx(losses(straight_run)[0], rel=1e-4)


def test_export_loads_in_stock_transformers_and_reproduces_val_loss(straight_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf = straight_run / "hf"
    info = json.loads((hf / "run.json").read_text())
    for key in ("config", "seed", "git_commit", "tokens_seen", "wall_time_s", "parameters"):
        assert key in info
    assert info["tokens_seen"] == 8 * 8 * 63
    # bf16 bits differ between AMX and AVX-512 CPUs, so the export says which it ran on;
    # checked against the kernel's own list of CPU flags.
    flags = set(open("/proc/cpuinfo").read().split()) if os.path.exists("/proc/cpuinfo") else None
    if flags is not None and not torch.cuda.is_available():
        assert info["platform"]["device"] == "cpu"
        assert info["platform"]["amx"] == ("amx_tile" in flags)
        assert info["platform"]["avx512_bf16"] == ("avx512_bf16" in flags)
    assert (hf / "model.safetensors").exists()
    model = AutoModelForCausalLM.from_pretrained(hf, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(hf)
    assert model.config.num_key_value_heads == info["config"]["model"]["n_heads"]
    assert tok.decode(tok.encode("Llama 3 eats 42 apples.", add_special_tokens=False)) == "Llama 3 eats 42 apples."
    import numpy as np

    # The engine scored the first eval_batches x micro_batch = 16 held-out rows, token-weighted.
    val = torch.from_numpy(np.load(straight_run / "data" / "val.npy")).long()[:16]
    with torch.no_grad():
        parts = [(model(input_ids=val[i:i + 8], labels=val[i:i + 8]).loss.item(), len(val[i:i + 8]))
                 for i in range(0, len(val), 8)]
    loss = sum(l * n for l, n in parts) / sum(n for _, n in parts)
    assert loss == pytest.approx(losses(straight_run)[1][-1], abs=1e-4)


def test_stock_lm_eval_cli_scores_the_export(tmp_path, straight_run):
    data = tmp_path / "task.jsonl"
    rows = [{"q": f"Llama {i} of herd 1 eats", "choices": [f" {i % 97} apples.", " many pears."], "label": 0}
            for i in range(6)]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "herd.yaml").write_text(f"""task: herd_local
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{q}}}}"
doc_to_choice: choices
doc_to_target: label
metric_list:
  - metric: acc
""")
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={straight_run / 'hf'},dtype=float32",
           "--tasks", "herd_local", "--include_path", str(tmp_path / "tasks"), "--device", "cpu", "--batch_size", "2",
           "--output_path", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env=child_env(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result_files = list(out.rglob("results_*.json"))
    assert result_files, proc.stdout[-2000:]
    results = json.loads(result_files[0].read_text())["results"]["herd_local"]
    assert 0.0 <= results["acc,none"] <= 1.0
    assert results["acc_stderr,none"] >= 0.0


@pytest.mark.parametrize("override,message", [
    ("model.attention=gqa:4", "4 kv heads do not divide model.n_heads=6"),
    ("data.seq_len=4096", "data.seq_len=4096 exceeds the model's position limit model.max_seq_len=512"),
    ("run.max_stepz=3", "unknown config key 'run.max_stepz'"),
    ("data.source=/no/such/corpus.jsonl", "data source not found: /no/such/corpus.jsonl"),
])
def test_bad_input_fails_before_any_compute(tmp_path, override, message):
    out = tmp_path / "run"
    proc = run_cli("pretrain", "--preset", "tiny-cpu", "--out", str(out), override, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not (out / "checkpoints").exists()  # no model was built, nothing trained


def test_corrupt_corpus_line_is_named_by_the_cli(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": "fine"}\n{"text": oops}\n')
    proc = run_cli("pretrain", "--preset", "tiny-cpu", "--out", str(tmp_path / "run"), f"data.source={bad}", check=False)
    assert proc.returncode == 2 and f"{bad}:3: not valid JSON" in proc.stderr


def test_finished_run_is_not_overwritten_and_resume_checks_config(tmp_path, corpus, straight_run):
    before = (straight_run / "metrics.jsonl").read_text()
    proc = run_cli(*pretrain_args(straight_run, corpus, "run.precision=fp32"), check=False)
    assert proc.returncode == 2 and "already holds checkpoints; pass --resume" in proc.stderr
    proc = run_cli(*pretrain_args(straight_run, corpus, "run.precision=fp32", "optim.lr=0.1"), "--resume", check=False)
    assert proc.returncode == 2 and "optim.lr: checkpoint 0.003, now 0.1" in proc.stderr
    assert (straight_run / "metrics.jsonl").read_text() == before
