"""Rollout speed under ZeRO-3 against plain `generate` on the same weights, in one run.

    python -m harness.stages.bench_rollout --checkpoint runs/x/sft/hf [--prompts 64] [--new-tokens 64]

Three ways to sample the same prompts with the same seed:
  plain     `generate` on an ordinary copy of the model (the target)
  rollout   what PPO does: gather the ZeRO-3 weights once into the inference copy, then generate
  naive     `generate` on the ZeRO-3 module itself (every layer gathered for every token);
            parameter persistence is turned off so that ZeRO-3 really partitions this small model
Prints one JSON line with tokens/s for each and rollout/plain.
"""

from __future__ import annotations

import argparse
import copy
import json
import time


def main(argv=None) -> dict:
    import deepspeed

    from harness import engine
    from harness.data.sft import prompt_ids
    from harness.stages import common
    from harness.stages.rejection import prompt_pool

    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--naive", action="store_true", help="also time generate on the ZeRO-3 module (slow)")
    args = ap.parse_args(argv)

    model, info = common.load_causal_lm(args.checkpoint)
    base = common.base_config(info)
    tok = common.load_tokenizer_from(args.checkpoint)
    prompts = [prompt_ids(tok, r.prompt) for r in prompt_pool(base)[: args.prompts]]
    engine.init_distributed()
    dev = engine.device()
    plain = copy.deepcopy(model).to(dev).eval()
    inference = common.InferenceCopy(model, device=dev)
    ds_cfg = engine.deepspeed_config(base, 1)
    ds_cfg.update(train_micro_batch_size_per_gpu=1, gradient_accumulation_steps=1, train_batch_size=1,
                  bf16={"enabled": False})
    ds_cfg["zero_optimization"].update(stage=3, stage3_param_persistence_threshold=0)
    eng, *_ = deepspeed.initialize(model=model, optimizer=engine.build_optimizer(model, base.optim), config=ds_cfg)
    # eos is never accepted (-1), so every way produces exactly new_tokens per prompt
    import warnings

    warnings.filterwarnings("ignore", message=".*eos_token_id.*")
    kw = dict(max_new_tokens=args.new_tokens, temperature=1.0, seed=0, pad_id=tok.eos_token_id, eos_id=-1)

    def timed(fn, repeats: int = 2):  # best of `repeats`: the CPUs here are shared
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - t0)
        return out, best

    common.sample(plain, prompts[:4], **{**kw, "max_new_tokens": 4})  # warm-up
    ref, t_plain = timed(lambda: common.sample(plain, prompts, **kw))
    got, t_roll = timed(lambda: common.sample(inference.refresh(eng.module), prompts, **kw))
    n = sum(len(r) for r in ref)
    result = {"checkpoint": args.checkpoint, "device": str(dev), "prompts": len(prompts), "new_tokens": args.new_tokens,
              "plain_tokens_per_s": n / t_plain, "rollout_tokens_per_s": sum(len(r) for r in got) / t_roll,
              "same_samples": got == ref}
    result["plain_over_rollout"] = result["plain_tokens_per_s"] / result["rollout_tokens_per_s"]
    if args.naive:
        eng.module.eval()
        few = prompts[: max(1, len(prompts) // 8)]
        naive, t_naive = timed(lambda: common.sample(eng.module, few, **kw), repeats=1)
        result["naive_zero3_tokens_per_s"] = sum(len(r) for r in naive) / t_naive
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
