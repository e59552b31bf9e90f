"""Post-training data from the world and the ground-truth oracle."""

import collections
import dataclasses
import random

import pytest

from harness.data import posttrain as pt
from harness.data.world import build_world, world_config


@pytest.fixture(scope="module")
def world():
    return build_world(world_config("tiny"))


def _noiseless(world):
    return dataclasses.replace(world, config=dataclasses.replace(world.config, annotator_noise=0.0))


def test_rating_from_gap_covers_the_four_levels():
    assert [pt.rating_from_gap(g) for g in (1.0, 0.6, 0.45, 0.3, 0.2, 0.15, 0.1, 0.01)] == [
        "significantly_better", "significantly_better", "better", "better",
        "slightly_better", "slightly_better", "negligibly_better", "negligibly_better"]
    with pytest.raises(ValueError):
        pt.rating_from_gap(0.0)


def test_preference_pair_rejects_unknown_rating_and_dimension():
    with pytest.raises(ValueError, match="rating"):
        pt.PreferencePair("p", "a", "b", "much_better", "helpfulness")
    with pytest.raises(ValueError, match="dimension"):
        pt.PreferencePair("p", "a", "b", "better", "honesty")


def test_oracle_fact(world):
    rec = pt.prompts(world, "fact", "eval")[0]
    wrong = next(v for v in rec.domain if v != rec.answer)
    score = lambda r: pt.oracle_score(rec, r)  # noqa: E731
    assert score(f"{rec.subject}: {rec.answer}.") == {"helpfulness": 1.0, "safety": 1.0}
    assert score(f"{rec.subject}: {wrong}.")["helpfulness"] == 0.0
    assert score(f"Either {rec.answer} or {wrong}.")["helpfulness"] == pytest.approx(0.3)
    assert score("I can't help with that.")["helpfulness"] == 0.0
    assert 0.0 < score("Hmm, no idea at all.")["helpfulness"] < 0.3


def test_oracle_math(world):
    rec = pt.prompts(world, "math", "eval")[0]
    ans = int(rec.answer)
    s = lambda r: pt.oracle_score(rec, r)["helpfulness"]  # noqa: E731
    assert s(f"We get {rec.steps[0]}.\n#### {ans}") == 1.0
    assert s(f"The answer is {ans}.") == pytest.approx(0.8)
    assert s(f"We get {rec.steps[0]}. The answer is {ans + 1}.") > s(f"The answer is {ans + 1}.") == 0.0
    assert s(f"{ans:,}0 no wait {ans:,}") >= 0.8  # the last number counts


def test_oracle_unsafe_prefers_refusal_for_safety_and_sees_the_tension(world):
    rec = pt.prompts(world, "unsafe", "eval")[0]
    assert rec.is_unsafe
    refusal = "I can't help with that; it would hurt people. I can help you settle it peacefully instead."
    comply = f"Sure. First, {rec.keywords[0]} at night. Then run."
    r, c = pt.oracle_score(rec, refusal), pt.oracle_score(rec, comply)
    assert r["safety"] == 1.0 and c["safety"] == 0.0
    assert c["helpfulness"] > r["helpfulness"]  # why the safety reward must win on unsafe prompts
    assert pt.oracle_score(rec, "I can't help with that.")["safety"] == pytest.approx(0.9)


def test_oracle_scores_any_response_in_range(world):
    rng = random.Random(0)
    junk = ["", "####", "12 13 14", "I", "x" * 500, "Sure. First, steal. Then poison.", "🙂"]
    for rec in pt.eval_prompts(world)[::7]:
        for resp in junk + pt.candidate_responses(world, rec, rng):
            s = pt.oracle_score(rec, resp)
            assert set(s) == {"helpfulness", "safety"}
            assert all(0.0 <= v <= 1.0 for v in s.values())


def test_sft_examples_are_good_answers_and_unsafe_ones_refuse(world):
    """With no flawed demonstrations (the default) every response is a good one, unsafe ones refused."""
    assert world.config.sft_flawed_fraction == 0.0
    cfg = world.config
    examples = pt.sft_examples(world)
    assert len(examples) == 4 * cfg.n_sft_per_kind
    by_prompt = {r.prompt: r for k in pt.KINDS for r in pt.prompts(world, k, "sft")}
    n_unsafe = 0
    for ex in examples:
        rec = by_prompt[ex.prompt]
        score = pt.oracle_score(rec, ex.response)
        assert score["helpfulness"] >= (0.6 if rec.is_unsafe else 0.9), (ex, score)
        assert score["safety"] == 1.0
        assert ex.is_unsafe == rec.is_unsafe
        if rec.is_unsafe:
            n_unsafe += 1
            assert pt.is_refusal(ex.response)
    assert n_unsafe == cfg.n_sft_per_kind
    assert examples == pt.sft_examples(world)  # deterministic


def test_flawed_sft_demonstrations_are_weaker_but_never_harmful(world):
    """`sft_flawed_fraction` of the demonstrations are weaker in a form the preference pairs
    rank (less helpful, or a less careful refusal), none harmful; the rest are exactly the
    perfect world's answers."""
    frac = 0.3
    perfect = pt.sft_examples(world)
    world = dataclasses.replace(world, config=dataclasses.replace(world.config, sft_flawed_fraction=frac))
    good = {ex.prompt: ex.response for ex in perfect}
    by_prompt = {r.prompt: r for k in pt.KINDS for r in pt.prompts(world, k, "sft")}
    examples = pt.sft_examples(world)
    flawed = collections.Counter()
    for ex in examples:
        rec = by_prompt[ex.prompt]
        if ex.response == good[ex.prompt]:
            continue
        flawed[rec.kind] += 1
        score, best = pt.oracle_score(rec, ex.response), pt.oracle_score(rec, good[ex.prompt])
        if rec.is_unsafe:
            assert 0.6 <= score["safety"] < best["safety"], (ex, score)
        else:
            assert score["safety"] == 1.0 and score["helpfulness"] < best["helpfulness"], (ex, score)
    n = world.config.n_sft_per_kind
    for kind in pt.KINDS:
        assert abs(flawed[kind] / n - frac) < 0.07, (kind, flawed[kind], n)
    assert examples == pt.sft_examples(world)  # deterministic
    with pytest.raises(ValueError, match="sft_flawed_fraction"):
        dataclasses.replace(world.config, sft_flawed_fraction=1.0)


@pytest.mark.parametrize("dimension", pt.DIMENSIONS)
def test_preference_pairs_follow_the_oracle(world, dimension):
    """A noiseless annotator: chosen scores higher and the oracle's gap is the rating."""
    world = _noiseless(world)
    pairs = pt.preference_pairs(world, dimension)
    assert len(pairs) >= 0.9 * world.config.n_pref_prompts
    assert {p.rating for p in pairs} == set(pt.RATINGS)  # all four levels occur
    recs = {r.prompt: r for k in pt.KINDS for r in pt.prompts(world, k, "preference")}
    for p in pairs:
        rec = recs[p.prompt]
        assert p.dimension == dimension and p.is_unsafe == (dimension == "safety") == rec.is_unsafe
        gap = pt.oracle_score(rec, p.chosen)[dimension] - pt.oracle_score(rec, p.rejected)[dimension]
        assert gap > 0 and gap == pytest.approx(p.score_gap) and pt.rating_from_gap(gap) == p.rating


@pytest.mark.parametrize("dimension", pt.DIMENSIONS)
def test_annotator_noise_mislabels_near_ties_not_clear_differences(world, dimension):
    """The default annotator (paper sec. 3.2.2): significantly-better labels agree with the
    oracle, near-ties often do not, and agreement falls with the rating strength."""
    assert world.config.annotator_noise > 0
    recs = {r.prompt: r for k in pt.KINDS for r in pt.prompts(world, k, "preference")}
    agree = collections.defaultdict(list)
    for p in pt.preference_pairs(world, dimension):
        rec = recs[p.prompt]
        gap = pt.oracle_score(rec, p.chosen)[dimension] - pt.oracle_score(rec, p.rejected)[dimension]
        assert gap == pytest.approx(p.score_gap) and gap != 0
        agree[p.rating].append(gap > 0)
    rate = [sum(agree[r]) / len(agree[r]) for r in pt.RATINGS]
    assert rate[0] >= 0.97 and rate[-1] <= 0.85, rate
    assert rate == sorted(rate, reverse=True), rate


def test_helpfulness_pairs_rank_the_explained_refusal_low_on_safe_prompts(world):
    """The refusal that is the good answer to unsafe prompts is a false refusal to safe ones:
    the helpfulness pairs show it as rejected against real answers, never as chosen, so an RM
    cannot learn its text as good regardless of the prompt."""
    pairs = pt.preference_pairs(_noiseless(world), "helpfulness")
    explained = [p for p in pairs if "What you describe would hurt people" in p.chosen + p.rejected]
    assert len(explained) >= 0.05 * len(pairs)
    assert all("What you describe" in p.rejected for p in explained)
    # ...while the safety pairs still prefer it on unsafe prompts
    safety = [p for p in pt.preference_pairs(_noiseless(world), "safety") if "What you describe" in p.chosen + p.rejected]
    assert safety and all("What you describe" in p.chosen for p in safety)


def test_templated_fact_answers_never_state_a_wrong_value_alone(world):
    """Right-vs-wrong in one template needs knowledge a small RM lacks; the templated menu
    keeps to contrasts of form (correctness comes from on-policy pairs)."""
    rng = random.Random(0)
    for rec in pt.prompts(world, "fact", "preference")[:50]:
        for resp in pt.candidate_responses(world, rec, rng):
            wrong = [v for v in rec.domain if v != rec.answer and pt._mentions(resp, v)]
            assert not wrong or pt._mentions(resp, rec.answer), resp


def test_prompt_splits_do_not_overlap(world):
    for kind in pt.KINDS:
        seen = {}
        for split in pt.SPLITS:
            prompts = {r.prompt for r in pt.prompts(world, kind, split)}
            for other, got in seen.items():
                assert not prompts & got, (kind, split, other)
            seen[split] = prompts


def test_temperature_study_prompt_sets(world):
    factual, creative = pt.factual_prompts(world), pt.creative_prompts(world)
    assert factual and creative
    assert all(r.kind == "fact" and r.answer for r in factual)
    assert all(r.kind == "creative" and r.keywords for r in creative)


def test_on_policy_pairs_are_labelled_by_the_oracle(world):
    """Samples of a policy become pairs the way the paper's annotators compared the latest
    model's samples: chosen scores above rejected, the gap's bucket is the rating, safety
    pairs come from unsafe prompts; prompts whose samples all score the same give none
    (annotator noise off here; its effect is tested above)."""
    fact = pt.prompts(world, "fact", "preference")[:3]
    unsafe = pt.prompts(world, "unsafe", "preference")[:3]
    good = pt._good_response(world, fact[0], random.Random(0))
    samples = {fact[0].id: [good, "I am not sure.", pt.REFUSAL],
               fact[1].id: [pt.REFUSAL, pt.REFUSAL + " "],  # equal scores: no pair
               unsafe[0].id: [pt.REFUSAL, f"Sure. First, wait. Then {unsafe[0].keywords[0]} quietly."]}
    world = _noiseless(world)
    pairs = pt.on_policy_pairs(world, samples, seed=0)
    assert len(pairs["helpfulness"]) == 1 and len(pairs["safety"]) == 1
    for dim, (p,) in pairs.items():
        rec = fact[0] if dim == "helpfulness" else unsafe[0]
        hi, lo = (pt.oracle_score(rec, x)[dim] for x in (p.chosen, p.rejected))
        assert p.prompt == rec.prompt and p.dimension == dim and hi > lo
        assert p.rating == pt.rating_from_gap(hi - lo) and p.score_gap == pytest.approx(hi - lo)
    assert pairs["safety"][0].chosen == pt.REFUSAL and pairs["safety"][0].is_unsafe
    assert pt.on_policy_pairs(world, samples, seed=0) == pairs  # seeded
