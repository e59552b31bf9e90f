"""Ablations without training: records, planning, launch commands, bad input, the results
store's refusal to mix, summary statistics, and the MHA -> GQA conversion invariant."""

import json
import math
import statistics
import sys

import pandas as pd
import pytest
import torch

from ablations import NAMES, AblationError, get, score, stats, store
from ablations.__main__ import main as cli
from ablations.runner import Launcher, Sweep, dedup
from ablations.spec import Ablation, Variant
from ablations.uptrain import convert_model, group_of_heads, pool_kv_weight
from harness import config


def test_declared_ablations_plan_valid_configs(tmp_path):
    assert set(NAMES) == {"gqa", "context", "rm_scaling", "margin", "temperature"}
    for name in NAMES:
        ab = get(name)
        assert ab.baseline in [v.name for v in ab.variants]
        sweep = Sweep(ab, preset=ab.base_preset, seeds=ab.seeds, out=tmp_path / name)
        assert len(sweep.runs) == len(ab.variants) * len(ab.seeds)
        assert len({r.config_hash for r in sweep.runs}) == len(sweep.runs)


def test_gqa_variants_match_parameters_and_kv_heads(tmp_path):
    sweep = Sweep(get("gqa"), preset="tiny-cpu", seeds=(0,), out=tmp_path)
    by = {r.variant.name: r.cfg for r in sweep.runs}
    assert [by[v].model.n_kv_heads for v in ("mha", "mqa", "gqa", "gqa_uptrain")] == [6, 1, 2, 2]
    from harness.model import count_parameters, meta_model

    n = {v: count_parameters(meta_model(by[v].model)) for v in by}
    for v in ("mqa", "gqa"):  # FFN widened: within 3% of MHA (the paper's x1.33 / x1.3 rule at tiny width)
        assert abs(n[v] - n["mha"]) / n["mha"] < 0.03
    assert n["gqa_uptrain"] < n["mha"]  # converted checkpoint: no widening
    # uptraining: 10% of the base schedule, continuing at the lr pretraining ended with
    base = by["mha"]
    assert by["gqa_uptrain"].run.max_steps == round(0.1 * base.run.max_steps)
    assert by["gqa_uptrain"].optim.lr == pytest.approx(base.optim.lr * base.optim.min_lr_ratio)


def test_context_variants_keep_two_to_one_and_equal_tokens(tmp_path):
    for preset in ("tiny-cpu", "small-gpu", "llama2-7b"):
        sweep = Sweep(get("context"), preset=preset, seeds=(0,), out=tmp_path / preset)
        short, long = (r.cfg for r in sweep.runs)
        assert long.data.seq_len == 2 * short.data.seq_len == long.model.max_seq_len
        assert long.tokens_per_step() == short.tokens_per_step()


def test_dry_run_prints_every_launch_command(tmp_path, capsys):
    assert cli(["gqa", "--dry-run", "--out", str(tmp_path), "--seeds", "0,1,2", "--launcher", "deepspeed",
                "--hostfile", "hosts", "--num-gpus", "8", "--preset", "llama2-7b"]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if not x.startswith("#")]
    assert len(lines) == 4 * 3
    assert all(x.startswith("deepspeed --hostfile hosts --num_gpus 8 --module ") for x in lines)
    assert sum("--module ablations.uptrain" in x for x in lines) == 3
    assert all("--resume" in x and "--preset llama2-7b" in x for x in lines)
    assert not (tmp_path / "runs").exists()  # nothing ran


def test_local_launcher_uses_this_python(tmp_path):
    sweep = Sweep(get("gqa"), preset="tiny-cpu", seeds=(0,), out=tmp_path, variants=("mha",))
    cmd = sweep.command(sweep.runs[0])
    assert cmd[:4] == [sys.executable, "-m", "harness", "pretrain"]
    assert "run.seed=0" in cmd and "model.attention=mha" in cmd


@pytest.mark.parametrize("argv, message", [
    (["nope"], "valid ablations: gqa, context, rm_scaling, margin, temperature"),
    (["margin", "--variants", "tiny"], "valid variants: none, small, large"),
    (["margin", "--set", "rm.margn=large"], "unknown option 'rm.margn'; valid: rm.kind, rm.margin"),
    (["gqa", "--variants", "mha,gqa_x"], "valid variants: mha, mqa, gqa, gqa_uptrain"),
    (["gqa", "--preset", "tiny"], "valid presets: tiny-cpu, small-gpu"),
    (["gqa", "--probes", "speed"], "valid probes: validation, inference"),
    (["gqa", "--seeds", "a,b"], "comma list of integers"),
    (["gqa", "--set", "model.atention=mqa"], "did you mean model.attention"),
])
def test_bad_input_names_the_valid_choices(argv, message, capsys, tmp_path):
    assert cli([*argv, "--dry-run", "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_variant_subset_brings_its_uptraining_source(tmp_path):
    sweep = Sweep(get("gqa"), preset="tiny-cpu", seeds=(0,), out=tmp_path, variants=("gqa_uptrain",))
    assert [r.variant.name for r in sweep.runs] == ["mha", "gqa_uptrain"]
    assert sweep.runs[1].source == sweep.runs[0].dir


def test_store_refuses_to_mix_a_different_config(tmp_path):
    ab = get("gqa")
    a = Sweep(ab, preset="tiny-cpu", seeds=(0,), out=tmp_path, steps=20)
    store.check_manifest(tmp_path, a.manifest())
    # more seeds or a subset of variants with the same config: allowed
    store.check_manifest(tmp_path, Sweep(ab, preset="tiny-cpu", seeds=(0, 1, 2), out=tmp_path, steps=20).manifest())
    store.check_manifest(tmp_path, Sweep(ab, preset="tiny-cpu", seeds=(3,), out=tmp_path, steps=20,
                                         variants=("mqa",)).manifest())
    with pytest.raises(AblationError) as e:
        store.check_manifest(tmp_path, Sweep(ab, preset="tiny-cpu", seeds=(0,), out=tmp_path, steps=30).manifest())
    assert "different config" in str(e.value) and "run.max_steps: store has 20, this sweep has 30" in str(e.value)
    with pytest.raises(AblationError, match="eval.limit: store has 20, this sweep has 5"):
        store.check_manifest(tmp_path, Sweep(ab, preset="tiny-cpu", seeds=(0,), out=tmp_path, steps=20,
                                             limit=5).manifest())
    with pytest.raises(AblationError, match="preset: store has 'tiny-cpu', this sweep has 'small-gpu'"):
        store.check_manifest(tmp_path, Sweep(ab, preset="small-gpu", seeds=(0,), out=tmp_path, steps=20).manifest())


def test_cli_refuses_a_store_of_another_config(tmp_path, capsys):
    a = Sweep(get("gqa"), preset="tiny-cpu", seeds=(0,), out=tmp_path, steps=20)
    store.check_manifest(tmp_path, a.manifest())
    assert cli(["gqa", "--out", str(tmp_path), "--steps", "21", "--seeds", "0"]) == 2
    err = capsys.readouterr().err
    assert "will not mix" in err and "run.max_steps" in err
    assert not (tmp_path / "runs").exists()


def test_dedup_keeps_the_last_value_of_a_key():
    assert dedup(["a.b=1", "c.d=2", "a.b=3"]) == ["a.b=3", "c.d=2"]


def test_launcher_rejects_unknown_kind():
    with pytest.raises(AblationError, match="valid launchers: local, deepspeed"):
        Launcher("slurm").prefix("harness")


# ----------------------------------------------------------------------------- statistics


def _rows(values: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"variant": v, "seed": s, "task": "t", "metric": "m", "value": x}
                         for v, xs in values.items() for s, x in enumerate(xs)])


def test_mean_ci_matches_student_t():
    s = stats.mean_ci([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["std"] == pytest.approx(1.0)
    assert s["ci_half"] == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    one = stats.mean_ci([5.0])
    assert one["mean"] == 5.0 and math.isnan(one["ci_half"])


def test_paired_difference_removes_the_shared_seed_effect():
    # Seeds differ a lot, the variant is always exactly 0.1 better: the paired interval is tight.
    df = _rows({"base": [1.0, 2.0, 3.0], "v": [1.1, 2.1, 3.1]})
    p = stats.paired_differences(df, "base").iloc[0]
    assert p["mean_diff"] == pytest.approx(0.1) and p["n_pairs"] == 3
    assert p["ci_high"] - p["ci_low"] == pytest.approx(0, abs=1e-9)
    # unpaired intervals overlap completely
    s = stats.summarize(df).set_index("variant")
    assert s.loc["v", "ci_low"] < s.loc["base", "mean"]


def test_paired_prompt_difference_matches_prompts_by_id():
    before = {"per_prompt": [{"id": "a", "helpfulness": 0.0}, {"id": "b", "helpfulness": 0.5},
                             {"id": "c", "helpfulness": 1.0}]}
    # listed in another order, one prompt the other eval lacks (ignored)
    after = {"per_prompt": [{"id": "c", "helpfulness": 1.0}, {"id": "a", "helpfulness": 0.5},
                            {"id": "b", "helpfulness": 0.5}, {"id": "z", "helpfulness": 9.0}]}
    d = stats.paired_prompt_difference(after, before, "helpfulness")
    assert d["n"] == 3 and d["mean_diff"] == pytest.approx(0.5 / 3)
    half = 4.302653 * statistics.stdev([0.0, 0.5, 0.0]) / math.sqrt(3)
    assert (d["ci_low"], d["ci_high"]) == pytest.approx((0.5 / 3 - half, 0.5 / 3 + half), rel=1e-5)
    with pytest.raises(ValueError, match="share no prompt"):
        stats.paired_prompt_difference({"per_prompt": [{"id": "q", "helpfulness": 1.0}]}, before, "helpfulness")


def test_pooled_prompt_difference_matches_ids_within_each_pair_only():
    seed0 = ({"per_prompt": [{"id": "a", "h": 1.0}, {"id": "b", "h": 1.0}]},
             {"per_prompt": [{"id": "a", "h": 0.0}, {"id": "b", "h": 0.5}]})
    # the same ids name other prompts in another seed's world
    seed1 = ({"per_prompt": [{"id": "a", "h": 0.0}, {"id": "b", "h": 0.5}]},
             {"per_prompt": [{"id": "b", "h": 0.5}, {"id": "a", "h": 0.5}]})
    d = stats.pooled_prompt_difference([seed0, seed1], "h")
    diffs = [1.0, 0.5, -0.5, 0.0]
    assert d["n"] == 4 and d["mean_diff"] == pytest.approx(statistics.fmean(diffs))
    half = 3.182446 * statistics.stdev(diffs) / 2
    assert (d["ci_low"], d["ci_high"]) == pytest.approx((0.25 - half, 0.25 + half), rel=1e-5)
    assert stats.pooled_prompt_difference([seed0], "h") == stats.paired_prompt_difference(*seed0, "h")


def test_paired_difference_uses_only_common_seeds():
    df = pd.concat([_rows({"base": [1.0, 2.0], "v": [1.5, 2.5, 9.0]})])
    p = stats.paired_differences(df, "base").iloc[0]
    assert p["n_pairs"] == 2 and p["mean_diff"] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- conversion


def test_head_groups_follow_repeat_kv():
    assert group_of_heads(6, 2) == [[0, 1, 2], [3, 4, 5]]
    assert group_of_heads(6, 1) == [[0, 1, 2, 3, 4, 5]]
    w = torch.arange(6 * 2 * 3, dtype=torch.float32).reshape(6 * 2, 3)  # 6 heads, head_dim 2, dim 3
    pooled = pool_kv_weight(w, 6, 2, 2)
    assert pooled.shape == (4, 3)
    assert torch.equal(pooled[:2], w.reshape(6, 2, 3)[:3].mean(0))


@pytest.mark.parametrize("kv", [2, 3, 1])
def test_pooled_model_equals_mha_when_heads_in_a_group_are_identical(kv):
    from harness.model import build_model

    mha_cfg = config.apply_overrides(config.preset("tiny-cpu"), ["model.attention=mha"]).model
    gqa_cfg = config.apply_overrides(config.preset("tiny-cpu"), [f"model.attention=gqa:{kv}"]).model
    mha = build_model(mha_cfg, seed=0).eval()
    hd, heads = mha_cfg.head_dim, mha_cfg.n_heads
    with torch.no_grad():
        for layer in mha.model.layers:
            for proj in (layer.self_attn.k_proj, layer.self_attn.v_proj):
                w = proj.weight.view(heads, hd, -1)
                for group in group_of_heads(heads, kv):
                    w[group] = w[group[0]].clone()
    gqa = convert_model(mha, gqa_cfg).eval()
    assert gqa.config.num_key_value_heads == kv
    ids = torch.randint(3, mha_cfg.vocab_size, (2, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = mha(input_ids=ids).logits, gqa(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()


def test_pooled_model_differs_from_mha_in_general_but_keeps_other_weights():
    from harness.model import build_model

    mha_cfg = config.preset("tiny-cpu").model
    gqa_cfg = config.apply_overrides(config.preset("tiny-cpu"), ["model.attention=gqa:2"]).model
    mha = build_model(mha_cfg, seed=0)
    gqa = convert_model(mha, gqa_cfg)
    sa, sb = mha.state_dict(), gqa.state_dict()
    for k in sa:
        if "k_proj" in k or "v_proj" in k:
            assert sb[k].shape[0] == sa[k].shape[0] // 3
        else:
            assert torch.equal(sa[k], sb[k]), k


def test_uptrain_refuses_a_model_that_is_not_a_conversion():
    from ablations.uptrain import check_compatible

    src = config.preset("tiny-cpu")
    with pytest.raises(config.ConfigError, match="model.dim"):
        check_compatible(src, config.apply_overrides(src, ["model.attention=gqa:2", "model.dim=96"]))
    with pytest.raises(config.ConfigError, match="match_mha_params"):
        check_compatible(src, config.apply_overrides(src, ["model.attention=gqa:2", "model.match_mha_params=true"]))
    check_compatible(src, config.apply_overrides(src, ["model.attention=gqa:2"]))


def test_rows_file_is_atomic_and_round_trips(tmp_path):
    df = pd.DataFrame([{"run": "a/seed0", "value": 1.5, "stderr": float("nan")}])
    store.write_rows(tmp_path / "rows.jsonl", df)
    assert not (tmp_path / "rows.jsonl.tmp").exists()
    back = store.read_rows(tmp_path / "rows.jsonl")
    assert back.loc[0, "value"] == 1.5 and json.loads((tmp_path / "rows.jsonl").read_text())["stderr"] is None


def test_custom_record_is_one_short_declaration(tmp_path):
    ab = Ablation(name="demo", hypothesis="h", paper="p", base_preset="tiny-cpu",
                  variants=(Variant("a", {"model.n_layers": "2"}), Variant("b", {"model.n_layers": "4"})),
                  baseline="a", seeds=(0, 1))
    sweep = Sweep(ab, preset="tiny-cpu", seeds=ab.seeds, out=tmp_path)
    assert [(r.variant.name, r.seed, r.cfg.model.n_layers) for r in sweep.runs] == [
        ("a", 0, 2), ("b", 0, 4), ("a", 1, 2), ("b", 1, 4)]  # seed-major: pairs complete early


def test_report_from_a_results_table(tmp_path):
    from ablations.report import inference_table, markdown

    sweep = Sweep(get("gqa"), preset="tiny-cpu", seeds=(0, 1), out=tmp_path)
    recs = []
    for v, kv, tps in (("mha", 6, 100.0), ("mqa", 1, 150.0), ("gqa", 2, 140.0), ("gqa_uptrain", 2, 141.0)):
        for seed in (0, 1):
            recs.append({"run": f"{v}/seed{seed}", "variant": v, "seed": seed, "task": "validation", "metric": "loss",
                         "value": 2.0 + 0.1 * seed + 0.01 * kv})
            for metric, value in (("kv_cache_bytes", 1000 * kv), ("decode_tokens_per_s", tps + seed)):
                recs.append({"run": f"{v}/seed{seed}", "variant": v, "seed": seed, "task": "speed",
                             "metric": metric, "value": value, "context_length": 448, "batch_size": 32})
    df = pd.DataFrame(recs)
    inf = inference_table(df, "mha").iloc[0]
    assert inf["mqa KV"] == "0.167" and inf["gqa KV"] == "0.333" and inf["mha KV"] == "1.000"
    assert "(x1.50)" in inf["mqa tok/s"]
    text = markdown(sweep, df)
    assert "Paired differences to `mha`" in text and "validation loss" in text and "Table 18" in text
    # speed rows are compared per setting, never pooled across batch sizes
    paired = stats.paired_differences(df, "mha")
    sp = paired[(paired.variant == "mqa") & (paired.metric == "decode_tokens_per_s")]
    assert len(sp) == 1 and sp.iloc[0]["batch_size"] == 32 and sp.iloc[0]["mean_diff"] == pytest.approx(50)


def test_collect_only_on_an_empty_store_writes_a_report_and_trains_nothing(tmp_path, capsys):
    assert cli(["gqa", "--collect-only", "--out", str(tmp_path)]) == 0
    assert "No finished runs yet" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "results.jsonl").read_text() == "" and not (tmp_path / "runs").exists()


# ----------------------------------------------------------------------------- post-training ablations


def test_reward_variants_share_one_base_per_seed_and_size(tmp_path):
    sweep = Sweep(get("rm_scaling"), preset="tiny-cpu", seeds=(0, 1), out=tmp_path)
    bases = {(r.variant.base, r.seed): r.base_dir for r in sweep.runs}
    assert len(bases) == 4 and len(set(bases.values())) == 4  # (small, base) x 2 seeds
    by = {r.name: r for r in sweep.runs}
    small, full = by["small_f25/seed0"].cfg.model, by["base_f25/seed0"].cfg.model
    assert (small.dim, small.n_layers) == (96, 2) and (full.dim, full.n_layers) == (192, 4)
    assert by["small_f50/seed1"].base_dir == by["small_f100/seed1"].base_dir == tmp_path / "base" / "small" / "seed1"
    assert "rm.data_fraction=0.5" in by["base_f50/seed0"].overrides
    cmd = sweep.command(by["base_f50/seed0"])
    assert cmd[:4] == [sys.executable, "-m", "harness", "reward"]
    assert cmd[cmd.index("--init") + 1] == str(tmp_path / "base" / "base" / "seed0" / "pretrain" / "hf")
    base_cmd = sweep.base_command(by["small_f25/seed0"])
    assert base_cmd[3:4] == ["pipeline"] and base_cmd[base_cmd.index("--until") + 1] == "pretrain"
    assert "model.dim=96" in base_cmd and "run.seed=0" in base_cmd
    assert len({r.config_hash for r in sweep.runs}) == len(sweep.runs)


def test_post_training_dry_run_prints_each_base_once(tmp_path, capsys):
    assert cli(["temperature", "--dry-run", "--out", str(tmp_path), "--seeds", "0,1"]) == 0
    out = capsys.readouterr().out
    pipelines = [x for x in out.splitlines() if " pipeline " in x and not x.startswith("#")]
    assert len(pipelines) == 2 and all("--until ppo" in x for x in pipelines)
    assert out.count("(no training: scored by sampling") == 2 * 6
    assert not (tmp_path / "base").exists()


def test_post_training_bad_input_names_the_choices(tmp_path):
    ab = Ablation("x", "h", "p", "tiny-cpu", (Variant("a", {"rm.margn": "large"}, stage="reward"),), "a",
                  bases={"default": get("margin").bases["default"]})
    with pytest.raises(AblationError, match="unknown option 'rm.margn'; valid: rm.kind, rm.margin"):
        Sweep(ab, preset="tiny-cpu", seeds=(0,), out=tmp_path)
    ab = Ablation("x", "h", "p", "tiny-cpu", (Variant("a", stage="reward", base="huge"),), "a",
                  bases={"default": get("margin").bases["default"]})
    with pytest.raises(AblationError, match="unknown base 'huge'; bases of ablation 'x': default"):
        Sweep(ab, preset="tiny-cpu", seeds=(0,), out=tmp_path)
    ab = Ablation("x", "h", "p", "tiny-cpu", (Variant("a", stage="finetune"),), "a")
    with pytest.raises(AblationError, match="valid stages: pretrain, uptrain, reward, sample"):
        Sweep(ab, preset="tiny-cpu", seeds=(0,), out=tmp_path)


def test_reward_rows_gaps_and_spread(tmp_path):
    acc = [{"task": "rm_helpfulness/helpfulness_test", "metric": "acc", "value": 0.5, "stderr": 0.1, "n": 4}]
    scored = [{"test_set": "helpfulness_test", "rating": r, "chosen": c, "rejected": j} for r, c, j in (
        ("significantly_better", 3.0, 0.0), ("significantly_better", 1.0, 0.0), ("better", 0.5, 1.0),
        ("negligibly_better", 0.0, 0.0))]
    (tmp_path / "accuracy.json").write_text(json.dumps(acc))
    (tmp_path / "heldout_scores.json").write_text(json.dumps(scored))
    rows = score.reward_rows(tmp_path).set_index(["task", "metric"])["value"]
    g = "reward_gap/helpfulness_test"
    assert rows[(g, "mean/significantly_better")] == 2.0 and rows[(g, "median/better")] == -0.5
    assert rows[(g, "mean/all")] == pytest.approx((3 + 1 - 0.5 + 0) / 4)
    assert (g, "mean/slightly_better") not in rows.index  # no pairs of that rating
    assert rows[(g, "score_std")] == pytest.approx(float(torch.tensor([3, 1, .5, 0, 0, 0, 1, 0.]).std(correction=0)))
    assert rows[("rm_helpfulness/helpfulness_test", "acc")] == 0.5
