"""harness.bench: the MFU arithmetic and the report of a real run's tokens/s (used for the
small-gpu numbers in BENCHMARKS.md)."""

import pytest

from harness import bench, config
from harness.model import build_model, count_parameters
from support import tiny_config, train_in_process


def test_flops_per_token_counts_matmuls_and_attention_not_the_embedding_lookup():
    cfg = config.preset("small-gpu")
    n = count_parameters(build_model(cfg.model, seed=0))
    m = cfg.model
    expected = 6 * (n - m.vocab_size * m.dim) + 12 * m.n_layers * m.dim * cfg.data.seq_len
    assert bench.flops_per_token(cfg, n) == expected
    # ~0.66 GFLOP of weights + ~0.23 of attention per token at 2k context
    assert 0.85e9 < expected < 0.95e9


def test_run_throughput_reads_a_runs_metrics(tmp_path, monkeypatch):
    cfg = tiny_config(**{"run.max_steps": 10})
    train_in_process(cfg, tmp_path)
    monkeypatch.setattr(bench, "matmul_peak_flops", lambda dtype: 1e12)
    r = bench.run_throughput(tmp_path, cfg)
    logged = [rec["tokens_per_s"] for rec in bench.engine.read_metrics(tmp_path) if "tokens_per_s" in rec]
    assert r["steps"] == 10 and r["tokens_per_step"] == 4 * 63
    assert r["tokens_per_s"] == round(sorted(logged[1:])[4])  # median of the 9 steps after the first
    n = count_parameters(build_model(cfg.model, seed=0))
    assert r["mfu"] == pytest.approx(r["tokens_per_s"] * bench.flops_per_token(cfg, n) / 1e12, abs=1e-4)  # rounded to 4 places
    assert "| tiny-cpu | fp32 |" in bench.run_markdown(r, "cmd")


def test_run_throughput_names_a_run_without_steps(tmp_path):
    with pytest.raises(SystemExit, match="metrics.jsonl"):
        bench.run_throughput(tmp_path, tiny_config())
