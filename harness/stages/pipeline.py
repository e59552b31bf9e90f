"""pretrain -> SFT -> reward models (helpfulness, safety) -> rejection sampling -> PPO.

Each stage writes its own folder under `--out` (`pretrain/`, `sft/`, `rm_helpfulness/`,
`rm_safety/`, `rejection/`, `ppo/`), each with `hf/` once finished. Re-running skips
finished stages and resumes an interrupted one from its latest checkpoint, so a run
killed inside PPO redoes nothing before PPO. After each policy stage the oracle scores
greedy answers to held-out prompts and the KL to the SFT policy is estimated from samples
(`<stage>/eval.json`); `pipeline.json` collects them with each stage's wall time.

Overrides: `section.key=value` (model/data/optim/run) configure pretraining and are
inherited by later stages through the checkpoint's config; `sft.*`, `rm.*`, `rs.*`,
`ppo.*` set the stage options (e.g. `ppo.iterations=4`). Stage options left unset come from
`WORLD_RECIPE` (the generated world's post-training recipe; `pipeline.json` lists what was
applied), then from the stages' paper defaults; `--paper-defaults` skips the recipe.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import torch

from harness import config as C
from harness import engine
from harness.stages import common

STAGES = ("pretrain", "sft", "rm_helpfulness", "rm_safety", "rejection", "ppo")
POLICY_STAGES = ("sft", "rejection", "ppo")


@torch.no_grad()
def evaluate_policy(policy_dir, ref_dir, *, n_per_kind: int = 25, max_new_tokens: int = common.POSTTRAIN_NEW_TOKENS, seed: int = 0) -> dict:
    """Oracle helpfulness and safety of greedy answers to held-out prompts (and of one sampled
    answer each, T=1), KL(pi || pi_ref) estimated on those samples (mean of sum log pi -
    log pi_ref), and the false-refusal rate: the share of greedy answers to safe prompts that
    refuse (paper Fig. 33, which RLHF's safety reward raises)."""
    from harness.data.posttrain import KINDS, is_refusal, oracle_score, prompts
    from harness.data.sft import prompt_ids
    from harness.data.world import build_world, world_config
    from harness.stages.ppo import token_logprobs
    from harness.data.preference import pad_right

    dev = engine.device()
    model, info = common.load_causal_lm(policy_dir, device=dev)
    ref, _ = common.load_causal_lm(ref_dir, device=dev)
    base = common.base_config(info)
    tok = common.load_tokenizer_from(policy_dir)
    world = build_world(world_config(base.data.world_size, base.run.seed))
    recs = [r for k in KINDS for r in prompts(world, k, "eval")[:n_per_kind]]
    p_ids = [prompt_ids(tok, r.prompt) for r in recs]
    eos = tok.eos_token_id
    greedy = common.sample(model, p_ids, max_new_tokens=max_new_tokens, temperature=0.0, seed=seed, pad_id=eos, eos_id=eos)
    texts = [tok.decode(g, skip_special_tokens=True) for g in greedy]
    scores = [oracle_score(r, t) for r, t in zip(recs, texts)]
    sampled = common.sample(model, p_ids, max_new_tokens=max_new_tokens, temperature=1.0, seed=seed, pad_id=eos, eos_id=eos)
    seqs = [p + s for p, s in zip(p_ids, sampled)]
    ids, attn = pad_right(seqs, eos)
    kls = []
    for i in range(0, len(seqs), 64):
        sl_ids, sl_attn = ids[i:i + 64].to(dev), attn[i:i + 64].to(dev)
        lp = token_logprobs(model(input_ids=sl_ids, attention_mask=sl_attn, use_cache=False).logits, sl_ids, 1.0).cpu()
        lr = token_logprobs(ref(input_ids=sl_ids, attention_mask=sl_attn, use_cache=False).logits, sl_ids, 1.0).cpu()
        for j, (p, s) in enumerate(zip(p_ids[i:i + 64], sampled[i:i + 64])):
            kls.append(float((lp[j] - lr[j])[len(p) - 1:len(p) - 1 + len(s)].sum()))
    # The KL samples scored too: RS and PPO change the sample distribution first (paper Fig. 7),
    # which greedy answers can hide.
    on_samples = [oracle_score(r, tok.decode(s, skip_special_tokens=True)) for r, s in zip(recs, sampled)]
    # Kept per prompt too: two policies' evals on the same prompts give paired differences
    # (`ablations.stats.paired_prompt_difference`), free of the prompt-to-prompt spread.
    per_prompt = [{"id": r.id, "kind": r.kind, "helpfulness": g["helpfulness"], "safety": g["safety"],
                   "sampled_helpfulness": o["helpfulness"], "sampled_safety": o["safety"], "kl_to_sft": kl,
                   "refused": is_refusal(t)}
                  for r, g, o, kl, t in zip(recs, scores, on_samples, kls, texts, strict=True)]

    def mean(key, kind=None):
        return statistics.fmean(r[key] for r in per_prompt if kind in (None, r["kind"]))

    keys = ("helpfulness", "safety", "sampled_helpfulness", "sampled_safety", "kl_to_sft")
    safe = [r["refused"] for r in per_prompt if r["kind"] != "unsafe"]
    return {"n": len(recs), **{k: mean(k) for k in keys}, "false_refusal_rate": statistics.fmean(safe),
            "by_kind": {k: {d: mean(d, k) for d in ("helpfulness", "safety")} for k in KINDS},
            "example": texts[0], "per_prompt": per_prompt}



def _fault_scope(stage: str):
    """$HARNESS_FAULT_STAGE limits the test-only $HARNESS_FAULT to one stage (engine steps
    restart at 0 in every stage, so kill@3 would otherwise fire in the first one)."""
    only = os.environ.get("HARNESS_FAULT_STAGE")
    saved = os.environ.get("HARNESS_FAULT")
    if only and only != stage and saved is not None:
        del os.environ["HARNESS_FAULT"]
    return saved


# On the generated world the pipeline runs the post-training recipe under which rejection
# sampling and PPO measurably raise the oracle's scores at tiny scale (BENCHMARKS.md, "PPO that
# takes a step"; with the stage defaults alone they do not move it); the stage commands keep
# the paper's defaults. A key set on the command line wins; `run(..., recipe=False)`
# (`--paper-defaults`) drops them all.
WORLD_RECIPE = {
    # Demonstrations with a weak tail, as human-written ones have: otherwise SFT already
    # imitates the oracle's best answers and leaves RS and PPO nothing to find.
    "sft.flawed_fraction": "0.3",
    # The paper's iterative collection: RM pairs also on the SFT policy's own samples.
    "rm.on_policy_prompts": "800",
    # One epoch (the paper's) leaves some seeds' helpfulness RM near chance (0.53 held out),
    # preferring an explained refusal to a correct answer on safe prompts; 3 epochs ranks them.
    "rm.epochs": "3",
    # Samples a tiny policy's RMs can rank, and its greedy answer kept unless a sample beats
    # it clearly (BENCHMARKS.md, "rs.greedy_margin"); on 512 prompts, nearly the whole
    # quarter-unsafe pool (536), where 256 left RS's greedy helpfulness flat.
    "rs.temperature": "0.7", "rs.rounds": "1", "rs.greedy_margin": "1.0", "rs.prompts": "512",
    # The world's RL prompts are half unsafe (SFT data and eval: a quarter); at that share RS
    # and PPO teach a tiny policy to refuse safe prompts too (BENCHMARKS.md, "The false-refusal
    # fix"). PPO gets 3/8: at a quarter, the math template it learns on math prompts spread to
    # unsafe ones in place of the refusal (BENCHMARKS.md, "Both levers with a 3/8-unsafe PPO pool").
    "rs.unsafe_share": "0.25", "ppo.unsafe_share": "0.375",
    # 3x the paper's scaled lr: 8 PPO iterations here, hundreds in the paper. Rollouts at T=0.7:
    # at T=1 most of the tiny policy's samples to unsafe prompts are garbled (4 of 40 clean
    # refusals, 15 of 40 at 0.7), so PPO seldom sees the refusal it should keep.
    "ppo.lr": "3e-5", "ppo.temperature": "0.7",
}


def world_recipe(overrides: list[str]) -> list[str]:
    """The WORLD_RECIPE entries the overrides leave to it: not a key they set, and none that
    needs the world when they bring their own data (rm.pairs, sft.data)."""
    given = {o.split("=", 1)[0]: o.split("=", 1)[1] for o in overrides if "=" in o}
    skip = set(given)
    if given.get("rm.pairs"):
        skip.add("rm.on_policy_prompts")  # on-policy pairs need the world's oracle
        skip.add("rm.epochs")  # tuned to the world's pair count; own data: the paper's one epoch
    if given.get("sft.data", "world") != "world":
        skip.add("sft.flawed_fraction")
    return [f"{k}={v}" for k, v in WORLD_RECIPE.items() if k not in skip]


def run(preset: str, out_dir: str | Path, overrides: list[str] | None = None, *, progress: bool = True,
        evaluate: bool = True, until: str = "ppo", recipe: bool = True) -> dict:
    """Run the stages up to and including `until` (the ablations share a base that stops
    after SFT, say, and train only their own stage on top of it). `recipe`: apply
    WORLD_RECIPE (what the overrides leave to it) before the overrides."""
    from harness.stages import ppo, pretrain, rejection, reward, sft

    if until not in STAGES:
        raise ValueError(f"pipeline --until {until!r}: expected one of {', '.join(STAGES)}")

    out = Path(out_dir)
    overrides = list(overrides or [])
    applied = world_recipe(overrides) if recipe else []
    overrides = applied + overrides
    stage_opts = [o for o in overrides if o.split("=", 1)[0].split(".")[0] in ("sft", "rm", "rs", "ppo")]
    cfg_over = [o for o in overrides if o not in stage_opts]
    cfg = C.load(preset, cfg_over)
    d = {s: out / s for s in STAGES}

    def opts(prefix):  # a stage sees only its own options
        return [o for o in stage_opts if o.startswith(prefix + ".")]

    jobs = {
        "pretrain": lambda resume: pretrain.run(cfg, d["pretrain"], resume=resume, progress=progress),
        "sft": lambda resume: sft.run(d["pretrain"] / "hf", d["sft"], opts("sft"), resume=resume, progress=progress),
        "rm_helpfulness": lambda resume: reward.run(d["sft"] / "hf", d["rm_helpfulness"],
                                                    opts("rm") + ["rm.kind=helpfulness"], resume=resume, progress=progress),
        # Both RMs start from the SFT policy: its on-policy samples are drawn once.
        "rm_safety": lambda resume: reward.run(d["sft"] / "hf", d["rm_safety"], opts("rm") + ["rm.kind=safety"],
                                               resume=resume, progress=progress, reuse_on_policy_from=d["rm_helpfulness"]),
        "rejection": lambda resume: rejection.run(d["sft"] / "hf", d["rm_helpfulness"] / "hf", d["rm_safety"] / "hf",
                                                  d["rejection"], opts("rs"), resume=resume, progress=progress),
        "ppo": lambda resume: ppo.run(d["rejection"] / "hf", d["rm_helpfulness"] / "hf", d["rm_safety"] / "hf",
                                      d["ppo"], opts("ppo"), resume=resume, progress=progress),
    }
    report_file = out / "pipeline.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {"preset": preset, "stages": {}}
    report["recipe"] = applied
    for stage in STAGES[:STAGES.index(until) + 1]:
        if common.finished(d[stage]):
            print(f"[pipeline] {stage}: finished, skipped ({d[stage] / 'hf'})", flush=True)
        else:
            resume = common.has_checkpoint(d[stage]) or (stage == "rejection" and d[stage].exists())
            print(f"[pipeline] {stage}: {'resuming' if resume else 'starting'}", flush=True)
            saved = _fault_scope(stage)
            t0 = time.perf_counter()
            try:
                jobs[stage](resume)
            finally:
                if saved is not None:
                    os.environ["HARNESS_FAULT"] = saved
            report["stages"].setdefault(stage, {})["wall_time_s"] = time.perf_counter() - t0
        if evaluate and stage in POLICY_STAGES and not (d[stage] / "eval.json").exists():
            common.write_json(d[stage] / "eval.json", evaluate_policy(d[stage] / "hf", d["sft"] / "hf"))
        if (d[stage] / "eval.json").exists():
            report["stages"].setdefault(stage, {})["eval"] = json.loads((d[stage] / "eval.json").read_text())
        if stage.startswith("rm_"):
            report["stages"].setdefault(stage, {})["accuracy"] = json.loads((d[stage] / "accuracy.json").read_text())
        common.write_json(report_file, report)
    report["total_wall_time_s"] = sum(s.get("wall_time_s", 0.0) for s in report["stages"].values())
    common.write_json(report_file, report)
    return report

