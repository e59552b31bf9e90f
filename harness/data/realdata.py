"""Loaders for the real data in ``../shared/data`` (official layouts), returning the same
record types as the generated world (``harness.data.posttrain``), plus the benchmark
loaders that read both the real files and ``harness.data.world.write_benchmarks`` output.

Every loader validates as it reads; a bad record raises ``DataFormatError`` naming the
file, the line (or record number for whole-file JSON) and the field.

OASST rank gap -> rating. Siblings are ranked 0 (best) upwards with no ties, so a pair's
gap is how many places apart annotators put the two replies. Adjacent replies (gap 1)
are the closest calls annotators made, the analogue of the paper's
"negligibly better/unsure"; each further place is one step stronger:
    gap 1 negligibly_better, 2 slightly_better, 3 better, >= 4 significantly_better.
On the 754 pairs here that gives 429 / 217 / 62 / 46. HH-RLHF pairs carry no strength,
so they all get one level (``rating=``, default "better").
"""

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from harness.data.posttrain import RATINGS, PreferencePair, SFTExample

OASST_RANK_GAP_RATING = {1: "negligibly_better", 2: "slightly_better", 3: "better"}
OASST_MAX_GAP_RATING = "significantly_better"


class DataFormatError(ValueError):
    """A data file that does not match its format; says where and which field."""

    def __init__(self, path, line: int | None, field: str | None, problem: str, *,
                 unit: str = "line"):
        self.path, self.line, self.field, self.problem = str(path), line, field, problem
        where = f"{path}" + (f", {unit} {line}" if line is not None else "")
        what = f"field {field!r}: " if field else ""
        super().__init__(f"{where}: {what}{problem}")


def data_dir() -> Path:
    """``$LLAMA2_SUITE_DATA`` if set, else ``<repo>/../shared/data`` (read in place)."""
    from harness.data.sources import default_data_root

    return default_data_root()


def _open(path: Path):
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _check(path, line, obj: dict, fields: dict[str, type], unit: str = "line") -> None:
    if not isinstance(obj, dict):
        raise DataFormatError(path, line, None, f"expected a JSON object, got {type(obj).__name__}",
                              unit=unit)
    for name, typ in fields.items():
        if name not in obj:
            raise DataFormatError(path, line, name, "missing", unit=unit)
        if not isinstance(obj[name], typ) or (typ is int and isinstance(obj[name], bool)):
            raise DataFormatError(path, line, name, f"expected {typ.__name__}, "
                                  f"got {type(obj[name]).__name__}", unit=unit)


def iter_jsonl(path, fields: dict[str, type]) -> Iterator[tuple[int, dict]]:
    """(line number, record) for each non-blank line, each checked for ``fields``."""
    with _open(path) as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as e:
                raise DataFormatError(path, lineno, None, f"invalid JSON ({e.msg})") from None
            _check(path, lineno, obj, fields)
            yield lineno, obj


def _load_json(path) -> object:
    with _open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise DataFormatError(path, e.lineno, None, f"invalid JSON ({e.msg})") from None


# ---------------------------------------------------------------------------------------
# Pretraining text.

@dataclass(frozen=True)
class Book:
    id: str
    title: str
    author: str
    text: str


def gutenberg_shards(source=None) -> list[Path]:
    """Shard files: ``source`` may be a shard, a folder of ``shard-*.jsonl(.gz)``, or None
    for ``<data>/corpus/gutenberg``."""
    source = Path(source) if source else data_dir() / "corpus" / "gutenberg"
    if source.is_file():
        return [source]
    shards = sorted(p for p in source.glob("*.jsonl*") if p.name.endswith((".jsonl", ".jsonl.gz")))
    if not shards:
        raise FileNotFoundError(f"no Gutenberg shards (*.jsonl, *.jsonl.gz) in {source}")
    return shards


def iter_gutenberg(source=None) -> Iterator[Book]:
    fields = {"id": str, "title": str, "author": str, "text": str}
    for shard in gutenberg_shards(source):
        for _, r in iter_jsonl(shard, fields):
            yield Book(r["id"], r["title"], r["author"], r["text"])


def gutenberg_documents(source=None, limit: int | None = None) -> list[str]:
    """Book texts as plain documents, like ``world.pretraining_documents``."""
    docs = []
    for book in iter_gutenberg(source):
        if limit is not None and len(docs) >= limit:
            break
        docs.append(book.text)
    return docs


# ---------------------------------------------------------------------------------------
# SFT and preferences.

def load_alpaca(path=None) -> list[SFTExample]:
    """Alpaca JSON list of {instruction, input, output}; a non-empty input follows the
    instruction after a blank line (Alpaca's own convention)."""
    path = Path(path) if path else data_dir() / "sft" / "alpaca-en-demo.json"
    data = _load_json(path)
    if not isinstance(data, list):
        raise DataFormatError(path, None, None, "expected a JSON list of records")
    out = []
    for i, r in enumerate(data):
        _check(path, i, r, {"instruction": str, "input": str, "output": str}, unit="record")
        if not r["instruction"].strip():
            raise DataFormatError(path, i, "instruction", "empty", unit="record")
        prompt = r["instruction"] + (f"\n\n{r['input']}" if r["input"].strip() else "")
        out.append(SFTExample(prompt, r["output"], source="alpaca"))
    return out


_OASST_ROLES = {"prompter": "user", "assistant": "assistant"}


def _oasst_message(path, line, where: str, m) -> None:
    if not isinstance(m, dict):
        raise DataFormatError(path, line, where, "expected a message object")
    for name, typ in (("text", str), ("role", str)):
        if not isinstance(m.get(name), typ):
            raise DataFormatError(path, line, f"{where}.{name}", "missing or not a string")
    if m["role"] not in _OASST_ROLES:
        raise DataFormatError(path, line, f"{where}.role", f"unknown role {m['role']!r}")
    rank = m.get("rank")
    if rank is not None and (not isinstance(rank, int) or isinstance(rank, bool) or rank < 0):
        raise DataFormatError(path, line, f"{where}.rank", f"expected a non-negative int, got {rank!r}")
    if not isinstance(m.get("replies", []), list):
        raise DataFormatError(path, line, f"{where}.replies", "expected a list")


def oasst_rating(gap: int) -> str:
    if gap < 1:
        raise ValueError(f"rank gap must be >= 1, got {gap}")
    return OASST_RANK_GAP_RATING.get(gap, OASST_MAX_GAP_RATING)


def load_oasst(path=None) -> list[PreferencePair]:
    """Every pair of ranked assistant siblings in oasst tree export lines, as helpfulness
    preferences: prompt = the parent message, history = the turns before it."""
    path = Path(path) if path else data_dir() / "preference" / "oasst-en-100-trees.jsonl"
    pairs = []
    for line, tree in iter_jsonl(path, {"prompt": dict}):

        def walk(m, where, history):
            _oasst_message(path, line, where, m)
            replies = m.get("replies", [])
            for k, r in enumerate(replies):
                _oasst_message(path, line, f"{where}.replies[{k}]", r)
            ranked = sorted((r for r in replies
                             if r.get("rank") is not None and r["role"] == "assistant"),
                            key=lambda r: r["rank"])
            for i, better in enumerate(ranked):
                for worse in ranked[i + 1:]:
                    if worse["rank"] == better["rank"]:
                        raise DataFormatError(path, line, f"{where}.replies.rank",
                                              f"tied rank {better['rank']} among siblings")
                    pairs.append(PreferencePair(
                        m["text"], better["text"], worse["text"],
                        oasst_rating(worse["rank"] - better["rank"]), "helpfulness",
                        history=history, source="oasst"))
            turn = ((_OASST_ROLES[m["role"]], m["text"]),)
            for k, r in enumerate(replies):
                walk(r, f"{where}.replies[{k}]", history + turn)

        walk(tree["prompt"], "prompt", ())
    return pairs


def parse_hh_dialogue(text: str) -> list[tuple[str, str]]:
    """'\\n\\nHuman: ...\\n\\nAssistant: ...' -> [("user", ...), ("assistant", ...), ...]."""
    turns, rest = [], text
    markers = {"\n\nHuman:": "user", "\n\nAssistant:": "assistant"}
    while rest:
        found = [(rest.find(m), m) for m in markers if rest.find(m) != -1]
        if not found or min(found)[0] != 0:
            raise ValueError("text outside a '\\n\\nHuman:' or '\\n\\nAssistant:' turn")
        _, m = min(found)
        rest = rest[len(m):]
        nxt = [i for i in (rest.find(k) for k in markers) if i != -1]
        end = min(nxt) if nxt else len(rest)
        role, said = markers[m], rest[:end].strip()
        if turns and turns[-1][0] == role:
            # Official quirk (e.g. line 1255 of harmless-base test): a turn marker without
            # its blank line splits no turn, so the next turn repeats the role; merge.
            turns[-1] = (role, f"{turns[-1][1]}\n\n{said}")
        else:
            turns.append((role, said))
        rest = rest[end:]
    return turns


def load_hh_rlhf(path=None, rating: str = "better", dimension: str | None = None
                 ) -> list[PreferencePair]:
    """HH-RLHF jsonl of full dialogues; the pair is the last assistant turn of each, the
    shared turns before it are history + prompt. One rating level for all pairs (the data
    has no strengths). ``dimension`` defaults to "safety" for harmless-* files."""
    path = Path(path) if path else data_dir() / "preference" / "hh-rlhf-harmless-base-test.jsonl.gz"
    if rating not in RATINGS:
        raise ValueError(f"rating must be one of {RATINGS}, got {rating!r}")
    dimension = dimension or ("safety" if "harmless" in path.name else "helpfulness")
    pairs = []
    for line, r in iter_jsonl(path, {"chosen": str, "rejected": str}):
        parsed = {}
        for name in ("chosen", "rejected"):
            try:
                turns = parse_hh_dialogue(r[name])
            except ValueError as e:
                raise DataFormatError(path, line, name, str(e)) from None
            if len(turns) < 2 or turns[-1][0] != "assistant" or turns[-2][0] != "user":
                raise DataFormatError(path, line, name,
                                      "must end with a Human turn followed by an Assistant turn")
            parsed[name] = turns
        # A few pairs (5 of 2,312 here) differ before the last turn; the chosen
        # dialogue's context is used for both.
        context = parsed["chosen"][:-1]
        pairs.append(PreferencePair(context[-1][1], parsed["chosen"][-1][1],
                                    parsed["rejected"][-1][1], rating, dimension,
                                    history=tuple(context[:-1]), is_unsafe=dimension == "safety",
                                    source="hh-rlhf"))
    return pairs


# ---------------------------------------------------------------------------------------
# Benchmarks: one loader per layout, for real and generated files alike.

@dataclass(frozen=True)
class MultipleChoice:
    subject: str
    question: str
    choices: tuple[str, str, str, str]
    answer: int  # 0-3


MMLU_HEADER = ["question", "choice0", "choice1", "choice2", "choice3", "answer"]


def load_mmlu(root=None, split: str = "test") -> dict[str, list[MultipleChoice]]:
    """``root/<split>/<subject>_<split>.csv`` (cais/mmlu layout) -> {subject: questions}."""
    root = Path(root) if root else data_dir() / "mmlu"
    files = sorted((root / split).glob(f"*_{split}.csv"))
    if not files:
        raise FileNotFoundError(f"no *_{split}.csv files in {root / split}")
    out = {}
    for path in files:
        subject = path.name[: -len(f"_{split}.csv")]
        with open(path, newline="", encoding="utf-8") as f:
            rows = csv.reader(f)
            header = next(rows, None)
            if header != MMLU_HEADER:
                raise DataFormatError(path, 1, None, f"header must be {','.join(MMLU_HEADER)}")
            qs = []
            for row in rows:
                line = rows.line_num
                if len(row) != 6:
                    raise DataFormatError(path, line, MMLU_HEADER[min(len(row), 5)],
                                          f"expected 6 columns, got {len(row)}")
                if row[5] not in ("0", "1", "2", "3"):
                    raise DataFormatError(path, line, "answer", f"expected 0-3, got {row[5]!r}")
                qs.append(MultipleChoice(subject, row[0], tuple(row[1:5]), int(row[5])))
        out[subject] = qs
    return out


@dataclass(frozen=True)
class MathProblem:
    question: str
    answer: str  # worked solution
    final: str  # the text after '#### '


def load_gsm8k(root=None, split: str = "test") -> list[MathProblem]:
    root = Path(root) if root else data_dir() / "gsm8k"
    path = root / f"{split}.jsonl"
    out = []
    for line, r in iter_jsonl(path, {"question": str, "answer": str}):
        if "#### " not in r["answer"]:
            raise DataFormatError(path, line, "answer", "must end with '#### <number>'")
        final = r["answer"].rsplit("#### ", 1)[1].strip()
        try:
            float(final.replace(",", ""))
        except ValueError:
            raise DataFormatError(path, line, "answer", f"final answer {final!r} is not a number") from None
        out.append(MathProblem(r["question"], r["answer"], final))
    return out


@dataclass(frozen=True)
class SpanQuestion:
    id: str
    title: str
    context: str
    question: str
    answers: tuple[str, ...]
    answer_starts: tuple[int, ...]


def _squad_answers(path, where: str, context: str, qa) -> tuple[list[str], list[int]]:
    for name, typ in (("id", str), ("question", str), ("answers", list)):
        if not isinstance(qa, dict) or not isinstance(qa.get(name), typ):
            raise DataFormatError(path, None, f"{where}.{name}", f"missing or not {typ.__name__}")
    texts, starts = [], []
    for k, ans in enumerate(qa["answers"]):
        ans = ans if isinstance(ans, dict) else {}
        s, t = ans.get("answer_start"), ans.get("text")
        if not isinstance(s, int) or not isinstance(t, str):
            raise DataFormatError(path, None, f"{where}.answers[{k}]",
                                  "needs 'answer_start' (int) and 'text' (str)")
        if context[s:s + len(t)] != t:
            raise DataFormatError(path, None, f"{where}.answers[{k}]",
                                  f"text {t!r} is not at offset {s} of the context")
        texts.append(t)
        starts.append(s)
    return texts, starts


def load_squad(path=None) -> list[SpanQuestion]:
    """SQuAD v1.1 JSON (a file, or a folder holding dev-v1.1.json). Checks that every
    answer's text sits at its ``answer_start`` in the context. A JSON file has no useful
    line per record, so errors name the JSON path (``data[3].paragraphs[0].qas[2]...``)."""
    path = Path(path) if path else data_dir() / "squad"
    if path.is_dir():
        path = path / "dev-v1.1.json"
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataFormatError(path, None, "data", "expected an object with a 'data' list")
    out = []
    for a, art in enumerate(data["data"]):
        _check(path, a, art, {"title": str, "paragraphs": list}, unit="article")
        for p, para in enumerate(art["paragraphs"]):
            where = f"data[{a}].paragraphs[{p}]"
            if not isinstance(para, dict) or not isinstance(para.get("context"), str) \
                    or not isinstance(para.get("qas"), list):
                raise DataFormatError(path, None, where, "needs 'context' (str) and 'qas' (list)")
            for q, qa in enumerate(para["qas"]):
                texts, starts = _squad_answers(path, f"{where}.qas[{q}]", para["context"], qa)
                out.append(SpanQuestion(qa["id"], art["title"], para["context"], qa["question"],
                                        tuple(texts), tuple(starts)))
    return out


@dataclass(frozen=True)
class LongDocExample:
    id: str
    pid: str
    question: str  # the query before the first blank line of ``input``
    text: str  # the document after it
    output: str


def load_scrolls(task_root, split: str = "validation") -> list[LongDocExample]:
    """``<task_root>/<split>.jsonl(.gz)`` in the SCROLLS layout; the query/text split is
    lm-eval's (first blank line), for query-based tasks such as QMSum."""
    task_root = Path(task_root)
    path = task_root / f"{split}.jsonl.gz"
    if not path.exists():
        path = task_root / f"{split}.jsonl"
    out = []
    for line, r in iter_jsonl(path, {"id": str, "pid": str, "input": str, "output": str}):
        cut = r["input"].find("\n\n")
        if cut == -1:
            raise DataFormatError(path, line, "input", "no blank line between query and text")
        out.append(LongDocExample(r["id"], r["pid"], r["input"][:cut], r["input"][cut + 2:],
                                  r["output"]))
    return out
