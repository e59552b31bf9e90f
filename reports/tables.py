"""Tables from the tidy results store: one per ablation, variants as rows, metrics as columns.

Input: one tidy DataFrame, a row per (run, task, metric[, step]) with at least the columns
`ablation, variant, seed, task, metric, value` (`run, step, stderr, n, parameters,
tokens_seen, wall_time_s, config.*` are used when present). Optional key columns split a
variant further: `model_size, data_fraction` (rm_scaling), `prompt_type, temperature`
(temperature). Speed rows (`task == "speed"`) carry `batch_size, context_length`.

Every function here is pure: DataFrame in, DataFrame out.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from reports import paper

KEY_COLUMNS = ("model_size", "data_fraction", "prompt_type", "temperature")
SPEED_TASK = "speed"
Z95 = 1.959964


def t95(dof: int) -> float:
    """Two-sided 95% Student-t quantile (normal for dof <= 0 is never used: see `summarize`)."""
    try:
        from scipy.stats import t

        return float(t.ppf(0.975, dof))
    except ImportError:  # pragma: no cover - scipy comes with lm-eval's dependencies
        table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
        return table.get(dof, 2.228 if dof < 20 else Z95)


def unit(metric: str) -> tuple[str, float]:
    """(unit label, factor to multiply the stored value by) for a metric name."""
    m = metric.lower()
    base = m.split("/")[0]
    if base in ("em", "f1") or base.startswith(("acc", "rouge", "exact", "f1")):
        return "%", 100.0
    if "self_bleu" in m or base == "bleu":
        return "BLEU 0-100", 1.0
    if "tokens_per_s" in m:
        return "tok/s", 1.0
    if m.endswith("bytes"):
        return "MiB", 1 / 2**20
    if "ppl" in m or "perplexity" in m:
        return "ppl", 1.0
    if "loss" in m:
        return "nats/token", 1.0
    return "", 1.0


def metric_label(task: str, metric: str) -> str:
    u, _ = unit(metric)
    name = metric if not task or task == metric else f"{task} {metric}"
    return f"{name} ({u})" if u else name


def _keys(df: pd.DataFrame) -> list[str]:
    return [c for c in KEY_COLUMNS if c in df.columns and df[c].notna().any()]


def final_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The last step of every run (rows without a step count as final)."""
    if "step" not in df.columns or df["step"].isna().all():
        return df
    run_col = "run" if "run" in df.columns else None
    group = ([run_col] if run_col else ["ablation", "variant", "seed"]) + _keys(df) + ["task", "metric"]
    step = df["step"].fillna(-1)
    last = step.groupby([df[c].astype(str) for c in group]).transform("max")
    return df[step == last]


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds with a 95% confidence interval, per (ablation, variant, keys, task, metric).

    CI: Student-t over seeds (n >= 2); with one seed, 1.96 x the row's own stderr (the
    sampling error over eval examples) when it has one, else none. `ci_kind` says which.
    Values are in display units (see `unit`).
    """
    df = final_rows(df[df["task"] != SPEED_TASK] if "task" in df.columns else df)
    keys = ["ablation", "variant", *_keys(df), "task", "metric"]
    out = []
    for group, g in df.groupby(keys, sort=False, dropna=False):
        rec = dict(zip(keys, group))
        _, factor = unit(rec["metric"])
        vals = g["value"].astype(float).to_numpy() * factor
        n = len(vals)
        mean = float(np.mean(vals))
        if n >= 2:
            ci = t95(n - 1) * float(np.std(vals, ddof=1)) / math.sqrt(n)
            kind = f"t, {n} seeds"
        elif "stderr" in g.columns and pd.notna(g["stderr"].iloc[0]):
            ci = Z95 * float(g["stderr"].iloc[0]) * factor
            kind = "1 seed, eval stderr"
        else:
            ci, kind = float("nan"), "1 seed"
        se = ci / (t95(n - 1) if n >= 2 else Z95) if not math.isnan(ci) else float("nan")
        rec.update(mean=mean, ci95=ci, se=se, seeds=n, ci_kind=kind, unit=unit(rec["metric"])[0],
                   label=metric_label(rec["task"], rec["metric"]))
        out.append(rec)
    return pd.DataFrame(out)


def with_delta(summary: pd.DataFrame, baseline: str | None) -> pd.DataFrame:
    """Add `delta` (variant mean - baseline mean) and `delta_ci95` (normal, independent errors)."""
    s = summary.copy()
    s["delta"], s["delta_ci95"] = np.nan, np.nan
    if not baseline or baseline not in set(s["variant"]):
        return s
    keys = [c for c in ["ablation", *KEY_COLUMNS, "task", "metric"] if c in s.columns]
    base = s[s["variant"] == baseline].set_index(keys)
    for i, row in s.iterrows():
        k = tuple(row[c] for c in keys)
        if k in base.index:
            b = base.loc[k]
            if isinstance(b, pd.DataFrame):
                b = b.iloc[0]
            s.at[i, "delta"] = row["mean"] - b["mean"]
            s.at[i, "delta_ci95"] = Z95 * math.sqrt(row["se"] ** 2 + b["se"] ** 2)
    return s


def _fmt(x: float, ci: float | None = None, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    mag = max(abs(x), abs(ci) if ci is not None and not math.isnan(ci) else 0)
    digits = 0 if mag >= 1000 else 1 if mag >= 10 else 2 if mag >= 0.1 else 3
    s = f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"
    if ci is not None and not math.isnan(ci):
        s += f" ± {ci:.{digits}f}"
    return s


def ablation_table(df: pd.DataFrame, ablation: str, baseline: str | None = None, with_paper: bool = True) -> pd.DataFrame:
    """Display table for one ablation: index = variant (+ keys); for each metric a column
    "mean ± CI95" and, when a baseline exists, "Δ vs <baseline>"; then the paper's columns
    ("paper: ...") for the variants the paper has. Cells are strings, ready to print."""
    baseline = baseline if baseline is not None else paper.BASELINES.get(ablation)
    sub = df[df["ablation"] == ablation]
    s = with_delta(summarize(sub), baseline)
    if s.empty:
        return pd.DataFrame()
    index = ["variant", *[k for k in KEY_COLUMNS if k in s.columns and s[k].notna().any()]]
    order = list(dict.fromkeys(sub["variant"]))
    cells: dict[tuple, dict] = {}
    for _, r in s.iterrows():
        row = cells.setdefault(tuple(r[c] for c in index), {})
        row[r["label"]] = _fmt(r["mean"], r["ci95"])
        if baseline and baseline in order:
            row[f"Δ vs {baseline}: {r['label']}"] = "" if r["variant"] == baseline else _fmt(r["delta"], r["delta_ci95"], True)
    table = pd.DataFrame.from_dict(cells, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=index) if len(index) > 1 else \
        pd.Index([k[0] for k in table.index], name="variant")
    labels = list(dict.fromkeys(s["label"]))
    cols = [c for lab in labels for c in (lab, f"Δ vs {baseline}: {lab}") if c in table.columns]
    table = table[cols]
    table = table.reindex(sorted(table.index, key=lambda k: (order.index(k[0] if isinstance(k, tuple) else k)
                                                              if (k[0] if isinstance(k, tuple) else k) in order else 99, k)))
    if "temperature" in table.index.names and len(index) > 1:
        # one row per (variant, prompt type), temperatures across: reads like Figure 21
        wide = table.unstack("temperature")
        wide.columns = [f"{metric} @ T={t:g}" for metric, t in wide.columns]
        table = wide.fillna("–").reindex(sorted(wide.index, key=lambda k: (order.index(k[0]) if k[0] in order else 99, k)))
    if with_paper:
        ref = paper.reference(ablation)
        if not ref.empty and len(index) == 1:
            ref = ref.set_index("variant").drop(columns=["source"], errors="ignore")
            ref = ref.loc[[v for v in ref.index if v in table.index]]
            ref = ref.dropna(axis=1, how="all")
            ref.columns = [f"paper: {c}" for c in ref.columns]
            table = table.join(ref.map(lambda x: _fmt(x) if isinstance(x, (int, float)) else str(x)), how="left")
    return table.fillna("–")


def speed_table(df: pd.DataFrame, ablation: str = "gqa") -> pd.DataFrame:
    """Decode throughput (tok/s) and KV-cache memory (MiB) per variant x context length (rows)
    and batch size (columns); mean over seeds/repeats."""
    sub = df[(df["ablation"] == ablation) & (df["task"] == SPEED_TASK)]
    if sub.empty:
        return pd.DataFrame()
    out = {}
    for (variant, ctx, bs, metric), g in sub.groupby(["variant", "context_length", "batch_size", "metric"], sort=False):
        u, f = unit(metric)
        name = {"decode_tokens_per_s": "throughput", "kv_cache_bytes": "KV cache"}.get(metric, metric)
        out.setdefault((variant, int(ctx)), {})[f"{name} ({u}) @ batch {int(bs)}"] = _fmt(float(g["value"].mean()) * f)
    table = pd.DataFrame.from_dict(out, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["variant", "context"])
    order = list(dict.fromkeys(sub["variant"]))
    return table.reindex(sorted(table.index, key=lambda k: (order.index(k[0]), k[1])))


def scale(df: pd.DataFrame) -> dict:
    """Scale and compute of the runs behind `df`: preset, parameters, tokens per run, runs,
    seeds, total tokens and wall time (each run counted once)."""
    runs = df.drop_duplicates("run") if "run" in df.columns else df.drop_duplicates(["variant", "seed"])

    def col(*names):
        for n in names:
            if n in runs.columns and runs[n].notna().any():
                return runs[n].dropna()
        return None

    preset, params = col("config.preset", "preset"), col("parameters")
    tokens, wall = col("tokens_seen"), col("wall_time_s")
    info = {"runs": int(len(runs)), "variants": int(df["variant"].nunique()),
            "seeds": int(df["seed"].nunique()) if "seed" in df.columns else 1}
    if preset is not None:
        info["preset"] = ", ".join(map(str, dict.fromkeys(preset)))
    if params is not None:
        info["parameters"] = ", ".join(human(p) for p in sorted(set(params.astype(float))))
    if tokens is not None:
        info["tokens per run"] = human(float(tokens.median()))
        info["tokens, all runs"] = human(float(tokens.sum()))
    if wall is not None:
        info["compute (wall time, all runs)"] = f"{float(wall.sum()) / 3600:.2f} h ({float(wall.sum()):.0f} s)"
    return info


def human(x: float) -> str:
    for div, suf in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suf}"
    return f"{x:.3g}"


def runs_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run: variant, seed, scale, compute, commit and the config keys that differ
    between runs (the configuration that defines each variant)."""
    if "run" not in df.columns:
        return pd.DataFrame()
    runs = df.drop_duplicates("run")
    cfg = [c for c in runs.columns if c.startswith("config.") and runs[c].astype(str).nunique() > 1]
    cols = [c for c in ["run", "variant", "seed", *KEY_COLUMNS, "parameters", "tokens_seen", "wall_time_s",
                        "config_hash", "git_commit", *cfg] if c in runs.columns and runs[c].notna().any()]
    out = runs[cols].copy()
    for c in ("parameters", "tokens_seen"):
        if c in out:
            out[c] = out[c].map(lambda v: human(float(v)) if pd.notna(v) else "–")
    if "wall_time_s" in out:
        out["wall_time_s"] = out["wall_time_s"].map(lambda v: f"{float(v):.0f}" if pd.notna(v) else "–")
    if "git_commit" in out:
        out["git_commit"] = out["git_commit"].astype(str).str[:10]
    return out.reset_index(drop=True)


def shared_config(df: pd.DataFrame) -> dict:
    """config.* keys equal across all runs of the ablation (the fixed part of the recipe)."""
    runs = df.drop_duplicates("run") if "run" in df.columns else df
    return {c[len("config."):]: runs[c].dropna().iloc[0] for c in sorted(runs.columns)
            if c.startswith("config.") and runs[c].notna().any() and runs[c].astype(str).nunique() == 1}
