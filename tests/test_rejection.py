"""Rejection sampling: reward against K, and best-of-K selection with a fixed judge."""

from __future__ import annotations

import dataclasses

import torch

from harness.stages.rejection import RSOptions, reward_vs_k, sample_and_select

from test_sft import base  # noqa: F401


def test_reward_vs_k_max_rises_median_does_not_need_to():
    curve = reward_vs_k([[0.0, 2.0, 1.0], [3.0, 1.0, 2.0]])
    assert [c["max"] for c in curve] == [1.5, 2.5, 2.5]
    assert [c["median"] for c in curve] == [1.5, 1.5, 1.5]


def test_best_of_k_is_kept(base):  # noqa: F811
    from harness.data.posttrain import PromptRecord
    from harness.tokenizer import load_tokenizer

    tok = load_tokenizer(base)

    def judge(seqs, unsafe):  # prefers longer responses
        return torch.tensor([float(len(s)) for s in seqs])

    recs = [PromptRecord(id="a", kind="fact", prompt="Who is Ada?")]
    kept, rewards = sample_and_select(base, judge, recs, RSOptions(k=4, max_new_tokens=12), seed=0)
    assert len(rewards[0]) == 4 and len(kept) <= 1
    if kept:
        longest = max(rewards[0])
        assert len(tok.encode(" " + kept[0].response, add_special_tokens=False)) <= longest


def test_greedy_answer_competes_with_the_samples_given_a_margin(base):  # noqa: F811
    from harness.data.posttrain import PromptRecord
    from harness.data.sft import prompt_ids
    from harness.stages import common
    from harness.tokenizer import load_tokenizer

    tok = load_tokenizer(base)
    recs = [PromptRecord(id=str(i), kind="fact", prompt=f"Who is person {i}?") for i in range(3)]
    model, _ = common.load_causal_lm(base)
    greedy = [tok.decode(r, skip_special_tokens=True).strip() for r in common.sample(
        model, [prompt_ids(tok, r.prompt) for r in recs], max_new_tokens=12, temperature=0.0, seed=0,
        pad_id=tok.eos_token_id, eos_id=tok.eos_token_id)]
    opts = RSOptions(k=3, max_new_tokens=12, greedy_margin=0.0, temperature=1.0)

    def judge_for(greedy_reward):
        # the judge sees K samples per prompt, then (second call) one greedy answer per prompt
        calls = []

        def judge(seqs, unsafe):
            calls.append(len(seqs))
            return torch.full((len(seqs),), greedy_reward if len(calls) == 2 else 0.0) + \
                (torch.arange(len(seqs)) * 1e-3 if len(calls) == 1 else 0.0)
        return judge

    kept, rewards = sample_and_select(base, judge_for(10.0), recs, opts, seed=0)
    assert [len(r) for r in rewards] == [3, 3, 3]  # reward against K counts the samples only
    assert [e.source for e in kept] == ["rejection-greedy"] * 3
    assert [e.response for e in kept] == greedy
    kept, _ = sample_and_select(base, judge_for(-10.0), recs, opts, seed=0)
    assert all(e.source == "rejection" for e in kept) and len(kept) >= 2
    # samples score 0.000-0.008 (best per prompt 0.002, 0.005, 0.008) against greedy answers
    # at 0: a margin of 0.0055 keeps prompt 2's sample only, 0.01 keeps every greedy answer
    for margin, expected in ((0.0055, ["rejection-greedy", "rejection-greedy", "rejection"]),
                             (0.01, ["rejection-greedy"] * 3)):
        kept, _ = sample_and_select(base, judge_for(0.0), recs, dataclasses.replace(opts, greedy_margin=margin), seed=0)
        assert [e.source for e in kept] == expected
