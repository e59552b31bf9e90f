"""The whole pipeline on tiny settings: killed inside PPO, it resumes there and finishes
without redoing earlier stages."""

from __future__ import annotations

import json

import pytest

from support import run_cli

TINY = ["run.max_steps=12", "run.checkpoint_every=6", "sft.epochs=0.2", "rm.epochs=0.1", "rs.rounds=1", "rs.k=2",
        "rs.prompts=8", "rs.max_new_tokens=16", "ppo.iterations=2", "ppo.rollout_batch=8", "ppo.minibatch=4",
        "ppo.max_new_tokens=16", "ppo.eval_prompts=4", "rm.on_policy_prompts=8", "rm.on_policy_max_new_tokens=16"]


def test_world_recipe_fills_only_what_the_overrides_leave():
    from harness.stages.pipeline import WORLD_RECIPE, world_recipe

    assert world_recipe([]) == [f"{k}={v}" for k, v in WORLD_RECIPE.items()]
    mine = world_recipe(["ppo.lr=1e-5", "rs.rounds=2", "run.seed=3"])
    assert "ppo.lr=3e-5" not in mine and not any(o.startswith("rs.rounds=") for o in mine)
    assert "sft.flawed_fraction=0.3" in mine and "rs.greedy_margin=1.0" in mine
    # Own data: nothing that needs the generated world's oracle or its demonstrations.
    own = world_recipe(["rm.pairs=/data/hh.jsonl", "sft.data=alpaca"])
    assert not any(o.startswith(("rm.on_policy_prompts=", "rm.epochs=", "sft.flawed_fraction=")) for o in own)
    assert "ppo.lr=3e-5" in own and "rs.unsafe_share=0.25" in own  # RL prompts come from the world either way


@pytest.mark.slow
def test_pipeline_killed_in_ppo_resumes_there(tmp_path):
    out = tmp_path / "run"
    args = ("pipeline", "--preset", "tiny-cpu", "--out", str(out), "--no-progress", "--no-eval", *TINY)
    # PPO has 2 iterations x 2 minibatch steps, checkpointed after step 2; die at step 3
    killed = run_cli(*args, env={"HARNESS_FAULT": "kill@3", "HARNESS_FAULT_STAGE": "ppo"}, check=False)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (out / "ppo" / "checkpoints" / "latest").read_text().strip() == "step_00000002"
    assert not (out / "ppo" / "hf").exists()
    earlier = {s: (out / s / "hf" / "run.json").stat().st_mtime_ns
               for s in ("pretrain", "sft", "rm_helpfulness", "rm_safety", "rejection")}

    done = run_cli(*args)
    for stage in earlier:
        assert f"[pipeline] {stage}: finished, skipped" in done.stdout
        assert (out / stage / "hf" / "run.json").stat().st_mtime_ns == earlier[stage]
    assert "[pipeline] ppo: resuming" in done.stdout
    assert (out / "ppo" / "hf" / "model.safetensors").exists()
    steps = [r["step"] for r in map(json.loads, (out / "ppo" / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    assert steps == [1, 2, 3, 4]  # the killed run's step 3 dropped, redone once
    report = json.loads((out / "pipeline.json").read_text())
    assert set(report["stages"]) >= {"pretrain", "sft", "rm_helpfulness", "rm_safety", "rejection", "ppo"}
    # The world recipe filled what TINY leaves open, and reached the stages.
    assert "sft.flawed_fraction=0.3" in report["recipe"] and "ppo.lr=3e-5" in report["recipe"]
    assert not any(o.startswith("rs.rounds=") for o in report["recipe"])
    assert json.loads((out / "ppo" / "hf" / "run.json").read_text())["options"]["lr"] == 3e-5
    # The safety RM trained on the helpfulness RM's on-policy pairs, not a second sample.
    assert (out / "rm_safety" / "on_policy_key.json").read_text() == (out / "rm_helpfulness" / "on_policy_key.json").read_text()


def test_policy_eval_scores_greedy_and_sampled_answers_apart(tmp_path, monkeypatch):
    """evaluate_policy: the oracle scores the greedy answers and, separately, the T=1 samples
    that also give the KL; a policy compared with itself has KL 0."""
    import statistics

    from test_sft import make_base

    from harness.data.posttrain import KINDS, REFUSAL, oracle_score, prompts
    from harness.data.world import build_world, world_config
    from harness.stages import common, pipeline

    base = make_base(tmp_path / "hf")
    tok = common.load_tokenizer_from(base)

    def fixed(model, p_ids, *, temperature, **kw):  # greedy says one thing, samples another
        greedy = ["I am not sure.", REFUSAL]  # every other greedy answer a refusal
        return [tok.encode(greedy[i % 2] if temperature == 0 else REFUSAL, add_special_tokens=False)
                + [tok.eos_token_id] for i in range(len(p_ids))]

    monkeypatch.setattr(common, "sample", fixed)
    got = pipeline.evaluate_policy(base, base, n_per_kind=3)
    cfg = common.base_config(common.checkpoint_info(base))
    world = build_world(world_config(cfg.data.world_size, cfg.run.seed))
    recs = [r for k in KINDS for r in prompts(world, k, "eval")[:3]]

    def mean(text, dim):
        return statistics.fmean(oracle_score(r, text)[dim] for r in recs)

    assert got["n"] == len(recs) == 12 and got["kl_to_sft"] == 0.0
    greedy = ["I am not sure.", REFUSAL] * 6
    for dim in ("helpfulness", "safety"):
        assert got[dim] == pytest.approx(statistics.fmean(oracle_score(r, t)[dim] for r, t in zip(recs, greedy)))
        assert got[f"sampled_{dim}"] == pytest.approx(mean(REFUSAL, dim))
    assert got["sampled_safety"] > got["safety"]  # refusals are safer on the unsafe prompts
    # refusals among the greedy answers to the 9 safe prompts (the unsafe ones are the last 3)
    assert [r["refused"] for r in got["per_prompt"]] == [t == REFUSAL for t in greedy]
    assert got["false_refusal_rate"] == pytest.approx(sum(t == REFUSAL for t in greedy[:9]) / 9)
    # per prompt, in the same order, averaging to the summary (what paired differences use)
    assert [r["id"] for r in got["per_prompt"]] == [r.id for r in recs]
    for key in ("helpfulness", "safety", "sampled_helpfulness", "sampled_safety", "kl_to_sft"):
        assert statistics.fmean(r[key] for r in got["per_prompt"]) == pytest.approx(got[key])
