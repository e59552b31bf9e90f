"""PPO (paper sec. 3.2.3) on the one ZeRO-3 loop: the data is rollouts of the current
policy, the loss is the clipped PPO objective plus a value loss.

- policy from the RS/SFT checkpoint with a value head on its last hidden state
  (`PolicyWithValue`, trained together); a frozen reference policy pi_0 (the same checkpoint)
- reward: R = WHITEN(LOGIT(R_c)) at the last token, minus beta * (log pi - log pi_0) on
  every response token; R_c from `reward.Judge` (safety RM if the prompt is tagged unsafe
  or its safety score < 0.15, else helpfulness RM); GAE for advantages
- constant lr (1e-6 at full scale, scaled by preset); rollout batch and minibatch by
  options (paper 512 and 64); one optimiser step per minibatch; PPO clip 0.2; beta 0.01
- the value head has its own lr (`value_lr_multiplier` x the policy's): at the policy's lr
  a freshly initialised head cannot learn values of order 1 in a few dozen steps (tiny-cpu:
  weight norm 0.001 after 16 steps), and without a baseline every answer's advantage also
  carries its prompt's difficulty (29% of the reward variance of tiny-cpu RS samples is
  between prompts)
- early stop: after each iteration the greedy responses to held-out RL prompts (never rolled
  out, and not the eval split that scores the final policy) are scored by the RMs;
  `patience` iterations without a new best end the run, and the best iteration's policy
  (iteration 0 is the initial one) is the one exported
- generation: the ZeRO-3 weights are gathered once per rollout batch into an inference
  copy (`common.InferenceCopy`), never layer by layer per token

Engine steps: iteration i owns steps [i*n, (i+1)*n), n = epochs * rollout_batch / minibatch
(each epoch one pass over the rollout in minibatches); the rollout for iteration i
is made when its first step asks for data, so a resumed run regenerates it from the
restored policy (checkpoints are taken at iteration boundaries).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from harness import engine
from harness.data.sft import prompt_ids
from harness.stages import common

PAPER_LR = 1e-6


@dataclass(frozen=True)
class PPOOptions:
    iterations: int = 8
    # prompts per iteration (paper: 512). At 64 (before 2026-12-04) tiny-cpu's policy
    # gradient was noise: the held-out reward and the oracle did not move (BENCHMARKS.md).
    rollout_batch: int = 256
    minibatch: int = 32  # sequences per optimiser step (paper: 64)
    lr: float | None = None  # constant policy lr; None: the paper's 1e-6 scaled by the preset (common.lr_scale)
    beta: float = 0.01  # KL penalty (paper: 0.01 for 7B/13B, 0.005 for 34B/70B)
    clip: float = 0.2
    gamma: float = 1.0
    lam: float = 0.95
    vf_coef: float = 0.1
    value_lr_multiplier: float = 100.0  # value head lr = this x the policy's lr (see the docstring)
    epochs: int = 1  # passes over each rollout batch
    temperature: float = 1.0
    max_new_tokens: int = common.POSTTRAIN_NEW_TOKENS
    eval_prompts: int = 64  # early-stopping prompts, held out of the rollouts (at most half the pool)
    unsafe_share: float | None = None  # share of unsafe prompts in the pool (rejection.prompt_pool); None: as it comes
    patience: int = 4
    safety_threshold: float = 0.15


class PolicyWithValue(torch.nn.Module):
    """A stock LlamaForCausalLM and a scalar value head on its final hidden states."""

    def __init__(self, policy):
        super().__init__()
        self.policy = policy
        self.value_head = torch.nn.Linear(policy.config.hidden_size, 1)
        torch.nn.init.zeros_(self.value_head.weight)
        torch.nn.init.zeros_(self.value_head.bias)

    def forward(self, input_ids, attention_mask):
        h = self.policy.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
        return self.policy.lm_head(h), self.value_head(h).squeeze(-1)


def token_logprobs(logits: torch.Tensor, ids: torch.Tensor, temperature: float) -> torch.Tensor:
    """log p(token t | < t) for t >= 1: shape [B, L-1]."""
    logp = F.log_softmax(logits[:, :-1].float() / temperature, dim=-1)
    return logp.gather(-1, ids[:, 1:, None]).squeeze(-1)


def whiten(x: torch.Tensor, mask: torch.Tensor | None = None, shift_mean: bool = True) -> torch.Tensor:
    if mask is None:
        mean, var = x.mean(), x.var(unbiased=False)
    else:
        mean = (x * mask).sum() / mask.sum().clamp(min=1)
        var = (((x - mean) * mask) ** 2).sum() / mask.sum().clamp(min=1)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    return out if shift_mean else out + mean


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    """Generalised advantage estimates over the masked (response) positions of each row."""
    adv = torch.zeros_like(rewards)
    last = torch.zeros(rewards.shape[0])
    next_v = torch.zeros(rewards.shape[0])
    for t in reversed(range(rewards.shape[1])):
        m = mask[:, t]
        delta = rewards[:, t] + gamma * next_v - values[:, t]
        last = torch.where(m > 0, delta + gamma * lam * last, last)
        next_v = torch.where(m > 0, values[:, t], next_v)
        adv[:, t] = last * m
    return adv


def make_loss(opts: PPOOptions):
    def loss_fn(model, b) -> tuple[torch.Tensor, int]:
        logits, values = model(b["input_ids"], b["attention_mask"])
        logp = token_logprobs(logits, b["input_ids"], opts.temperature)
        m = b["action_mask"]
        n = m.sum().clamp(min=1)
        ratio = torch.exp(logp - b["old_logp"])
        pg = torch.max(-b["advantages"] * ratio, -b["advantages"] * ratio.clamp(1 - opts.clip, 1 + opts.clip))
        vf = 0.5 * (values[:, :-1].float() - b["returns"]) ** 2
        return ((pg * m).sum() + opts.vf_coef * (vf * m).sum()) / n, int(m.sum())

    return loss_fn


@torch.no_grad()
def make_rollout(module, copy: common.InferenceCopy, ref, judge, tok, records, opts: PPOOptions, seed: int) -> dict:
    """Sample responses, score them, and compute old log-probs, values, advantages, returns."""
    policy = copy.refresh(module.policy)  # one gather for the whole batch
    prompts = [prompt_ids(tok, r.prompt) for r in records]
    resp = common.sample(policy, prompts, max_new_tokens=opts.max_new_tokens, temperature=opts.temperature,
                         seed=seed, pad_id=tok.eos_token_id, eos_id=tok.eos_token_id)
    resp = [r if r else [tok.eos_token_id] for r in resp]
    seqs = [p + r for p, r in zip(prompts, resp)]
    from harness.data.preference import pad_right

    ids, attn = pad_right(seqs, tok.eos_token_id)
    action = torch.zeros(ids.shape[0], ids.shape[1] - 1)
    for i, (p, r) in enumerate(zip(prompts, resp)):
        action[i, len(p) - 1:len(p) - 1 + len(r)] = 1  # logit position t predicts token t+1
    dev = next(module.parameters()).device
    was = module.training
    module.eval()
    logits, values = module(ids.to(dev), attn.to(dev))
    module.train(was)
    old_logp = token_logprobs(logits, ids.to(dev), opts.temperature).cpu()
    values = values[:, :-1].float().cpu()
    ref_logits = ref(input_ids=ids.to(dev), attention_mask=attn.to(dev), use_cache=False).logits
    ref_logp = token_logprobs(ref_logits, ids.to(dev), opts.temperature).cpu()
    score = judge(seqs, [r.is_unsafe for r in records])
    kl = (old_logp - ref_logp) * action
    rewards = -opts.beta * kl
    last = action.shape[1] - 1 - action.flip(1).argmax(1)  # position of each row's final response token
    rewards[torch.arange(len(seqs)), last] += whiten(score)
    adv = gae(rewards, values * action, action, opts.gamma, opts.lam)
    returns = adv + values * action
    return {"input_ids": ids, "attention_mask": attn, "action_mask": action, "old_logp": old_logp * action,
            "advantages": whiten(adv, action) * action, "returns": returns,
            "stats": {"reward": float(score.mean()), "kl": float(kl.sum(1).mean()),
                      "response_tokens": float(action.sum(1).mean()), "gen_tokens": int(action.sum())}}


@torch.no_grad()
def heldout_reward(module, copy, judge, tok, records, opts: PPOOptions) -> float:
    policy = copy.refresh(module.policy)
    prompts = [prompt_ids(tok, r.prompt) for r in records]
    resp = common.sample(policy, prompts, max_new_tokens=opts.max_new_tokens, temperature=0.0, seed=0,
                         pad_id=tok.eos_token_id, eos_id=tok.eos_token_id)
    return float(judge([p + r for p, r in zip(prompts, resp)], [r.is_unsafe for r in records]).mean())


def save_policy(model, path: Path) -> None:
    """The policy's weights (safetensors), written whole before replacing the last best."""
    from safetensors.torch import save_model

    tmp = path.with_name(path.name + ".partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, str(tmp))
    tmp.replace(path)


def rollout_and_heldout_prompts(base, n_heldout: int, unsafe_share: float | None = None) -> tuple[list, list]:
    """The RL prompt pool split into rollout prompts and `n_heldout` early-stopping prompts
    (seeded). The held-out ones are not the "eval" split: that one scores the final policy
    (pipeline.evaluate_policy), and selecting the checkpoint on it would bias the report."""
    from harness.stages.rejection import prompt_pool

    pool = prompt_pool(base, unsafe_share=unsafe_share)
    heldout = random.Random(base.run.seed).sample(pool, min(n_heldout, len(pool) // 2))
    held_ids = {r.id for r in heldout}
    return [r for r in pool if r.id not in held_ids], heldout


def run(policy: str | Path, helpful_rm: str | Path, safety_rm: str | Path, out_dir: str | Path,
        overrides: list[str] | None = None, *, resume: bool = False, progress: bool = True) -> dict:
    from harness.stages.reward import Judge

    mine, rest = common.split_overrides(list(overrides or []), "ppo")
    opts = common.parse_options(PPOOptions, mine, "ppo")
    out_dir = Path(out_dir)
    info = common.checkpoint_info(policy, "PPO policy checkpoint")
    base = common.base_config(info)
    rank, world = engine.init_distributed()
    if opts.rollout_batch % opts.minibatch or opts.minibatch % world:
        raise ValueError(f"ppo.rollout_batch={opts.rollout_batch} must be a multiple of ppo.minibatch="
                         f"{opts.minibatch}, itself a multiple of the {world} processes")
    if opts.epochs < 1 or opts.value_lr_multiplier <= 0:
        raise ValueError(f"ppo.epochs={opts.epochs} must be >= 1 and ppo.value_lr_multiplier="
                         f"{opts.value_lr_multiplier} > 0")
    n_mb = opts.rollout_batch // opts.minibatch
    per_it = n_mb * opts.epochs  # engine steps per iteration
    micro = min(base.run.micro_batch_size, opts.minibatch // world)
    lr = opts.lr if opts.lr is not None else PAPER_LR * common.lr_scale(base)
    cfg = common.stage_config(base, lr=lr, max_steps=opts.iterations * per_it,
                              warmup=0, min_lr_ratio=1.0, overrides=rest,  # constant lr
                              global_batch_size=opts.minibatch, micro_batch_size=micro,
                              checkpoint_every=per_it * max(1, opts.iterations // 4), eval_every=10**9)
    tok = common.load_tokenizer_from(policy)
    dev = engine.device()
    judge = Judge(helpful_rm, safety_rm, opts.safety_threshold, device=dev)
    ref, _ = common.load_causal_lm(policy, device=dev)
    ref.eval().requires_grad_(False)
    model = PolicyWithValue(common.load_causal_lm(policy)[0])
    copy = common.InferenceCopy(model.policy, device=dev)  # made before ZeRO-3 partitions the weights
    pool, heldout = rollout_and_heldout_prompts(base, opts.eval_prompts, opts.unsafe_share)
    state_file = out_dir / "ppo_state.json"
    best_file = out_dir / "best_policy.safetensors"
    state = json.loads(state_file.read_text()) if resume and state_file.exists() else {"history": []}
    cache: dict = {}
    eng: dict = {}
    accum = cfg.grad_accum(world)
    local_mb = opts.minibatch // world

    def on_start(e):
        eng["e"] = e
        if "best" not in state:
            state["best"] = heldout_reward(e.module, copy, judge, tok, heldout, opts)
            state["bad"], state["best_iteration"] = 0, 0
            if rank == 0:
                save_policy(ref, best_file)  # the initial policy (exact: ref is pi_0), until an iteration beats it
            state["history"] = [{"iteration": 0, "heldout_reward": state["best"]}]

    def batches(step, micro_i):
        it = step // per_it
        if cache.get("it") != it:
            recs = random.Random(cfg.run.seed * 7919 + it).sample(pool, min(opts.rollout_batch, len(pool)))
            t0 = time.perf_counter()
            cache.update(make_rollout(eng["e"].module, copy, ref, judge, tok, recs[rank::world], opts,
                                      seed=cfg.run.seed * 7919 + it), it=it, rollout_s=time.perf_counter() - t0)
        start = (step % per_it % n_mb) * local_mb + micro_i * micro
        return {k: v[start:start + micro].to(dev) for k, v in cache.items() if isinstance(v, torch.Tensor)}

    def stop(done: int) -> bool:
        if done % per_it:
            return False
        score = heldout_reward(eng["e"].module, copy, judge, tok, heldout, opts)  # copy now holds this policy
        better = score > state["best"]
        state["best"], state["bad"] = max(score, state["best"]), 0 if better else state["bad"] + 1
        if better:
            state["best_iteration"] = done // per_it
            if rank == 0:  # the weights that generated the held-out answers (bf16-rounded under bf16)
                save_policy(copy.model, best_file)
        state["history"].append({"iteration": done // per_it, "heldout_reward": score, **cache["stats"],
                                 "rollout_s": cache["rollout_s"]})
        if rank == 0:
            common.write_json(state_file, state)
        return state["bad"] >= opts.patience

    started = time.time()
    result = engine.train(cfg, model, make_loss(opts), batches, out_dir, resume=resume, progress=progress,
                          param_lrs={"value_head.": cfg.optim.lr * opts.value_lr_multiplier},
                          on_start=on_start, stop=stop)
    summary = {"stage": "ppo", "policy": str(policy), "options": asdict(opts), "steps": result.steps,
               "iterations": result.steps // per_it, "best_iteration": state.get("best_iteration"),
               "early_stopped": result.steps < cfg.run.max_steps,
               "wall_time_s": result.wall_time_s, "started": started, "history": state["history"]}
    if rank == 0:
        from safetensors.torch import load_file

        from harness.export import export_hf

        # The best iteration's policy, not the last (a run resumed from before best_file existed: the last)
        best = {"state": load_file(str(best_file))} if best_file.exists() else {"tag": result.last_tag, "prefix": "policy."}
        export_hf(cfg, result.checkpoint_dir, out_dir / "hf", tokenizer_dir=common.tokenizer_dir(policy, out_dir),
                  run_info=summary, **best)
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
    return summary
