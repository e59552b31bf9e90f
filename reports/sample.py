"""Sample results in the results store's shape for all five ablations (made-up numbers with
the paper's trends): for tests, and to preview a report with `python -m reports --sample DIR`.

`sample_results()` returns the tidy table; `write_sample(dir)` writes a results folder:
`results.jsonl`, `runs/<run>/metrics.jsonl` (loss curves) and `samples.jsonl` (generations).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from reports.paper import RATINGS

SEEDS = (0, 1, 2)
BASE = {"config.preset": "tiny-cpu", "parameters": 1_970_000, "tokens_seen": 3_400_000, "git_commit": "c35f9c1" + "0" * 33}


def _row(ablation, variant, seed, task, metric, value, *, stderr=0.02, n=200, step=400, **extra):
    run = f"{ablation}/{variant}/seed{seed}"
    return {"run": run, "ablation": ablation, "variant": variant, "seed": seed, "step": step, "task": task,
            "metric": metric, "value": value, "stderr": stderr, "n": n, "config_hash": f"h{abs(hash(run)) % 10**8:08d}",
            "wall_time_s": 180.0 + 10 * seed, **BASE, **extra}


def sample_results(seed: int = 0, inject: str | None = None) -> pd.DataFrame:
    """Tidy rows for gqa, context, rm_scaling, margin and temperature. `inject` is put into
    a variant name, a task name and a value-bearing text column (for escaping tests)."""
    rng = np.random.default_rng(seed)
    noise = lambda s=0.01: float(rng.normal(0, s))  # noqa: E731
    rows = []
    # gqa: quality + speed (two context lengths, batch sizes doubling)
    quality = {"mha": 0.42, "mqa": 0.40, "gqa": 0.42, "gqa_uptrained": 0.41}
    kv_heads = {"mha": 4, "mqa": 1, "gqa": 2, "gqa_uptrained": 2}
    for v, q in quality.items():
        for s in SEEDS:
            cfg = {"config.model.attention": {"mha": "mha", "mqa": "mqa"}.get(v, "gqa:2")}
            rows.append(_row("gqa", v, s, "mmlu", "acc", q + noise(0.02), **cfg))
            rows.append(_row("gqa", v, s, "squad", "f1", 0.2 + q / 4 + noise(), **cfg))
            rows.append(_row("gqa", v, s, "val", "val_loss", 2.9 - q + noise(0.005), stderr=None, **cfg))
            for ctx in (128, 256):
                for bs in (1, 2, 4, 8, 16):
                    kv = 2 * 4 * bs * kv_heads[v] * (ctx + 31) * 48 * 4
                    tps = bs * 900 / (1 + bs * ctx * kv_heads[v] / 20000) * (1 + noise(0.03))
                    for metric, val in (("decode_tokens_per_s", tps), ("kv_cache_bytes", kv)):
                        rows.append(_row("gqa", v, s, "speed", metric, val, stderr=None, n=1, batch_size=bs,
                                         context_length=ctx, **cfg))
    # context: SCROLLS-shaped long tasks + general tasks
    for v, long_gain in (("short", 0.0), ("long", 0.12)):
        for s in SEEDS:
            cfg = {"config.data.seq_len": 128 if v == "short" else 256}
            rows.append(_row("context", v, s, "scrolls_world_far", "f1", 0.05 + long_gain + noise(), **cfg))
            rows.append(_row("context", v, s, "scrolls_qmsum", "rouge1", 0.08 + long_gain + noise(), **cfg))
            rows.append(_row("context", v, s, "scrolls_world_near", "f1", 0.30 + noise(), **cfg))
            rows.append(_row("context", v, s, "squad", "exact_match", 0.25 + noise(), **cfg))
            rows.append(_row("context", v, s, "mmlu", "acc", 0.40 + noise(), **cfg))
    # rm_scaling: model size x data fraction, accuracy per rating
    for size, base in (("tiny", 0.55), ("small", 0.60)):
        for frac in (0.25, 0.5, 1.0):
            for s in SEEDS:
                acc = base + 0.08 * math.log2(frac * 4) / 2 + noise()
                extra = {"model_size": size, "data_fraction": frac}
                rows.append(_row("rm_scaling", f"{size}@{frac}", s, "reward_helpful", "acc", acc, **extra))
                for k, r in enumerate(RATINGS):
                    rows.append(_row("rm_scaling", f"{size}@{frac}", s, "reward_helpful", f"acc/{r}",
                                     acc + 0.15 - 0.08 * k + noise(), **extra))
    # margin: none / small / large
    for v, shift in (("none", (0, 0)), ("small", (0.01, 0.005)), ("large", (0.02, -0.01))):
        for s in SEEDS:
            cfg = {"config.reward.margin": v}
            rows.append(_row("margin", v, s, "reward_helpful", "acc", 0.62 + shift[1] + noise(), **cfg))
            for k, r in enumerate(RATINGS):
                d = shift[0] if k == 0 else shift[1] if k == 3 else 0
                rows.append(_row("margin", v, s, "reward_helpful", f"acc/{r}", 0.80 - 0.085 * k + d + noise(), **cfg))
    # temperature: Self-BLEU vs temperature, factual / creative prompts, SFT vs RLHF
    for v in ("sft", "rlhf"):
        for ptype in ("factual", "creative"):
            for t in (0.1, 0.4, 0.7, 1.0, 1.3):  
                for s in SEEDS:
                    flat = v == "rlhf" and ptype == "factual"
                    sb = (85 - 5 * t if flat else 90 - 45 * t) + noise(1.0)
                    rows.append(_row("temperature", v, s, "self_bleu", "self_bleu", sb, stderr=1.0, n=10,
                                     prompt_type=ptype, temperature=t))
    df = pd.DataFrame(rows)
    if inject:
        df.loc[df["ablation"] == "gqa", "variant"] = df.loc[df["ablation"] == "gqa", "variant"].replace("mqa", f"mqa{inject}")
        df.loc[(df["ablation"] == "gqa") & (df["task"] == "mmlu"), "task"] = f"mmlu{inject}"
        df["config.note"] = inject
    return df


def sample_curves(results: pd.DataFrame) -> dict[str, list[dict]]:
    """metrics.jsonl records per run (train loss every step, val loss every 50)."""
    out = {}
    for run, g in results.groupby("run", sort=False):
        v, seed = g["variant"].iloc[0], int(g["seed"].iloc[0])
        rng = np.random.default_rng(seed + 7)
        floor = 2.4 + 0.05 * (len(v) % 3)
        recs = []
        for step in range(1, 401, 4):
            loss = floor + 3.8 * math.exp(-step / 60) + float(rng.normal(0, 0.03))
            recs.append({"step": step, "loss": loss, "lr": 3e-3, "grad_norm": 1.0, "tokens": step * 8192,
                         "tokens_per_s": 20000.0})
            if step % 50 == 1 and step > 1:
                recs.append({"step": step, "val_loss": loss + 0.1, "val_ppl": math.exp(loss + 0.1)})
        out[run] = recs
    return out


def write_sample(folder: str | Path, inject: str | None = None) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    df = sample_results(inject=inject)
    with open(folder / "results.jsonl", "w", encoding="utf-8") as f:
        for rec in df.to_dict(orient="records"):
            f.write(json.dumps({k: v for k, v in rec.items() if not (isinstance(v, float) and math.isnan(v))}) + "\n")
    for run, recs in sample_curves(df[df["ablation"].isin(["gqa", "context"])]).items():
        d = folder / "runs" / run
        d.mkdir(parents=True, exist_ok=True)
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    samples = [{"ablation": "temperature", "variant": v, "temperature": t, "prompt": "Tell me a story about a llama.",
                "response": f"Once upon a time a llama ({v}, T={t}) walked{inject or ''} to the market."}
               for v in ("sft", "rlhf") for t in (0.1, 1.0)]
    samples.append({"ablation": "gqa", "variant": "gqa", "prompt": "Where does Ada live?", "response": "Ada lives in Lyon."})
    (folder / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    return folder
