"""The results store: one folder per ablation sweep.

    <out>/manifest.json            what wrote it: ablation, preset, data, evals, each variant's
                                   resolved config (seed aside); a sweep with another config refuses to mix
    <out>/runs/<variant>/seed<k>/  the harness run folder (checkpoints/, metrics.jsonl, hf/)
                                   + rows.jsonl (that run's scored rows: the "finished" marker)
    <out>/results.jsonl            all rows: run, ablation, variant, seed, step, task, metric, value,
                                   stderr, n, config_hash, git_commit (+ batch_size, context_length
                                   on speed rows)
    <out>/curves.jsonl             loss curves from every run's metrics.jsonl (same columns, task "train")
    <out>/summary.csv, paired.csv  mean and 95% t interval across seeds; paired differences to the baseline
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import pandas as pd

from ablations.spec import AblationError

ROW_COLUMNS = ["run", "ablation", "variant", "seed", "step", "task", "metric", "value", "stderr", "n",
               "config_hash", "git_commit"]
MANIFEST = "manifest.json"
ROWS = "rows.jsonl"


def config_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _diff(a, b, prefix="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [f"{prefix.rstrip('.')}: store has {a!r}, this sweep has {b!r}"]


def check_manifest(out: Path, manifest: dict) -> None:
    """Write the manifest, or refuse when the store holds results of a different config.

    Seeds may grow between sweeps (they are not in the manifest); variants may be a subset
    of the stored ones, but a variant present in both must have the same resolved config."""
    path = Path(out) / MANIFEST
    manifest = json.loads(json.dumps(manifest, default=str))  # tuples -> lists, as stored
    if not path.exists():
        write_json(path, manifest)
        return
    old = json.loads(path.read_text())
    problems = []
    for key in manifest:
        if key == "variants":
            continue
        problems += _diff({key: old.get(key)}, {key: manifest[key]})
    for name, cfg in manifest["variants"].items():
        if name in old.get("variants", {}):
            problems += _diff({"variants": {name: old["variants"][name]}}, {"variants": {name: cfg}})
    if problems:
        raise AblationError(
            f"results store {out} was written by a different config and will not mix with this sweep: "
            + "; ".join(problems[:12]) + ("; ..." if len(problems) > 12 else "")
            + f". Use another --out, or delete {out} to start over."
        )
    merged = dict(manifest)
    merged["variants"] = {**old.get("variants", {}), **manifest["variants"]}
    write_json(path, merged)


def write_json(path: Path, obj) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)


def _clean(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    return v


def write_rows(path: Path, df: pd.DataFrame) -> None:
    """Atomic: a run's rows file exists complete or not at all (it marks the run finished)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # a sample run trains nothing, so has no folder yet
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for rec in df.to_dict(orient="records"):
            f.write(json.dumps({k: _clean(v) for k, v in rec.items()}, default=str) + "\n")
    os.replace(tmp, path)


def read_rows(path: Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=ROW_COLUMNS)
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return pd.DataFrame(recs) if recs else pd.DataFrame(columns=ROW_COLUMNS)


def write_table(out: Path, name: str, df: pd.DataFrame) -> Path:
    """<name>.jsonl. (Only one format: `reports` reads results.jsonl, .csv and .parquet alike
    and would count rows twice.)"""
    path = Path(out) / f"{name}.jsonl"
    write_rows(path, df)
    return path


def load_results(out: str | os.PathLike) -> pd.DataFrame:
    """All rows of a results store (what reports read)."""
    return read_rows(Path(out) / "results.jsonl")
