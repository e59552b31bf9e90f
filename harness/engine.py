"""The one training loop, on DeepSpeed ZeRO-3. Every stage calls `train` with its own
data (`batches`) and loss (`loss_fn`); nothing here knows which stage is running.

CPU runs use the gloo backend; GPU runs use NCCL. One process or many: launch with
`python -m harness ...`, `torchrun --nproc_per_node N -m harness ...` or
`deepspeed --num_gpus N --module harness ...` (multi-node: `--hostfile`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import socket
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from harness.config import Config, OptimConfig

if not torch.cuda.is_available():
    os.environ.setdefault("DS_ACCELERATOR", "cpu")  # say so instead of letting DeepSpeed probe and warn

# DeepSpeed 0.19 calls collectives that torch 2.13 marks deprecated, once per step.
warnings.filterwarnings("ignore", message=r".*torch\.distributed\..* is deprecated", category=FutureWarning)

Batch = dict[str, torch.Tensor]
LossFn = Callable[[torch.nn.Module, Batch], tuple[torch.Tensor, int]]


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN/inf loss or gradient norm; the run stopped without saving."""


# ----------------------------------------------------------------------------- distributed


def init_distributed() -> tuple[int, int]:
    """Start torch.distributed once (gloo on CPU, nccl on GPU); return (rank, world size).

    A plain `python -m harness` run gets a one-process group on a free local port, so the
    same ZeRO-3 code path runs with or without a launcher.
    """
    import deepspeed

    if not dist.is_initialized():
        if "RANK" not in os.environ:
            os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
                              MASTER_PORT=str(_free_port()))
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        deepspeed.utils.logger.setLevel(logging.WARNING)
        deepspeed.init_distributed(dist_backend=backend, verbose=False)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return dist.get_rank(), dist.get_world_size()


def rank0_first(fn: Callable[[], object]):
    """Run `fn` on rank 0, then on the others (which then read what rank 0 cached).

    Used for data preparation: one process trains the tokenizer and writes the packed
    arrays, instead of every process racing to write the same files. An error on rank 0
    is raised on every rank, so no process waits forever at a barrier.
    """
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return fn()
    error = [None]
    if dist.get_rank() == 0:
        try:
            result = fn()
        except Exception as e:  # re-raised below on every rank
            error = [f"{type(e).__name__}: {e}"]
            exc = e
    dist.broadcast_object_list(error, src=0)
    if error[0] is not None:
        if dist.get_rank() == 0:
            raise exc
        raise RuntimeError(f"rank 0 failed: {error[0]}")
    if dist.get_rank() != 0:
        result = fn()
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")


# ----------------------------------------------------------------------------- pure pieces


def deepspeed_config(cfg: Config, world_size: int) -> dict:
    """Our config -> DeepSpeed JSON. Pure, so a snapshot test pins it."""
    return {
        "train_micro_batch_size_per_gpu": cfg.run.micro_batch_size,
        "gradient_accumulation_steps": cfg.grad_accum(world_size),
        "train_batch_size": cfg.run.global_batch_size,
        "gradient_clipping": cfg.optim.grad_clip,
        "zero_optimization": {
            "stage": cfg.run.zero_stage,
            "overlap_comm": False,
            "contiguous_gradients": True,
            # Export reads the fp32 master weights from the checkpoint (zero_to_fp32), so no
            # 16-bit consolidated copy is gathered on save.
            "stage3_gather_16bit_weights_on_model_save": False,
            "stage3_param_persistence_threshold": cfg.run.zero3_persistence_threshold,
        },
        "bf16": {"enabled": cfg.run.precision == "bf16"},
        "fp16": {"enabled": False},
        "steps_per_print": 2**31 - 1,  # we log ourselves
        "wall_clock_breakdown": False,
        "zero_allow_untested_optimizer": True,
    }


def lr_at(step: int, o: OptimConfig, max_steps: int) -> float:
    """Multiplier of the peak lr: linear warmup, then cosine to `min_lr_ratio` at max_steps."""
    if step < o.warmup_steps:
        return (step + 1) / o.warmup_steps
    progress = min(1.0, (step - o.warmup_steps) / max(1, max_steps - o.warmup_steps))
    return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_optimizer(model: torch.nn.Module, o: OptimConfig, param_lrs: dict[str, float] | None = None
                    ) -> torch.optim.Optimizer:
    """AdamW (0.9, 0.95, eps 1e-5); weight decay on matrices only, not on norm gains.
    `param_lrs` maps parameter-name prefixes to their own peak lr (e.g. PPO's value head);
    the schedule scales every group alike."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    own = {prefix: [p for n, p in named if n.startswith(prefix)] for prefix in (param_lrs or {})}
    for prefix, ps in own.items():
        if not ps:
            raise ValueError(f"param_lrs: no trainable parameter is named {prefix}*")
    claimed = {id(p) for ps in own.values() for p in ps}
    rest = [p for _, p in named if id(p) not in claimed]
    groups = []
    for lr, ps in [(o.lr, rest)] + [(param_lrs[prefix], ps) for prefix, ps in own.items()]:
        groups += [{"params": sel, "weight_decay": wd, "lr": lr}
                   for sel, wd in (([p for p in ps if _ndim(p) >= 2], o.weight_decay),
                                   ([p for p in ps if _ndim(p) < 2], 0.0)) if sel]
    return torch.optim.AdamW(groups, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps, foreach=False)


def _ndim(p: torch.Tensor) -> int:
    return len(getattr(p, "ds_shape", p.shape))


# ----------------------------------------------------------------------------- the loop


@dataclass
class TrainResult:
    steps: int
    tokens_seen: int
    wall_time_s: float
    checkpoint_dir: Path
    last_tag: str | None
    engine: object


def train(
    cfg: Config,
    model: torch.nn.Module,
    loss_fn: LossFn,
    batches: Callable[[int, int], Batch],
    out_dir: str | Path,
    *,
    val_batches: Callable[[], Iterable[Batch]] | None = None,
    resume: bool = False,
    progress: bool = True,
    checkpoint: bool = True,
    on_start: Callable[[object], None] | None = None,
    stop: Callable[[int], bool] | None = None,
    param_lrs: dict[str, float] | None = None,
) -> TrainResult:
    """Train `model` for cfg.run.max_steps optimiser steps; checkpoint, log, resume.

    Optional hooks for stages whose data depends on the model (PPO rollouts):
    `on_start(engine)` runs once the engine exists (after any resume), and `stop(steps_done)`
    is asked after each step; True ends the run there (checkpointed), e.g. early stopping.
    `param_lrs`: peak lrs for parameters by name prefix (`build_optimizer`).
    """
    import deepspeed

    rank, world = init_distributed()
    out_dir = Path(out_dir)
    ckpt_dir = out_dir / "checkpoints"
    accum = cfg.grad_accum(world)
    max_steps = cfg.run.max_steps

    optimizer = build_optimizer(model, cfg.optim, param_lrs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_at(s, cfg.optim, max_steps))
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, lr_scheduler=scheduler,
                                           config=deepspeed_config(cfg, world))

    _write_shard_report(engine, out_dir, rank, world)

    start_step, tokens_seen, wall_before, last_tag = 0, 0, 0.0, None
    if resume and (ckpt_dir / "latest").exists():
        path, state = engine.load_checkpoint(str(ckpt_dir))
        if path is None:
            raise RuntimeError(f"--resume: could not load the checkpoint named in {ckpt_dir / 'latest'}")
        start_step, tokens_seen, wall_before = state["step"], state["tokens_seen"], state["wall_time_s"]
        last_tag = (ckpt_dir / "latest").read_text().strip()
        check_resumable(state.get("config"), cfg, ckpt_dir / last_tag)
    elif not resume and (ckpt_dir / "latest").exists():
        raise FileExistsError(f"{out_dir} already holds checkpoints; pass --resume to continue that run "
                              f"or choose another output folder (nothing was overwritten)")
    log = MetricsLog(out_dir, start_step, enabled=rank == 0)
    if on_start is not None:
        on_start(engine)

    bar = _progress(start_step, max_steps, enabled=progress and rank == 0)
    t_start = time.perf_counter()
    step = start_step
    for step in range(start_step, max_steps):
        t0 = time.perf_counter()
        lr = scheduler.get_last_lr()[0]  # the lr this step's update uses
        losses, step_tokens = [], 0
        for micro in range(accum):
            loss, n_tokens = loss_fn(engine, batches(step, micro))
            _fault_hook(step, loss)
            if not _all_finite(loss.detach()):
                raise NonFiniteLoss(_nonfinite_message("loss", step, ckpt_dir, last_tag))
            engine.backward(loss)  # DeepSpeed divides by the accumulation steps
            engine.step()  # applies clipping, AdamW and the schedule at the boundary only
            losses.append(loss.detach().float())
            step_tokens += n_tokens
        grad_norm = float(engine.get_global_grad_norm() or 0.0)
        if not math.isfinite(grad_norm):
            raise NonFiniteLoss(_nonfinite_message("gradient norm", step, ckpt_dir, last_tag))
        step_loss = _mean_over_ranks(torch.stack(losses).mean())
        step_tokens = int(_sum_over_ranks(step_tokens))
        tokens_seen += step_tokens
        dt = time.perf_counter() - t0
        record = {"step": step + 1, "loss": step_loss, "lr": lr,
                  "grad_norm": grad_norm, "tokens": tokens_seen, "tokens_per_s": step_tokens / dt}
        if (step + 1) % cfg.run.log_every == 0 or step + 1 == max_steps:
            log.write(record)
        bar.update(1)
        bar.set_postfix(loss=f"{step_loss:.4f}", lr=f"{record['lr']:.2e}")

        stopped = stop is not None and stop(step + 1)  # asked every step, so hooks see the last one too
        done = step + 1 == max_steps or stopped
        if val_batches is not None and ((step + 1) % cfg.run.eval_every == 0 or done):
            val_loss = evaluate_loss(engine, loss_fn, val_batches())
            log.write({"step": step + 1, "val_loss": val_loss, "val_ppl": math.exp(min(val_loss, 50))})
        if checkpoint and ((step + 1) % cfg.run.checkpoint_every == 0 or done):
            wall = wall_before + time.perf_counter() - t_start
            last_tag = save_checkpoint(engine, ckpt_dir, step + 1, tokens_seen, wall, cfg.run.keep_checkpoints, rank,
                                       client={"config": cfg.to_dict()})
        if done:
            break
    bar.close()
    log.close()
    _write_shard_report(engine, out_dir, rank, world, after_training=True)
    wall = wall_before + time.perf_counter() - t_start
    steps_done = step + 1 if max_steps > start_step else start_step  # < max_steps only after `stop`
    return TrainResult(steps=steps_done, tokens_seen=tokens_seen, wall_time_s=wall, checkpoint_dir=ckpt_dir,
                       last_tag=last_tag, engine=engine)


# Keys that may change between a run and its resumption (more steps, other logging);
# anything else would silently train a different model.
RESUMABLE_CHANGES = {"run.max_steps", "run.log_every", "run.eval_every", "run.eval_batches",
                     "run.checkpoint_every", "run.keep_checkpoints"}


def check_resumable(saved: dict | None, cfg: Config, where: Path) -> None:
    if saved is None:
        return
    from harness.config import ConfigError

    now = cfg.to_dict()
    changed = []
    for section in ("model", "data", "optim", "run"):
        for key, value in now[section].items():
            name = f"{section}.{key}"
            if name not in RESUMABLE_CHANGES and saved.get(section, {}).get(key) != value:
                changed.append(f"{name}: checkpoint {saved.get(section, {}).get(key)!r}, now {value!r}")
    if changed:
        raise ConfigError(f"cannot resume {where} with a different config: " + "; ".join(changed))


@torch.no_grad()
def evaluate_loss(engine, loss_fn: LossFn, batches: Iterable[Batch]) -> float:
    """Token-weighted mean loss over `batches`, averaged over all processes."""
    engine.eval()
    total, count = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    for batch in batches:
        loss, n = loss_fn(engine, batch)
        total += loss.double().cpu() * n
        count += n
    engine.train()
    if dist.is_initialized() and dist.get_world_size() > 1:
        both = torch.stack([total, count]).to(device())
        dist.all_reduce(both)
        total, count = both[0].cpu(), both[1].cpu()
    return float(total / count.clamp(min=1))


def save_checkpoint(engine, ckpt_dir: Path, step: int, tokens_seen: int, wall: float, keep: int, rank: int,
                    client: dict | None = None) -> str:
    tag = f"step_{step:08d}"
    engine.save_checkpoint(str(ckpt_dir), tag=tag,
                           client_state={"step": step, "tokens_seen": tokens_seen, "wall_time_s": wall, **(client or {})})
    if dist.is_initialized():
        dist.barrier()
    if rank == 0 and keep > 0:
        # Older checkpoints are removed only after the new one is complete on every rank.
        tags = sorted(p for p in ckpt_dir.iterdir() if p.is_dir() and p.name.startswith("step_"))
        for old in tags[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return tag


# ----------------------------------------------------------------------------- helpers


def _write_shard_report(engine, out_dir: Path, rank: int, world: int, after_training: bool = False) -> None:
    """zero_shards/rank<r>.json: how many parameter elements this rank holds, so a run
    (or a test) can see that ZeRO-3 really partitions the model across processes."""
    params = list(engine.module.parameters())
    local = sum(p.ds_tensor.numel() if hasattr(p, "ds_tensor") else p.numel() for p in params)
    full = sum(getattr(p, "ds_numel", p.numel()) for p in params)
    # What this rank holds materialised right now: under ZeRO-3 a released parameter has
    # empty data; persistent (small) ones stay whole on every rank.
    resident = sum(p.data.numel() for p in params)
    folder = out_dir / "zero_shards"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rank{rank}.json"
    report = json.loads(path.read_text()) if after_training and path.exists() else {}
    report.update({"rank": rank, "world_size": world, "zero_stage": engine.zero_optimization_stage(),
                   "local_elements": int(local), "full_elements": int(full)})
    report["resident_elements_after_training" if after_training else "resident_elements_at_start"] = int(resident)
    path.write_text(json.dumps(report))


def _all_finite(x: torch.Tensor) -> bool:
    bad = torch.tensor([0.0 if bool(torch.isfinite(x).all()) else 1.0], device=device())
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(bad, op=dist.ReduceOp.MAX)  # every rank must stop together
    return bad.item() == 0.0


def _mean_over_ranks(x: torch.Tensor) -> float:
    x = x.to(device(), torch.float64)
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(x)
        x /= dist.get_world_size()
    return float(x)


def _sum_over_ranks(n: int) -> float:
    x = torch.tensor(float(n), dtype=torch.float64, device=device())
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(x)
    return float(x)


def _nonfinite_message(what: str, step: int, ckpt_dir: Path, last_tag: str | None) -> str:
    keep = f"the last good checkpoint is {ckpt_dir / last_tag}" if last_tag else "no checkpoint had been saved yet"
    return (f"non-finite {what} at step {step + 1}: training stopped and nothing was saved for this step; "
            f"{keep} (resume from it with --resume, e.g. after lowering optim.lr)")


def _fault_hook(step: int, loss: torch.Tensor) -> None:
    """Test-only fault injection through $HARNESS_FAULT: "kill@N" SIGKILLs this process at
    step N (a crash with no clean-up), "nan@N" makes the loss NaN at step N."""
    spec = os.environ.get("HARNESS_FAULT")
    if not spec:
        return
    kind, _, at = spec.partition("@")
    if int(at) != step + 1:
        return
    if kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "nan":
        loss.data.fill_(float("nan"))


class MetricsLog:
    """metrics.jsonl (one object per line) and TensorBoard scalars, written by rank 0.

    On resume, lines from steps after the checkpoint (written by the killed run) are
    dropped so the log reads as one uninterrupted run.
    """

    def __init__(self, out_dir: Path, start_step: int, enabled: bool):
        self.enabled = enabled
        if not enabled:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        self.path = out_dir / "metrics.jsonl"
        kept = []
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                if line.strip() and json.loads(line).get("step", 0) <= start_step:
                    kept.append(line)
        self.path.write_text("".join(line + "\n" for line in kept))
        self.file = self.path.open("a")
        self.tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out_dir / "tensorboard"), purge_step=start_step + 1)
        except ImportError:  # tensorboard is a dependency; tolerate its absence in slim installs
            pass

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        if self.tb:
            for key, value in record.items():
                if key != "step":
                    self.tb.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self.enabled:
            self.file.close()
            if self.tb:
                self.tb.close()


def _progress(start: int, total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, disable=not enabled, desc="train", unit="step", dynamic_ncols=True)


def read_metrics(out_dir: str | Path) -> list[dict]:
    path = Path(out_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
