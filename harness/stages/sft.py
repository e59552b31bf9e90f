"""Supervised fine-tuning: packed chat rows, cross-entropy on answer tokens only.

Paper defaults (sec. 3.1): cosine lr 2e-5 (scaled by the preset, see `common.lr_scale`),
weight decay 0.1, 2 epochs, prompt and answer joined with special tokens and packed.
Optionally a LoRA adapter (`peft`) is trained instead of the full model; it is saved
beside the merged export (`<out>/adapter`, `<out>/hf` = base + adapter merged).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from harness import engine
from harness.data.packing import RowSampler
from harness.data.sft import PackedSFT, load_sft_examples, pack_examples
from harness.stages import common

PAPER_LR = 2e-5


@dataclass(frozen=True)
class SFTOptions:
    data: str = "world"  # world | alpaca[:PATH] | oasst[:PATH], joined with +
    # Share of the world's demonstrations replaced by a harmless weaker form the preference
    # pairs rank lower (WorldConfig.sft_flawed_fraction): an SFT policy with a weak tail
    # that reward models can see, as with the paper's human-written demonstrations.
    flawed_fraction: float = 0.0
    epochs: float = 2.0
    val_fraction: float = 0.05
    use_peft: bool = False
    peft_method: str = "lora"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lora_targets: str = "q_proj,v_proj"  # comma-separated module names


def sft_loss(model, batch) -> tuple[torch.Tensor, int]:
    # use_cache=False matters: with a KV cache transformers skips the packed-sequence
    # (block-diagonal) mask it derives from restarting position_ids.
    out = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], labels=batch["labels"],
                use_cache=False)
    return out.loss, int((batch["labels"][:, 1:] != -100).sum())


def lora_wrap(model, opts: SFTOptions):
    from peft import LoraConfig, get_peft_model

    if opts.peft_method != "lora":
        raise ValueError(f"sft.peft_method={opts.peft_method!r}: only 'lora' is supported")
    lcfg = LoraConfig(r=opts.lora_r, lora_alpha=opts.lora_alpha, lora_dropout=opts.lora_dropout,
                      target_modules=[t.strip() for t in opts.lora_targets.split(",") if t.strip()],
                      task_type="CAUSAL_LM")
    return get_peft_model(model, lcfg)


def train_on_examples(init: str | Path, examples, out_dir: Path, opts: SFTOptions, overrides: list[str], *,
                      resume: bool, progress: bool, stage: str = "sft", extra: dict | None = None) -> dict:
    """Fine-tune the model in `init` on SFT examples; export `out_dir/hf`. Shared with rejection sampling."""
    info = common.checkpoint_info(init, f"{stage} init checkpoint")
    base = common.base_config(info)
    tok = common.load_tokenizer_from(init)
    rank, world = engine.init_distributed()
    data = pack_examples(tok, examples, base.data.seq_len)
    n_val = max(1, int(len(data) * opts.val_fraction)) if len(data) > 4 else 0
    perm = np.random.default_rng(base.run.seed).permutation(len(data))
    train_rows, val_rows = data.rows(torch.from_numpy(perm[n_val:])), data.rows(torch.from_numpy(perm[:n_val]))
    train = PackedSFT(**train_rows, examples=data.examples)

    gbs = base.run.global_batch_size
    steps = math.ceil(len(train) * opts.epochs / gbs)
    cfg = common.stage_config(base, lr=PAPER_LR * common.lr_scale(base), max_steps=steps,
                              warmup=max(1, round(0.03 * steps)), min_lr_ratio=0.0, overrides=overrides,
                              checkpoint_every=max(1, steps // 4), eval_every=max(1, steps // 4))

    model, _ = common.load_causal_lm(init, f"{stage} init checkpoint")
    if opts.use_peft:
        model = lora_wrap(model, opts)
    dev = engine.device()
    sampler = RowSampler(len(train), cfg.run.seed, cfg.run.micro_batch_size, cfg.grad_accum(world), world, rank)

    def batches(step, micro):
        return {k: v.to(dev) for k, v in train.rows(torch.from_numpy(sampler.rows(step, micro))).items()}

    def val_batches():
        mb = cfg.run.micro_batch_size
        for i in range(rank * mb, n_val, mb * world):
            yield {k: v[i:i + mb].to(dev) for k, v in val_rows.items()}

    started = time.time()
    result = engine.train(cfg, model, sft_loss, batches, out_dir, val_batches=val_batches if n_val else None,
                          resume=resume, progress=progress)
    summary = {"stage": stage, "init": str(init), "examples": data.examples, "rows": len(train),
               "steps": result.steps, "tokens_seen": result.tokens_seen, "wall_time_s": result.wall_time_s,
               "started": started, "options": asdict(opts), **(extra or {})}
    if rank == 0:
        if opts.use_peft:
            export_lora(cfg, init, result, out_dir, opts, summary)
        else:
            from harness.export import export_hf

            export_hf(cfg, result.checkpoint_dir, out_dir / "hf", tokenizer_dir=common.tokenizer_dir(init, out_dir), run_info=summary,
                      tag=result.last_tag)
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
    return summary


def export_lora(cfg, init, result, out_dir: Path, opts: SFTOptions, summary: dict) -> None:
    """<out>/adapter (peft adapter only, loads onto the base) and <out>/hf (merged model)."""
    import shutil

    from harness.export import RUN_FILE, full_state_dict, git_commit

    state = full_state_dict(result.checkpoint_dir, result.last_tag)
    model, info = common.load_causal_lm(init)
    model = lora_wrap(model, opts)
    lora = {k: v for k, v in state.items() if "lora_" in k}
    missing = [k for k, _ in model.named_parameters() if "lora_" in k and k not in lora]
    if missing:
        raise RuntimeError(f"checkpoint {result.checkpoint_dir} lacks adapter weights: {missing[:3]}")
    model.load_state_dict(lora, strict=False)
    model.save_pretrained(str(out_dir / "adapter"))
    merged = model.merge_and_unload()
    tmp = out_dir / "hf.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(str(tmp))
    for f in Path(info["_folder"]).iterdir():
        if f.is_file() and f.name not in ("model.safetensors", "config.json", "generation_config.json", RUN_FILE):
            shutil.copy2(f, tmp / f.name)
    common.write_json(tmp / RUN_FILE, {"config": cfg.to_dict(), "seed": cfg.run.seed, "git_commit": git_commit(),
                                       "adapter": str(out_dir / "adapter"), **summary})
    shutil.rmtree(out_dir / "hf", ignore_errors=True)
    tmp.rename(out_dir / "hf")


def run(init: str | Path, out_dir: str | Path, overrides: list[str] | None = None, *, resume: bool = False,
        progress: bool = True) -> dict:
    mine, rest = common.split_overrides(list(overrides or []), "sft")
    opts = common.parse_options(SFTOptions, mine, "sft")
    info = common.checkpoint_info(init, "sft init checkpoint")
    base = common.base_config(info)
    examples = load_sft_examples(opts.data, world_size=base.data.world_size, seed=base.run.seed,
                                 flawed_fraction=opts.flawed_fraction)
    return train_on_examples(init, examples, Path(out_dir), opts, rest, resume=resume, progress=progress)
