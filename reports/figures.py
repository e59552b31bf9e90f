"""Figures: each a pure function from a DataFrame to a matplotlib Figure (no pyplot state, no
files). Colours are the Okabe-Ito palette (safe for the common colour-vision deficiencies),
and every series also differs by marker or line style so none relies on colour alone.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reports.paper import RATING_LABELS, RATINGS
from reports.tables import SPEED_TASK, final_rows, t95

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
LINES = ["-", "--", "-.", ":"]


def _style(i: int) -> dict:
    return {"color": OKABE_ITO[i % len(OKABE_ITO)], "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINES[i % len(LINES)]}


def _figure(ncols: int = 1, nrows: int = 1, width: float = 6.4, height: float = 4.0) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(width * ncols, height * nrows), dpi=100, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.grid(True, alpha=0.3)
    return fig, axes


def _mean_ci(values: pd.Series) -> tuple[float, float]:
    v = values.astype(float).to_numpy()
    if len(v) < 2:
        return float(v.mean()), 0.0
    return float(v.mean()), t95(len(v) - 1) * float(v.std(ddof=1)) / np.sqrt(len(v))


def loss_curves(curves: pd.DataFrame, title: str = "Loss curves") -> Figure:
    """curves: variant, seed, step, metric ("loss" / "val_loss"), value. Training loss as the
    mean over seeds with a min-max band; validation loss as markers, dashed."""
    fig, axes = _figure()
    ax = axes[0, 0]
    for i, (variant, g) in enumerate(curves.groupby("variant", sort=False)):
        st = _style(i)
        tr = g[g["metric"] == "loss"].groupby("step")["value"]
        if len(tr):
            mean = tr.mean()
            ax.plot(mean.index, mean.values, color=st["color"], linestyle=st["linestyle"], label=f"{variant} train")
            ax.fill_between(mean.index, tr.min().values, tr.max().values, color=st["color"], alpha=0.15, linewidth=0)
        va = g[g["metric"] == "val_loss"].groupby("step")["value"].mean()
        if len(va):
            ax.plot(va.index, va.values, color=st["color"], marker=st["marker"], linestyle=":", label=f"{variant} val")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title(f"{title} (mean over seeds; band = min-max)")
    ax.legend(fontsize="small", ncols=2)
    return fig


def speed_vs_batch(speed: pd.DataFrame, title: str = "Inference") -> Figure:
    """speed: tidy speed rows (variant, batch_size, context_length, metric in
    decode_tokens_per_s / kv_cache_bytes, value). Columns: context lengths; rows:
    throughput and KV-cache memory against batch size (log2 axes)."""
    speed = speed[speed["task"] == SPEED_TASK] if "task" in speed.columns else speed
    contexts = sorted(speed["context_length"].dropna().unique())
    fig, axes = _figure(ncols=max(1, len(contexts)), nrows=2, width=5.2, height=3.6)
    panels = [("decode_tokens_per_s", "decode throughput (tokens/s)", 1.0),
              ("kv_cache_bytes", "KV cache (MiB)", 1 / 2**20)]
    variants = list(dict.fromkeys(speed["variant"]))
    for c, ctx in enumerate(contexts):
        for r, (metric, ylabel, factor) in enumerate(panels):
            ax = axes[r, c]
            for i, v in enumerate(variants):
                g = speed[(speed["variant"] == v) & (speed["context_length"] == ctx) & (speed["metric"] == metric)]
                if g.empty:
                    continue
                m = g.groupby("batch_size")["value"].mean() * factor
                ax.plot(m.index, m.values, label=v, **_style(i))
            ax.set_xscale("log", base=2)
            ax.set_yscale("log", base=2 if metric == "kv_cache_bytes" else 10)
            ax.set_xlabel("batch size")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{title}: context {int(ctx)} tokens")
            if ax.get_lines():
                ax.legend(fontsize="small")
            else:
                ax.text(0.5, 0.5, f"no {metric} rows", transform=ax.transAxes, ha="center", va="center")
    return fig


def accuracy_per_rating(df: pd.DataFrame, paper_ref: pd.DataFrame | None = None,
                        title: str = "Reward-model accuracy per preference rating") -> Figure:
    """df: tidy rows with metric "acc/<rating>" (one ablation). Bars per variant (mean over
    seeds, 95% CI whiskers); the paper's values (columns "acc <label> (%)") as black ticks."""
    d = final_rows(df[df["metric"].astype(str).str.startswith("acc/")])
    fig, axes = _figure(width=7.5)
    ax = axes[0, 0]
    variants = list(dict.fromkeys(d["variant"]))
    ratings = [r for r in RATINGS if f"acc/{r}" in set(d["metric"])]
    width = 0.8 / max(1, len(variants))
    x = np.arange(len(ratings))
    hatches = ["", "//", "..", "xx", "\\\\", "oo"]
    for i, v in enumerate(variants):
        stats = [_mean_ci(d[(d["variant"] == v) & (d["metric"] == f"acc/{r}")]["value"] * 100) for r in ratings]
        ax.bar(x + (i - (len(variants) - 1) / 2) * width, [s[0] for s in stats], width, yerr=[s[1] for s in stats],
               color=OKABE_ITO[i % 8], hatch=hatches[i % len(hatches)], edgecolor="white", capsize=3, label=v)
        if paper_ref is not None and v in set(paper_ref.get("variant", [])):
            ref = paper_ref.set_index("variant").loc[v]
            vals = [ref.get(f"acc {RATING_LABELS[r]} (%)", np.nan) for r in ratings]
            ax.scatter(x + (i - (len(variants) - 1) / 2) * width, vals, marker="_", s=300, color="black",
                       zorder=3, label="paper (Table 28)" if i == 0 else None)
    ax.set_xticks(x, [RATING_LABELS[r] for r in ratings])
    ax.set_ylabel("accuracy (%)")
    ax.set_xlabel("preference rating of the pair")
    ax.set_ylim(0, 100)
    ax.axhline(50, color="grey", linewidth=1, linestyle=":")
    ax.set_title(title)
    ax.legend(fontsize="small")
    return fig


def rm_accuracy_vs_data(df: pd.DataFrame, metric: str = "acc", title: str = "RM accuracy against data size") -> Figure:
    """df: tidy rows with model_size, data_fraction and `metric`. One line per model size,
    mean over seeds with 95% CI whiskers."""
    d = final_rows(df[df["metric"] == metric])
    fig, axes = _figure()
    ax = axes[0, 0]
    for i, (size, g) in enumerate(d.groupby("model_size", sort=False)):
        stats = g.groupby("data_fraction")["value"].apply(lambda s: _mean_ci(s * 100))
        ax.errorbar(stats.index, [s[0] for s in stats], yerr=[s[1] for s in stats], capsize=3, label=str(size), **_style(i))
    ax.set_xscale("log", base=2)
    ax.set_xlabel("fraction of the preference data used")
    ax.set_ylabel(f"{metric} (%)")
    ax.set_title(title)
    ax.legend(title="model size", fontsize="small")
    return fig


def self_bleu_vs_temperature(df: pd.DataFrame, title: str = "Self-BLEU against temperature") -> Figure:
    """df: tidy rows with temperature, prompt_type and metric self_bleu. One panel per prompt
    type, one line per variant (mean over seeds, 95% CI whiskers)."""
    d = final_rows(df[df["metric"] == "self_bleu"])
    types = list(dict.fromkeys(d["prompt_type"])) if "prompt_type" in d else [None]
    fig, axes = _figure(ncols=len(types), width=5.2)
    for c, ptype in enumerate(types):
        ax = axes[0, c]
        sub = d if ptype is None else d[d["prompt_type"] == ptype]
        for i, (v, g) in enumerate(sub.groupby("variant", sort=False)):
            stats = g.groupby("temperature")["value"].apply(_mean_ci)
            ax.errorbar(stats.index, [s[0] for s in stats], yerr=[s[1] for s in stats], capsize=3, label=v, **_style(i))
        ax.set_xlabel("sampling temperature")
        ax.set_ylabel("Self-BLEU (0-100, higher = less diverse)")
        ax.set_title(f"{title}: {ptype} prompts" if ptype else title)
        ax.legend(fontsize="small")
    return fig


def png_data_uri(fig: Figure) -> str:
    """The figure as a base64 PNG data URI (for a self-contained HTML file)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


__all__ = ["OKABE_ITO", "loss_curves", "speed_vs_batch", "accuracy_per_rating", "rm_accuracy_vs_data",
           "self_bleu_vs_temperature", "png_data_uri"]
