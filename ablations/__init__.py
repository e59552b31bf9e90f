"""Ablations: one short declarative record per ablation over a shared sweep runner.

    python -m ablations list
    python -m ablations gqa [--preset tiny-cpu] [--seeds 0,1] [--data world] [--out DIR] [--steps N] [--dry-run]

    from ablations import get, Sweep
    sweep = Sweep(get("gqa"), preset="tiny-cpu", seeds=(0, 1), out="runs/ablations/gqa")
    results = sweep.execute()      # tidy rows; also <out>/results.jsonl, summary.csv, paired.csv

Declared: `gqa` (Llama 2 Table 18 / Figure 24, GQA uptraining) and `context` (Tables 16-17).
`rm_scaling`, `margin` and `temperature` need the reward-model and SFT/RLHF stages
(harness/stages, issue 5), which do not exist yet; they are not declared rather than stubbed.
"""

from __future__ import annotations

import importlib

from ablations.spec import Ablation, AblationError, Variant

NAMES = ("gqa", "context")
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
