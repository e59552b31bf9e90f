"""Reports on sample results shaped like the five ablations: tables (mean, CI, delta, paper
columns, units, scale), figures (pure DataFrame -> Figure), the self-contained HTML and its
escaping of everything that comes from data or model output."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

from reports import figures, html, load, paper, sample, tables  # noqa: E402
from support import REPO, child_env  # noqa: E402

INJECT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def df():
    return sample.sample_results()


def test_summary_mean_and_t_interval_over_seeds():
    rows = pd.DataFrame([{"ablation": "a", "variant": "v", "seed": s, "task": "mmlu", "metric": "acc", "value": v}
                         for s, v in enumerate([0.4, 0.5, 0.6])])
    s = tables.summarize(rows).iloc[0]
    assert s["mean"] == pytest.approx(50.0)  # accuracy shown in percent
    # t(0.975, 2 dof) = 4.303; sd = 10 points; n = 3
    assert s["ci95"] == pytest.approx(4.303 * 10 / 3**0.5, rel=1e-3)
    assert s["seeds"] == 3 and s["unit"] == "%"


def test_summary_single_seed_uses_eval_stderr_and_final_step():
    rows = pd.DataFrame([
        {"run": "r", "ablation": "a", "variant": "v", "seed": 0, "step": 100, "task": "t", "metric": "acc", "value": 0.1, "stderr": 0.05},
        {"run": "r", "ablation": "a", "variant": "v", "seed": 0, "step": 200, "task": "t", "metric": "acc", "value": 0.3, "stderr": 0.01},
    ])
    s = tables.summarize(rows).iloc[0]
    assert s["mean"] == pytest.approx(30.0) and s["ci95"] == pytest.approx(1.96 * 1.0, rel=1e-3)
    assert s["ci_kind"] == "1 seed, eval stderr"


def test_delta_to_baseline():
    rows = pd.DataFrame([{"ablation": "gqa", "variant": v, "seed": s, "task": "m", "metric": "acc", "value": x + 0.01 * s}
                         for v, x in (("mha", 0.40), ("gqa", 0.45)) for s in range(3)])
    s = tables.with_delta(tables.summarize(rows), "mha").set_index("variant")
    assert s.loc["gqa", "delta"] == pytest.approx(5.0) and s.loc["mha", "delta"] == pytest.approx(0.0)


@pytest.mark.parametrize("ablation", ["gqa", "context", "rm_scaling", "margin", "temperature"])
def test_table_per_ablation(df, ablation):
    t = tables.ablation_table(df, ablation)
    variants = set(df[df["ablation"] == ablation]["variant"])
    got = {k[0] if isinstance(k, tuple) else k for k in t.index}
    assert got == variants
    assert all(re.search(r"\(.+\)", c.split(": ")[-1]) for c in t.columns if not c.startswith("paper")), t.columns
    assert all("±" in str(v) for v in t.iloc[:, 0])  # mean ± CI
    if paper.BASELINES[ablation]:
        assert any(c.startswith(f"Δ vs {paper.BASELINES[ablation]}") for c in t.columns)
    if ablation in ("gqa", "context", "margin"):
        assert any(c.startswith("paper:") for c in t.columns)


def test_paper_values_beside_ours(df):
    t = tables.ablation_table(df, "gqa")
    assert t.loc["mha", "paper: BoolQ (%)"] == "71.0" and t.loc["gqa", "paper: avg of 11 (%)"] == "44.3"
    m = tables.ablation_table(df, "margin")
    assert m.loc["large", "paper: margin m(sig. better)"] == "3.00"
    assert m.loc["small", "paper: acc sig. better (%)"] == "80.4"
    c = tables.ablation_table(df, "context")
    assert c.loc["long", "paper: QMSum R1 (%)"] == "15.1"


def test_speed_table_and_scale(df):
    s = tables.speed_table(df, "gqa")
    assert ("mha", 256) in s.index and "throughput (tok/s) @ batch 16" in s.columns
    assert "KV cache (MiB) @ batch 1" in s.columns
    sc = tables.scale(df[df["ablation"] == "gqa"])
    assert sc["preset"] == "tiny-cpu" and sc["parameters"] == "1.97M" and sc["tokens per run"] == "3.4M"
    assert sc["runs"] == 12 and sc["seeds"] == 3


def test_figures_are_pure_functions_of_dataframes(df):
    c = pd.DataFrame([{"variant": v, "seed": s, "step": st, "metric": "loss", "value": 5 - st / 100}
                      for v in ("a", "b") for s in range(2) for st in range(0, 100, 10)])
    made = [
        figures.loss_curves(c),
        figures.speed_vs_batch(df[df["ablation"] == "gqa"]),
        figures.accuracy_per_rating(df[df["ablation"] == "margin"], paper.reference("margin")),
        figures.rm_accuracy_vs_data(df[df["ablation"] == "rm_scaling"]),
        figures.self_bleu_vs_temperature(df[df["ablation"] == "temperature"]),
    ]
    before = df.copy()
    for fig in made:
        ax = fig.axes[0]
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None
        assert figures.png_data_uri(fig).startswith("data:image/png;base64,")
    pd.testing.assert_frame_equal(df, before)  # inputs untouched
    speed = made[1]
    assert len(speed.axes) == 4  # throughput and KV memory at two context lengths
    colours = {line.get_color() for line in made[1].axes[0].get_lines()}
    assert colours <= set(figures.OKABE_ITO)


def test_html_report_is_self_contained(tmp_path):
    data = sample.write_sample(tmp_path / "data")
    paths = html.write_report(data, tmp_path / "report.html")
    assert [p.name for p in paths] == ["report.html", "report-gqa.html", "report-context.html",
                                       "report-rm_scaling.html", "report-margin.html", "report-temperature.html"]
    for p in paths:
        text = p.read_text()
        assert "Content-Security-Policy" in text
        # nothing that would load from anywhere: no external src/href, no script, no @import/url()
        assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', text)
        assert "<script" not in text.lower() and "@import" not in text and "url(" not in text
    gqa = (tmp_path / "report-gqa.html").read_text()
    assert gqa.count('<img src="data:image/png;base64,') == 2  # loss curves + speed
    for needle in ("Scale and compute", "tiny-cpu", "paper: BoolQ (%)", "Runs: configuration and compute",
                   "config_hash", "Sample generations", "Ada lives in Lyon."):
        assert needle in gqa, needle
    assert "report-margin.html" in paths[0].read_text()
    assert (tmp_path / "report-temperature.html").read_text().count("data:image/png") == 1
    assert (tmp_path / "report-rm_scaling.html").read_text().count("data:image/png") == 2
    assert (tmp_path / "report-margin.html").read_text().count("data:image/png") == 1


def test_script_in_data_and_model_output_is_escaped(tmp_path):
    data = sample.write_sample(tmp_path / "data", inject=INJECT)  # variant, task, config value, model output
    paths = html.write_report(data, tmp_path / "report.html")
    for p in paths:
        text = p.read_text()
        assert "<script" not in text.lower(), p.name
        assert "<img src=x" not in text, p.name
    gqa = (tmp_path / "report-gqa.html").read_text()
    assert "mqa&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in gqa  # the variant, shown as text
    assert "&lt;script&gt;" in (tmp_path / "report-temperature.html").read_text()  # the model output
    assert "&lt;script&gt;" in paths[0].read_text()  # the index


def test_loader_reads_speed_rows_and_curves(tmp_path):
    data = sample.write_sample(tmp_path)
    wide = pd.DataFrame([{"run": "gqa/x/seed0", "ablation": "gqa", "variant": "x", "seed": 0, "batch_size": 2,
                          "context_length": 64, "decode_tokens_per_s": 100.0, "kv_cache_bytes": 2**20}])
    wide.to_json(data / "speed.jsonl", orient="records", lines=True)
    df = load.load_results(data)
    x = df[df["variant"] == "x"]
    assert set(x["metric"]) == {"decode_tokens_per_s", "kv_cache_bytes"} and set(x["task"]) == {"speed"}
    curves = load.load_curves(data, df)
    assert set(curves["ablation"]) == {"gqa", "context"} and set(curves["metric"]) == {"loss", "val_loss"}
    assert curves.groupby("run").size().min() > 10


def test_cli_writes_report_and_rejects_bad_input(tmp_path):
    data = sample.write_sample(tmp_path / "data")
    env = child_env(PYTHONPATH=str(REPO))
    out = tmp_path / "r" / "report.html"
    proc = subprocess.run([sys.executable, "-m", "reports", "--results", str(data), "--out", str(out),
                           "--ablation", "margin"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert out.exists() and (tmp_path / "r" / "report-margin.html").exists()
    assert not (tmp_path / "r" / "report-gqa.html").exists()
    bad = subprocess.run([sys.executable, "-m", "reports", "--results", str(tmp_path / "nothing"), "--out", str(out)],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "no results" in bad.stderr
    (tmp_path / "x.jsonl").write_text(json.dumps({"variant": "a", "value": 1}) + "\n")
    bad = subprocess.run([sys.executable, "-m", "reports", "--results", str(tmp_path / "x.jsonl"), "--out", str(out)],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "lack the columns" in bad.stderr


def test_reads_the_ablations_store_layout(tmp_path):
    """ablations/store.py's folder: results.jsonl (run = <variant>/seed<k>), curves.jsonl (task
    "train"), manifest.json (preset, per-variant config), runs/<run>/hf/run.json (scale)."""
    rows, curves = [], []
    for v in ("mha", "mqa"):
        for s in (0, 1):
            run = f"{v}/seed{s}"
            rows.append({"run": run, "ablation": "gqa", "variant": v, "seed": s, "step": 40, "task": "mmlu",
                         "metric": "acc", "value": 0.3 + 0.01 * s, "stderr": 0.05, "n": 60, "config_hash": "abc",
                         "git_commit": "f" * 40})
            rows.append({**rows[-1], "task": "speed", "metric": "decode_tokens_per_s", "value": 100.0, "stderr": None,
                         "batch_size": 2, "context_length": 64})
            curves += [{"run": run, "ablation": "gqa", "variant": v, "seed": s, "step": k, "task": "train",
                        "metric": m, "value": 5.0 - k / 10} for k in range(1, 41) for m in ("loss", "lr")]
            hf = tmp_path / "runs" / v / f"seed{s}" / "hf"
            hf.mkdir(parents=True)
            (hf / "run.json").write_text(json.dumps({"parameters": 1970000, "tokens_seen": 327680, "wall_time_s": 30.5}))
    pd.DataFrame(rows).to_json(tmp_path / "results.jsonl", orient="records", lines=True)
    pd.DataFrame(curves).to_json(tmp_path / "curves.jsonl", orient="records", lines=True)
    (tmp_path / "manifest.json").write_text(json.dumps({"ablation": "gqa", "preset": "tiny-cpu", "variants": {
        "mha": {"model": {"attention": "mha"}}, "mqa": {"model": {"attention": "mqa"}}}}))
    df = load.load_results(tmp_path)
    assert set(df["config.model.attention"]) == {"mha", "mqa"} and set(df["parameters"]) == {1970000}
    c = load.load_curves(tmp_path, df)
    assert set(c["metric"]) == {"loss"} and len(c) == 4 * 40
    sc = tables.scale(df)
    assert sc["preset"] == "tiny-cpu" and sc["tokens per run"] == "328k" and sc["runs"] == 4
    out = html.write_report(tmp_path, tmp_path / "report.html")
    page = out[1].read_text()
    assert page.count("data:image/png;base64,") == 2  # loss curves + speed
    assert "config.model.attention" in page and "Δ vs mha" in page


def test_temperature_store_reads_as_lines_per_policy_and_rm_figures_use_one_test_set():
    """The temperature sweep's runs are temperatures (variant t0.1, ...) over shared policies:
    the page tabulates and plots a line per policy. RM rows scored on two test sets plot one."""
    rows = []
    for t in (0.1, 1.0):
        for s in (0, 1):
            for policy in ("sft", "ppo"):
                for kind in ("factual", "creative"):
                    sb = 90.0 - (40 * t if kind == "creative" or policy == "sft" else 5 * t) + s
                    rows.append({"run": f"t{t}/seed{s}", "ablation": "temperature", "variant": f"t{t}", "seed": s,
                                 "step": 6, "task": f"{kind}@{policy}", "metric": "self_bleu", "value": sb,
                                 "stderr": 1.0, "n": 10, "policy": policy, "prompt_type": kind, "temperature": t})
    page = html.render_ablation(pd.DataFrame(rows), "temperature")
    assert "Self-BLEU against temperature" in page
    body = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert ">t0.1<" not in body and ">ppo<" in body and ">sft<" in body  # policies are the rows, not temperatures
    rm = [{"ablation": "margin", "variant": v, "seed": s, "step": 4, "task": f"rm_helpfulness/{ts}", "metric": m,
           "value": 0.6 + 0.01 * s, "stderr": 0.05, "n": 80}
          for v in ("none", "large") for s in (0, 1) for ts in ("helpfulness_test", "safety_test")
          for m in ("acc", "acc/significantly_better", "acc/negligibly_better")]
    figs = html.ablation_figures(pd.DataFrame(rm), pd.DataFrame(), "margin")
    assert [f["alt"] for f in figs] == ["accuracy per rating for margin"]


def test_store_whose_runs_trained_nothing_reports_without_curves(tmp_path):
    rows = [{"run": f"t{t}/seed0", "ablation": "temperature", "variant": f"t{t}", "seed": 0, "step": 6,
             "task": f"{k}@sft", "metric": "self_bleu", "value": 50.0 - 10 * t, "stderr": 1.0, "n": 10,
             "policy": "sft", "prompt_type": k, "temperature": t} for t in (0.5, 1.0) for k in ("factual", "creative")]
    pd.DataFrame(rows).to_json(tmp_path / "results.jsonl", orient="records", lines=True)
    (tmp_path / "curves.jsonl").write_text("")  # what an older runner wrote for sample-only sweeps
    df = load.load_results(tmp_path)
    assert load.load_curves(tmp_path, df).empty
    out = html.write_report(tmp_path, tmp_path / "report.html")
    assert "Self-BLEU against temperature" in out[1].read_text()
