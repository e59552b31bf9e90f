"""Regression bench: a fixed, small set of measurements compared with a committed baseline.

    python -m reports.bench                       # measure all, compare, print a table; exit 1 on regression
    python -m reports.bench --only losses         # a subset (prefixes: losses, losses/<stage>, evals, throughput;
                                                  #   stages: pretrain, sft, reward)
    python -m reports.bench --update              # re-measure and rewrite the baseline (deliberately)
    python -m reports.bench --measured m.json     # compare saved measurements (no training)

Checks (tolerances live in the baseline file, next to the numbers they guard):
  losses/<stage>   golden per-step losses of each training stage (pretrain on fixed token rows;
                   sft and reward on fixed chat text through their real formatting, masking,
                   packing and loss), fp32, ZeRO-3, one process (relative tolerance; catches any
                   change to model, optimiser, schedule or loss). A stage adds itself with one
                   entry in STAGES and one `--update --only losses/<stage>`.
  evals/<name>     scores of a fixed checkpoint (seeded random tiny Llama) on fixed eval
                   subsets (absolute tolerance; catches changes to prompts, data, metrics).
  throughput/...   harness tokens/s as a ratio to the plain-PyTorch loop measured in the same
                   run (the machine is noisy and shared, so only the ratio is compared, with a
                   generous tolerance: fail when the harness is > `max_slowdown` x slower
                   relative to plain PyTorch than in the baseline).
Exit status: 0 all pass, 1 a regression, 2 usage error or a check missing from the baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "benchmarks" / "baseline.json"
DEFAULT_TOLERANCES = {
    # CPU fp32 reproduces to ~1e-7 on one machine; 1e-4 leaves room for another CPU's BLAS
    # and thread split while any real change (beta2, eps, wd, init) moves losses by > 1e-3.
    "loss_rtol": 1e-4,
    # accuracy over 60 near-chance questions: a different CPU may flip one near-tie (1/60 = 0.017).
    "eval_atol": 0.025,
    # plain/harness speed ratio may grow by at most this factor before it counts as a regression.
    "max_slowdown": 1.5,
}


# ----------------------------------------------------------------------------- measurements

def fixed_rows(n_rows: int, seq_len: int, vocab: int, seed: int = 1234):
    """Token rows from a pure-Python LCG walk (same as tests/support.fixed_rows), so the
    golden numbers do not depend on numpy/torch RNG versions."""
    import torch

    state, vocab, rows = seed, min(vocab, 64), []
    for _ in range(n_rows):
        row = []
        for _ in range(seq_len):
            state = (1103515245 * state + 12345) % 2**31
            row.append((row[-1] * 7 + 3) % vocab if row and state % 4 else 3 + state % (vocab - 3))
        rows.append(row)
    return torch.tensor(rows, dtype=torch.long)


def tiny_config(**overrides):
    from harness import config

    base = {"run.precision": "fp32", "run.micro_batch_size": 4, "run.global_batch_size": 4, "run.max_steps": 10,
            "optim.warmup_steps": 2, "data.seq_len": 64, "run.checkpoint_every": 1000, "run.eval_every": 1000}
    base.update(overrides)
    return config.validate(config.apply_overrides(config.preset("tiny-cpu"), {k: str(v) for k, v in base.items()}))


def train_losses(cfg, loss_fn, batch_fn, model) -> list[float]:
    """Run the real engine (ZeRO-3, one process) and return the per-step training losses."""
    from harness import engine

    engine.init_distributed()
    with tempfile.TemporaryDirectory(prefix="bench-") as out:
        engine.train(cfg, model, loss_fn, batch_fn, out, progress=False, checkpoint=False)
        return [r["loss"] for r in engine.read_metrics(out) if "loss" in r]


def pretrain_losses() -> list[float]:
    from harness import engine
    from harness.data.packing import RowSampler
    from harness.model import build_model
    from harness.stages.pretrain import causal_lm_loss

    cfg = tiny_config()
    rows = fixed_rows(64, cfg.data.seq_len, cfg.model.vocab_size)
    rank, world = engine.init_distributed()
    sampler = RowSampler(len(rows), cfg.run.seed, cfg.run.micro_batch_size, cfg.grad_accum(world), world, rank)
    return train_losses(cfg, causal_lm_loss, lambda s, m: {"input_ids": rows[sampler.rows(s, m)]},
                        build_model(cfg.model, seed=0))


class ByteTokenizer:
    """A fixed byte-level tokenizer (id = 3 + byte; 1 <s>, 2 </s>, never 0 = the RM's pad):
    the post-training goldens run the stages' real chat formatting, masking and packing on
    fixed text without depending on a trained SentencePiece vocabulary."""

    bos_token_id, eos_token_id = 1, 2

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return ([self.bos_token_id] if add_special_tokens else []) + [3 + b for b in text.encode()]


NAMES = ("Ada", "Bo", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal")
JOBS = ("baker", "smith", "tailor", "miller", "potter", "weaver")
TOWNS = ("Elm", "Oakridge", "Ash", "Pinefold")


def sft_examples(n: int = 48):
    """Fixed one- and two-turn chat examples of varied length (several pack into one row)."""
    from harness.data.posttrain import SFTExample

    out = []
    for i in range(n):
        name, job, town = NAMES[i % 8], JOBS[i % 6], TOWNS[i % 4]
        if i % 3 == 0:
            out.append(SFTExample(f"Where does {name} live?", f"{name} lives in {town}."))
        elif i % 3 == 1:
            out.append(SFTExample(f"What job does {name} have?",
                                  f"{name} is a {job} in {town}, like {NAMES[(i + 3) % 8]}."))
        else:
            out.append(SFTExample("And their town?", f"{town}.", history=(("user", f"Who is {name}?"),
                                                                           ("assistant", f"{name} is a {job}."))))
    return out


def sft_losses() -> list[float]:
    """SFT: answer-only labels, packing with restarting positions, `sft_loss`, from a
    random tiny Llama, on fixed examples (seq_len 192: two or three examples per row)."""
    import torch

    from harness import engine
    from harness.data.packing import RowSampler
    from harness.data.sft import pack_examples
    from harness.model import build_model
    from harness.stages.sft import sft_loss

    cfg = tiny_config(**{"run.max_steps": 8, "data.seq_len": 192})
    data = pack_examples(ByteTokenizer(), sft_examples(), cfg.data.seq_len)
    rank, world = engine.init_distributed()
    sampler = RowSampler(len(data), cfg.run.seed, cfg.run.micro_batch_size, cfg.grad_accum(world), world, rank)
    return train_losses(cfg, sft_loss, lambda s, m: data.rows(torch.from_numpy(sampler.rows(s, m))),
                        build_model(cfg.model, seed=0))


def reward_losses() -> list[float]:
    """Reward model: the stock scalar-head RM (`rm_from_pretrained` of a random tiny Llama,
    head seeded), chosen + rejected in one forward, the paper's margin loss with the
    stage's default margin table, on fixed preference pairs cycling through every rating."""
    from harness.data.posttrain import PreferencePair
    from harness.model import build_model
    from harness.stages import reward

    cfg = tiny_config(**{"run.max_steps": 8})
    tok, mb = ByteTokenizer(), cfg.run.micro_batch_size
    pairs = [PreferencePair(f"What job does {NAMES[i % 8]} have?", f"{NAMES[i % 8]} is a {JOBS[i % 6]}.",
                            f"{NAMES[i % 8]} is a {JOBS[(i + 1 + i // 6) % 6]} in {TOWNS[i % 4]}.",
                            reward.RATING_INDEX[i % 4], "helpfulness") for i in range(48)]
    with tempfile.TemporaryDirectory(prefix="bench-rm-") as tmp:
        build_model(cfg.model, seed=0).save_pretrained(tmp)
        model = reward.rm_from_pretrained(tmp, seed=0)
    loss_fn = reward.make_loss(reward.MARGINS[reward.RewardOptions().margin])
    return train_losses(cfg, loss_fn, lambda s, m: reward.collate(tok, pairs[(s * mb) % 48:(s * mb) % 48 + mb],
                                                                  cfg.data.seq_len), model)


# Training stages: name -> function returning per-step losses. A new stage (PPO) adds an entry
# here (fixed data, its own loss) and runs `python -m reports.bench --update --only losses/<name>`.
STAGES: dict[str, Callable[[], list[float]]] = {"pretrain": pretrain_losses, "sft": sft_losses,
                                                "reward": reward_losses}


def world_mmlu_scores() -> dict[str, float]:
    """A seeded random tiny checkpoint on 10 questions per generated-world MMLU subject (60)."""
    from evals import evaluate
    from evals.tiny import make_tiny_checkpoint

    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        ckpt = make_tiny_checkpoint(Path(tmp) / "ckpt", seed=0)
        df = evaluate(ckpt, "mmlu", data="world", limit=10, dtype="float32")
    row = df[(df["task"] == "mmlu") & (df["metric"] == "acc")].iloc[0]
    return {"acc": float(row["value"]), "n": float(row["n"])}


EVALS: dict[str, Callable[[], dict[str, float]]] = {"world_mmlu": world_mmlu_scores}


def throughput_ratios(steps: int = 10, rounds: int = 2) -> dict[str, float]:
    """Plain-PyTorch tokens/s over harness tokens/s on tiny-cpu fp32, both measured here,
    alternating (plain, harness, plain, harness) with harness.bench's two loops. Each side
    is its fastest step after warm-up: on a shared machine the fastest step is the least
    disturbed one, so the ratio of minima is far steadier than a ratio of medians."""
    from harness import bench as engine_bench
    from harness import config, engine

    engine.init_distributed()
    cfg = config.load("tiny-cpu", ["run.precision=fp32"])
    rows = engine_bench.bench_rows(cfg)
    warm = 3  # allocation and DeepSpeed set-up
    plain, harness = [], []
    for _ in range(rounds):
        plain += engine_bench.plain_loop(cfg, rows, steps)[warm:]
        harness += engine_bench.harness_loop(cfg, rows, steps)[warm:]
    tokens = cfg.run.micro_batch_size * (cfg.data.seq_len - 1)
    return {"tiny-cpu/fp32": min(harness) / min(plain), "_plain_tokens_per_s": round(tokens / min(plain)),
            "_harness_tokens_per_s": round(tokens / min(harness))}


def measure(only: list[str] | None = None) -> dict:
    """Run the selected checks; returns {"losses": {...}, "evals": {...}, "throughput": {...}, "seconds": {...}}."""
    def wanted(key: str) -> bool:
        return not only or any(key == o.rstrip("/") or key.startswith(o.rstrip("/") + "/") for o in only)

    out: dict = {"losses": {}, "evals": {}, "throughput": {}, "seconds": {}}
    for name, fn in STAGES.items():
        if wanted(f"losses/{name}"):
            t = time.perf_counter()
            out["losses"][name] = fn()
            out["seconds"][f"losses/{name}"] = round(time.perf_counter() - t, 1)
    for name, fn in EVALS.items():
        if wanted(f"evals/{name}"):
            t = time.perf_counter()
            out["evals"][name] = fn()
            out["seconds"][f"evals/{name}"] = round(time.perf_counter() - t, 1)
    if wanted("throughput/tiny-cpu/fp32"):
        t = time.perf_counter()
        out["throughput"] = throughput_ratios()
        out["seconds"]["throughput"] = round(time.perf_counter() - t, 1)
    return out


# ----------------------------------------------------------------------------- comparison

def compare(baseline: dict, measured: dict) -> list[dict]:
    """One row per check: check, baseline, measured, tolerance, status (pass / REGRESSION /
    MISSING). Pure: no measuring here, so tests can feed it perturbed numbers."""
    tol = {**DEFAULT_TOLERANCES, **baseline.get("tolerances", {})}
    rows = []
    for stage, losses in measured.get("losses", {}).items():
        ref = baseline.get("losses", {}).get(stage)
        if ref is None:
            rows.append({"check": f"losses/{stage}", "baseline": "–", "measured": f"{len(losses)} steps",
                         "tolerance": "–", "status": "MISSING"})
            continue
        rtol = tol["loss_rtol"]
        if len(ref) != len(losses):
            rows.append({"check": f"losses/{stage}", "baseline": f"{len(ref)} steps", "measured": f"{len(losses)} steps",
                         "tolerance": "same length", "status": "REGRESSION"})
            continue
        worst = max(range(len(ref)), key=lambda i: abs(losses[i] - ref[i]) / max(abs(ref[i]), 1e-12))
        rel = abs(losses[worst] - ref[worst]) / max(abs(ref[worst]), 1e-12)
        rows.append({"check": f"losses/{stage}", "baseline": f"step {worst + 1}: {ref[worst]:.6f}",
                     "measured": f"{losses[worst]:.6f} (rel {rel:.1e})", "tolerance": f"rel <= {rtol:g}, all {len(ref)} steps",
                     "status": "pass" if rel <= rtol else "REGRESSION"})
    for name, scores in measured.get("evals", {}).items():
        ref = baseline.get("evals", {}).get(name, {})
        for metric, value in scores.items():
            key = f"evals/{name}/{metric}"
            if metric not in ref:
                rows.append({"check": key, "baseline": "–", "measured": f"{value:.4f}", "tolerance": "–", "status": "MISSING"})
                continue
            atol = 0.0 if metric == "n" else tol["eval_atol"]
            ok = abs(value - ref[metric]) <= atol
            rows.append({"check": key, "baseline": f"{ref[metric]:.4f}", "measured": f"{value:.4f}",
                         "tolerance": f"abs <= {atol:g}", "status": "pass" if ok else "REGRESSION"})
    for key, ratio in measured.get("throughput", {}).items():
        if key.startswith("_"):
            continue
        ref = baseline.get("throughput", {}).get(key)
        if ref is None:
            rows.append({"check": f"throughput/{key}", "baseline": "–", "measured": f"{ratio:.3f}", "tolerance": "–",
                         "status": "MISSING"})
            continue
        limit = ref * tol["max_slowdown"]
        rows.append({"check": f"throughput/{key} plain/harness", "baseline": f"{ref:.3f}", "measured": f"{ratio:.3f}",
                     "tolerance": f"<= {limit:.3f} ({tol['max_slowdown']:g} x baseline)",
                     "status": "pass" if ratio <= limit else "REGRESSION"})
    return rows


def format_table(rows: list[dict]) -> str:
    cols = ["check", "baseline", "measured", "tolerance", "status"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) if rows else len(c) for c in cols}
    line = lambda r: "| " + " | ".join(str(r[c]).ljust(widths[c]) for c in cols) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (widths[c] + 2) for c in cols) + "|"
    return "\n".join([line({c: c for c in cols}), sep, *(line(r) for r in rows)])


def updated_baseline(baseline: dict, measured: dict) -> dict:
    new = {"note": baseline.get("note", "regression-bench baseline; rewrite with `python -m reports.bench --update`"),
           "tolerances": {**DEFAULT_TOLERANCES, **baseline.get("tolerances", {})},
           "losses": dict(baseline.get("losses", {})), "evals": dict(baseline.get("evals", {})),
           "throughput": dict(baseline.get("throughput", {}))}
    new["losses"].update(measured.get("losses", {}))
    new["evals"].update(measured.get("evals", {}))
    new["throughput"].update({k: round(v, 3) for k, v in measured.get("throughput", {}).items() if not k.startswith("_")})
    return new


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reports.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", type=Path, default=BASELINE)
    p.add_argument("--only", action="append", help="check prefix: losses, losses/<stage> (pretrain, sft, reward), evals, throughput "
                                                           "(repeatable)")
    p.add_argument("--update", action="store_true", help="write the measurements into the baseline file")
    p.add_argument("--measured", type=Path, help="compare these saved measurements instead of measuring")
    p.add_argument("--save", type=Path, help="also write the measurements here (JSON)")
    args = p.parse_args(argv)
    baseline = json.loads(args.baseline.read_text()) if args.baseline.exists() else {}
    if not baseline and not args.update:
        print(f"error: no baseline at {args.baseline} (create one with --update)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    measured = json.loads(args.measured.read_text()) if args.measured else measure(args.only)
    if args.save:
        args.save.write_text(json.dumps(measured, indent=2) + "\n")
    if args.update:
        args.baseline.parent.mkdir(parents=True, exist_ok=True)
        args.baseline.write_text(json.dumps(updated_baseline(baseline, measured), indent=2) + "\n")
        print(f"wrote {args.baseline}")
        baseline = json.loads(args.baseline.read_text())
    rows = compare(baseline, measured)
    print(format_table(rows))
    extra = measured.get("throughput", {})
    if "_plain_tokens_per_s" in extra:
        print(f"(tokens/s this run: plain {extra['_plain_tokens_per_s']}, harness {extra['_harness_tokens_per_s']})")
    print(f"bench: {len(rows)} checks in {time.perf_counter() - started:.0f} s; seconds per check: {measured.get('seconds', {})}")
    if not rows:
        print("error: nothing was checked", file=sys.stderr)
        return 2
    bad = [r["check"] for r in rows if r["status"] != "pass"]
    if any(r["status"] == "REGRESSION" for r in rows):
        print(f"REGRESSION in: {', '.join(bad)}", file=sys.stderr)
        return 1
    if bad:
        print(f"missing from the baseline: {', '.join(bad)} (add with --update)", file=sys.stderr)
        return 2
    print("bench: all checks pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
