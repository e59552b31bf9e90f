"""Evaluation layer: lm-eval scoring on local data, plus the suite's own metrics.

    from evals import evaluate
    df = evaluate("runs/pretrain/final", "mmlu,gsm8k,squad,scrolls_qmsum", data="local", limit=10)

CLI: `python -m evals --checkpoint DIR --tasks ... --data DIR --limit N --out results.jsonl`.
"""

from __future__ import annotations

__all__ = ["evaluate", "known_tasks", "DEFAULT_TASKS", "DataLayoutError", "UnknownTaskError"]


def __getattr__(name):  # lazy: importing evals must not import torch / lm-eval
    if name in ("evaluate", "known_tasks", "DEFAULT_TASKS", "UnknownTaskError"):
        from evals import api

        return getattr(api, name)
    if name == "DataLayoutError":
        from evals.data import DataLayoutError

        return DataLayoutError
    raise AttributeError(name)
