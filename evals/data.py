"""Data sources for the eval tasks: one switch, three sources, the official layouts.

`data` (the `--data` option, and `data_source` in lm-eval task metadata) is one of

  world[:size[:seed]]   the generated world (default): `harness.data.world` writes its
                        benchmarks once into a cache folder in the official layouts below
  local                 the real data root: $LLAMA2_SUITE_DATA, else ../shared/data
  hub                   the Hugging Face hub (needs network)
  path/to/folder        any folder in the official layouts

Layouts read from a folder (the same as ../shared/data, see its README):

  mmlu/test/<subject>_test.csv, mmlu/dev/<subject>_dev.csv
        CSV, header question,choice0,choice1,choice2,choice3,answer (answer 0-3)
  gsm8k/test.jsonl, gsm8k/train.jsonl        jsonl with question, answer ("... #### <n>")
  squad/dev-v1.1.json, squad/dev-v2.0.json   official SQuAD JSON (data -> paragraphs -> qas)
  scrolls/<task>/{train,validation}.jsonl[.gz]  SCROLLS jsonl with id, pid, input, output

Loaders return `datasets.DatasetDict`s in the layout lm-eval's stock tasks expect
(e.g. `cais/mmlu`: question, subject, choices, answer), so the stock prompts apply unchanged.
Every layout problem raises `DataLayoutError` naming the file and the layout it expected.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

HUB = "hub"

MMLU_SUBJECTS = (
    "abstract_algebra", "anatomy", "astronomy", "business_ethics", "clinical_knowledge",
    "college_biology", "college_chemistry", "college_computer_science", "college_mathematics",
    "college_medicine", "college_physics", "computer_security", "conceptual_physics",
    "econometrics", "electrical_engineering", "elementary_mathematics", "formal_logic",
    "global_facts", "high_school_biology", "high_school_chemistry",
    "high_school_computer_science", "high_school_european_history", "high_school_geography",
    "high_school_government_and_politics", "high_school_macroeconomics",
    "high_school_mathematics", "high_school_microeconomics", "high_school_physics",
    "high_school_psychology", "high_school_statistics", "high_school_us_history",
    "high_school_world_history", "human_aging", "human_sexuality", "international_law",
    "jurisprudence", "logical_fallacies", "machine_learning", "management", "marketing",
    "medical_genetics", "miscellaneous", "moral_disputes", "moral_scenarios", "nutrition",
    "philosophy", "prehistory", "professional_accounting", "professional_law",
    "professional_medicine", "professional_psychology", "public_relations",
    "security_studies", "sociology", "us_foreign_policy", "virology", "world_religions",
)

MMLU_HEADER = ["question", "choice0", "choice1", "choice2", "choice3", "answer"]
MMLU_LAYOUT = "MMLU CSV with header question,choice0,choice1,choice2,choice3,answer (answer 0-3)"
GSM8K_LAYOUT = 'GSM8K jsonl: one object a line with "question" and "answer" ending in "#### <number>"'
SQUAD_LAYOUT = "official SQuAD JSON: {\"data\": [{\"title\", \"paragraphs\": [{\"context\", \"qas\": [{\"id\", \"question\", \"answers\": [{\"text\", \"answer_start\"}]}]}]}]}"
SCROLLS_LAYOUT = 'SCROLLS jsonl(.gz): one object a line with "id", "pid", "input", "output"'

# SCROLLS subsets: our folder name -> (aliases accepted on disk, tau/scrolls config name).
SCROLLS_SUBSETS = {
    "qmsum": ("qmsum",),
    "quality": ("quality",),
    "qasper": ("qasper",),
    "narrative_qa": ("narrative_qa", "narrativeqa"),
    "contract_nli": ("contract_nli", "contractnli"),
    "gov_report": ("gov_report", "govreport"),
    "summ_screen_fd": ("summ_screen_fd", "summscreenfd"),
}


class DataLayoutError(ValueError):
    """A missing file or one not in the layout it should have; the message names both."""


# ----------------------------------------------------------------------------- sources


def default_data_root() -> Path:
    """The real data sets: $LLAMA2_SUITE_DATA, else ../shared/data beside the repository."""
    from harness.data.sources import default_data_root as root

    return root()


def world_cache_dir() -> Path:
    env = os.environ.get("LLAMA2_SUITE_CACHE")
    base = Path(env) if env else Path.home() / ".cache" / "llama2-suite"
    return base / "world-benchmarks"


def resolve_data(data: str | os.PathLike | None = None) -> str:
    """Turn the data switch into what the loaders read: a folder path (str) or "hub".

    The generated world is written (once, cached) the first time it is asked for.
    """
    if data is None:
        data = "world"
    if isinstance(data, os.PathLike):
        data = os.fspath(data)
    if data == HUB:
        return HUB
    if data == "local":
        root = default_data_root()
        if not root.is_dir():
            raise DataLayoutError(
                f"data 'local' means {root} ($LLAMA2_SUITE_DATA or ../shared/data), which does not exist"
            )
        return str(root)
    if data == "world" or data.startswith("world:"):
        parts = data.split(":")
        size = parts[1] if len(parts) > 1 and parts[1] else "tiny"
        seed = int(parts[2]) if len(parts) > 2 and parts[2] else 0
        return str(world_benchmarks(size, seed))
    path = Path(data).expanduser()
    if not path.is_dir():
        raise DataLayoutError(
            f"data folder {path} does not exist: expected 'world', 'local', 'hub' or a folder "
            "with mmlu/, gsm8k/, squad/, scrolls/<task>/ in the official layouts"
        )
    return str(path.resolve())


def world_benchmarks(size: str = "tiny", seed: int = 0) -> Path:
    """Write the generated world's benchmarks (once) and return their folder."""
    try:
        from harness.data.world import build_world, world_config, write_benchmarks
    except ImportError as err:  # the world generator is optional until it lands
        raise DataLayoutError(
            "data 'world' needs harness.data.world (world_config, build_world, write_benchmarks), "
            f"which could not be imported ({err}); pass --data local or a folder instead"
        ) from err
    from harness.data.world.tasks import BENCHMARK_FORMAT

    cfg = world_config(size, seed=seed)
    # the generator's format version is in the key: a cache written by older code is not reused
    key = hashlib.sha1(f"{cfg!r} format {BENCHMARK_FORMAT}".encode()).hexdigest()[:10]
    out = world_cache_dir() / f"{size}-seed{seed}-{key}"
    if (out / ".complete").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    write_benchmarks(build_world(cfg), tmp)
    (tmp / ".complete").write_text("ok\n")
    try:
        tmp.rename(out)
    except OSError:  # another process won the race
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _source(data_source: str | None) -> str:
    return resolve_data(data_source)


def _need(path: Path, layout: str) -> Path:
    if not path.is_file():
        raise DataLayoutError(f"missing file {path}: expected {layout}")
    return path


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _read_jsonl(path: Path, layout: str, required: tuple[str, ...]) -> list[dict]:
    rows = []
    with _open_text(path) as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataLayoutError(f"{path} line {i} is not JSON ({err.msg}): expected {layout}") from err
            if not isinstance(row, dict) or any(k not in row for k in required):
                got = sorted(row) if isinstance(row, dict) else type(row).__name__
                raise DataLayoutError(f"{path} line {i} has fields {got}: expected {layout}")
            rows.append(row)
    if not rows:
        raise DataLayoutError(f"{path} is empty: expected {layout}")
    return rows


# ----------------------------------------------------------------------------- MMLU


def read_mmlu_csv(path: Path, subject: str) -> list[dict]:
    """One MMLU CSV -> rows in the cais/mmlu layout (question, subject, choices, answer)."""
    _need(path, MMLU_LAYOUT)
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != MMLU_HEADER:
            raise DataLayoutError(f"{path} has header {header}: expected {MMLU_LAYOUT}")
        for i, rec in enumerate(reader, 2):
            if len(rec) != 6 or rec[5].strip() not in ("0", "1", "2", "3"):
                raise DataLayoutError(f"{path} row {i} is {rec!r:.200}: expected {MMLU_LAYOUT}")
            rows.append({"question": rec[0], "subject": subject, "choices": rec[1:5], "answer": int(rec[5])})
    if not rows:
        raise DataLayoutError(f"{path} has no questions: expected {MMLU_LAYOUT}")
    return rows


def mmlu_subjects_in(root: str | os.PathLike, folder: str = "mmlu") -> list[str]:
    """Subjects present in `<root>/<folder>/test/` (the official 57, or the generated world's)."""
    test = Path(root) / folder / "test"
    return sorted(p.name[: -len("_test.csv")] for p in test.glob("*_test.csv"))


def load_mmlu(subject: str, data_source: str | None = None, folder: str = "mmlu"):
    """`<root>/<folder>/{test,dev}/<subject>_{test,dev}.csv` -> DatasetDict(test, dev).

    Any subject name is read from a folder (the generated world has its own subjects); the hub
    has the official 57 only.
    """
    import datasets

    src = _source(data_source)
    if src == HUB:
        if subject not in MMLU_SUBJECTS:
            raise DataLayoutError(f"unknown MMLU subject {subject!r}; known: {', '.join(MMLU_SUBJECTS)}")
        return datasets.load_dataset("cais/mmlu", subject)
    root = Path(src) / folder
    return datasets.DatasetDict({
        "test": datasets.Dataset.from_list(read_mmlu_csv(root / "test" / f"{subject}_test.csv", subject)),
        "dev": datasets.Dataset.from_list(read_mmlu_csv(root / "dev" / f"{subject}_dev.csv", subject)),
    })


# ----------------------------------------------------------------------------- GSM8K


def read_gsm8k(path: Path) -> list[dict]:
    rows = _read_jsonl(_need(path, GSM8K_LAYOUT), GSM8K_LAYOUT, ("question", "answer"))
    for i, row in enumerate(rows, 1):
        if "####" not in str(row["answer"]):
            raise DataLayoutError(f"{path} example {i} has no '#### <number>' in its answer: expected {GSM8K_LAYOUT}")
    return [{"question": r["question"], "answer": r["answer"]} for r in rows]


def load_gsm8k(data_source: str | None = None):
    import datasets

    src = _source(data_source)
    if src == HUB:
        return datasets.load_dataset("openai/gsm8k", "main")
    root = Path(src) / "gsm8k"
    return datasets.DatasetDict({
        split: datasets.Dataset.from_list(read_gsm8k(root / f"{split}.jsonl")) for split in ("train", "test")
    })


# ----------------------------------------------------------------------------- SQuAD

SQUAD_FILES = {"v1.1": "dev-v1.1.json", "v2.0": "dev-v2.0.json"}


def read_squad_json(path: Path) -> list[dict]:
    """Official SQuAD JSON -> flat rows (id, title, context, question, answers{text, answer_start}),
    the layout of the `rajpurkar/squad(_v2)` HF data sets. Unanswerable v2 questions get empty answers."""
    _need(path, SQUAD_LAYOUT)
    try:
        with open(path, encoding="utf-8") as f:
            blob = json.load(f)
    except json.JSONDecodeError as err:
        raise DataLayoutError(f"{path} is not JSON ({err.msg}): expected {SQUAD_LAYOUT}") from err
    if not isinstance(blob, dict) or not isinstance(blob.get("data"), list):
        raise DataLayoutError(f"{path} has no top-level 'data' list: expected {SQUAD_LAYOUT}")
    rows = []
    try:
        for article in blob["data"]:
            for para in article["paragraphs"]:
                for qa in para["qas"]:
                    answers = [] if qa.get("is_impossible") else qa["answers"]
                    rows.append({
                        "id": qa["id"],
                        "title": article["title"],
                        "context": para["context"],
                        "question": qa["question"],
                        "answers": {
                            "text": [a["text"] for a in answers],
                            "answer_start": [int(a["answer_start"]) for a in answers],
                        },
                    })
    except (KeyError, TypeError) as err:
        raise DataLayoutError(f"{path} is missing {err} in an article: expected {SQUAD_LAYOUT}") from err
    if not rows:
        raise DataLayoutError(f"{path} has no questions: expected {SQUAD_LAYOUT}")
    return rows


def load_squad(version: str = "v1.1", data_source: str | None = None):
    import datasets

    src = _source(data_source)
    if src == HUB:
        return datasets.load_dataset("rajpurkar/squad" if version == "v1.1" else "rajpurkar/squad_v2")
    path = Path(src) / "squad" / SQUAD_FILES[version]
    return datasets.DatasetDict({"validation": datasets.Dataset.from_list(read_squad_json(path))})


# ----------------------------------------------------------------------------- SCROLLS


def scrolls_file(root: Path, subset: str, split: str) -> Path | None:
    for alias in SCROLLS_SUBSETS.get(subset, (subset,)):
        for ext in (".jsonl.gz", ".jsonl"):
            path = root / "scrolls" / alias / f"{split}{ext}"
            if path.is_file():
                return path
    return None


def drop_duplicates_in_input(rows: list[dict]) -> list[dict]:
    """SCROLLS' evaluator: rows sharing an id become one example with all their outputs."""
    out, by_id = [], {}
    for row in rows:
        if row["id"] in by_id:
            by_id[row["id"]]["outputs"].append(row["output"])
            continue
        ex = {"id": row["id"], "pid": row["pid"], "input": row["input"], "outputs": [row["output"]]}
        by_id[row["id"]] = ex
        out.append(ex)
    return out


def load_scrolls(subset: str, data_source: str | None = None):
    import datasets

    src = _source(data_source)
    if src == HUB:
        if subset not in SCROLLS_SUBSETS:
            raise DataLayoutError(f"SCROLLS subset {subset!r} is not on the hub; known: {', '.join(SCROLLS_SUBSETS)}")
        url = f"https://huggingface.co/datasets/tau/scrolls/resolve/main/{subset}.zip"
        raw = datasets.load_dataset(
            "json", data_files={s: f"zip://{subset}/{s}.jsonl::{url}" for s in ("train", "validation")}
        )
        splits = {s: raw[s].to_list() for s in raw}
    else:
        root = Path(src)
        splits = {}
        for split in ("train", "validation"):
            path = scrolls_file(root, subset, split)
            if path is not None:
                splits[split] = _read_jsonl(path, SCROLLS_LAYOUT, ("id", "pid", "input", "output"))
        if "validation" not in splits:
            want = root / "scrolls" / SCROLLS_SUBSETS.get(subset, (subset,))[0] / "validation.jsonl.gz"
            raise DataLayoutError(f"missing file {want} (or .jsonl): expected {SCROLLS_LAYOUT}")
    return datasets.DatasetDict(
        {s: datasets.Dataset.from_list(drop_duplicates_in_input(rows)) for s, rows in splits.items()}
    )
