"""Is rejection sampling's kept set better than what the policy already says?

For a pipeline run folder: the oracle's scores of round 0's kept answers against the init
policy's greedy answers to the same prompts, by prompt kind, and for the prompts that kept a
sample, how often the oracle rates that sample better or worse than the greedy answer. A kept
set worse than the greedy answers pulls the greedy answers down; run this before PPO.
`--eval N` also scores the SFT, RS and PPO policies on N held-out prompts per kind (greedy
and one sample each at T=1, KL to SFT), cached as `<stage>/eval<4N>.json`, and `--paired`
adds each step's paired difference over those prompts (RS - SFT, PPO - RS, PPO - SFT) with its
95% interval; with several run folders (seeds) also the differences pooled over all their
prompts. BENCHMARKS.md ("rs.greedy_margin", "PPO that takes a step") has the numbers.

    python benchmarks/rs_audit.py RUN_DIR [RUN_DIR ...] [--eval 100 [--paired [--digits 4]]] [--no-audit]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from ablations.stats import paired_prompt_difference, pooled_prompt_difference
from harness.data.posttrain import oracle_score
from harness.data.sft import prompt_ids
from harness.stages import common
from harness.stages.pipeline import POLICY_STAGES, evaluate_policy
from harness.stages.rejection import prompt_pool

SCORES = ("helpfulness", "safety", "sampled_helpfulness", "sampled_safety")


def audit_kept(run: Path, round_: int = 0) -> list[dict]:
    kept = [json.loads(line) for line in (run / "rejection" / f"round_{round_}" / "kept.jsonl").read_text().splitlines()]
    model, info = common.load_causal_lm(run / "sft" / "hf")
    tok = common.load_tokenizer_from(run / "sft" / "hf")
    pool = {r.prompt: r for r in prompt_pool(common.base_config(info))}
    recs = [pool[k["prompt"]] for k in kept]
    greedy = common.sample(model, [prompt_ids(tok, r.prompt) for r in recs], max_new_tokens=common.POSTTRAIN_NEW_TOKENS, temperature=0.0,
                           seed=0, pad_id=tok.eos_token_id, eos_id=tok.eos_token_id)
    rows = []
    for r, k, g in zip(recs, kept, greedy):
        ko, go = oracle_score(r, k["response"]), oracle_score(r, tok.decode(g, skip_special_tokens=True))
        rows.append({"kind": r.kind, "sample": k["source"] == "rejection", **{f"kept_{d}": ko[d] for d in ko},
                     **{f"greedy_{d}": go[d] for d in go}})
    return rows


def summary(rows: list[dict]) -> list[dict]:
    out = []
    for kind in sorted({r["kind"] for r in rows}) + ["all"]:
        sel = [r for r in rows if kind in ("all", r["kind"])]
        samples = [r for r in sel if r["sample"]]
        total = lambda r, who: r[f"{who}_helpfulness"] + r[f"{who}_safety"]  # noqa: E731
        out.append({"kind": kind, "prompts": len(sel), "samples_kept": len(samples),
                    **{f"{who}_{d}": round(statistics.fmean(r[f"{who}_{d}"] for r in sel), 3)
                       for who in ("kept", "greedy") for d in ("helpfulness", "safety")},
                    "sample_better": sum(total(r, "kept") > total(r, "greedy") for r in samples),
                    "sample_worse": sum(total(r, "kept") < total(r, "greedy") for r in samples)})
    return out


def stage_evals(run: Path, n_per_kind: int, need_per_prompt: bool) -> dict:
    evals = {}
    for stage in POLICY_STAGES:
        cache = run / stage / f"eval{4 * n_per_kind}.json"
        r = json.loads(cache.read_text()) if cache.exists() else {}
        if not r or (need_per_prompt and "per_prompt" not in r):  # caches from before per_prompt existed
            r = evaluate_policy(run / stage / "hf", run / "sft" / "hf", n_per_kind=n_per_kind)
            common.write_json(cache, r)
        evals[stage] = r
    return evals


STEPS = (("rejection", "sft"), ("ppo", "rejection"), ("ppo", "sft"))


def interval(d: dict, digits: int = 3) -> str:
    return f"{d['mean_diff']:+.{digits}f} [{d['ci_low']:+.{digits}f}, {d['ci_high']:+.{digits}f}]"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", type=Path, nargs="+", metavar="run")
    p.add_argument("--eval", type=int, default=0, help="also score the policies on N eval prompts per kind")
    p.add_argument("--paired", action="store_true", help="with --eval: paired differences between the stages")
    p.add_argument("--no-audit", action="store_true", help="skip the kept-set audit")
    p.add_argument("--digits", type=int, default=3, help="decimals of the paired differences (4 tells a bound of "
                   "-0.0004 from +0.0004 where 3 prints both as 0.000)")
    args = p.parse_args(argv)
    per_run = []
    for run in args.runs:
        print(f"== {run}")
        if not args.no_audit:
            for row in summary(audit_kept(run)):
                print(json.dumps(row))
        if not args.eval:
            continue
        evals = stage_evals(run, args.eval, args.paired)
        per_run.append(evals)
        for stage, r in evals.items():
            print(stage, json.dumps({k: round(r[k], 3) for k in (*SCORES, "kl_to_sft", "false_refusal_rate") if k in r}))
        for after, before in STEPS if args.paired else ():
            print(f"{after} - {before}", json.dumps({s: interval(paired_prompt_difference(evals[after], evals[before], s), args.digits)
                                                   for s in SCORES}))
    if args.paired and len(per_run) > 1:
        print(f"== pooled over {len(per_run)} runs (prompts matched within each run)")
        for after, before in STEPS:
            print(f"{after} - {before}", json.dumps({s: interval(pooled_prompt_difference(
                [(e[after], e[before]) for e in per_run], s), args.digits) for s in SCORES}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
