"""Text sources for pretraining: one function from a source spec to a list of documents.

Specs:
  world               the embedded generated corpus (harness.data.world), size from data.world_size
  path/to/file.jsonl  one JSON object per line with a "text" field (also .jsonl.gz)
  path/to/file.txt    one document
  path/to/folder      every *.txt, *.jsonl, *.jsonl.gz inside it, sorted by name
                      (e.g. ../shared/data/corpus/gutenberg)
  hf:<name>[:<config>][@<split>]   a HF `datasets` data set with a "text" column (needs network)

Errors name the file and line, and are raised while reading, i.e. before any compute.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path


class DataError(ValueError):
    """Bad or missing input data. The message names the path (and line, for jsonl)."""


def default_data_root() -> Path:
    """Where real data sets live: $LLAMA2_SUITE_DATA, else ../shared/data beside the repo."""
    env = os.environ.get("LLAMA2_SUITE_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def load_documents(source: str, *, world_size: str = "tiny", seed: int = 0,
                   max_documents: int | None = None) -> list[str]:
    if source == "world" or source.startswith("world:"):
        docs = _world_documents(source.partition(":")[2] or world_size, seed)
    elif source.startswith("hf:"):
        docs = _hf_documents(source[3:])
    else:
        docs = _path_documents(Path(source), max_documents)
    if max_documents is not None:
        docs = docs[:max_documents]
    docs = [d for d in docs if d.strip()]
    if not docs:
        raise DataError(f"data source {source!r} is empty: no non-empty documents found")
    return docs


def _world_documents(size: str, seed: int) -> list[str]:
    from harness.data import world

    return list(world.pretraining_documents(world.build_world(world.world_config(size, seed=seed))))


def _hf_documents(spec: str) -> list[str]:
    import datasets

    name, _, split = spec.partition("@")
    name, _, config = name.partition(":")
    ds = datasets.load_dataset(name, config or None, split=split or "train")
    if "text" not in ds.column_names:
        raise DataError(f"hf:{spec}: no 'text' column (columns: {ds.column_names})")
    return list(ds["text"])


def _path_documents(path: Path, max_documents: int | None) -> list[str]:
    if not path.exists():
        raise DataError(f"data source not found: {path}")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.endswith((".txt", ".jsonl", ".jsonl.gz")))
        if not files:
            raise DataError(f"data folder {path} holds no .txt, .jsonl or .jsonl.gz files")
    else:
        files = [path]
    docs: list[str] = []
    for file in files:
        docs.extend(read_file(file))
        if max_documents is not None and len(docs) >= max_documents:
            break
    return docs


def read_file(file: Path) -> list[str]:
    name = file.name
    if name.endswith(".txt"):
        return [file.read_text(encoding="utf-8")]
    if name.endswith((".jsonl", ".jsonl.gz")):
        return list(read_jsonl_texts(file))
    raise DataError(f"{file}: unsupported file type (expected .txt, .jsonl or .jsonl.gz)")


def read_jsonl_texts(file: Path, field: str = "text"):
    opener = gzip.open if file.name.endswith(".gz") else open
    try:
        with opener(file, "rt", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(f"{file}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
                if not isinstance(record, dict) or field not in record:
                    raise DataError(f"{file}:{lineno}: missing field {field!r}")
                if not isinstance(record[field], str):
                    raise DataError(f"{file}:{lineno}: field {field!r} is not a string")
                yield record[field]
    except (OSError, EOFError, UnicodeDecodeError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{file}: cannot read ({e})") from None
