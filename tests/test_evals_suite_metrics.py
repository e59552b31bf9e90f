"""The suite's own metrics: perplexity, reward-model accuracy per rating bucket, Self-BLEU,
inference speed and memory per attention variant."""

import math

import pytest

from evals_fixtures import tiny_ckpt  # noqa: F401

from evals import suite_metrics as S


def _tiny_config(kv_heads=4, **kw):
    from transformers import LlamaConfig

    args = dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=kv_heads, max_position_embeddings=256)
    return LlamaConfig(**{**args, **kw})


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size(tiny_ckpt):
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(tiny_ckpt))
    model = LlamaForCausalLM(_tiny_config(vocab_size=len(tok)))
    torch.nn.init.zeros_(model.lm_head.weight)  # logits all 0: uniform over the vocabulary
    texts = ["The committee met about the budget.", "Question: What is 2 + 3? Answer: 5"] * 4
    df = S.validation_perplexity(model, tok, texts, seq_len=16, batch_size=2)
    ppl = df.set_index("metric").loc["perplexity"]
    assert ppl.value == pytest.approx(len(tok), rel=1e-5)
    n_ids = sum(len(tok.encode(t, add_special_tokens=False)) + 1 for t in texts)
    windows = math.ceil(n_ids / 16) - (1 if n_ids % 16 == 1 else 0)
    assert ppl.n == n_ids - windows  # every token but a window's first is predicted


def test_perplexity_does_not_depend_on_batch_size(tiny_ckpt):
    from transformers import AutoTokenizer, AutoModelForCausalLM

    tok = AutoTokenizer.from_pretrained(str(tiny_ckpt))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_ckpt))
    texts = ["The committee met about the budget and the schedule. " * 6] * 3
    a = S.validation_perplexity(model, tok, texts, seq_len=32, batch_size=1)
    b = S.validation_perplexity(model, tok, texts, seq_len=32, batch_size=8)
    assert a.value.tolist() == pytest.approx(b.value.tolist(), rel=1e-6)
    assert a.n.tolist() == b.n.tolist()


def test_reward_accuracy_per_rating_bucket():
    df = S.reward_accuracy(
        [3.0, 2.0, 1.0, 0.0, 5.0],
        [1.0, 3.0, 0.0, 0.0, 4.0],
        ["Significantly Better", "Better", "better", "Negligibly Better / Unsure", "Slightly Better"],
    ).set_index("metric")
    assert df.loc["acc"].value == pytest.approx(3 / 5)  # a tie is not a win
    assert df.loc["acc/significantly_better"].value == 1.0 and df.loc["acc/significantly_better"].n == 1
    assert df.loc["acc/better"].value == 0.5 and df.loc["acc/better"].n == 2
    assert df.loc["acc/slightly_better"].value == 1.0
    assert df.loc["acc/negligibly_better"].value == 0.0
    assert list(df.index) == ["acc", "acc/significantly_better", "acc/better", "acc/slightly_better",
                              "acc/negligibly_better"]
    assert df.loc["acc/better"].stderr == pytest.approx(0.5)


def test_reward_model_accuracy_with_a_score_function_and_a_model(tiny_ckpt):
    pairs = [{"prompt": "Q: hi\nA:", "chosen": " a long and helpful reply", "rejected": " no", "rating": "better"},
             {"prompt": "Q: yo\nA:", "chosen": " ok", "rejected": " a much longer reply", "rating": "better"}]
    df = S.reward_model_accuracy(lambda texts: [float(len(t)) for t in texts], pairs)
    assert df.set_index("metric").loc["acc/better"].value == 0.5
    posttrain = pytest.importorskip("harness.data.posttrain")
    objs = [posttrain.PreferencePair(prompt=p["prompt"], chosen=p["chosen"], rejected=p["rejected"],
                                     rating="significantly_better", dimension="helpfulness") for p in pairs]
    df = S.reward_model_accuracy(lambda texts: [float(len(t)) for t in texts], objs)
    assert df.set_index("metric").loc["acc/significantly_better"].value == 0.5

    from transformers import AutoTokenizer, LlamaForSequenceClassification

    tok = AutoTokenizer.from_pretrained(str(tiny_ckpt))
    rm = LlamaForSequenceClassification(_tiny_config(vocab_size=len(tok), num_labels=1))
    df = S.reward_model_accuracy(rm, pairs, tok)
    assert df.n.iloc[0] == 2 and 0.0 <= df.value.iloc[0] <= 1.0


def test_self_bleu_known_values():
    assert S.self_bleu(["the cat sat on the mat"] * 3) == pytest.approx(100.0)
    assert S.self_bleu(["alpha beta gamma delta", "one two three four"]) == pytest.approx(0.0)
    import sacrebleu

    resp = ["the cat sat on the mat", "the cat sat on a mat", "a dog lay on the rug"]
    bleu = sacrebleu.metrics.BLEU(effective_order=True)
    expected = sum(bleu.sentence_score(h, [r for r in resp if r is not h]).score for h in resp) / 3
    assert S.self_bleu(resp) == pytest.approx(expected)
    with pytest.raises(ValueError):
        S.self_bleu(["only one"])


def test_self_bleu_of_sampled_responses(tiny_ckpt):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_ckpt))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_ckpt))
    groups = S.sample_responses(model, tok, ["Question: hi", "Answer:"], num_samples=3, max_new_tokens=8)
    assert [len(g) for g in groups.values()] == [3, 3]
    again = S.sample_responses(model, tok, ["Question: hi", "Answer:"], num_samples=3, max_new_tokens=8)
    assert again == groups  # seeded
    row = S.self_bleu_rows(groups).iloc[0]
    assert row.metric == "self_bleu" and row.n == 2 and 0 <= row.value <= 100


def test_inference_speed_and_kv_cache_per_attention_variant():
    from evals.speed import compare_attention, kv_cache_bytes_formula

    df = compare_attention(_tiny_config(), kv_heads=(4, 2, 1), batch_sizes=(1, 2), context_lengths=(16, 32),
                           new_tokens=4)
    assert len(df) == 3 * 2 * 2
    assert set(df.attention) == {"MHA", "GQA-2", "MQA"}
    assert (df.kv_cache_bytes == df.kv_cache_bytes_formula).all()  # measured in the cache = formula
    assert (df.decode_tokens_per_s > 0).all() and (df.peak_rss_bytes > 0).all()
    kv = df.set_index(["attention", "batch_size", "context_length"]).kv_cache_bytes
    assert kv["MHA", 2, 32] == 4 * kv["MQA", 2, 32] == 2 * kv["GQA-2", 2, 32]
    # 2 (K, V) x 2 layers x batch 1 x 4 heads x (16 + 3) tokens x head dim 8 x 4 bytes
    assert kv_cache_bytes_formula(_tiny_config(), 1, 19, 4) == kv["MHA", 1, 16] == 2 * 2 * 4 * 19 * 8 * 4
