"""The sweep's report: `python -m reports` (HTML) when that package provides one, and always a
markdown summary (report.md) built with pandas from the results store."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd

from ablations import stats


def _fmt(x, digits=4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if abs(x) >= 1e5:
        return f"{x:.4g}"
    return f"{x:.{digits}g}"


def md_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for rec in df.itertuples(index=False):
        lines.append("| " + " | ".join(str(v) for v in rec) + " |")
    return "\n".join(lines)


def headline_table(results: pd.DataFrame, ablation, variants) -> pd.DataFrame:
    summary = stats.summarize(results[results["task"] != "speed"])
    recs = []
    for v in variants:
        rec = {"variant": v}
        for task, metric in ablation.headline:
            s = summary[(summary.variant == v) & (summary.task == task) & (summary.metric == metric)]
            if s.empty:
                continue
            s = s.iloc[0]
            rec[f"{task} {metric}"] = f"{_fmt(s['mean'])} ± {_fmt(s['ci_half'], 2)} (n={s['n_seeds']})"
        recs.append(rec)
    return pd.DataFrame(recs)


def paired_table(results: pd.DataFrame, ablation) -> pd.DataFrame:
    keys = set(ablation.headline)
    paired = stats.paired_differences(results[results["task"] != "speed"], ablation.baseline)
    if paired.empty:
        return paired
    paired = paired[[(t, m) in keys for t, m in zip(paired.task, paired.metric, strict=True)]]
    out = paired.assign(**{
        "mean diff": paired.mean_diff.map(_fmt),
        "95% CI": [f"[{_fmt(a)}, {_fmt(b)}]" for a, b in zip(paired.ci_low, paired.ci_high, strict=True)],
        "per-seed diffs": paired.diffs,
        "excludes 0": paired.separated,
    })
    return out[["variant", "task", "metric", "n_pairs", "mean diff", "95% CI", "excludes 0", "per-seed diffs"]]


def inference_table(results: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """One row per (context, batch size): each variant's mean decode tokens/s over seeds, its
    ratio to the baseline's, and its KV-cache bytes as a fraction of the baseline's."""
    if "batch_size" not in results.columns:
        return pd.DataFrame()
    inf = results[results["task"] == "speed"]
    if inf.empty:
        return pd.DataFrame()
    mean = inf.groupby(["context_length", "batch_size", "metric", "variant"], sort=False)["value"].mean()
    recs = []
    for (ctx, bs), _ in inf.groupby(["context_length", "batch_size"]):
        rec = {"context": int(ctx), "batch": int(bs)}
        base_tps = mean.get((ctx, bs, "decode_tokens_per_s", baseline))
        base_kv = mean.get((ctx, bs, "kv_cache_bytes", baseline))
        for v in dict.fromkeys(inf["variant"]):
            tps = mean.get((ctx, bs, "decode_tokens_per_s", v))
            kv = mean.get((ctx, bs, "kv_cache_bytes", v))
            if tps is None:
                continue
            rec[f"{v} tok/s"] = f"{tps:.0f}" + (f" (x{tps / base_tps:.2f})" if base_tps else "")
            if kv is not None and base_kv:
                rec[f"{v} KV"] = f"{kv / base_kv:.3f}"
        recs.append(rec)
    return pd.DataFrame(recs)


def markdown(sweep, results: pd.DataFrame) -> str:
    ab = sweep.ablation
    variants = [v.name for v in sweep.selected]
    lines = [f"# Ablation `{ab.name}`", "", f"**Hypothesis.** {ab.hypothesis}", "", f"**Mirrors.** {ab.paper}", "",
             f"Preset `{sweep.preset}`, seeds {', '.join(map(str, sorted(set(results.seed))))}, "
             f"eval data `{sweep.data}` (the world of each run's seed), lm-eval limit {sweep.limit}, "
             f"overrides for every run: `{' '.join(sweep.base_overrides()) or 'none'}`.", "",
             "## Variants", ""]
    for v in sweep.selected:
        lines.append(f"- `{v.name}` ({v.stage}): `{' '.join(f'{k}={x}' for k, x in v.overrides_for(sweep.preset).items())}` — {v.note}")
    lines += ["", "## Headline (mean ± 95% t half-width across seeds)", "",
              md_table(headline_table(results, ab, variants)), "",
              f"## Paired differences to `{ab.baseline}` (same seed)", ""]
    pt = paired_table(results, ab)
    lines += [md_table(pt) if len(pt) else "(no pairs)", ""]
    inf = inference_table(results, ab.baseline)
    if len(inf):
        lines += [f"## Inference: decode tokens/s (mean over seeds) and KV-cache bytes relative to `{ab.baseline}`", "",
                  md_table(inf), ""]
    if ab.reference or ab.notes:
        lines += ["## The paper's numbers", ""]
        for v, ref in ab.reference.items():
            lines.append(f"- `{v}`: " + ", ".join(f"{k} {x}" for k, x in ref.items()))
        lines += ["", ab.notes, ""]
    lines += ["Full tables: `results.jsonl` (tidy rows), `summary.csv`, `paired.csv`, `curves.jsonl`.", ""]
    return "\n".join(lines)


def write_report(sweep, results: pd.DataFrame) -> Path:
    out = Path(sweep.out)
    md = out / "report.md"
    if results.empty:
        md.write_text(f"# Ablation `{sweep.ablation.name}`\n\nNo finished runs yet in {out}.\n")
        return md
    md.write_text(markdown(sweep, results))
    if importlib.util.find_spec("reports.__main__") is not None:
        html = out / "report.html"
        proc = subprocess.run([sys.executable, "-m", "reports", "--results", str(out), "--out", str(html)],
                              capture_output=True, text=True)
        if proc.returncode == 0 and html.exists():
            return html
        print(f"reports failed (exit {proc.returncode}); wrote {md} instead:\n{proc.stderr[-1500:]}", file=sys.stderr)
    return md
