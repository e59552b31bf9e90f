"""Benchmarks of the eval layer: `python -m evals.bench [--checkpoint DIR] [--data local] [--limit 5]`

Prints (1) lm-eval requests per second for the checkpoint (default: a tiny random model built
on the fly) on CPU, (2) the time to score the default suite with --limit, (3) inference speed
and memory per attention variant (MHA / GQA / MQA) of a small Llama shape.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time


def count_requests(raw: dict) -> int:
    return sum(len(s["arguments"]) for samples in raw.get("samples", {}).values() for s in samples)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m evals.bench", description=__doc__)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--data", default="local")
    p.add_argument("--limit", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--skip-suite", action="store_true")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--speed-hidden", type=int, default=256)
    p.add_argument("--speed-heads", type=int, default=8)
    p.add_argument("--speed-layers", type=int, default=4)
    p.add_argument("--speed-batch-sizes", default="1,4,8")
    p.add_argument("--speed-contexts", default="128,512")
    p.add_argument("--speed-new-tokens", type=int, default=32)
    p.add_argument("--speed-repeats", type=int, default=3, help="best of N runs per cell (shared CPUs are noisy)")
    args = p.parse_args(argv)

    import pandas as pd
    import torch

    from evals.api import DEFAULT_TASKS, evaluate, load_model
    from evals.tiny import make_tiny_checkpoint

    pd.set_option("display.width", 200)
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.checkpoint or make_tiny_checkpoint(tmp)
        if not args.skip_suite:
            model, tok = load_model(ckpt)
            # (1) requests/s on MMLU (loglikelihood) and SQuAD (generation), model already loaded
            for tasks in ("mmlu", "squad"):
                t = time.perf_counter()
                _, raw = evaluate(ckpt, tasks, data=args.data, limit=args.limit, batch_size=args.batch_size,
                                  model=model, tokenizer=tok, return_raw=True)
                dt = time.perf_counter() - t
                n = count_requests(raw)
                print(f"lm-eval {tasks}: {n} requests in {dt:.2f}s = {n / dt:.1f} requests/s "
                      f"(limit {args.limit}, batch {args.batch_size}, incl. task set-up)")
            # (2) the default suite end to end, model load included
            t = time.perf_counter()
            df = evaluate(ckpt, None, data=args.data, limit=args.limit, batch_size=args.batch_size)
            dt = time.perf_counter() - t
            print(f"default suite {','.join(DEFAULT_TASKS)} --limit {args.limit}: {dt:.1f}s, {len(df)} rows")
            print(df[df.task.isin([*DEFAULT_TASKS])][["task", "metric", "value", "stderr", "n"]].to_string(index=False))
    if not args.skip_speed:
        from transformers import LlamaConfig

        from evals.speed import compare_attention

        cfg = LlamaConfig(
            vocab_size=32000, hidden_size=args.speed_hidden, intermediate_size=args.speed_hidden * 8 // 3,
            num_hidden_layers=args.speed_layers, num_attention_heads=args.speed_heads,
            num_key_value_heads=args.speed_heads, max_position_embeddings=2048,
        )
        bss = [int(x) for x in args.speed_batch_sizes.split(",")]
        ctxs = [int(x) for x in args.speed_contexts.split(",")]
        df = compare_attention(cfg, batch_sizes=bss, context_lengths=ctxs, new_tokens=args.speed_new_tokens,
                               repeats=args.speed_repeats)
        df["kv_MiB"] = df.kv_cache_bytes / 2**20
        df["peak_rss_MiB"] = df.peak_rss_bytes / 2**20
        cols = ["attention", "batch_size", "context_length", "prefill_tokens_per_s", "decode_tokens_per_s",
                "kv_MiB", "peak_rss_MiB"]
        print(f"# inference speed: hidden {args.speed_hidden}, {args.speed_heads} heads, {args.speed_layers} "
              f"layers, vocab 32000, fp32, greedy {args.speed_new_tokens} new tokens with KV cache, best of {args.speed_repeats}")
        print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
