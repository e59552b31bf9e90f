"""Ablations: one short declarative record per ablation over a shared sweep runner.

    python -m ablations list
    python -m ablations gqa [--preset tiny-cpu] [--seeds 0,1] [--data world] [--out DIR] [--steps N] [--dry-run]

    from ablations import get, Sweep
    sweep = Sweep(get("gqa"), preset="tiny-cpu", seeds=(0, 1), out="runs/ablations/gqa")
    results = sweep.execute()      # tidy rows; also <out>/results.jsonl, summary.csv, paired.csv

Declared: `gqa` (Llama 2 Table 18 / Figure 24, GQA uptraining), `context` (Tables 16-17),
`rm_scaling` (Figure 6), `margin` (Table 28) and `temperature` (Figure 21). The last three
build on a shared pipeline per seed (`<out>/base/...`) and train or sample on top of it.
"""

from __future__ import annotations

import importlib

from ablations.spec import Ablation, AblationError, Variant

NAMES = ("gqa", "context", "rm_scaling", "margin", "temperature")
__all__ = ["NAMES", "Ablation", "AblationError", "Sweep", "Variant", "get"]


def get(name: str) -> Ablation:
    if name not in NAMES:
        raise AblationError(f"unknown ablation {name!r}; valid ablations: {', '.join(NAMES)}")
    return importlib.import_module(f"ablations.{name}").ABLATION


def __getattr__(name):  # lazy: importing ablations must not import torch
    if name == "Sweep":
        from ablations.runner import Sweep

        return Sweep
    raise AttributeError(name)
