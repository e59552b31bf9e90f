"""Scoring a finished run: lm-eval tasks, validation loss, inference speed and KV memory.
Each returns tidy rows (task, metric, value, stderr, n [, batch_size, context_length])."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd


SPEED_TASK = "speed"  # the task name `reports` reads throughput / KV rows under


def world_data(data: str, seed: int) -> str:
    """The eval data of a run: the generated world is built from run.seed (another seed,
    another world), so a run trained on `world` is scored on `world:<size>:<seed>`."""
    if data == "world":
        return f"world:tiny:{seed}"
    if data.startswith("world:"):
        parts = data.split(":")
        return f"world:{parts[1] or 'tiny'}:{seed}"
    return data


def lm_rows(checkpoint: str | Path, tasks, data: str, limit: int | None, max_gen_toks: int = 256,
            batch_size: int = 8, task_options: dict | None = None) -> pd.DataFrame:
    """`evals.evaluate`'s scoring with lm-eval's generation budget settable, per task if need be
    (`task_options`: task -> {"limit": n, "max_gen_toks": m}). The budget is also what
    SCROLLS-shaped tasks keep free when they cut the document to the model's context: lm-eval's
    default 256 would leave a 256-token model no document at all."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    from evals import api
    from evals.data import resolve_data

    if not tasks:
        return pd.DataFrame(columns=api.ROW_COLUMNS)
    checkpoint = Path(checkpoint)
    source = resolve_data(data)
    groups: dict[tuple, list[str]] = {}
    for t in tasks:
        opt = (task_options or {}).get(t, {})
        groups.setdefault((opt.get("limit", limit), int(opt.get("max_gen_toks", max_gen_toks))), []).append(t)
    model, tok = api.load_model(checkpoint)
    frames = []
    for (lim, gen), names in groups.items():
        metadata = {"data_source": source, "pretrained": str(checkpoint), "max_gen_toks": gen}
        with tempfile.TemporaryDirectory(prefix="ablation-overlay-") as tmp:
            tm = api.task_manager(metadata, api.write_overlay(source, tmp))
            api.parse_tasks(names, tm)
            lm = _budgeted_hflm(HFLM)(pretrained=model, tokenizer=tok, batch_size=batch_size, device="cpu")
            lm.suite_max_gen_toks = gen
            results = lm_eval.simple_evaluate(model=lm, tasks=names, task_manager=tm, limit=lim)
        df = api.results_to_rows(results)
        frames.append(df[df["task"].isin(names)][api.ROW_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def _budgeted_hflm(base):
    """HFLM whose default generation budget is settable (lm-eval 0.4's `max_gen_toks` is a
    property fixed at 256; tasks that name their own `max_gen_toks` still win)."""

    class BudgetedHFLM(base):
        suite_max_gen_toks = 256

        @property
        def max_gen_toks(self) -> int:
            return self.suite_max_gen_toks

    return BudgetedHFLM


def validation_rows(run_dir: str | Path) -> pd.DataFrame:
    """The run's last logged validation loss (the harness's held-out split, eval_batches rows)."""
    import math

    recs = [json.loads(x) for x in (Path(run_dir) / "metrics.jsonl").read_text().splitlines() if x.strip()]
    val = [r for r in recs if "val_loss" in r]
    if not val:
        return pd.DataFrame(columns=["task", "metric", "value", "stderr", "n"])
    last = val[-1]
    return pd.DataFrame([
        {"task": "validation", "metric": "loss", "value": last["val_loss"], "stderr": None, "n": None},
        {"task": "validation", "metric": "perplexity", "value": math.exp(min(last["val_loss"], 50)), "stderr": None,
         "n": None},
    ])


def inference_rows(checkpoint: str | Path, batch_sizes=(1, 8, 32), context_lengths=(128, 448), new_tokens: int = 16,
                   repeats: int = 2) -> pd.DataFrame:
    """Decode tokens/s with a KV cache and KV-cache bytes per (batch size, context length)."""
    from evals import api
    from evals.speed import measure_inference

    model, _ = api.load_model(checkpoint)
    df = measure_inference(model, batch_sizes, context_lengths, new_tokens=new_tokens, repeats=repeats)
    del model
    rows = []
    for r in df.to_dict(orient="records"):
        for metric in ("decode_tokens_per_s", "prefill_tokens_per_s", "kv_cache_bytes"):
            rows.append({"task": SPEED_TASK, "metric": metric, "value": float(r[metric]), "stderr": None, "n": repeats,
                         "batch_size": int(r["batch_size"]), "context_length": int(r["context_length"])})
    return pd.DataFrame(rows)
