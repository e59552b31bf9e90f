"""Rejection-sampling fine-tuning (paper sec. 3.2.3): per round, K samples per prompt from
the current policy at a set temperature, scored by the reward models (the combined
reward of `reward.Judge`), the best kept, and the policy fine-tuned on the kept set with
the SFT loss. `<out>/round_<r>/reward_vs_k.json` records the mean over prompts of the max
and the median reward among the first k samples, k = 1..K (paper Fig. 7).

With `rs.greedy_margin=m` the policy's greedy answer competes with the K samples, and a
sample replaces it only if the judge scores it at least m higher (the paper's later rounds
likewise kept the best answers of all earlier iterations). A small policy's samples are far
worse than its greedy answers and the RMs judge them noisily; fine-tuning on the best of them
otherwise pulls the greedy answers down (BENCHMARKS.md, "rs.greedy_margin").
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from harness import engine
from harness.data.posttrain import SFTExample
from harness.data.sft import prompt_ids
from harness.stages import common
from harness.stages.sft import SFTOptions, train_on_examples


@dataclass(frozen=True)
class RSOptions:
    rounds: int = 2
    k: int = 4
    temperature: float = 1.0
    prompts: int = 256  # prompts per round
    max_new_tokens: int = common.POSTTRAIN_NEW_TOKENS
    epochs: float = 1.0  # fine-tuning epochs over the kept set
    # None: keep the best of the K samples (the paper's RS). A number m: the greedy answer
    # competes too, and a sample must score at least m above it to be kept instead.
    greedy_margin: float | None = None
    # None: the world's preference prompts as they come (on the world about half unsafe, as
    # many safety as helpfulness prompts). A share s: the unsafe prompts cut to s of the pool
    # (`prompt_pool`), e.g. 0.25 as in the SFT data and the eval.
    unsafe_share: float | None = None


def prompt_pool(base, split: str = "preference", unsafe_share: float | None = None):
    """Prompt records for RL (fact, math, creative, unsafe), disjoint from SFT and eval prompts.
    `unsafe_share`: keep only the first unsafe prompts, so that they make that share of the pool."""
    from harness.data.posttrain import KINDS, prompts
    from harness.data.world import build_world, world_config

    if unsafe_share is not None and not 0 < unsafe_share < 1:
        raise ValueError(f"unsafe_share={unsafe_share}: expected a fraction in (0, 1)")
    world = build_world(world_config(base.data.world_size, base.run.seed))
    safe = [r for k in KINDS if k != "unsafe" for r in prompts(world, k, split)]
    unsafe = prompts(world, "unsafe", split)
    if unsafe_share is not None:
        unsafe = unsafe[:max(1, round(len(safe) * unsafe_share / (1 - unsafe_share)))]
    return safe + unsafe


def reward_vs_k(rewards: list[list[float]]) -> list[dict]:
    k_max = len(rewards[0])
    return [{"k": k, "max": statistics.fmean(max(r[:k]) for r in rewards),
             "median": statistics.fmean(statistics.median(r[:k]) for r in rewards)} for k in range(1, k_max + 1)]


def sample_and_select(policy_dir, judge, records, opts: RSOptions, seed: int) -> tuple[list[SFTExample], list[dict]]:
    model, _ = common.load_causal_lm(policy_dir, device=engine.device())
    tok = common.load_tokenizer_from(policy_dir)
    p_ids = [prompt_ids(tok, r.prompt) for r in records]
    # K samples per prompt: prompt i's samples are rows i*K .. i*K+K-1
    flat = [p for p in p_ids for _ in range(opts.k)]
    resp = common.sample(model, flat, max_new_tokens=opts.max_new_tokens, temperature=opts.temperature, seed=seed,
                         pad_id=tok.eos_token_id, eos_id=tok.eos_token_id)
    scores = judge([p + r for p, r in zip(flat, resp)], [r.is_unsafe for r in records for _ in range(opts.k)]).tolist()
    greedy, greedy_scores = [], []
    if opts.greedy_margin is not None:
        greedy = common.sample(model, p_ids, max_new_tokens=opts.max_new_tokens, temperature=0.0, seed=seed,
                               pad_id=tok.eos_token_id, eos_id=tok.eos_token_id)
        greedy_scores = judge([p + r for p, r in zip(p_ids, greedy)], [r.is_unsafe for r in records]).tolist()
    kept, rewards = [], []
    for i, rec in enumerate(records):
        rs = scores[i * opts.k:(i + 1) * opts.k]
        candidates = [(s, resp[i * opts.k + j], "rejection") for j, s in enumerate(rs)]
        if greedy:
            candidates.append((greedy_scores[i] + opts.greedy_margin, greedy[i], "rejection-greedy"))
        _, ids, source = max(candidates, key=lambda c: c[0])  # first of equals: a sample before greedy
        text = tok.decode(ids, skip_special_tokens=True).strip()
        rewards.append(rs)
        if text:
            kept.append(SFTExample(rec.prompt, text, is_unsafe=rec.is_unsafe, source=source))
    return kept, rewards


def run(policy: str | Path, helpful_rm: str | Path, safety_rm: str | Path, out_dir: str | Path,
        overrides: list[str] | None = None, *, resume: bool = False, progress: bool = True) -> dict:
    from harness.stages.reward import Judge

    mine, rest = common.split_overrides(list(overrides or []), "rs")
    opts = common.parse_options(RSOptions, mine, "rs")
    out_dir = Path(out_dir)
    info = common.checkpoint_info(policy, "rejection-sampling policy checkpoint")
    base = common.base_config(info)
    engine.init_distributed()  # sets this process's GPU, where sampling and scoring run
    judge = Judge(helpful_rm, safety_rm, device=engine.device())
    pool = prompt_pool(base, unsafe_share=opts.unsafe_share)
    current, rounds, started = Path(info["_folder"]), [], time.time()
    for r in range(opts.rounds):
        rdir = out_dir / f"round_{r}"
        if not common.finished(rdir):
            records = random.Random(base.run.seed * 1000 + r).sample(pool, min(opts.prompts, len(pool)))
            kept, rewards = sample_and_select(current, judge, records, opts, seed=base.run.seed * 1000 + r)
            curve = reward_vs_k(rewards)
            common.write_json(rdir / "reward_vs_k.json", curve)
            (rdir / "kept.jsonl").write_text("".join(json.dumps(asdict(e)) + "\n" for e in kept))
            train_on_examples(current, kept, rdir, SFTOptions(epochs=opts.epochs, val_fraction=0.05), rest,
                              resume=resume and common.has_checkpoint(rdir), progress=progress,
                              stage=f"rejection_round_{r}", extra={"reward_vs_k": curve})
        kept_sources = [json.loads(line)["source"] for line in (rdir / "kept.jsonl").read_text().splitlines()]
        rounds.append({"round": r, "reward_vs_k": json.loads((rdir / "reward_vs_k.json").read_text()),
                       "kept": len(kept_sources), "kept_greedy": kept_sources.count("rejection-greedy")})
        current = rdir / "hf"
    # The stage's checkpoint is the last round's (copied whole, then renamed: atomic).
    tmp = out_dir / "hf.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(current, tmp)
    summary = {"stage": "rejection", "policy": str(policy), "options": asdict(opts), "rounds": rounds,
               "wall_time_s": time.time() - started}
    run_info = json.loads((tmp / "run.json").read_text())
    common.write_json(tmp / "run.json", {**run_info, **summary})
    shutil.rmtree(out_dir / "hf", ignore_errors=True)
    tmp.rename(out_dir / "hf")
    return summary
