"""GQA by uptraining (Ainslie et al. 2023): convert a finished MHA checkpoint to fewer
key/value heads by mean-pooling the K and V projections of the heads in each group, then
continue pretraining for a few percent of the original steps.

    python -m ablations.uptrain --source RUN_DIR --preset tiny-cpu --out DIR [--resume] model.attention=gqa:2 ...
    deepspeed --hostfile H --num_gpus N --module ablations.uptrain --source ... (same arguments)

The data is the source run's (its tokenizer, its world and split) and continues where the
source run's sampler stopped, so the uptraining steps read rows the MHA run did not (until
its epoch wraps). Everything else is the harness's own loop (`harness.engine.train`):
checkpoints, resume after a kill, export to `DIR/hf`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

import torch

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

NOT_TOKENIZER = {"config.json", "generation_config.json", "run.json", "model.safetensors.index.json"}
# Keys that may differ between the source run's model and the converted one.
CONVERTIBLE = {"attention", "match_mha_params"}


def group_of_heads(n_heads: int, n_kv: int) -> list[list[int]]:
    """Query heads sharing each KV head, as transformers' `repeat_kv` assigns them (consecutive)."""
    if n_kv < 1 or n_heads % n_kv:
        raise ValueError(f"{n_kv} KV heads do not divide {n_heads} heads")
    g = n_heads // n_kv
    return [list(range(k * g, (k + 1) * g)) for k in range(n_kv)]


def pool_kv_weight(weight: torch.Tensor, n_heads: int, n_kv: int, head_dim: int) -> torch.Tensor:
    """[n_heads*head_dim, dim] (or a source with fewer heads) -> [n_kv*head_dim, dim] by the mean
    over the heads of each group."""
    src_heads = weight.shape[0] // head_dim
    if src_heads == n_kv:
        return weight.clone()
    if src_heads % n_kv:
        raise ValueError(f"cannot pool {src_heads} KV heads into {n_kv}")
    w = weight.reshape(n_kv, src_heads // n_kv, head_dim, weight.shape[-1])
    return w.mean(dim=1).reshape(n_kv * head_dim, weight.shape[-1])


def convert_state_dict(state: dict[str, torch.Tensor], n_heads: int, n_kv: int, head_dim: int) -> dict:
    """Every `*.k_proj.weight` / `*.v_proj.weight` mean-pooled to `n_kv` heads; the rest copied."""
    out = {}
    for name, t in state.items():
        if name.endswith(("k_proj.weight", "v_proj.weight")):
            out[name] = pool_kv_weight(t, n_heads, n_kv, head_dim)
        elif name.endswith(("k_proj.bias", "v_proj.bias")):
            out[name] = pool_kv_weight(t[:, None], n_heads, n_kv, head_dim)[:, 0]
        else:
            out[name] = t.clone()
    return out


def convert_model(source, target_model_cfg):
    """A LlamaForCausalLM with `target_model_cfg`'s KV heads, its K/V mean-pooled from `source`."""
    from harness.model import build_model

    target = build_model(target_model_cfg, seed=0)
    state = convert_state_dict(source.state_dict(), target_model_cfg.n_heads, target_model_cfg.n_kv_heads,
                               target_model_cfg.head_dim)
    target.load_state_dict(state, strict=True)  # raises on any missing or unexpected tensor
    return target


def check_compatible(source_cfg, cfg) -> None:
    from harness.config import ConfigError

    a, b = dataclasses.asdict(source_cfg.model), dataclasses.asdict(cfg.model)
    diff = [f"model.{k}: source {a[k]!r}, uptrain {b[k]!r}" for k in a if k not in CONVERTIBLE and a[k] != b[k]]
    if diff:
        raise ConfigError("uptraining converts only the attention; the model differs from the source run in "
                          + "; ".join(diff))
    if cfg.model.match_mha_params and cfg.model.n_kv_heads != cfg.model.n_heads:
        raise ConfigError("model.match_mha_params=true would widen the FFN, which a converted checkpoint does not "
                          "have; uptrain with model.match_mha_params=false")


def run(cfg, source: str | Path, out_dir: str | Path, *, resume: bool = False, progress: bool = True) -> dict:
    """Convert `source`'s exported model (source/hf) to cfg's attention and train cfg.run.max_steps more steps."""
    from transformers import LlamaForCausalLM

    from harness import config as C
    from harness import engine
    from harness.data.packing import RowSampler, prepare_pretraining_data
    from harness.export import export_hf, read_run_info
    from harness.model import count_parameters
    from harness.stages.pretrain import causal_lm_loss

    cfg = C.validate(cfg)
    source, out_dir = Path(source), Path(out_dir)
    hf = source / "hf"
    if not (hf / "run.json").exists():
        raise FileNotFoundError(f"uptrain source {source} has no finished export ({hf / 'run.json'}); train it first")
    info = read_run_info(hf)
    source_cfg = C.from_dict(info["config"])
    check_compatible(source_cfg, cfg)
    if cfg.data != dataclasses.replace(source_cfg.data, tokenizer=cfg.data.tokenizer) or cfg.run.seed != source_cfg.run.seed:
        raise C.ConfigError("uptraining continues the source run's data: data.* and run.seed must equal the source's")
    if not resume and (out_dir / "checkpoints" / "latest").exists():
        raise FileExistsError(f"{out_dir} already holds checkpoints; pass --resume to continue that run "
                              f"or choose another output folder (nothing was overwritten)")
    out_dir.mkdir(parents=True, exist_ok=True)
    rank, world = engine.init_distributed()
    # The source's tokenizer (only its files: the export copies the whole tokenizer folder, and
    # the source's hf/ also holds its config and weights), and rows continuing after its last step.
    tok_dir = out_dir / "tokenizer"
    if rank == 0:
        tok_dir.mkdir(exist_ok=True)
        for f in hf.iterdir():
            if f.is_file() and f.name not in NOT_TOKENIZER and not f.name.endswith(".safetensors"):
                shutil.copy2(f, tok_dir / f.name)
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
    data_cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, tokenizer=str(tok_dir)))
    data = engine.rank0_first(lambda: prepare_pretraining_data(data_cfg, out_dir))
    dev = engine.device()
    offset = int(info.get("steps", source_cfg.run.max_steps))
    sampler = RowSampler(len(data.train), cfg.run.seed, cfg.run.micro_batch_size, cfg.grad_accum(world), world, rank)
    train_rows = torch.from_numpy(data.train).long()
    val_rows = torch.from_numpy(data.val).long()

    def batches(step: int, micro: int) -> dict:
        return {"input_ids": train_rows[sampler.rows(offset + step, micro)].to(dev)}

    def val_batches():
        mb = cfg.run.micro_batch_size
        rows = val_rows[: cfg.run.eval_batches * mb * world][rank::world]
        for i in range(0, len(rows), mb):
            yield {"input_ids": rows[i:i + mb].to(dev)}

    source_model = LlamaForCausalLM.from_pretrained(str(hf), dtype=torch.float32)
    model = convert_model(source_model, cfg.model)
    del source_model
    started = time.time()
    result = engine.train(cfg, model, causal_lm_loss, batches, out_dir, val_batches=val_batches, resume=resume,
                          progress=progress)
    summary = {"stage": "uptrain", "preset": cfg.preset, "parameters": count_parameters(model),
               "tokens_seen": result.tokens_seen, "steps": result.steps, "wall_time_s": result.wall_time_s,
               "processes": world, "documents": data.documents, "started": started,
               "uptrained_from": str(source), "source_steps": offset, "source_tokens_seen": info.get("tokens_seen"),
               "conversion": "mean-pooled K/V heads"}
    if rank == 0:
        export_hf(cfg, result.checkpoint_dir, out_dir / "hf", tokenizer_dir=tok_dir, run_info=summary,
                  tag=result.last_tag)
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ablations.uptrain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", required=True, help="finished run folder to convert (its hf/ is read)")
    p.add_argument("--preset", default="tiny-cpu")
    p.add_argument("--out", required=True)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--local_rank", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("overrides", nargs="*", metavar="section.key=value")
    args = p.parse_args(argv)
    from harness import config

    try:
        cfg = config.load(args.preset, args.overrides)
        summary = run(cfg, args.source, args.out, resume=args.resume, progress=not args.no_progress)
    except (config.ConfigError, ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", 0)) == 0:
        print(json.dumps({k: summary[k] for k in ("parameters", "tokens_seen", "steps", "wall_time_s")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
