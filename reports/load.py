"""Read a results folder into the tidy frames the tables and figures take.

Layout (what `ablations/` writes; every part but the results table is optional):

    DIR/results.jsonl | results.csv | results.parquet   tidy rows: run, ablation, variant, seed,
                                                         step, task, metric, value, stderr, n, ...
    DIR/speed.jsonl                                      measure_inference rows + run, ablation,
                                                         variant, seed (wide; made tidy here)
    DIR/curves.jsonl                                     loss curves as tidy rows (metric loss / val_loss)
    DIR/manifest.json                                    preset + each variant's resolved config -> config.*
    DIR/runs/<run>/hf/run.json                           parameters, tokens_seen, wall_time_s of each run
    DIR/**/metrics.jsonl                                 per-run loss curves (engine format); the
                                                         run is the folder's path relative to DIR
                                                         or DIR/runs, or its run.json "run"
    DIR/samples.jsonl                                    sample generations: ablation, variant,
                                                         prompt, response (+ any other fields)

DIR may also be a single results file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from reports.tables import SPEED_TASK

SPEED_METRICS = ("decode_tokens_per_s", "prefill_tokens_per_s", "kv_cache_bytes", "peak_rss_bytes")


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    return pd.read_json(path, lines=True, dtype=False, precise_float=True)


def speed_to_tidy(wide: pd.DataFrame) -> pd.DataFrame:
    """`evals.speed.measure_inference` rows (plus run/ablation/variant/seed) -> tidy rows with
    task "speed", keeping batch_size and context_length."""
    ids = [c for c in ("run", "ablation", "variant", "seed", "batch_size", "context_length", "new_tokens")
           if c in wide.columns]
    metrics = [m for m in SPEED_METRICS if m in wide.columns]
    tidy = wide.melt(id_vars=ids, value_vars=metrics, var_name="metric", value_name="value")
    tidy["task"] = SPEED_TASK
    return tidy


def load_results(source: str | Path) -> pd.DataFrame:
    source = Path(source)
    if source.is_file():
        frames = [_read_table(source)]
    else:
        frames = [_read_table(p) for name in ("results.jsonl", "results.csv", "results.parquet")
                  if (p := source / name).exists()]
    if not frames:
        raise FileNotFoundError(f"no results.jsonl / results.csv / results.parquet in {source}")
    df = pd.concat(frames, ignore_index=True)
    if source.is_dir() and (source / "speed.jsonl").exists():
        df = pd.concat([df, speed_to_tidy(_read_table(source / "speed.jsonl"))], ignore_index=True)
    if "task" not in df.columns:  # a store of (run, ablation, variant, seed, step, metric, value) only
        df["task"] = ""
    missing = {"ablation", "variant", "metric", "value"} - set(df.columns)
    if missing:
        raise ValueError(f"results in {source} lack the columns {sorted(missing)}")
    if "seed" not in df.columns:
        df["seed"] = 0
    return _enrich(df, source) if source.is_dir() else df


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v if not isinstance(v, (list, tuple)) else json.dumps(v)
    return out


def _enrich(df: pd.DataFrame, source: Path) -> pd.DataFrame:
    """Add config.* (from manifest.json) and run scale (from runs/<run>/hf/run.json) where the
    rows do not carry them."""
    manifest = source / "manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        if "config.preset" not in df.columns and m.get("preset"):
            df["config.preset"] = m["preset"]
        per_variant = {v: _flatten(c or {}, "config.") for v, c in (m.get("variants") or {}).items()}
        keys = sorted({k for c in per_variant.values() for k in c} - set(df.columns))
        for k in keys:
            df[k] = df["variant"].map(lambda v, k=k: per_variant.get(v, {}).get(k))
    if "run" in df.columns:
        info = {}
        for run in df["run"].dropna().unique():
            path = source / "runs" / str(run) / "hf" / "run.json"
            if path.exists():
                r = json.loads(path.read_text())
                info[run] = {k: r.get(k) for k in ("parameters", "tokens_seen", "wall_time_s")}
        for k in ("parameters", "tokens_seen", "wall_time_s"):
            if info and (k not in df.columns or df[k].isna().all()):
                df[k] = df["run"].map(lambda r, k=k: info.get(r, {}).get(k))
    return df


def load_curves(source: str | Path, results: pd.DataFrame) -> pd.DataFrame:
    """Loss curves of the runs in `results`: run, ablation, variant, seed, step, metric
    (loss / val_loss), value. Runs without a metrics.jsonl are skipped."""
    source = Path(source)
    cols = ["run", "ablation", "variant", "seed", "step", "metric", "value"]
    if source.is_dir() and (source / "curves.jsonl").exists():
        c = _read_table(source / "curves.jsonl")
        if c.empty or "metric" not in c.columns:  # runs that trained nothing (sampling only)
            return pd.DataFrame(columns=cols)
        return c[c["metric"].isin(["loss", "val_loss"])][[x for x in cols if x in c.columns]].reset_index(drop=True)
    if source.is_file() or "run" not in results.columns:
        return pd.DataFrame(columns=cols)
    runs = results.drop_duplicates("run").set_index("run")
    out = []
    for path in sorted(source.rglob("metrics.jsonl")):
        folder = path.parent
        candidates = [folder.relative_to(source).as_posix()]
        if (source / "runs") in folder.parents:
            candidates.append(folder.relative_to(source / "runs").as_posix())
        if (folder / "run.json").exists():
            candidates.append(str(json.loads((folder / "run.json").read_text()).get("run", "")))
        run = next((c for c in candidates if c in runs.index), None)
        if run is None:
            continue
        info = runs.loc[run]
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                rec = json.loads(line)
                for metric in ("loss", "val_loss"):
                    if metric in rec and "step" in rec:
                        out.append({"run": run, "ablation": info["ablation"], "variant": info["variant"],
                                    "seed": info.get("seed", 0), "step": rec["step"], "metric": metric,
                                    "value": rec[metric]})
    return pd.DataFrame(out, columns=cols)


def load_samples(source: str | Path) -> pd.DataFrame:
    path = Path(source) / "samples.jsonl"
    if Path(source).is_file() or not path.exists():
        return pd.DataFrame(columns=["ablation", "variant", "prompt", "response"])
    return pd.read_json(path, lines=True, dtype=False, precise_float=True)
