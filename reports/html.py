"""Self-contained HTML: one page per ablation (tables, figures as base64 PNG data URIs, the
configuration, compute and sample generations) and an index. Jinja2 with autoescape on:
every string from data or model output is escaped; a Content-Security-Policy forbids any
network request and any script.
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from reports import figures, load, paper, tables

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _env() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True, default_for_string=True),
                       trim_blocks=True, lstrip_blocks=True)


def _view(t: pd.DataFrame | None) -> dict | None:
    """A DataFrame as plain lists for the template's table macro (index columns first)."""
    if t is None or t.empty:
        return None
    names = [n or "" for n in t.index.names] if not isinstance(t.index, pd.RangeIndex) else []
    rows = []
    for key, row in zip(t.index, t.itertuples(index=False)):
        keys = list(key) if isinstance(key, tuple) else ([key] if names else [])
        rows.append({"head": [_cell(k) for k in keys], "cells": [_cell(v) for v in row]})
    return {"index_names": names, "columns": [str(c) for c in t.columns], "rows": rows}


def _cell(v) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("_") or "ablation"


def ablation_figures(df: pd.DataFrame, curves: pd.DataFrame, ablation: str) -> list[dict]:
    """The figures this ablation's data supports, chosen by the data's shape."""
    out = []

    def add(fig, caption, alt):
        out.append({"uri": figures.png_data_uri(fig), "caption": caption, "alt": alt})

    c = curves[curves["ablation"] == ablation] if not curves.empty else curves
    if not c.empty:
        add(figures.loss_curves(c, title=f"{ablation}: loss"), "Training loss (line: mean over seeds, band: min-max) "
            "and validation loss (markers) per variant.", f"loss curves for {ablation}")
    speed = df[df["task"] == tables.SPEED_TASK]
    if not speed.empty and {"batch_size", "context_length"} <= set(speed.columns):
        add(figures.speed_vs_batch(speed, title=ablation), "Decode throughput and KV-cache memory against batch size "
            "at each context length (paper: Figure 24).", f"throughput and KV memory against batch size for {ablation}")
    quality = df[df["task"] != tables.SPEED_TASK]
    rated = quality[quality["metric"].astype(str).str.startswith("acc/")]
    if rated["task"].nunique() > 1:
        # RMs scored on several test sets: the figures show one, the helpfulness set if there is one
        tasks = list(dict.fromkeys(rated["task"]))
        keep = next((t for t in tasks if "helpfulness_test" in str(t)), tasks[0])
        quality = quality[quality["task"] == keep]
    if quality["metric"].astype(str).str.startswith("acc/").any():
        has_sizes = "model_size" in quality.columns and quality["model_size"].notna().any()
        if has_sizes:
            # one bar group per model size at the largest data fraction
            top = quality[quality["data_fraction"] == quality["data_fraction"].max()]
            add(figures.accuracy_per_rating(top.assign(variant=top["model_size"].astype(str)),
                                            title=f"{ablation}: accuracy per rating (all data)"),
                "RM accuracy per preference rating at the largest data fraction, per model size "
                "(whiskers: 95% CI over seeds).", f"accuracy per rating for {ablation}")
        else:
            add(figures.accuracy_per_rating(quality, paper.reference(ablation), title=f"{ablation}: accuracy per rating"),
                "RM accuracy per preference rating (whiskers: 95% CI over seeds; black ticks: the paper's values).",
                f"accuracy per rating for {ablation}")
    if {"model_size", "data_fraction"} <= set(quality.columns) and quality["model_size"].notna().any():
        add(figures.rm_accuracy_vs_data(quality, title=f"{ablation}: accuracy against data size"),
            "RM accuracy (all pairs) against the fraction of preference data, per model size (paper: Figure 6).",
            f"RM accuracy against data size for {ablation}")
    if "temperature" in quality.columns and (quality["metric"] == "self_bleu").any():
        add(figures.self_bleu_vs_temperature(quality, title=ablation),
            "Self-BLEU of sampled responses against temperature (lower = more diverse; paper: Figure 21).",
            f"Self-BLEU against temperature for {ablation}")
    return out


def render_ablation(df: pd.DataFrame, ablation: str, curves: pd.DataFrame | None = None,
                    samples: pd.DataFrame | None = None, *, index_href: str = "report.html",
                    hypothesis: str | None = None, baseline: str | None = None) -> str:
    sub = df[df["ablation"] == ablation]
    if sub.empty:
        raise ValueError(f"no rows for ablation {ablation!r}")
    if "policy" in sub.columns and sub["policy"].notna().all():
        # The temperature study's runs are temperatures over shared policies: its tables and
        # figures read like Figure 21, a line per policy (the temperature is a key column).
        sub = sub.assign(variant=sub["policy"], task="sampled")
    curves = curves if curves is not None else pd.DataFrame(columns=["ablation", "variant", "step", "metric", "value"])
    baseline = baseline if baseline is not None else paper.BASELINES.get(ablation)
    summary = tables.summarize(sub)
    kinds = ", ".join(sorted(set(summary["ci_kind"]))) if not summary.empty else ""
    ref = paper.reference(ablation)
    sample_items = []
    if samples is not None and not samples.empty and "ablation" in samples.columns:
        for rec in samples[samples["ablation"] == ablation].to_dict(orient="records"):
            head = ", ".join(f"{k}={v}" for k, v in rec.items() if k not in ("ablation", "prompt", "response")
                             and not (isinstance(v, float) and pd.isna(v)))
            sample_items.append({"head": head, "prompt": str(rec.get("prompt", "")), "response": str(rec.get("response", ""))})
    return _env().get_template("report.html.j2").render(
        page="ablation", title=f"Ablation: {ablation}", index_href=index_href, hypothesis=hypothesis,
        trend=paper.trend(ablation) or "no reference values", scale=tables.scale(sub), ci_note=kinds,
        baseline=baseline if baseline in set(sub["variant"]) else None,
        results_table=_view(tables.ablation_table(sub, ablation, baseline)),
        speed_table=_view(tables.speed_table(sub, ablation)) if (sub["task"] == tables.SPEED_TASK).any() else None,
        figures=ablation_figures(sub, curves, ablation),
        paper_table=_view(ref.set_index("variant")) if not ref.empty else None,
        runs_table=_view(tables.runs_table(sub)), shared_config=tables.shared_config(sub), samples=sample_items)


def render_index(df: pd.DataFrame, pages: dict[str, str], source: str = "") -> str:
    rows = []
    items = []
    for ablation, href in pages.items():
        sub = df[df["ablation"] == ablation]
        sc = tables.scale(sub)
        rows.append({"ablation": ablation, "variants": ", ".join(map(str, dict.fromkeys(sub["variant"]))),
                     "runs": sc["runs"], "seeds": sc["seeds"], "preset": sc.get("preset", "–"),
                     "compute": sc.get("compute (wall time, all runs)", "–")})
        items.append({"name": ablation, "href": href, "trend": paper.trend(ablation) or "–", "scale": sc})
    return _env().get_template("report.html.j2").render(
        page="index", title="Llama 2 recipe suite: ablation reports", ablations=items, source=source,
        generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        index_table=_view(pd.DataFrame(rows).set_index("ablation")))


def write_report(results: str | Path | pd.DataFrame, out: str | Path, *, ablations: list[str] | None = None,
                 curves: pd.DataFrame | None = None, samples: pd.DataFrame | None = None) -> list[Path]:
    """Write `out` (the index) and `<out stem>-<ablation>.html` beside it, one per ablation.
    `results` is a results folder (see reports.load) or a tidy DataFrame. Returns the paths."""
    out = Path(out)
    if isinstance(results, pd.DataFrame):
        df, source = results, "a DataFrame"
        curves = curves if curves is not None else pd.DataFrame(columns=["ablation", "variant", "step", "metric", "value"])
    else:
        df, source = load.load_results(results), str(results)
        curves = curves if curves is not None else load.load_curves(results, df)
        samples = samples if samples is not None else load.load_samples(results)
    names = ablations or list(dict.fromkeys(df["ablation"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    pages, written = {}, []
    for name in names:
        page = out.with_name(f"{out.stem}-{slug(name)}.html")
        page.write_text(render_ablation(df, name, curves, samples, index_href=out.name), encoding="utf-8")
        pages[name] = page.name
        written.append(page)
    out.write_text(render_index(df, pages, source), encoding="utf-8")
    return [out, *written]
