"""Shared helpers for tests: fixed token data, tiny configs, in-process and CLI runs."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import torch

from harness import config, engine
from harness.stages.pretrain import causal_lm_loss

REPO = Path(__file__).resolve().parents[1]


def fixed_rows(n_rows: int, seq_len: int, vocab: int, seed: int = 1234) -> torch.Tensor:
    """Token rows from a pure-Python LCG walk with structure a model can learn (repeating
    motifs), independent of numpy/torch RNG versions so golden files stay valid."""
    state = seed
    vocab = min(vocab, 64)  # a small alphabet, so the loss falls visibly within a few steps
    rows = []
    for _ in range(n_rows):
        row = []
        for _ in range(seq_len):
            state = (1103515245 * state + 12345) % 2**31
            if row and state % 4:  # 3 in 4 tokens follow a deterministic rule
                row.append((row[-1] * 7 + 3) % vocab)
            else:
                row.append(3 + state % (vocab - 3))
        rows.append(row)
    return torch.tensor(rows, dtype=torch.long)


def tiny_config(**overrides) -> config.Config:
    base = {"run.precision": "fp32", "run.micro_batch_size": 4, "run.global_batch_size": 4, "run.max_steps": 8,
            "optim.warmup_steps": 2, "data.seq_len": 64, "run.checkpoint_every": 1000, "run.eval_every": 1000}
    base.update(overrides)
    return config.validate(config.apply_overrides(config.preset("tiny-cpu"), {k: str(v) for k, v in base.items()}))


def train_in_process(cfg: config.Config, out_dir: Path, rows: torch.Tensor | None = None, seed_model: int = 0):
    """Run the real engine on fixed rows; returns the per-step losses from metrics.jsonl."""
    from harness.data.packing import RowSampler
    from harness.model import build_model

    rows = fixed_rows(64, cfg.data.seq_len, cfg.model.vocab_size) if rows is None else rows
    rank, world = engine.init_distributed()
    sampler = RowSampler(len(rows), cfg.run.seed, cfg.run.micro_batch_size, cfg.grad_accum(world), world, rank)
    model = build_model(cfg.model, seed=seed_model)
    result = engine.train(cfg, model, causal_lm_loss, lambda s, m: {"input_ids": rows[sampler.rows(s, m)]},
                          out_dir, progress=False)
    losses = [r["loss"] for r in engine.read_metrics(out_dir) if "loss" in r]
    return losses, result


DIST_VARS = {"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}


def child_env(**extra: str) -> dict:
    """os.environ without the one-process group that in-process engine tests set up
    (RANK, MASTER_PORT...): a child process must start its own, not join ours."""
    env = {k: v for k, v in os.environ.items() if k not in DIST_VARS}
    env.update(extra)
    return env


def run_cli(*args: str, env: dict | None = None, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    full_env = child_env(PYTHONPATH=str(REPO), **(env or {}))
    proc = subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"harness {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


def replace(cfg, section: str, **kw):
    return dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section), **kw)})
