"""``pretraining_documents``: the whole generated pretraining corpus, in a fixed order."""

from __future__ import annotations

from .corpus import fact_documents, narratives
from .entities import World, rng_for, unused_names
from .longdocs import build_long_document, local_fact
from .problems import strip_calculator, word_problems
from .text import approx_token_count


def long_documents(world: World) -> list[str]:
    """Several-thousand-token documents that end with questions about facts stated at
    controlled distances inside them: pretraining practice for long-context recall."""
    cfg = world.config
    rng = rng_for(cfg.seed, "long-docs")
    names = unused_names(world, "corpus")
    lo, hi = cfg.long_doc_fact_distance
    hi = min(hi, cfg.long_doc_tokens - 1)
    docs = []
    for _ in range(cfg.n_long_docs):
        people = rng.sample(names, 4)
        facts = [(local_fact(rng, name), rng.randint(lo, hi)) for name in people]
        body, _ = build_long_document(rng, world, cfg.long_doc_tokens, facts, approx_token_count)
        qa = [f"Question: {f.question}\nAnswer: {f.value}" for f, _ in facts]
        rng.shuffle(qa)
        docs.append(body + "\n\n" + "\n\n".join(qa))
    return docs


def recall_documents(world: World) -> list[str]:
    """Narrative documents of `recall_doc_tokens` with one asked fact and two distractors of the
    same kind (other people's) anywhere in them, the question and answer at the end in the
    SCROLLS prompt's format. Names are the corpus's unused ones: never the eval tasks' names."""
    cfg = world.config
    rng = rng_for(cfg.seed, "recall-docs")
    names = unused_names(world, "corpus")
    lo, hi = cfg.recall_doc_tokens
    docs = []
    for _ in range(cfg.n_recall_docs):
        n_tokens = rng.randint(lo, hi)
        target_name, *others = rng.sample(names, 3)
        target = local_fact(rng, target_name)
        distractors = [local_fact(rng, n, target.kind, avoid=(target.value,)) for n in others]
        facts = [(target, rng.randint(0, n_tokens))] + [(d, rng.randint(0, n_tokens)) for d in distractors]
        body, _ = build_long_document(rng, world, n_tokens, facts, approx_token_count)
        docs.append(f"{body}\n\nQuestion: {target.question}\nAnswer: {target.value}")
    return docs


def train_problems(world: World):
    """The GSM8K-shaped train split; the corpus contains exactly these problems."""
    return word_problems(world, world.config.n_train_problems, "train")


def corpus_parts(world: World) -> dict[str, list[str]]:
    """The corpus by kind of document, before shuffling."""
    return {
        "facts": fact_documents(world),
        "narratives": narratives(world),
        "problems": [f"Question: {p.question}\nAnswer: {strip_calculator(p.answer)}"
                     for p in train_problems(world)],
        "long_docs": long_documents(world),
        "recall": recall_documents(world),
    }


def pretraining_documents(world: World) -> list[str]:
    """Plain-text documents: paraphrased facts, narratives, worked word problems and long
    documents, shuffled with the world's seed (same seed, same list)."""
    docs = [d for part in corpus_parts(world).values() for d in part]
    rng_for(world.config.seed, "corpus-order").shuffle(docs)
    return docs


def corpus_stats(world: World) -> dict[str, dict[str, float]]:
    """Documents, characters, estimated BPE-512 tokens and token share per part, plus the
    number of facts the corpus states: what to look at when calibrating the size knob
    (fact learning depends on exposures per fact = fact tokens seen / fact tokens)."""
    parts = corpus_parts(world)
    tokens = {k: sum(approx_token_count(d) for d in v) for k, v in parts.items()}
    total = sum(tokens.values())
    stats = {k: {"docs": len(v), "chars": sum(map(len, v)), "tokens": tokens[k],
                 "share": round(tokens[k] / total, 4)} for k, v in parts.items()}
    cfg = world.config
    stats["total"] = {"docs": sum(len(v) for v in parts.values()),
                      "chars": sum(s["chars"] for s in stats.values()), "tokens": total,
                      "share": 1.0,
                      "stated_person_facts": len(world.known_people) * len(cfg.person_attributes)}
    return stats
