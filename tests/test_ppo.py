"""PPO pieces: the paper's combined reward, GAE, the clipped objective, the ZeRO-3
inference copy, and a short run on a tiny random model."""

from __future__ import annotations

import pytest
import torch

from harness.stages.ppo import PPOOptions, gae, make_loss, whiten
from harness.stages.reward import Judge

from test_sft import base  # noqa: F401


class FixedRM(torch.nn.Module):
    """Scores a sequence by a lookup on its first token."""

    def __init__(self, table):
        super().__init__()
        self.table = table
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, input_ids, attention_mask, use_cache):
        return type("O", (), {"logits": torch.tensor([[self.table[int(i)]] for i in input_ids[:, 0]])})


def test_combined_reward_follows_the_paper():
    judge = Judge.__new__(Judge)
    judge.threshold = 0.15
    judge.helpful = FixedRM({0: 2.0, 1: 2.0, 2: 2.0})
    judge.safety = FixedRM({0: -3.0, 1: 1.0, 2: 1.0})  # sigmoid(-3) = 0.047 < 0.15
    got = judge([[0, 5], [1, 5], [2, 5]], [False, False, True])
    # unsafe-looking answer to a safe prompt -> safety; safe answer -> helpfulness; unsafe prompt -> safety
    assert got.tolist() == pytest.approx([-3.0, 2.0, 1.0], abs=1e-4)  # LOGIT(R_c) undoes the sigmoid


def test_gae_matches_returns_minus_values():
    rewards = torch.tensor([[0.0, 1.0, 0.5, 2.0, 9.0]])
    values = torch.tensor([[0.0, 0.3, 0.2, 0.1, 0.0]])
    mask = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0]])  # response tokens at positions 1..3
    adv = gae(rewards, values, mask, gamma=1.0, lam=1.0)
    # with gamma = lambda = 1 the advantage is the return to the end minus the value
    assert adv[0].tolist() == pytest.approx([0.0, 3.5 - 0.3, 2.5 - 0.2, 2.0 - 0.1, 0.0])
    w = whiten(torch.tensor([1.0, 2.0, 3.0]))
    assert w.mean().item() == pytest.approx(0.0, abs=1e-6) and w.std(unbiased=False).item() == pytest.approx(1.0, 1e-4)


def test_clipped_objective_stops_gradient_outside_the_trust_region():
    opts = PPOOptions(clip=0.2, vf_coef=0.0)
    logits = torch.zeros(1, 3, 4, requires_grad=True)

    class Model(torch.nn.Module):
        def forward(self, ids, mask):
            return logits, torch.zeros(1, 3)

    ids = torch.tensor([[0, 1, 2]])
    logp = torch.log(torch.tensor(0.25))
    batch = {"input_ids": ids, "attention_mask": torch.ones(1, 3), "action_mask": torch.tensor([[1.0, 1.0]]),
             # token 1: ratio 0.25/0.1 = 2.5 > 1.2 with positive advantage -> clipped, no gradient
             # token 2: ratio 1 -> inside, gradient
             "old_logp": torch.stack([torch.log(torch.tensor(0.1)), logp])[None],
             "advantages": torch.tensor([[1.0, 1.0]]), "returns": torch.zeros(1, 2)}
    loss, n = make_loss(opts)(Model(), batch)
    loss.backward()
    assert n == 2
    assert torch.all(logits.grad[0, 0] == 0) and logits.grad[0, 1].abs().sum() > 0


def test_inference_copy_gathers_zero3_weights(base, tmp_path, monkeypatch):  # noqa: F811
    """The copy used for generation holds exactly the trained ZeRO-3 weights (gathered once)."""
    from harness import engine
    from harness.export import full_state_dict
    from harness.stages import sft
    from harness.stages.common import InferenceCopy, load_causal_lm

    copy = InferenceCopy(load_causal_lm(base)[0])
    engines, train = [], engine.train
    monkeypatch.setattr(engine, "train", lambda *a, **k: engines.append(train(*a, **k)) or engines[-1])
    sft.run(base, tmp_path / "s", ["run.max_steps=2", "sft.epochs=0.2"], progress=False)
    module = engines[0].engine.module
    assert hasattr(module.model.layers[0].mlp.up_proj.weight, "ds_id")  # a ZeRO-3 parameter
    got = copy.refresh(module).state_dict()
    for k, v in full_state_dict(tmp_path / "s" / "checkpoints").items():
        assert torch.allclose(got[k], v), k


def test_short_ppo_run(base, tmp_path):  # noqa: F811
    from harness.stages import ppo

    s = ppo.run(base, base, base, tmp_path / "ppo",
                ["ppo.iterations=2", "ppo.rollout_batch=8", "ppo.minibatch=4", "ppo.max_new_tokens=8",
                 "ppo.eval_prompts=4"], progress=False)
    assert s["steps"] == 4 and len(s["history"]) == 3
    assert {"reward", "kl", "heldout_reward"} <= set(s["history"][-1])
    assert (tmp_path / "ppo" / "hf" / "model.safetensors").exists()


def _scripted_heldout(monkeypatch, scores):
    """PPO's held-out reward replaced by a script (one score per iteration, the initial policy's
    first); like the real one it first refreshes the inference copy from the trained module."""
    from harness.stages import ppo

    it = iter(scores)

    def fake(module, copy, judge, tok, records, opts):
        copy.refresh(module.policy)
        return next(it)

    monkeypatch.setattr(ppo, "heldout_reward", fake)


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


SHORT_PPO = ["ppo.rollout_batch=8", "ppo.minibatch=4", "ppo.max_new_tokens=8", "ppo.eval_prompts=4",
             "ppo.lr=1e-3"]  # a large lr, so that every iteration visibly changes the weights


def test_ppo_exports_the_best_iteration_not_the_last(base, tmp_path, monkeypatch):  # noqa: F811
    from harness.export import full_state_dict
    from harness.stages import ppo

    _scripted_heldout(monkeypatch, [1.0, 2.0, 0.5, 0.4])  # iteration 1 best, then two worse: patience 2 stops
    s = ppo.run(base, base, base, tmp_path / "ppo", SHORT_PPO + ["ppo.iterations=5", "ppo.patience=2"],
                progress=False)
    assert s["iterations"] == 3 and s["early_stopped"] and s["best_iteration"] == 1
    exported = _weights(tmp_path / "ppo" / "hf" / "model.safetensors")
    last = {k[len("policy."):]: v for k, v in full_state_dict(tmp_path / "ppo" / "checkpoints").items()
            if k.startswith("policy.")}
    assert _same(exported, _weights(tmp_path / "ppo" / "best_policy.safetensors"))
    assert not _same(exported, last)  # the last iteration's policy differs from the exported best
    assert not _same(exported, _weights(base / "model.safetensors"))


def test_ppo_keeps_the_initial_policy_when_no_iteration_beats_it(base, tmp_path, monkeypatch):  # noqa: F811
    from harness.stages import ppo

    _scripted_heldout(monkeypatch, [1.0, 0.9, 0.8])
    s = ppo.run(base, base, base, tmp_path / "ppo", SHORT_PPO + ["ppo.iterations=4", "ppo.patience=2"],
                progress=False)
    assert s["best_iteration"] == 0 and s["iterations"] == 2
    assert _same(_weights(tmp_path / "ppo" / "hf" / "model.safetensors"), _weights(base / "model.safetensors"))


def test_policy_lr_option_and_the_value_heads_own_lr(base, tmp_path, monkeypatch):  # noqa: F811
    from harness import engine
    from harness.stages import ppo

    seen = {}
    train = engine.train
    monkeypatch.setattr(engine, "train", lambda cfg, *a, **k: seen.update(k, cfg=cfg) or train(cfg, *a, **k))
    ppo.run(base, base, base, tmp_path / "ppo", SHORT_PPO + ["ppo.iterations=1", "ppo.value_lr_multiplier=50"],
            progress=False)
    assert seen["cfg"].optim.lr == 1e-3  # ppo.lr, not the paper's scaled default
    assert seen["param_lrs"] == {"value_head.": pytest.approx(50e-3)}


def test_optimizer_gives_named_parameters_their_own_lr():
    from harness import config as C
    from harness.engine import build_optimizer

    model = torch.nn.ModuleDict({"body": torch.nn.Linear(4, 4), "value_head": torch.nn.Linear(4, 1)})
    o = C.OptimConfig(lr=1e-4)
    groups = build_optimizer(model, o, {"value_head.": 1e-2}).param_groups
    by_lr = {}
    for g in groups:
        by_lr.setdefault(g["lr"], []).extend(g["params"])
    assert set(by_lr) == {1e-4, 1e-2}
    assert {id(p) for p in by_lr[1e-2]} == {id(p) for p in model["value_head"].parameters()}
    assert {g["weight_decay"] for g in groups if g["lr"] == 1e-2} == {o.weight_decay, 0.0}  # matrix / bias
    with pytest.raises(ValueError, match="value_hed"):
        build_optimizer(model, o, {"value_hed.": 1e-2})


def test_early_stopping_prompts_are_never_rolled_out_nor_the_eval_split():
    from harness import config as C
    from harness.data.posttrain import KINDS, prompts
    from harness.data.world import build_world, world_config
    from harness.stages.ppo import rollout_and_heldout_prompts

    base = C.load("tiny-cpu", ["data.world_size=micro"])
    rollout, heldout = rollout_and_heldout_prompts(base, 8)
    assert len(heldout) == 8 and len({r.id for r in heldout}) == 8
    assert not {r.id for r in rollout} & {r.id for r in heldout}
    world = build_world(world_config("micro", base.run.seed))
    eval_ids = {r.id for k in KINDS for r in prompts(world, k, "eval")}
    assert not eval_ids & {r.id for r in heldout}
    assert [r.id for r in rollout_and_heldout_prompts(base, 8)[1]] == [r.id for r in heldout]  # seeded
    big_rollout, big_heldout = rollout_and_heldout_prompts(base, 10**6)
    assert len(big_rollout) >= len(big_heldout) > 8  # at most half held out, never all


def test_unsafe_share_cuts_the_rl_pool_to_that_share_of_unsafe_prompts():
    from harness import config as C
    from harness.stages.ppo import rollout_and_heldout_prompts
    from harness.stages.rejection import prompt_pool

    base = C.load("tiny-cpu", [])
    full = prompt_pool(base)
    assert sum(r.is_unsafe for r in full) / len(full) > 0.45  # the world's pairs: as many safety prompts as helpfulness
    cut = prompt_pool(base, unsafe_share=0.25)
    assert [r for r in cut if not r.is_unsafe] == [r for r in full if not r.is_unsafe]
    unsafe = [r for r in cut if r.is_unsafe]
    assert unsafe == [r for r in full if r.is_unsafe][:len(unsafe)]
    assert sum(r.is_unsafe for r in cut) / len(cut) == pytest.approx(0.25, abs=0.01)
    rollout, heldout = rollout_and_heldout_prompts(base, 64, unsafe_share=0.25)
    assert {r.id for r in rollout + heldout} == {r.id for r in cut}
    with pytest.raises(ValueError, match="unsafe_share=1.0"):
        prompt_pool(base, unsafe_share=1.0)
