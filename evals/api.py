"""`evaluate(checkpoint, tasks, data, limit) -> DataFrame`: lm-eval on a checkpoint folder.

The model is the exported HF folder; the tasks are the overlays in `evals/tasks/` (lm-eval's
own definitions with a local data source); the result is one tidy row per (task, metric)
carrying the checkpoint's `run.json` fields.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from evals.data import resolve_data

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
DEFAULT_TASKS = ("mmlu", "gsm8k", "squad", "scrolls_qmsum")
ROW_COLUMNS = ["task", "metric", "value", "stderr", "n"]
RUN_FIELDS = ("stage", "seed", "git_commit", "tokens_seen", "wall_time_s", "parameters")

log = logging.getLogger(__name__)


class UnknownTaskError(KeyError):
    def __str__(self):  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def task_manager(metadata: dict | None = None, overlay: str | os.PathLike | None = None):
    from lm_eval.tasks import TaskManager

    paths = [str(TASKS_DIR)] + ([str(overlay)] if overlay else [])
    return TaskManager(include_path=paths, include_defaults=False, metadata=metadata)


def write_overlay(data_source: str, out_dir: str | os.PathLike) -> Path | None:
    """Task YAML for data whose MMLU subjects are not the official 57 (the generated world):
    `mmlu` (and `mmlu_heldout` where that folder exists) become groups of the subjects found,
    each subject the stock MMLU template. Returns the folder to add to `include_path`, or
    None when the static overlays already fit. Works for the `lm-eval` CLI too
    (`--include_path evals/tasks:<folder>`)."""
    from evals.data import HUB, MMLU_SUBJECTS, mmlu_subjects_in

    if data_source == HUB:
        return None
    groups = {}
    for folder in ("mmlu", "mmlu_heldout"):
        subjects = mmlu_subjects_in(data_source, folder)
        if subjects and not (folder == "mmlu" and set(subjects) <= set(MMLU_SUBJECTS)):
            groups[folder] = subjects
    if not groups:
        return None
    out = Path(out_dir)
    # Each folder gets the stock letter-choice group and a cloze group (`<folder>_cloze`,
    # lm-eval's mmlu continuation template), which tiny models can answer.
    variants = {}
    for folder, subjects in groups.items():
        variants[folder] = (folder, subjects, TASKS_DIR / "mmlu" / "_default_template_yaml")
        variants[f"{folder}_cloze"] = (folder, subjects, TASKS_DIR / "mmlu" / "_continuation_template_yaml")
    for group, (folder, subjects, template) in variants.items():
        d = out / group
        d.mkdir(parents=True, exist_ok=True)
        names = []
        for subject in subjects:
            name = f"{group}_{subject}"
            names.append(name)
            about = subject.replace("_", " ")
            (d / f"{name}.yaml").write_text(
                f"include: {json.dumps(str(template))}\n"
                f"task: {json.dumps(name)}\ntask_alias: {json.dumps(subject)}\n"
                f"dataset_name: {json.dumps(subject)}\n"
                f"dataset_kwargs:\n  subject: {json.dumps(subject)}\n  mmlu_folder: {json.dumps(folder)}\n"
                f"description: {json.dumps(f'The following are multiple choice questions (with answers) about {about}.' + chr(10) + chr(10))}\n"
            )
        tasks = "".join(f"  - {json.dumps(n)}\n" for n in names)
        (d / f"_{group}.yaml").write_text(
            f"group: {group}\ntask:\n{tasks}aggregate_metric_list:\n  - metric: acc\n    weight_by_size: True\n"
            "metadata:\n  version: 2\n"
        )
    return out


def known_tasks(tm=None) -> list[str]:
    """Task, group and tag names the suite defines (the 57 `mmlu_<subject>` tasks included)."""
    tm = tm or task_manager()
    return sorted(tm.all_tasks)


def public_tasks(tm=None) -> list[str]:
    names = known_tasks(tm)
    return [n for n in names if not n.startswith("mmlu_") or n in ("mmlu_stem", "mmlu_humanities", "mmlu_other", "mmlu_social_sciences")]


def parse_tasks(tasks: str | Iterable[str] | None, tm=None) -> list[str]:
    if tasks is None:
        names = list(DEFAULT_TASKS)
    elif isinstance(tasks, str):
        names = [t.strip() for t in tasks.split(",") if t.strip()]
    else:
        names = list(tasks)
    if not names:
        raise UnknownTaskError("no task given; known tasks: " + ", ".join(public_tasks(tm)))
    known = set(known_tasks(tm))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UnknownTaskError(
            f"unknown task(s) {', '.join(unknown)}; known tasks: {', '.join(public_tasks(tm))} "
            "(and the 57 mmlu_<subject> tasks)"
        )
    return names


def export_task_dir(data_source: str, out_dir: str | os.PathLike) -> Path:
    """One self-contained lm-eval include folder for `data_source` (the stock CLI takes a single
    --include_path): the static overlays, with MMLU regenerated where the data's subjects are
    not the official 57 (the generated world)."""
    out = Path(out_dir)
    shutil.copytree(TASKS_DIR, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    repo = str(TASKS_DIR.parents[1])
    for hook in out.rglob("suite_hooks.py"):
        hook.write_text(
            "import sys\n"
            f"sys.path.insert(0, {repo!r})  # the suite checkout these tasks were exported from\n"
            "from evals.lm_tasks import *  # noqa: E402,F401,F403\n"
        )
    with tempfile.TemporaryDirectory() as tmp:
        generated = write_overlay(data_source, tmp)
        if generated is not None:
            for folder in generated.iterdir():
                shutil.rmtree(out / folder.name, ignore_errors=True)
                shutil.copytree(folder, out / folder.name)
    return out


def lm_eval_command(
    checkpoint: str | os.PathLike, tasks: str | Sequence[str] | None, data_source: str, include_path: str | os.PathLike,
    *, limit: int | float | None = None, batch_size: int = 1, device: str = "cpu", extra: Sequence[str] = (),
) -> list[str]:
    """The stock `lm-eval run` command that scores what `evaluate` scores (same task files,
    same data, same model): the reproducibility check anyone can run."""
    names = tasks if isinstance(tasks, str) else ",".join(tasks or DEFAULT_TASKS)
    cmd = [
        sys.executable, "-m", "lm_eval", "run", "--model", "hf", "--model_args", f"pretrained={checkpoint}",
        "--tasks", names, "--include_path", str(include_path),
        "--metadata", json.dumps({"data_source": data_source}),
        "--device", device, "--batch_size", str(batch_size),
    ]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    return cmd + list(extra)


def read_run_json(checkpoint: str | os.PathLike) -> dict:
    path = Path(checkpoint) / "run.json"
    if not path.is_file():
        log.warning("%s has no run.json; rows carry no run fields", checkpoint)
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v if not isinstance(v, (list, tuple)) else json.dumps(v)
    return out


def run_fields(run: dict) -> dict:
    """run.json as row columns: its top-level fields, and `config.*` flattened with dots."""
    out = {k: v for k, v in run.items() if k != "config" and not isinstance(v, dict)}
    if isinstance(run.get("config"), dict):
        out.update(flatten(run["config"], "config."))
    return out


def results_to_rows(results: dict) -> pd.DataFrame:
    """lm-eval's results dict -> tidy rows (task, metric, value, stderr, n, filter).

    A metric under a filter other than "none" is named `metric/filter` (GSM8K's
    `exact_match/strict-match`, `exact_match/flexible-extract`). Groups (mmlu and its four
    categories) get rows too, with n the sum of their tasks' n.
    """
    n_samples = results.get("n-samples", {})
    subtasks = results.get("group_subtasks", {})

    def n_of(name):
        if name in n_samples:
            return int(n_samples[name]["effective"])
        return sum(n_of(c) for c in subtasks.get(name, []))

    rows = []
    for name, res in {**results.get("results", {}), **results.get("groups", {})}.items():
        for key, value in res.items():
            if "," not in key or "_stderr," in key:
                continue
            metric, filt = key.split(",", 1)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            stderr = res.get(f"{metric}_stderr,{filt}")
            stderr = float(stderr) if isinstance(stderr, (int, float)) and not math.isnan(stderr) else None
            rows.append({
                "task": name,
                "metric": metric if filt == "none" else f"{metric}/{filt}",
                "value": float(value),
                "stderr": stderr,
                "n": n_of(name),
                "filter": filt,
            })
    df = pd.DataFrame(rows, columns=[*ROW_COLUMNS, "filter"])
    return df.drop_duplicates(subset=["task", "metric"]).sort_values(["task", "metric"]).reset_index(drop=True)


def load_model(checkpoint: str | os.PathLike, dtype: str = "auto", device: str = "cpu"):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(checkpoint))
    torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
    model = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch_dtype).to(device).eval()
    return model, tok


def evaluate(
    checkpoint: str | os.PathLike,
    tasks: str | Sequence[str] | None = None,
    data: str | os.PathLike | None = "world",
    limit: int | float | None = None,
    *,
    batch_size: int = 1,
    num_fewshot: int | None = None,
    max_length: int | None = None,
    device: str = "cpu",
    dtype: str = "auto",
    model=None,
    tokenizer=None,
    return_raw: bool = False,
):
    """Score `checkpoint` (an exported HF folder with run.json) on `tasks` with lm-eval.

    tasks: comma list or sequence of suite task names (default: mmlu, gsm8k, squad,
        scrolls_qmsum); an unknown name raises `UnknownTaskError` listing the known ones.
    data: "world" (default), "local" ($LLAMA2_SUITE_DATA or ../shared/data), "hub", or a folder.
    limit: examples per task (lm-eval's `limit`; a float < 1 is a fraction).
    max_length: the model context lm-eval uses (default: from the model config, as lm-eval does).
    Returns a DataFrame: task, metric, value, stderr, n, filter, checkpoint, run.json fields.
    """
    checkpoint = Path(checkpoint)
    run = read_run_json(checkpoint)
    data_source = resolve_data(data)
    metadata = {"data_source": data_source, "pretrained": str(checkpoint)}
    if max_length:
        metadata["max_length"] = int(max_length)
    with tempfile.TemporaryDirectory(prefix="evals-overlay-") as tmp:
        tm = task_manager(metadata, write_overlay(data_source, tmp))
        names = parse_tasks(tasks, tm)
        results = _run(checkpoint, tm, names, model, tokenizer, batch_size=batch_size, num_fewshot=num_fewshot,
                       limit=limit, max_length=max_length, device=device, dtype=dtype, log_samples=return_raw)
    df = results_to_rows(results)
    df["checkpoint"] = str(checkpoint)
    for key, value in run_fields(run).items():
        df[key] = value
    return (df, results) if return_raw else df


def _run(checkpoint, tm, names, model, tokenizer, *, batch_size, num_fewshot, limit, max_length, device, dtype,
         log_samples):
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    if model is None:
        model, tokenizer = load_model(checkpoint, dtype=dtype, device=device)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, max_length=max_length, device=device)
    return lm_eval.simple_evaluate(
        model=lm, tasks=names, task_manager=tm, num_fewshot=num_fewshot, limit=limit, log_samples=log_samples,
    )


def write_jsonl(df: pd.DataFrame, path: str | os.PathLike, append: bool = False) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a" if append else "w", encoding="utf-8") as f:
        for rec in df.to_dict(orient="records"):
            rec = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()}
            f.write(json.dumps(rec, default=str) + "\n")
    return path
