"""Does a tiny-cpu Llama learn in-context recall from recall practice in its corpus?

The `context` ablation's effect needs a model that answers from its window. This probe trains
the tiny-cpu model from scratch (plain PyTorch loop, bf16 autocast: fast to iterate, not the
harness) at a 512-token context on the tiny world's corpus plus `--recall-docs` recall
documents, and every `--eval-every` steps scores the world's near/far multiple-choice SCROLLS
questions at 512- and 256-token windows, the document cut as `evals` cuts it (its end, next to
the question, stays). Chance is 0.25. BENCHMARKS.md ("Context") has the numbers.

    python benchmarks/recall_probe.py --tokenizer RUN/pretrain/tokenizer --recall-docs 3000 --layout facts

`--answers-only` trains on the recall documents alone with the loss on the answer values only
(associative-recall style, not pretraining): whether this model and data can teach in-context
recall at all when every gradient is about it. `--layout needle --eval needle` is the simplest
retrieval there is (passkey style): one fact per document, no other value of its kind in it.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import time
from dataclasses import replace

import numpy as np
import torch

from evals.lm_tasks import fit_document
from harness.config import preset
from harness.data.packing import pack, tokenize
from harness.data.world import build_world, world_config
from harness.data.world.documents import pretraining_documents
from harness.data.world.entities import rng_for, unused_names
from harness.data.world.longdocs import build_long_document, local_fact, placed_document, states
from harness.data.world.text import approx_token_count
from harness.model import build_model
from harness.tokenizer import load_tokenizer

LAYOUTS = {
    "same_kind": "3 facts of one kind (other people's values as distractors), 3 questions",
    "mixed": "3-6 facts of mixed kinds, all asked",
    "facts": "one fact per ~30 tokens, mixed kinds, all asked",
    "needle": "one fact (passkey style: no other value of its kind), asked",
}


def recall_document(rng, world, names, layout: str, lo: int = 60, hi: int = 480) -> str:
    n_tokens = rng.randint(lo, hi)
    if layout == "same_kind":
        facts = []
        for person in rng.sample(names, 3):
            facts.append(local_fact(rng, person, facts[0].kind if facts else None,
                                    avoid=tuple(f.value for f in facts)))
    elif layout == "needle":
        facts = [local_fact(rng, rng.choice(names))]
    else:
        n = rng.randint(3, 6) if layout == "mixed" else max(3, n_tokens // 30)
        facts = [local_fact(rng, person) for person in rng.sample(names, n)]
    body, _ = build_long_document(rng, world, n_tokens, [(f, rng.randint(0, n_tokens)) for f in facts],
                                  approx_token_count)
    asked = rng.sample(facts, len(facts))
    return body + "\n\n" + "\n\n".join(f"Question: {f.question}\nAnswer: {f.value}" for f in asked)


def needle_questions(world, band: tuple[int, int], n: int, seed: int, doc_tokens: int = 700) -> list[dict]:
    """Single-needle questions: one fact `band` tokens before the question in ~700 tokens of
    narrative, choices the answer and three values of its kind the document does not state."""
    rng, names = rng_for(seed, f"needle-{band}"), unused_names(world, "eval")
    out = []
    for i in range(n):
        target = local_fact(rng, rng.choice(names))
        doc, _ = placed_document(rng, world, doc_tokens, target, band, [], approx_token_count)
        others = []
        while len(others) < 3:
            v = local_fact(rng, target.name, target.kind, avoid=(target.value, *others)).value
            if not states(doc, v):
                others.append(v)
        choices = others[: i % 4] + [target.value] + others[i % 4:]
        out.append({"question": target.question, "doc": doc, "choices": choices, "gold": i % 4})
    return out


def answer_masked_rows(tok, docs: list[str], seq: int) -> tuple[np.ndarray, np.ndarray]:
    """Packed rows and labels (-100 everywhere but the tokens of each "Answer: <value>")."""
    ids, labels = [], []
    for doc in docs:
        spans = [(m.start(1), m.end(1)) for m in re.finditer(r"\nAnswer: ([^\n]+)", doc)]
        enc = tok(doc, add_special_tokens=False, return_offsets_mapping=True)
        keep = [any(start < b and end > a for a, b in spans) for start, end in enc["offset_mapping"]]
        ids += [tok.bos_token_id, *enc["input_ids"], tok.eos_token_id]
        labels += [-100, *(t if k else -100 for t, k in zip(enc["input_ids"], keep)), -100]
    n = len(ids) // seq
    return (np.asarray(ids[: n * seq]).reshape(n, seq), np.asarray(labels[: n * seq]).reshape(n, seq))


def mc_questions(task: str, n: int) -> list[dict]:
    """The first `n` validation questions of a world multiple-choice task, parsed by the suite's
    lm-eval task (question, text, choices, gold)."""
    from evals.api import task_manager
    from evals.data import resolve_data

    name = f"scrolls_{task}"
    docs = task_manager({"data_source": resolve_data("world")}).load([name])["tasks"][name].validation_docs()
    return [{"question": d["question"], "doc": d["text"], "choices": d["choices"], "gold": d["gold"]}
            for d in list(docs)[:n]]


@torch.no_grad()
def mc_accuracy(model, tok, questions, window: int, gen_budget: int = 32) -> float:
    hits = 0
    for q in questions:
        render = lambda d: f"{d}\n\nQuestion: {q['question']}\nAnswer:"  # noqa: E731
        ctx = tok(render(fit_document(tok, q["doc"], render, window - gen_budget - 1)),
                  add_special_tokens=False)["input_ids"]
        scores = []
        for choice in q["choices"]:
            cont = tok(" " + choice, add_special_tokens=False)["input_ids"]
            logp = torch.log_softmax(model(torch.tensor([ctx + cont])).logits[0, len(ctx) - 1:-1].float(), -1)
            scores.append(logp.gather(1, torch.tensor(cont)[:, None]).sum().item())
        hits += int(np.argmax(scores) == q["gold"])
    return hits / len(questions)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokenizer", required=True, help="a tiny-cpu run's pretrain/tokenizer folder")
    p.add_argument("--recall-docs", type=int, default=3000)
    p.add_argument("--layout", choices=sorted(LAYOUTS), default="facts")
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--eval-every", type=int, default=300)
    p.add_argument("--questions", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval", choices=("world", "needle"), default="world",
                   help="the world's SCROLLS-shaped MC questions, or single-needle questions built here")
    p.add_argument("--answers-only", action="store_true",
                   help="recall documents only, loss on the answer values only (not pretraining)")
    args = p.parse_args(argv)

    tok = load_tokenizer(args.tokenizer)
    world = build_world(world_config("tiny", args.seed))
    rng, names = rng_for(args.seed, "recall-probe"), unused_names(world, "corpus")
    docs = [] if args.answers_only else list(pretraining_documents(world))
    docs += [recall_document(rng, world, names, args.layout) for _ in range(args.recall_docs)]
    random.Random(args.seed).shuffle(docs)
    seq, batch = 512, 8  # tiny-cpu's 16 x 256 tokens per step, at twice the context
    if args.answers_only:
        rows, targets = (torch.from_numpy(a.astype(np.int64)) for a in answer_masked_rows(tok, docs, seq))
    else:
        rows = torch.from_numpy(pack(tokenize(tok, docs), seq).astype(np.int64))
        targets = rows
    print(f"{len(rows)} rows x {seq}; + {args.recall_docs} recall documents ({LAYOUTS[args.layout]})", flush=True)

    cfg = preset("tiny-cpu")
    model = build_model(replace(cfg.model, max_seq_len=seq), seed=args.seed)
    o = cfg.optim
    opt = torch.optim.AdamW(model.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps, weight_decay=o.weight_decay)

    def lr_at(step: int) -> float:
        if step < o.warmup_steps:
            return o.lr * (step + 1) / o.warmup_steps
        done = (step - o.warmup_steps) / max(1, args.steps - o.warmup_steps)
        low = o.lr * o.min_lr_ratio
        return low + 0.5 * (o.lr - low) * (1 + math.cos(math.pi * done))

    if args.eval == "needle":
        questions = {t: needle_questions(world, band, args.questions, args.seed)
                     for t, band in (("needle_near", (40, 200)), ("needle_far", (300, 450)))}
    else:
        questions = {t: mc_questions(t, args.questions) for t in ("world_near_mc", "world_far_mc")}
    g = torch.Generator().manual_seed(args.seed)
    t0, losses = time.time(), []
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        pick = torch.randint(len(rows), (batch,), generator=g)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=rows[pick], labels=targets[pick]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), o.grad_clip)
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            model.eval()
            acc = {f"{t}@{w}": mc_accuracy(model, tok, qs, w) for t, qs in questions.items() for w in (512, 256)}
            model.train()
            print(json.dumps({"step": step + 1, "loss": round(float(np.mean(losses[-50:])), 3),
                              "elapsed_s": round(time.time() - t0), **acc}), flush=True)


if __name__ == "__main__":
    main()
