"""Reward models: stock `LlamaForSequenceClassification` (one label) initialised from a
pretrained or SFT checkpoint, trained on preference pairs with the paper's margin loss

    L = -log sigmoid(r(x, y_chosen) - r(x, y_rejected) - m(rating))

Paper defaults (sec. 3.2.2, Table 27): one epoch, lr 1e-5 (scaled by preset) cosine to
10%, warmup 3% of steps (minimum 5); helpfulness and safety RMs with their data mixes
(`harness.data.preference.rm_mix`). Accuracy by rating on held-out pairs is logged to
`<out>/accuracy.json` and `metrics.jsonl`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from harness import engine
from harness.data.preference import encode_pair, load_preference_file, pad_right, rm_mix, split_heldout
from harness.stages import common

PAPER_LR = 1e-5
PAD_ID = 0  # <unk>: never produced by encode on our data; the RM reads the last non-pad token
MARGINS = {
    "none": {"significantly_better": 0.0, "better": 0.0, "slightly_better": 0.0, "negligibly_better": 0.0},
    "small": {"significantly_better": 1.0, "better": 2 / 3, "slightly_better": 1 / 3, "negligibly_better": 0.0},
    "large": {"significantly_better": 3.0, "better": 2.0, "slightly_better": 1.0, "negligibly_better": 0.0},
}
RATING_INDEX = ("significantly_better", "better", "slightly_better", "negligibly_better")


@dataclass(frozen=True)
class RewardOptions:
    kind: str = "helpfulness"  # which RM: helpfulness or safety (sets the data mix)
    margin: str = "small"  # none | small | large
    epochs: float = 1.0
    heldout_fraction: float = 0.2
    pairs: str = ""  # preference jsonl files (comma-separated) replacing the generated world's pairs
    max_len: int = 0  # tokens per sequence (0: data.seq_len)
    # Train on this leading fraction of the shuffled mix (the RM-scaling study's data axis;
    # smaller fractions are subsets of larger ones). Held-out pairs are the same for every fraction.
    data_fraction: float = 1.0
    # Pairs on the init policy's own samples, labelled by the oracle (the paper's iterative
    # collection on the latest model): this many preference prompts (spread over the kinds),
    # on_policy_k samples each; 0 = templated pairs only. Generated world only.
    on_policy_prompts: int = 0
    on_policy_k: int = 4
    on_policy_temperature: float = 1.0
    on_policy_max_new_tokens: int = common.POSTTRAIN_NEW_TOKENS


def margin_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor, margin: torch.Tensor) -> torch.Tensor:
    return -F.logsigmoid(r_chosen - r_rejected - margin).mean()


def rm_config_updates() -> dict:
    return {"num_labels": 1, "pad_token_id": PAD_ID}


def scores(model, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, 0].float()


def make_loss(margin_table: dict):
    table = torch.tensor([margin_table[r] for r in RATING_INDEX])

    def loss_fn(model, batch) -> tuple[torch.Tensor, int]:
        # chosen and rejected in one forward: rows [0, n) chosen, [n, 2n) rejected
        r = scores(model, batch["input_ids"], batch["attention_mask"])
        n = len(r) // 2
        m = table.to(r.device)[batch["rating"]]
        return margin_loss(r[:n], r[n:], m), n

    return loss_fn


def collate(tok, pairs, max_len: int) -> dict:
    enc = [encode_pair(tok, p, max_len) for p in pairs]
    ids, mask = pad_right([c for c, _ in enc] + [r for _, r in enc], PAD_ID)
    rating = torch.tensor([RATING_INDEX.index(p.rating) for p in pairs])
    return {"input_ids": ids, "attention_mask": mask, "rating": rating}


def load_reward_model(folder, what: str = "reward model"):
    info = common.checkpoint_info(folder, what)
    return rm_from_pretrained(info["_folder"]).eval(), info


def rm_from_pretrained(folder, seed: int = 0):
    """A scalar-head RM from an HF folder. From a causal LM the head is new and lm_head
    unused: transformers' load report says so on every load, which is expected here. The new
    head is drawn from `seed`, not from whatever the process's RNG holds (on-policy sampling
    reseeds it, and the pipeline's safety RM reuses those samples instead of drawing them)."""
    from transformers import LlamaForSequenceClassification
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return LlamaForSequenceClassification.from_pretrained(str(folder), dtype=torch.float32, **rm_config_updates())
    finally:
        logging.set_verbosity(level)


@torch.no_grad()
def score_sequences(model, seqs: list[list[int]], batch_size: int = 64) -> list[float]:
    """Scalar rewards of token sequences (prompt + response ids)."""
    out = []
    dev = next(model.parameters()).device
    for i in range(0, len(seqs), batch_size):
        ids, mask = pad_right(seqs[i:i + batch_size], PAD_ID)
        out += scores(model, ids.to(dev), mask.to(dev)).tolist()
    return out


def heldout_scores(model, tok, pairs, max_len: int, test_set: str) -> list[dict]:
    """The RM's score of chosen and rejected of every held-out pair (for accuracy and the
    distribution of reward gaps by rating, paper Table 28 and Figure 27)."""
    enc = [encode_pair(tok, p, max_len) for p in pairs]
    chosen = score_sequences(model, [c for c, _ in enc])
    rejected = score_sequences(model, [r for _, r in enc])
    return [{"test_set": test_set, "rating": p.rating, "chosen": c, "rejected": r}
            for p, c, r in zip(pairs, chosen, rejected, strict=True)]


def accuracy_by_rating(scored: list[dict], task: str) -> list[dict]:
    from evals.suite_metrics import reward_accuracy

    return reward_accuracy([s["chosen"] for s in scored], [s["rejected"] for s in scored],
                           [s["rating"] for s in scored], task=task).to_dict("records")


def world_pairs(base) -> tuple[list, list]:
    from harness.data.posttrain import preference_pairs
    from harness.data.world import build_world, world_config

    world = build_world(world_config(base.data.world_size, base.run.seed))
    return preference_pairs(world, "helpfulness"), preference_pairs(world, "safety")


def sample_on_policy(init, base, tok, opts: RewardOptions) -> dict[str, list]:
    """Oracle-labelled pairs on `init`'s samples to the world's preference prompts
    (harness.data.posttrain.on_policy_pairs); seeded, so every rank builds the same pairs."""
    from harness.data.posttrain import KINDS, on_policy_pairs, prompts
    from harness.data.sft import prompt_ids
    from harness.data.world import build_world, world_config

    world = build_world(world_config(base.data.world_size, base.run.seed))
    per_kind = max(1, opts.on_policy_prompts // len(KINDS))
    recs = [r for k in KINDS for r in prompts(world, k, "preference")[:per_kind]]
    model, _ = common.load_causal_lm(init, "reward model init checkpoint", device=engine.device())
    k, eos = opts.on_policy_k, tok.eos_token_id
    flat = [prompt_ids(tok, r.prompt) for r in recs for _ in range(k)]
    resp = common.sample(model, flat, max_new_tokens=opts.on_policy_max_new_tokens,
                         temperature=opts.on_policy_temperature, seed=base.run.seed, pad_id=eos, eos_id=eos)
    texts = [tok.decode(r, skip_special_tokens=True).strip() for r in resp]
    del model
    return on_policy_pairs(world, {r.id: texts[i * k:(i + 1) * k] for i, r in enumerate(recs)}, base.run.seed)


ON_POLICY_PAIRS, ON_POLICY_KEY = "on_policy_pairs.jsonl", "on_policy_key.json"


def on_policy_key(init, base, opts: RewardOptions) -> dict:
    """What the on-policy pairs depend on: the init checkpoint (its run.json names the run that
    wrote it), the seed, the world and the sampling options; not the RM's kind."""
    info = Path(common.checkpoint_info(init, "reward model init checkpoint")["_folder"]) / common.RUN_FILE
    return {"init": str(info.parent.resolve()), "init_run": hashlib.sha256(info.read_bytes()).hexdigest(),
            "seed": base.run.seed, "world_size": base.data.world_size,
            **{k: v for k, v in asdict(opts).items() if k.startswith("on_policy_")}}


def on_policy_pairs_for(init, base, tok, opts: RewardOptions, out_dir: Path, reuse_from=None) -> dict[str, list]:
    """`sample_on_policy`, once per init and sampling options: pairs already written under the
    same key in `out_dir` (a resumed stage) or `reuse_from` (the pipeline's helpfulness RM, for
    its safety RM: the same samples, minutes of generation) are read back instead. Each run
    writes its pairs and then the key, so a run killed between the two samples again."""
    from harness.data.preference import write_preference_file

    key, out_dir = on_policy_key(init, base, opts), Path(out_dir)
    found = [f for f in (out_dir, *([Path(reuse_from)] if reuse_from else []))
             if (f / ON_POLICY_KEY).exists() and json.loads((f / ON_POLICY_KEY).read_text()) == key]
    if found:
        pairs = [dataclasses.replace(p, source="world") for p in load_preference_file(found[0] / ON_POLICY_PAIRS)]
        fresh = {dim: [p for p in pairs if p.dimension == dim] for dim in ("helpfulness", "safety")}
    else:
        fresh = sample_on_policy(init, base, tok, opts)
    if engine.init_distributed()[0] == 0 and found[:1] != [out_dir]:
        # Every RM folder keeps the pairs it trained on.
        write_preference_file(fresh["helpfulness"] + fresh["safety"], out_dir / ON_POLICY_PAIRS)
        common.write_json(out_dir / ON_POLICY_KEY, key)
    return fresh


def run(init: str | Path, out_dir: str | Path, overrides: list[str] | None = None, *, resume: bool = False,
        progress: bool = True, reuse_on_policy_from: str | Path | None = None) -> dict:
    """Train one RM. `reuse_on_policy_from`: a folder whose on-policy pairs to read back when
    they were sampled from the same init with the same options (`on_policy_pairs_for`)."""
    mine, rest = common.split_overrides(list(overrides or []), "rm")
    opts = common.parse_options(RewardOptions, mine, "rm")
    if opts.margin not in MARGINS:
        raise ValueError(f"rm.margin={opts.margin!r}: expected one of {', '.join(MARGINS)}")
    if not 0 < opts.data_fraction <= 1:
        raise ValueError(f"rm.data_fraction={opts.data_fraction}: expected a fraction in (0, 1]")
    if opts.on_policy_prompts > 0 and opts.pairs:
        raise ValueError("rm.on_policy_prompts needs the generated world's oracle; it cannot label "
                         f"samples for the pairs in {opts.pairs}")
    info = common.checkpoint_info(init, "reward model init checkpoint")
    base = common.base_config(info)
    out_dir = Path(out_dir)
    tok = common.load_tokenizer_from(init)
    rank, world = engine.init_distributed()
    max_len = opts.max_len or base.data.seq_len

    if opts.pairs:
        loaded = [p for f in opts.pairs.split(",") for p in load_preference_file(f.strip())]
        helpful = [p for p in loaded if p.dimension == "helpfulness"]
        safety = [p for p in loaded if p.dimension == "safety"]
    else:
        helpful, safety = world_pairs(base)
    # Held-out pairs are cut per dimension (and source) before mixing, so every test set is clean.
    h_train, h_test = split_heldout(helpful, opts.heldout_fraction, base.run.seed) if helpful else ([], [])
    s_train, s_test = split_heldout(safety, opts.heldout_fraction, base.run.seed) if safety else ([], [])
    tests = [("helpfulness", h_test), ("safety", s_test)]
    if opts.on_policy_prompts > 0:
        fresh = on_policy_pairs_for(init, base, tok, opts, out_dir, reuse_on_policy_from)
        for dim, train_part in (("helpfulness", h_train), ("safety", s_train)):
            if fresh[dim]:
                tr, te = split_heldout(fresh[dim], opts.heldout_fraction, base.run.seed)
                train_part += tr
                tests.append((f"{dim}_policy", te))
    train = rm_mix(opts.kind, h_train, s_train, seed=base.run.seed)
    train = train[:max(1, round(len(train) * opts.data_fraction))]

    gbs = base.run.global_batch_size
    steps = max(1, math.ceil(len(train) * opts.epochs / gbs))
    cfg = common.stage_config(base, lr=PAPER_LR * common.lr_scale(base), max_steps=steps,
                              warmup=common.warmup_steps(steps), min_lr_ratio=0.1, overrides=rest,
                              checkpoint_every=max(1, steps // 2), eval_every=max(1, steps // 2))
    model = rm_from_pretrained(info["_folder"], seed=cfg.run.seed)
    dev = engine.device()
    accum = cfg.grad_accum(world)
    mb = cfg.run.micro_batch_size
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.run.seed)).tolist()

    def batches(step, micro):
        start = ((step * accum + micro) * world + rank) * mb
        chosen = [train[order[(start + i) % len(train)]] for i in range(mb)]
        return {k: v.to(dev) for k, v in collate(tok, chosen, max_len).items()}

    heldout = [p for _, test in tests for p in test]

    def val_batches():
        for i in range(rank * mb, len(heldout), mb * world):
            yield {k: v.to(dev) for k, v in collate(tok, heldout[i:i + mb], max_len).items()}

    started = time.time()
    result = engine.train(cfg, model, make_loss(MARGINS[opts.margin]), batches, out_dir, val_batches=val_batches,
                          resume=resume, progress=progress)
    # Accuracy by rating on each held-out set (paper Table 8), from the trained weights.
    acc, scored = [], []
    module = result.engine.module
    import deepspeed

    with deepspeed.zero.GatheredParameters(list(module.parameters())):
        module.eval()
        for name, test in tests:
            if test:
                scored.append(heldout_scores(module, tok, test, max_len, f"{name}_test"))
                acc += accuracy_by_rating(scored[-1], task=f"rm_{opts.kind}/{name}_test")
    summary = {"stage": f"rm_{opts.kind}", "init": str(init), "pairs": len(train), "steps": result.steps,
               "tokens_seen": result.tokens_seen, "wall_time_s": result.wall_time_s, "started": started,
               "options": asdict(opts), "accuracy": acc}
    if rank == 0:
        from transformers import LlamaForSequenceClassification as Cls

        from harness.export import export_hf

        common.write_json(out_dir / "accuracy.json", acc)
        common.write_json(out_dir / "heldout_scores.json", [r for part in scored for r in part])
        log = engine.MetricsLog(out_dir, result.steps, enabled=True)  # appends after the last step
        log.write({"step": result.steps, **{f"{r['task']}/{r['metric']}": r["value"] for r in acc}})
        log.close()
        export_hf(cfg, result.checkpoint_dir, out_dir / "hf", tokenizer_dir=common.tokenizer_dir(init, out_dir), run_info=summary,
                  tag=result.last_tag, model_class=Cls, config_updates=rm_config_updates())
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
    return summary


class Judge:
    """The paper's combined reward (sec. 3.2.2): R_c is the safety RM's score when the
    prompt is tagged unsafe or that score is below 0.15, otherwise the helpfulness RM's;
    returned as LOGIT(R_c), i.e. back on the RMs' logit scale (scores are sigmoid(output))."""

    def __init__(self, helpful_dir, safety_dir, threshold: float = 0.15, device: torch.device | str = "cpu"):
        self.helpful = load_reward_model(helpful_dir, "helpfulness reward model")[0].to(device)
        self.safety = load_reward_model(safety_dir, "safety reward model")[0].to(device)
        self.threshold = threshold

    def __call__(self, seqs: list[list[int]], unsafe: list[bool]) -> torch.Tensor:
        p_help = torch.sigmoid(torch.tensor(score_sequences(self.helpful, seqs)))
        p_safe = torch.sigmoid(torch.tensor(score_sequences(self.safety, seqs)))
        use_safety = torch.tensor(unsafe) | (p_safe < self.threshold)
        r_c = torch.where(use_safety, p_safe, p_help).clamp(1e-6, 1 - 1e-6)
        return torch.logit(r_c)
