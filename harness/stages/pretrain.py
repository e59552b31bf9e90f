"""Pretraining: packed token rows, next-token cross-entropy over every position."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from harness import engine
from harness.config import Config, validate
from harness.data.packing import RowSampler, prepare_pretraining_data
from harness.export import export_hf
from harness.model import build_model, count_parameters


def causal_lm_loss(model, batch) -> tuple[torch.Tensor, int]:
    out = model(input_ids=batch["input_ids"], labels=batch["input_ids"])
    # HF shifts labels inside: seq_len - 1 predicted tokens per row
    n_tokens = batch["input_ids"].shape[0] * (batch["input_ids"].shape[1] - 1)
    return out.loss, n_tokens


def run(cfg: Config, out_dir: str | Path, *, resume: bool = False, progress: bool = True) -> dict:
    """Prepare data, train, export `out_dir/hf`. Returns a summary (also in run.json)."""
    cfg = validate(cfg)
    out_dir = Path(out_dir)
    if not resume and (out_dir / "checkpoints" / "latest").exists():
        raise FileExistsError(f"{out_dir} already holds checkpoints; pass --resume to continue that run "
                              f"or choose another output folder (nothing was overwritten)")
    out_dir.mkdir(parents=True, exist_ok=True)
    rank, world = engine.init_distributed()
    # All input checks (config, corpus, tokenizer) happen here, before the model exists.
    data = engine.rank0_first(lambda: prepare_pretraining_data(cfg, out_dir))
    dev = engine.device()
    sampler = RowSampler(len(data.train), cfg.run.seed, cfg.run.micro_batch_size, cfg.grad_accum(world), world, rank)
    train_rows = torch.from_numpy(data.train).long()
    val_rows = torch.from_numpy(data.val).long()

    def batches(step: int, micro: int) -> dict:
        return {"input_ids": train_rows[sampler.rows(step, micro)].to(dev)}

    def val_batches():
        # Each rank scores its own slice of at most eval_batches x micro_batch rows.
        mb = cfg.run.micro_batch_size
        rows = val_rows[: cfg.run.eval_batches * mb * world][rank::world]
        for i in range(0, len(rows), mb):
            yield {"input_ids": rows[i:i + mb].to(dev)}

    model = build_model(cfg.model, seed=cfg.run.seed)
    n_params = count_parameters(model)
    started = time.time()
    result = engine.train(cfg, model, causal_lm_loss, batches, out_dir, val_batches=val_batches,
                          resume=resume, progress=progress)
    summary = {"stage": "pretrain", "preset": cfg.preset, "parameters": n_params,
               "tokens_seen": result.tokens_seen, "steps": result.steps, "wall_time_s": result.wall_time_s,
               "processes": world, "documents": data.documents, "started": started}
    if rank == 0:
        export_hf(cfg, result.checkpoint_dir, out_dir / "hf", tokenizer_dir=data.tokenizer_dir, run_info=summary,
                  tag=result.last_tag)
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
    return summary
