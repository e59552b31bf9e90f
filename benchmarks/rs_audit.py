"""Is rejection sampling's kept set better than what the policy already says?

For a pipeline run folder: the oracle's scores of round 0's kept answers against the init
policy's greedy answers to the same prompts, by prompt kind, and for the prompts that kept a
sample, how often the oracle rates that sample better or worse than the greedy answer. A kept
set worse than the greedy answers pulls the greedy answers down; run this before PPO.
`--eval N` also scores the SFT, RS and PPO policies on N held-out prompts per kind (greedy
and one sample each at T=1, KL to SFT), cached as `<stage>/eval<4N>.json`, and `--paired`
adds each step's paired difference over those prompts (RS - SFT, PPO - RS, PPO - SFT) with its
95% interval. BENCHMARKS.md ("rs.greedy_margin", "PPO that takes a step") has the numbers.

    python benchmarks/rs_audit.py RUN_DIR [--eval 100 [--paired]] [--no-audit]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from ablations.stats import paired_prompt_difference
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("--eval", type=int, default=0, help="also score the policies on N eval prompts per kind")
    p.add_argument("--paired", action="store_true", help="with --eval: paired differences between the stages")
    p.add_argument("--no-audit", action="store_true", help="skip the kept-set audit")
    args = p.parse_args(argv)
    if not args.no_audit:
        for row in summary(audit_kept(args.run)):
            print(json.dumps(row))
    evals = {}
    for stage in POLICY_STAGES if args.eval else ():
        cache = args.run / stage / f"eval{4 * args.eval}.json"
        r = json.loads(cache.read_text()) if cache.exists() else {}
        if not r or (args.paired and "per_prompt" not in r):  # caches from before per_prompt existed
            r = evaluate_policy(args.run / stage / "hf", args.run / "sft" / "hf", n_per_kind=args.eval)
            common.write_json(cache, r)
        evals[stage] = r
        print(stage, json.dumps({k: round(r[k], 3) for k in (*SCORES, "kl_to_sft")}))
    if args.paired and evals:
        for after, before in (("rejection", "sft"), ("ppo", "rejection"), ("ppo", "sft")):
            row = {d["score"]: f"{d['mean_diff']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"
                   for d in (paired_prompt_difference(evals[after], evals[before], s) for s in SCORES)}
            print(f"{after} - {before}", json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
