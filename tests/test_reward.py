"""Reward models: the margin loss, preference files, mixes, padding, bad inputs, a short run."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from harness.data.posttrain import PreferencePair
from harness.data.preference import load_preference_file, rm_mix, split_heldout, write_preference_file
from harness.data.realdata import DataFormatError
from harness.stages.reward import MARGINS, margin_loss, make_loss

from test_sft import base  # noqa: F401  (module fixture: a tiny random checkpoint)


@pytest.mark.parametrize("table", ["none", "small", "large"])
def test_margin_loss_matches_formula(table):
    """-log sigmoid(r_c - r_r - m(rating)) by hand, for each rating and table."""
    ratings = ["significantly_better", "better", "slightly_better", "negligibly_better"]
    chosen, rejected = [2.0, 0.5, -1.0, 0.3], [0.0, 1.0, -1.5, 0.3]
    m = {"none": [0, 0, 0, 0], "small": [1, 2 / 3, 1 / 3, 0], "large": [3, 2, 1, 0]}[table]
    expected = sum(-math.log(1 / (1 + math.exp(-(c - r - mm)))) for c, r, mm in zip(chosen, rejected, m)) / 4
    got = margin_loss(torch.tensor(chosen), torch.tensor(rejected), torch.tensor([MARGINS[table][r] for r in ratings]))
    assert got.item() == pytest.approx(expected, rel=1e-6)

    # the stage's loss_fn reads chosen rows first, rejected rows second, rating indices per pair
    class Fake(torch.nn.Module):
        def forward(self, input_ids, attention_mask, use_cache):
            return type("O", (), {"logits": input_ids[:, :1].float()})

    batch = {"input_ids": torch.tensor(chosen + rejected)[:, None], "attention_mask": torch.ones(8, 1),
             "rating": torch.arange(4)}
    loss, n = make_loss(MARGINS[table])(Fake(), batch)
    assert n == 4 and loss.item() == pytest.approx(expected, rel=1e-6)


def _pair(i=0, rating="better", dim="helpfulness"):
    return PreferencePair(f"prompt {i}", f"good {i}", f"bad {i}", rating, dim)


def test_preference_file_roundtrip_and_errors(tmp_path):
    f = write_preference_file([_pair(0), _pair(1, "slightly_better", "safety")], tmp_path / "p.jsonl")
    pairs = load_preference_file(f)
    assert [p.rating for p in pairs] == ["better", "slightly_better"] and pairs[1].dimension == "safety"

    bad = tmp_path / "bad.jsonl"
    lines = f.read_text().splitlines()
    missing = json.loads(lines[1])
    del missing["rejected"]
    bad.write_text(lines[0] + "\n" + json.dumps(missing) + "\n")
    with pytest.raises(DataFormatError, match=r"bad\.jsonl, line 2: field 'rejected': missing"):
        load_preference_file(bad)
    unknown = json.loads(lines[0]) | {"rating": "much_better"}
    bad.write_text(lines[0] + "\n" + lines[1] + "\n" + json.dumps(unknown) + "\n")
    with pytest.raises(DataFormatError, match=r"bad\.jsonl, line 3: field 'rating': unknown rating 'much_better'"):
        load_preference_file(bad)


def test_cli_names_bad_file_and_missing_checkpoint(tmp_path, base):  # noqa: F811
    from support import run_cli

    proc = run_cli("reward", "--init", str(tmp_path / "nope" / "hf"), "--out", str(tmp_path / "rm"), check=False)
    assert proc.returncode == 2 and f"reward model init checkpoint not found: {tmp_path / 'nope' / 'hf'}" in proc.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b", "rating": "meh"}) + "\n")
    proc = run_cli("reward", "--init", str(base), "--out", str(tmp_path / "rm"), "--pairs", str(bad), check=False)
    assert proc.returncode == 2 and f"{bad}, line 1: field 'rating'" in proc.stderr


def test_mixes_follow_the_paper():
    helpful = [_pair(i) for i in range(100)]
    safety = [_pair(i, dim="safety") for i in range(90)]
    h = rm_mix("helpfulness", helpful, safety)
    assert sum(p.dimension == "helpfulness" for p in h) == 100 and len(h) == 190  # 1 : (rest, capped by supply)
    s = rm_mix("safety", helpful, safety)
    assert sum(p.dimension == "safety" for p in s) == 90 and len(s) == 100  # 9 : 1


def test_score_is_padding_invariant(base):  # noqa: F811
    from harness.stages.reward import load_reward_model, score_sequences

    rm, _ = load_reward_model(base)
    a, b = [1, 40, 41, 42, 2], [1, 50, 2]
    together = score_sequences(rm, [a, b])
    assert together == pytest.approx(score_sequences(rm, [a]) + score_sequences(rm, [b]), abs=1e-5)


def test_short_reward_run_logs_accuracy_by_rating(base, tmp_path):  # noqa: F811
    from harness.stages import reward

    s = reward.run(base, tmp_path / "rm", ["run.max_steps=2", "rm.heldout_fraction=0.1", "rm.kind=safety"],
                   progress=False)
    metrics = {r["metric"] for r in s["accuracy"]}
    assert "acc" in metrics and "acc/significantly_better" in metrics
    assert (tmp_path / "rm" / "hf" / "model.safetensors").exists()
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "rm" / "hf"))
    assert model.config.num_labels == 1


def test_on_policy_pairs_join_the_training_mix_and_get_their_own_test_sets(base, tmp_path, monkeypatch):  # noqa: F811
    """rm.on_policy_prompts: the init policy's samples (here two fixed answers, so the oracle
    can tell them apart) become oracle-labelled pairs, added to the mix and tested apart."""
    from harness.data.posttrain import REFUSAL
    from harness.stages import common, reward

    def two_answers(model, prompts, **kw):
        tok = common.load_tokenizer_from(base)
        texts = ["I am not sure.", REFUSAL]
        return [tok.encode(texts[i % 2], add_special_tokens=False) + [tok.eos_token_id] for i in range(len(prompts))]

    monkeypatch.setattr(common, "sample", two_answers)
    over = ["run.max_steps=2", "rm.kind=safety", "rm.on_policy_prompts=40", "rm.on_policy_k=2"]
    with_policy = reward.run(base, tmp_path / "rm", over, progress=False)
    written = load_preference_file(tmp_path / "rm" / "on_policy_pairs.jsonl")
    safety = [p for p in written if p.dimension == "safety"]
    # The simulated annotator is noisy (WorldConfig.annotator_noise): the oracle prefers the
    # refusal by 0.3 on unsafe prompts, so most but not necessarily all labels say so.
    assert len(safety) == 10 and all({p.chosen, p.rejected} == {REFUSAL, "I am not sure."} for p in safety)
    assert sum(p.chosen == REFUSAL for p in safety) >= 7
    assert all({p.chosen, p.rejected} == {REFUSAL, "I am not sure."} for p in written if p.dimension == "helpfulness")
    tasks = {r["task"] for r in with_policy["accuracy"]}
    assert {"rm_safety/safety_policy_test", "rm_safety/helpfulness_policy_test"} <= tasks
    plain = reward.run(base, tmp_path / "rm0", over[:2], progress=False)
    assert with_policy["pairs"] > plain["pairs"]
    with pytest.raises(ValueError, match="rm.on_policy_prompts needs the generated world"):
        reward.run(base, tmp_path / "rm1", over + [f"rm.pairs={tmp_path / 'rm' / 'on_policy_pairs.jsonl'}"],
                   progress=False)


def test_new_score_head_depends_on_the_seed_only(base):  # noqa: F811
    """Whatever ran before in the process (on-policy sampling reseeds torch), the RM's new head
    is the seed's."""
    from harness.stages import common, reward

    folder = common.checkpoint_info(base)["_folder"]
    torch.manual_seed(123)
    first = reward.rm_from_pretrained(folder, seed=5).score.weight.detach().clone()
    torch.rand(1000)
    assert torch.equal(reward.rm_from_pretrained(folder, seed=5).score.weight, first)
    assert not torch.equal(reward.rm_from_pretrained(folder, seed=6).score.weight, first)
    state = torch.get_rng_state()
    reward.rm_from_pretrained(folder, seed=7)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG stream is left alone


def test_second_rm_reads_back_the_on_policy_pairs_sampled_for_the_first(base, tmp_path, monkeypatch):  # noqa: F811
    """The pipeline's safety RM reuses the helpfulness RM's on-policy pairs (same init, same
    sampling options) instead of sampling again; other sampling options sample anew."""
    from harness.data.posttrain import REFUSAL
    from harness.stages import common, reward

    calls = []

    def two_answers(model, prompts, **kw):
        calls.append(len(prompts))
        tok = common.load_tokenizer_from(base)
        texts = ["I am not sure.", REFUSAL]
        return [tok.encode(texts[i % 2], add_special_tokens=False) + [tok.eos_token_id] for i in range(len(prompts))]

    monkeypatch.setattr(common, "sample", two_answers)
    over = ["run.max_steps=1", "rm.on_policy_prompts=40", "rm.on_policy_k=2"]
    reward.run(base, tmp_path / "help", over + ["rm.kind=helpfulness"], progress=False)
    assert calls == [80]  # 40 prompts x 2 samples
    # Mark the written pairs: a reader that samples again would not see the mark.
    written = load_preference_file(tmp_path / "help" / "on_policy_pairs.jsonl")
    marked = [dataclasses.replace(p, chosen=p.chosen + " (read back)") for p in written]
    write_preference_file(marked, tmp_path / "help" / "on_policy_pairs.jsonl")
    mixed = []
    monkeypatch.setattr(reward, "rm_mix", lambda kind, h, s, seed: mixed.append(h + s) or rm_mix(kind, h, s, seed=seed))
    second = reward.run(base, tmp_path / "safe", over + ["rm.kind=safety"], progress=False,
                        reuse_on_policy_from=tmp_path / "help")
    assert calls == [80]
    # Its train part (held-out pairs cut per dimension) reached the mix.
    train_part = sum(len(split_heldout([p for p in marked if p.dimension == d], 0.2, 0)[0]) for d in ("helpfulness", "safety"))
    assert sum(p.chosen.endswith("(read back)") for p in mixed[0]) == train_part > 0
    assert ((tmp_path / "safe" / "on_policy_pairs.jsonl").read_text()
            == (tmp_path / "help" / "on_policy_pairs.jsonl").read_text())  # each RM folder keeps its pairs
    assert {r["task"] for r in second["accuracy"]} >= {"rm_safety/safety_policy_test", "rm_safety/helpfulness_policy_test"}
    reward.run(base, tmp_path / "safe_t", over + ["rm.kind=safety", "rm.on_policy_temperature=0.5"], progress=False,
               reuse_on_policy_from=tmp_path / "help")
    assert calls == [80, 80]
