"""The post-training generation budget covers the answers the policy was taught.

RS, PPO, the on-policy RM pairs and the oracle evaluation generate at most
`common.POSTTRAIN_NEW_TOKENS` tokens. With a budget shorter than the taught answers (the
suite once had 64 and 96 against a 110-token refusal and 170-token stories), every good answer
is cut mid-word, the RMs score the cut answer below short garbage that ends, and RS and PPO
learn the garbage (BENCHMARKS.md, "generation budget").
"""

from __future__ import annotations

import inspect

from harness import config
from harness.data.packing import split_documents
from harness.data.posttrain import sft_examples
from harness.data.sft import response_ids
from harness.data.sources import load_documents
from harness.data.world import build_world, world_config
from harness.stages import common
from harness.stages.pipeline import evaluate_policy
from harness.stages.ppo import PPOOptions
from harness.stages.rejection import RSOptions
from harness.stages.reward import RewardOptions
from harness.tokenizer import train_tokenizer


def test_every_stage_budget_covers_tiny_cpu_sft_answers(tmp_path):
    cfg = config.preset("tiny-cpu")
    # The tokenizer tiny-cpu's pretraining trains: same documents, order and vocabulary.
    docs = load_documents(cfg.data.source, world_size=cfg.data.world_size, seed=cfg.run.seed)
    train_docs, _ = split_documents(docs, cfg.run.seed, cfg.data.val_fraction)
    tok = train_tokenizer(train_docs[: cfg.data.tokenizer_train_documents], cfg.model.vocab_size, tmp_path,
                          model_max_length=cfg.model.max_seq_len)

    examples = sft_examples(build_world(world_config(cfg.data.world_size, cfg.run.seed)))
    longest = max(len(response_ids(tok, e.response)) for e in examples)  # with the closing </s>
    assert longest > 96  # stories: the old RS budget (64 for PPO) cut every one of them

    budgets = {"rs": RSOptions().max_new_tokens, "ppo": PPOOptions().max_new_tokens,
               "rm on-policy": RewardOptions().on_policy_max_new_tokens,
               "evaluate_policy": inspect.signature(evaluate_policy).parameters["max_new_tokens"].default}
    for stage, budget in budgets.items():
        assert budget >= longest, f"{stage} generates {budget} tokens; the longest SFT answer is {longest}"
    # ...and prompt plus answer still fit the sequence length the policy was fine-tuned on.
    assert common.POSTTRAIN_NEW_TOKENS <= cfg.data.seq_len
