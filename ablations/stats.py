"""Summary statistics across seeds: mean with a t confidence interval, and the paired
difference of each variant to the baseline (same seed = same world, init and data order).

Pure functions of a tidy DataFrame (columns variant, seed, task, metric, value).
"""

from __future__ import annotations

import math

import pandas as pd

KEYS = ["task", "metric"]
SETTING_KEYS = ("context_length", "batch_size")  # speed rows: one measurement per setting


def keys(rows: pd.DataFrame) -> list[str]:
    return KEYS + [c for c in SETTING_KEYS if c in rows.columns]


def _filled(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.copy()
    for c in SETTING_KEYS:
        if c in rows.columns:
            rows[c] = rows[c].fillna(-1).astype(int)
    return rows


def t_quantile(df: int, confidence: float = 0.95) -> float:
    """Two-sided Student t quantile (scipy when present, else a table good to 3 digits)."""
    if df < 1:
        return float("nan")
    try:
        from scipy import stats

        return float(stats.t.ppf(0.5 + confidence / 2, df))
    except ImportError:  # pragma: no cover - scipy comes with lm-eval's dependencies
        if confidence != 0.95:
            raise
        table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
                 10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}
        best = max(k for k in table if k <= df)
        return table[best] if df <= 30 else 1.96


def mean_ci(values, confidence: float = 0.95) -> dict:
    """n, mean, sample std, and the half-width of the t interval (NaN with one value)."""
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    n = len(vals)
    if n == 0:
        return {"n_seeds": 0, "mean": float("nan"), "std": float("nan"), "ci_low": float("nan"),
                "ci_high": float("nan"), "ci_half": float("nan")}
    mean = sum(vals) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else float("nan")
    half = t_quantile(n - 1, confidence) * std / math.sqrt(n) if n > 1 else float("nan")
    return {"n_seeds": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half, "ci_half": half}


def summarize(rows: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """One row per (variant, task, metric[, context_length, batch_size]): n_seeds, mean, std,
    ci_low, ci_high, ci_half, min, max (the seed spread). Setting columns are -1 where unset."""
    out = []
    rows, ks = _filled(rows), keys(rows)
    for key, g in rows.groupby(["variant", *ks], sort=False):
        s = mean_ci(g["value"], confidence)
        out.append({"variant": key[0], **dict(zip(ks, key[1:], strict=True)), **s,
                    "min": float(g["value"].min()), "max": float(g["value"].max()),
                    "seeds": ",".join(str(x) for x in sorted(g["seed"].unique()))})
    return pd.DataFrame(out)


def paired_differences(rows: pd.DataFrame, baseline: str, confidence: float = 0.95) -> pd.DataFrame:
    """variant - baseline per seed (only seeds both have), then mean and t interval of the
    differences. `separated` is True when the interval excludes 0."""
    out = []
    base = rows[rows["variant"] == baseline]
    if base.empty:
        return pd.DataFrame(columns=["variant", "baseline", "task", "metric", "n_pairs", "mean_diff", "ci_low",
                                     "ci_high", "separated", "diffs"])
    rows, ks = _filled(rows), keys(rows)
    base = rows[rows["variant"] == baseline]
    base_idx = base.groupby([*ks, "seed"])["value"].mean()
    for key, g in rows[rows["variant"] != baseline].groupby(["variant", *ks], sort=False):
        variant, setting = key[0], dict(zip(ks, key[1:], strict=True))
        diffs = []
        for seed, value in zip(g["seed"], g["value"], strict=True):
            k = (*key[1:], seed)
            if k in base_idx.index:
                diffs.append(float(value) - float(base_idx.loc[k]))
        if not diffs:
            continue
        s = mean_ci(diffs, confidence)
        separated = bool(s["n_seeds"] > 1 and (s["ci_low"] > 0 or s["ci_high"] < 0))
        out.append({"variant": variant, "baseline": baseline, **setting,
                    "n_pairs": s["n_seeds"], "mean_diff": s["mean"], "ci_low": s["ci_low"], "ci_high": s["ci_high"],
                    "separated": separated, "diffs": ",".join(f"{d:.6g}" for d in diffs)})
    return pd.DataFrame(out)


def paired_prompt_difference(after: dict, before: dict, score: str, confidence: float = 0.95) -> dict:
    """Mean of after - before over the prompts both evals scored (two `evaluate_policy`
    results with `per_prompt`, e.g. PPO against RS), with its t interval over prompts."""
    return pooled_prompt_difference([(after, before)], score, confidence)


def pooled_prompt_difference(pairs: list[tuple[dict, dict]], score: str, confidence: float = 0.95) -> dict:
    """`paired_prompt_difference` over several (after, before) eval pairs at once, e.g. one per
    seed: prompts are matched by id within each pair (seeds have their own worlds, so ids
    repeat across pairs), then all differences share one mean and t interval. The interval
    covers the spread over prompts of these runs, not a new seed's training noise."""
    diffs = []
    for after, before in pairs:
        old = {r["id"]: r[score] for r in before["per_prompt"]}
        diffs += [r[score] - old[r["id"]] for r in after["per_prompt"] if r["id"] in old]
    if not diffs:
        raise ValueError(f"paired_prompt_difference: the two evals share no prompt ({score})")
    s = mean_ci(diffs, confidence)
    return {"score": score, "n": s["n_seeds"], "mean_diff": s["mean"], "ci_low": s["ci_low"], "ci_high": s["ci_high"]}
