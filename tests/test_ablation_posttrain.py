"""Post-training ablations through `python -m ablations`: reward-model variants share one
pipeline base per seed, a reward run killed mid-training resumes, a finished sweep re-runs
with no training, and the temperature study's scoring of a base's policy."""

import json

import pandas as pd
import pytest

from ablations import score
from test_ablation_sweep import snapshot, sweep

# 12 pretraining steps, a tenth of an RM epoch (4 steps, checkpoint every 2)
TINY = ["--steps", "12", "--set", "run.checkpoint_every=6", "--set", "rm.epochs=0.1"]


@pytest.fixture(scope="module")
def margin_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("margin") / "store"
    args = ["margin", "--seeds", "0", "--variants", "none,large", "--out", str(out), *TINY]
    killed = sweep(*args, env={"ABLATIONS_FAULT": "large/seed0:kill@3"})
    return out, args, killed


def test_killed_reward_run_resumes_and_the_base_is_trained_once(margin_store):
    out, args, killed = margin_store
    assert killed.returncode == 2, killed.stdout + killed.stderr
    assert "large/seed0 failed (exit -9)" in killed.stderr
    base = out / "base" / "default" / "seed0"
    # the base is pretraining only (the paper starts its RMs from the pretrained checkpoint)
    assert (base / "pretrain" / "hf" / "run.json").exists() and not (base / "sft").exists()
    none, large = out / "runs" / "none" / "seed0", out / "runs" / "large" / "seed0"
    assert (none / "rows.jsonl").exists() and not (large / "rows.jsonl").exists()
    assert (large / "checkpoints" / "latest").read_text().strip() == "step_00000002"
    kept = snapshot(none), snapshot(base)

    again = sweep(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "[none/seed0] finished earlier: skipped" in again.stdout
    assert "[large/seed0] resuming from step_00000002" in again.stdout
    assert "pipeline until pretrain" not in again.stdout  # the base was finished: not run again
    assert (snapshot(none), snapshot(base)) == kept
    steps = [r["step"] for r in map(json.loads, (large / "metrics.jsonl").read_text().splitlines()) if "loss" in r
             and "val_loss" not in r]
    assert steps == [1, 2, 3, 4]
    # both RMs started from the same pretrained checkpoint with their own margin table
    for run, margin in ((none, "none"), (large, "large")):
        info = json.loads((run / "hf" / "run.json").read_text())
        assert info["options"]["margin"] == margin and info["init"] == str(base / "pretrain" / "hf")

    results = pd.read_json(out / "results.jsonl", lines=True)
    acc = results[(results.task == "rm_helpfulness/helpfulness_test") & (results.metric == "acc")]
    assert len(acc) == 2 and acc["value"].between(0, 1).all() and (acc["n"] == 80).all()
    gaps = results[(results.task == "reward_gap/helpfulness_test")]
    assert {"mean/all", "mean/significantly_better", "median/negligibly_better", "score_std"} <= set(gaps.metric)
    # the rows agree with the scores the RM wrote: mean gap over all held-out helpful pairs
    scored = [s for s in json.loads((large / "heldout_scores.json").read_text()) if s["test_set"] == "helpfulness_test"]
    want = sum(s["chosen"] - s["rejected"] for s in scored) / len(scored)
    got = gaps[(gaps.run == "large/seed0") & (gaps.metric == "mean/all")]["value"].item()
    assert got == pytest.approx(want)
    assert "large" in (out / "report.md").read_text()

    third = sweep(*args)  # everything finished: nothing trains, nothing is rescored
    assert third.returncode == 0 and third.stdout.count("finished earlier: skipped") == 2
    assert (snapshot(none), snapshot(base)) == kept


def test_temperature_scoring_of_a_base_policy(margin_store):
    out, _, _ = margin_store
    base = out / "base" / "default" / "seed0"
    kw = dict(seed=0, policies=("pretrain", "ppo"), prompts=4, samples=3, max_new_tokens=12)
    cold = score.temperature_rows(base, 0.05, **kw)  # ppo is not in this base: only the pretrained model is scored
    assert set(cold.task) == {"factual@pretrain", "creative@pretrain"} and set(cold.policy) == {"pretrain"}
    assert set(cold.metric) == {"self_bleu", "helpfulness", "distinct_answers"}
    pd.testing.assert_frame_equal(cold, score.temperature_rows(base, 0.05, **kw))  # seeded: same samples
    hot = score.temperature_rows(base, 2.0, **kw)
    sb = lambda df: df[df.metric == "self_bleu"]["value"].mean()  # noqa: E731
    # near-greedy samples repeat each other; at temperature 2 they do not
    assert sb(cold) > 80 and sb(hot) < sb(cold) - 20
    with pytest.raises(ValueError, match="sample.temperature"):
        score.temperature_rows(base, 0.0, **kw)
    with pytest.raises(FileNotFoundError, match="no finished policy"):
        score.temperature_rows(base, 1.0, seed=0, policies=("ppo",))


def test_sample_variants_score_through_the_runner(margin_store):
    """A `sample` variant trains nothing; the runner scores the base's policies at its
    temperature and tags the rows with temperature, policy and prompt type."""
    from ablations import Ablation, Sweep, Variant, get

    out, _, _ = margin_store
    ab = Ablation("temps", "h", "p", "tiny-cpu", (Variant("t0.5", {"sample.temperature": "0.5"}, stage="sample"),),
                  "t0.5", bases={"default": get("margin").bases["default"]}, quick=get("margin").quick,
                  sample_settings={"tiny-cpu": {"policies": ("pretrain",), "prompts": 2, "samples": 2,
                                                "max_new_tokens": 4}})
    sweep = Sweep(ab, preset="tiny-cpu", seeds=(0,), out=out / "temps", steps=12, extra=("run.checkpoint_every=6",))
    (run,) = sweep.runs
    assert sweep.command(run) is None and sweep.status(run) == "new"  # no base yet in its own store
    # borrow the margin store's finished base (same preset, overrides and seed)
    run.base_dir.parent.mkdir(parents=True)
    run.base_dir.symlink_to(out / "base" / "default" / "seed0")
    assert sweep.status(run) == "trained"  # its base is finished: nothing to train
    results = sweep.execute(log=lambda *_: None)  # scores and writes the run's rows (its folder is new)
    rows = results[results.run == "t0.5/seed0"]
    assert set(rows.task) == {"factual@pretrain", "creative@pretrain"} and set(rows.temperature) == {0.5}
    assert set(rows.policy) == {"pretrain"} and (rows.step == 12).all() and (rows.config_hash == run.config_hash).all()
    assert sweep.status(run) == "scored"
