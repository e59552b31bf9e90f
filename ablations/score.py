"""Scoring a finished run: lm-eval tasks, validation loss, inference speed and KV memory;
reward models (accuracy and gaps by rating) and policies sampled at a temperature.
Each returns tidy rows (task, metric, value, stderr, n [, batch_size, context_length])."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
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


# ----------------------------------------------------------------------------- post-training


def reward_rows(run_dir: str | Path) -> pd.DataFrame:
    """A reward model's held-out accuracy overall and by rating (`accuracy.json`, paper Table 8 /
    Table 28), and the distribution of its reward gaps (`heldout_scores.json`): mean and median
    gap chosen - rejected per rating, and the spread of its scores (paper Figure 27: a margin
    pushes rewards to the tails)."""
    import statistics

    from evals.suite_metrics import mean_stderr
    from harness.data.posttrain import RATINGS

    run_dir = Path(run_dir)
    rows = [dict(r) for r in json.loads((run_dir / "accuracy.json").read_text())]
    scored = json.loads((run_dir / "heldout_scores.json").read_text())
    for test_set in dict.fromkeys(s["test_set"] for s in scored):
        mine = [s for s in scored if s["test_set"] == test_set]
        task = f"reward_gap/{test_set}"
        for rating in ("all", *RATINGS):
            gaps = [s["chosen"] - s["rejected"] for s in mine if rating == "all" or s["rating"] == rating]
            if not gaps:
                continue
            mean, se = mean_stderr(gaps)
            rows.append({"task": task, "metric": f"mean/{rating}", "value": mean, "stderr": se, "n": len(gaps)})
            rows.append({"task": task, "metric": f"median/{rating}", "value": float(statistics.median(gaps)),
                         "stderr": None, "n": len(gaps)})
        both = [s["chosen"] for s in mine] + [s["rejected"] for s in mine]
        rows.append({"task": task, "metric": "score_std", "value": float(statistics.pstdev(both)), "stderr": None,
                     "n": len(both)})
    return pd.DataFrame(rows, columns=["task", "metric", "value", "stderr", "n"])


@dataclass(frozen=True)
class SampleOptions:
    """Options of a `sample` variant (`sample.key=value`)."""

    temperature: float = 1.0


POLICIES = ("sft", "rejection", "ppo")


def temperature_rows(base_dir: str | Path, temperature: float, *, seed: int = 0, policies=POLICIES,
                     prompts: int = 24, samples: int = 4, max_new_tokens: int = 48) -> pd.DataFrame:
    """The temperature study (paper Figure 21) for every finished policy of a pipeline folder:
    `samples` answers per prompt at `temperature` to `prompts` factual and `prompts` creative
    held-out prompts; Self-BLEU among a prompt's answers (higher = less diverse; mean over
    prompts), the oracle's helpfulness of every answer (task accuracy) and the share of
    distinct answers. Rows: task "<factual|creative>@<policy>" (also as columns policy and
    prompt_type), metrics "self_bleu", "helpfulness" and "distinct_answers"."""
    import statistics

    from evals.suite_metrics import mean_stderr, self_bleu
    from harness.data.posttrain import creative_prompts, factual_prompts, oracle_score
    from harness.data.sft import prompt_ids
    from harness.data.world import build_world, world_config
    from harness.stages import common

    if not temperature > 0:
        raise ValueError(f"sample.temperature={temperature}: expected > 0 (Self-BLEU of greedy answers is 100)")
    base_dir = Path(base_dir)
    rows = []
    world = None
    for policy in policies:
        folder = base_dir / policy / "hf"
        if not common.finished(base_dir / policy):
            continue
        model, info = common.load_causal_lm(folder)
        tok = common.load_tokenizer_from(folder)
        if world is None:
            cfg = common.base_config(info)
            world = build_world(world_config(cfg.data.world_size, cfg.run.seed))
        for kind, recs in (("factual", factual_prompts(world)[:prompts]), ("creative", creative_prompts(world)[:prompts])):
            p_ids = [prompt_ids(tok, r.prompt) for r in recs]
            flat = [p for p in p_ids for _ in range(samples)]
            eos = tok.eos_token_id
            resp = common.sample(model, flat, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
                                 pad_id=eos, eos_id=eos)
            texts = [tok.decode(r, skip_special_tokens=True).strip() for r in resp]
            groups = [texts[i * samples:(i + 1) * samples] for i in range(len(recs))]
            sb = [self_bleu(g) for g in groups]
            helpful = [oracle_score(r, t)["helpfulness"] for r, g in zip(recs, groups, strict=True) for t in g]
            key = {"task": f"{kind}@{policy}", "policy": policy, "prompt_type": kind}
            mean, se = mean_stderr(sb)
            rows.append({**key, "metric": "self_bleu", "value": mean, "stderr": se, "n": len(sb)})
            mean, se = mean_stderr(helpful)
            rows.append({**key, "metric": "helpfulness", "value": mean, "stderr": se, "n": len(helpful)})
            rows.append({**key, "metric": "distinct_answers", "value": statistics.fmean(
                len(set(g)) / len(g) for g in groups), "stderr": None, "n": len(groups)})
        del model
    if not rows:
        raise FileNotFoundError(f"no finished policy ({', '.join(policies)}) under {base_dir}")
    return pd.DataFrame(rows, columns=["task", "metric", "value", "stderr", "n", "policy", "prompt_type"])
