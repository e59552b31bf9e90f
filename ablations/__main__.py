"""Command line: run an ablation sweep and write its results store and report.

  python -m ablations list
  python -m ablations gqa [--preset tiny-cpu] [--seeds 0,1] [--data world] [--out DIR] [--steps N] [--dry-run]
  python -m ablations all ...                                   (every declared ablation, one after another)
  python -m ablations gqa --launcher deepspeed --hostfile hosts --num-gpus 8 --preset llama2-7b --dry-run

Options:
  --variants a,b      a subset (a variant's uptraining source comes along)
  --tasks a,b|none    lm-eval tasks instead of the record's;  --probes validation,inference|none
  --limit N           examples per lm-eval task (default: the record's on tiny-cpu, all elsewhere)
  --set k=v ...       harness overrides for every variant (e.g. data.source=DIR)
  --collect-only      results, summary and report from the runs finished so far (no training)
Re-running the same command skips finished runs and resumes a killed one; a store written
with another config refuses to mix (use another --out).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def _csv(s: str | None) -> tuple[str, ...] | None:
    if s is None:
        return None
    if s.strip().lower() == "none":
        return ()
    return tuple(x.strip() for x in s.split(",") if x.strip())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ablations", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="ablation name, 'all', or 'list'")
    p.add_argument("--preset", default=None, help="base preset (default: the record's)")
    p.add_argument("--seeds", default=None, help="comma list (default: the record's)")
    p.add_argument("--data", default="world", help="eval data: world (default), local, or a folder")
    p.add_argument("--out", default=None, help="results store (default: runs/ablations/<name>)")
    p.add_argument("--steps", type=int, default=None, help="run.max_steps of every pretraining run")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--variants", default=None)
    p.add_argument("--tasks", default=None)
    p.add_argument("--probes", default=None)
    p.add_argument("--set", nargs="*", default=[], metavar="section.key=value", dest="extra")
    p.add_argument("--dry-run", action="store_true", help="print every launch command; run nothing")
    p.add_argument("--launcher", default="local", choices=["local", "deepspeed"])
    p.add_argument("--hostfile", default=None)
    p.add_argument("--num-gpus", type=int, default=None)
    p.add_argument("--num-nodes", type=int, default=None)
    p.add_argument("--no-report", action="store_true")
    p.add_argument("--collect-only", action="store_true",
                   help="rebuild results, summary and report from the runs finished so far; train nothing")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from ablations import NAMES, AblationError, get

    if args.name == "list":
        for n in NAMES:
            ab = get(n)
            print(f"{n:10s} {ab.paper}\n{'':10s} variants: {', '.join(v.name for v in ab.variants)}; "
                  f"seeds {','.join(map(str, ab.seeds))}")
        return 0
    names = list(NAMES) if args.name == "all" else [args.name]
    try:
        seeds = tuple(int(s) for s in _csv(args.seeds)) if args.seeds else None
    except ValueError:
        print(f"error: --seeds {args.seeds!r}: expected a comma list of integers, e.g. 0,1", file=sys.stderr)
        return 2
    try:
        from ablations.runner import Launcher, Sweep

        sweeps = []
        for n in names:
            ab = get(n)
            out = Path(args.out) / n if (args.out and len(names) > 1) else Path(args.out or f"runs/ablations/{n}")
            sweeps.append(Sweep(ab, preset=args.preset or ab.base_preset, seeds=seeds or ab.seeds, out=out,
                                data=args.data, steps=args.steps, limit=args.limit, tasks=_csv(args.tasks),
                                probes=_csv(args.probes), variants=_csv(args.variants), extra=tuple(args.extra),
                                launcher=Launcher(args.launcher, args.hostfile, args.num_gpus, args.num_nodes)))
        for sweep in sweeps:
            if args.dry_run:
                print(f"# ablation {sweep.ablation.name}: {len(sweep.runs)} runs -> {sweep.out}")
                print("\n".join(sweep.dry_run()))
                continue
            t0 = time.time()
            print(f"# ablation {sweep.ablation.name}: {len(sweep.runs)} runs -> {sweep.out}", flush=True)
            if args.collect_only:
                from ablations import store

                store.check_manifest(sweep.out, sweep.manifest())
                results = sweep.collect()
            else:
                results = sweep.execute(log=lambda m: print(m, flush=True))
            if not args.no_report:
                from ablations.report import write_report

                print(f"report: {write_report(sweep, results)}")
            print(f"# ablation {sweep.ablation.name} done in {time.time() - t0:.0f}s: {len(results)} rows in "
                  f"{sweep.out / 'results.jsonl'}", flush=True)
    except AblationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
