"""Rejection sampling: reward against K, and best-of-K selection with a fixed judge."""

from __future__ import annotations

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
