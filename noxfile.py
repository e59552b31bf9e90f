"""Sessions users type: `nox -s pretrain` (the main job for now), `nox -s tests`, benchmarks.

Each session installs the suite into its own virtualenv. CPU-only PyTorch is pinned by
constraints/cpu.txt; on a GPU machine set SUITE_TORCH to the torch requirement you want
(e.g. SUITE_TORCH="torch==2.13.0" with your CUDA index in PIP_EXTRA_INDEX_URL) and the
constraint is dropped.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]

ROOT = Path(__file__).parent
DATA = os.environ.get("LLAMA2_SUITE_DATA", str(ROOT.parent / "shared" / "data"))
ENV = {"LLAMA2_SUITE_DATA": DATA, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def install(session: nox.Session) -> None:
    torch_req = os.environ.get("SUITE_TORCH")
    if torch_req:
        session.install(torch_req)
    else:
        session.install("-c", "constraints/cpu.txt", "torch")
    session.install("-c", "constraints/cpu.txt", "-e", ".[test]")


@nox.session
def tests(session: nox.Session) -> None:
    """The default test suite (not slow, not GPU). Extra pytest args after `--`."""
    install(session)
    session.run("pytest", "-p", "no:cacheprovider", *session.posargs, env=ENV)


@nox.session
def tests_slow(session: nox.Session) -> None:
    """Only the tests marked slow."""
    install(session)
    session.run("pytest", "-m", "slow", *session.posargs, env=ENV)


@nox.session
def pretrain(session: nox.Session) -> None:
    """Main job on the embedded default: pretrain tiny-cpu on the generated world, then score it.

    Options after `--` are harness overrides, e.g. `nox -s pretrain -- run.max_steps=100`.
    """
    install(session)
    out = ROOT / "runs" / "tiny-cpu"
    session.run("python", "-m", "harness", "pretrain", "--preset", "tiny-cpu", "--out", str(out), "--resume",
                *session.posargs, env=ENV)
    session.run("python", "-m", "evals", "--checkpoint", str(out / "hf"), "--data", "world",
                "--tasks", "mmlu_cloze,mmlu_heldout_cloze,scrolls_world_near,scrolls_world_far",
                "--limit", "50", "--batch-size", "8", "--out", str(out / "eval_results.jsonl"), env=ENV)


def _ablate(session: nox.Session, name: str) -> None:
    """Run one ablation sweep (python -m ablations NAME); options after `--` pass through:
    --preset P --seeds 0,1 --data world --out DIR --steps N --limit N --variants a,b --dry-run
    --launcher deepspeed --hostfile H --num-gpus N --num-nodes N, --set section.key=value ..."""
    install(session)
    session.run("python", "-m", "ablations", name, *session.posargs, env=ENV)


@nox.session
def ablate_gqa(session: nox.Session) -> None:
    """MHA vs MQA vs GQA at matched parameters + GQA by uptraining (Llama 2 Table 18, Figure 24):
    trains, scores and writes runs/ablations/gqa/{results.jsonl,summary.csv,paired.csv,report.md,report.html}."""
    _ablate(session, "gqa")


@nox.session
def ablate_context(session: nox.Session) -> None:
    """Short vs long context at 1:2, equal tokens (Llama 2 Tables 16-17) -> runs/ablations/context/."""
    _ablate(session, "context")


@nox.session
def ablate_rm_scaling(session: nox.Session) -> None:
    """Helpfulness RMs of two sizes x 25/50/100% of the preference data (Llama 2 Figure 6):
    accuracy per rating -> runs/ablations/rm_scaling/."""
    _ablate(session, "rm_scaling")


@nox.session
def ablate_margin(session: nox.Session) -> None:
    """No / small / large margin in the RM ranking loss (Llama 2 Table 28): accuracy per rating
    and reward-gap distribution -> runs/ablations/margin/."""
    _ablate(session, "margin")


@nox.session
def ablate_temperature(session: nox.Session) -> None:
    """SFT / rejection-sampling / PPO policies sampled at temperatures 0.1-1.5 (Llama 2 Figure 21):
    Self-BLEU and oracle accuracy on factual vs creative prompts -> runs/ablations/temperature/."""
    _ablate(session, "temperature")


@nox.session
def ablate_all(session: nox.Session) -> None:
    """Every declared ablation, one after another (runs/ablations/<name>, or --out DIR/<name>)."""
    _ablate(session, "all")


@nox.session
def dry_run(session: nox.Session) -> None:
    """Parameter counts, ZeRO-3 memory per device and tokens per step for every preset."""
    install(session)
    for name, per_node, nodes in [("tiny-cpu", 1, 1), ("small-gpu", 1, 1), ("llama2-7b", 8, 4),
                                  ("llama2-13b", 8, 8), ("llama2-70b", 8, 16)]:
        session.run("python", "-m", "harness", "pretrain", "--preset", name, "--out", "unused", "--dry-run",
                    "--processes-per-node", str(per_node), "--nodes", str(nodes), env=ENV)


@nox.session
def bench_engine(session: nox.Session) -> None:
    """Harness tokens/s against a plain PyTorch AdamW loop, and MFU; appends to BENCHMARKS.md."""
    install(session)
    session.run("python", "-m", "harness.bench", "--write", "BENCHMARKS.md", *session.posargs, env=ENV)


@nox.session
def bench(session: nox.Session) -> None:
    """Regression bench against benchmarks/baseline.json (golden losses, fixed eval subset,
    harness/plain throughput ratio); exits non-zero on a regression.
    `nox -s bench -- --update` rewrites the baseline deliberately."""
    install(session)
    session.run("python", "-m", "reports.bench", *session.posargs, env=ENV)


@nox.session
def bench_evals(session: nox.Session) -> None:
    """lm-eval requests/s for the tiny model and the time to score the default suite."""
    install(session)
    session.run("python", "-m", "evals.bench", "--data", "local", "--limit", "5", *session.posargs, env=ENV)


if __name__ == "__main__":
    sys.exit("run with: nox -s <session>")
