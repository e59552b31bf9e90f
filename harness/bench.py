"""Engine benchmark: harness (DeepSpeed ZeRO-3) tokens/s against a plain PyTorch AdamW loop
on the same model, batch and machine, in one run; MFU against this machine's measured
matmul peak.

    python -m harness.bench [--preset tiny-cpu] [--steps 30] [--write BENCHMARKS.md]
    python -m harness.bench --run RUN_DIR --preset small-gpu [key=value ...]   # a real run's tokens/s and MFU

Runs alternate (plain, harness, plain, harness, ...) so drift in machine load hits both.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from harness import config, engine
from harness.model import build_model, count_parameters
from harness.stages.pretrain import causal_lm_loss

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def matmul_peak_flops(dtype: torch.dtype, n: int | None = None, repeats: int = 10) -> float:
    """Best observed FLOP/s of an n x n matmul: the machine's practical peak for `dtype`.
    A GPU needs a large product (8192) to reach its peak; 2048 saturates a CPU."""
    dev = engine.device()
    n = n or (8192 if dev.type == "cuda" else 2048)
    a, b = torch.randn(n, n, device=dev, dtype=dtype), torch.randn(n, n, device=dev, dtype=dtype)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        _sync()
        t = time.perf_counter()
        a @ b
        _sync()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def flops_per_token(cfg: config.Config, n_params: int) -> float:
    """6N for the matmuls (forward + backward) plus attention scores, as in the PaLM paper's
    MFU; the input embedding is a lookup, not a matmul, so it is excluded from N."""
    m = cfg.model
    non_embedding = n_params - m.vocab_size * m.dim
    return 6 * non_embedding + 12 * m.n_layers * m.dim * cfg.data.seq_len


def bench_rows(cfg: config.Config, n_rows: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(3, cfg.model.vocab_size, (n_rows, cfg.data.seq_len), generator=g)


def plain_loop(cfg: config.Config, rows: torch.Tensor, steps: int) -> list[float]:
    """Reference: the textbook loop (autocast for bf16), same AdamW groups, same clipping."""
    dev = engine.device()
    model = build_model(cfg.model, seed=0).to(dev)
    opt = engine.build_optimizer(model, cfg.optim)
    mb = cfg.run.micro_batch_size
    times = []
    for step in range(steps):
        t = time.perf_counter()
        batch = rows[(step * mb) % len(rows):][:mb].to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cfg.run.precision == "bf16"):
            loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        _sync()
        times.append(time.perf_counter() - t)
    return times


def harness_loop(cfg: config.Config, rows: torch.Tensor, steps: int) -> list[float]:
    cfg = config.apply_overrides(cfg, {"run.max_steps": steps, "run.checkpoint_every": 10**9,
                                       "run.eval_every": 10**9, "run.global_batch_size": cfg.run.micro_batch_size})
    mb = cfg.run.micro_batch_size
    with tempfile.TemporaryDirectory() as out:
        model = build_model(cfg.model, seed=0)
        engine.train(cfg, model, causal_lm_loss,
                     lambda s, m: {"input_ids": rows[(s * mb) % len(rows):][:mb].to(engine.device())},
                     out, progress=False, checkpoint=False)
        metrics = engine.read_metrics(out)
    tokens = mb * (cfg.data.seq_len - 1)
    return [tokens / r["tokens_per_s"] for r in metrics if "tokens_per_s" in r]


def run(preset: str, steps: int, rounds: int, precisions: list[str], overrides: list[str]) -> list[dict]:
    engine.init_distributed()
    rows_out = []
    for precision in precisions:
        cfg = config.load(preset, [f"run.precision={precision}", *overrides])
        rows = bench_rows(cfg)
        n_params = count_parameters(build_model(cfg.model, seed=0))
        tokens_per_step = cfg.run.micro_batch_size * (cfg.data.seq_len - 1)
        warm = max(3, steps // 5)  # first steps include allocation and DeepSpeed set-up
        plain, harness = [], []
        for _ in range(rounds):
            plain += plain_loop(cfg, rows, steps)[warm:]
            harness += harness_loop(cfg, rows, steps)[warm:]
        plain_tps = tokens_per_step / statistics.median(plain)
        harness_tps = tokens_per_step / statistics.median(harness)
        peak = matmul_peak_flops(DTYPES[precision])
        fpt = flops_per_token(cfg, n_params)
        rows_out.append({
            "preset": preset, "precision": precision, "parameters": n_params,
            "micro_batch": cfg.run.micro_batch_size, "seq_len": cfg.data.seq_len,
            "plain_tokens_per_s": round(plain_tps), "harness_tokens_per_s": round(harness_tps),
            "plain_over_harness": round(plain_tps / harness_tps, 3),
            "matmul_peak_gflops": round(peak / 1e9, 1),
            "harness_mfu": round(harness_tps * fpt / peak, 4), "plain_mfu": round(plain_tps * fpt / peak, 4),
        })
    return rows_out


def run_throughput(run_dir: Path, cfg: config.Config) -> dict:
    """Tokens/s and MFU of a real training run from its metrics.jsonl (also of a run that was
    stopped early). `cfg` must be the run's config (preset + the overrides it ran with)."""
    run_dir = Path(run_dir)
    logged = engine.read_metrics(run_dir) if (run_dir / "metrics.jsonl").exists() else []
    steps = [r for r in logged if "tokens_per_s" in r]
    if not steps:
        raise SystemExit(f"{run_dir / 'metrics.jsonl'}: no training steps logged")
    kept = steps[len(steps) // 10:]  # the first steps include allocation and DeepSpeed set-up
    tokens_per_s = statistics.median(r["tokens_per_s"] for r in kept)
    n_params = count_parameters(build_model(cfg.model, seed=0))
    peak = matmul_peak_flops(DTYPES[cfg.run.precision])
    return {"preset": cfg.preset, "precision": cfg.run.precision, "parameters": n_params,
            "steps": len(steps), "tokens_per_step": steps[-1]["tokens"] // steps[-1]["step"],
            "tokens_per_s": round(tokens_per_s), "matmul_peak_gflops": round(peak / 1e9, 1),
            "mfu": round(tokens_per_s * flops_per_token(cfg, n_params) / peak, 4),
            "final_loss": round(steps[-1]["loss"], 4)}


def _device_line() -> str:
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return f"Device: {device}; torch {torch.__version__}; {time.strftime('%Y-%m-%d')}"


def run_markdown(r: dict, command: str) -> str:
    return "\n".join([
        f"Command: `{command}`  ", _device_line(), "",
        "| preset | precision | params | steps | tokens/step | tokens/s | matmul peak GFLOP/s | MFU | last loss |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {r['preset']} | {r['precision']} | {r['parameters'] / 1e6:.2f}M | {r['steps']} | {r['tokens_per_step']} | "
        f"{r['tokens_per_s']} | {r['matmul_peak_gflops']} | {r['mfu']:.1%} | {r['final_loss']} |"]) + "\n"


def markdown(results: list[dict], command: str) -> str:
    lines = [f"Command: `{command}`  ", _device_line(), "",
             "| preset | precision | params | batch x seq | plain tok/s | harness tok/s | plain/harness | matmul peak GFLOP/s | harness MFU | plain MFU |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['preset']} | {r['precision']} | {r['parameters'] / 1e6:.2f}M | {r['micro_batch']} x {r['seq_len']} | "
                     f"{r['plain_tokens_per_s']} | {r['harness_tokens_per_s']} | {r['plain_over_harness']} | "
                     f"{r['matmul_peak_gflops']} | {r['harness_mfu']:.1%} | {r['plain_mfu']:.1%} |")
    return "\n".join(lines) + "\n"


def write_section(path: Path, name: str, body: str) -> None:
    """Replace the block between <!-- name --> markers in `path` (append it if absent)."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{body}{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="tiny-cpu")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--write", type=Path, default=None, help="update this markdown file's engine section")
    p.add_argument("--section", default="bench_engine")
    p.add_argument("--run", type=Path, default=None,
                   help="report this training run's tokens/s and MFU instead of benchmarking (give its preset and overrides)")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)
    command = ("python -m harness.bench " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    if args.run is not None:
        results = [run_throughput(args.run, config.load(args.preset, args.overrides))]
        body = run_markdown(results[0], command)
    else:
        results = run(args.preset, args.steps, args.rounds, args.precisions.split(","), args.overrides)
        body = markdown(results, command)
    print(body)
    print(json.dumps(results))
    if args.write:
        write_section(args.write, args.section, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
