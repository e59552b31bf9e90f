"""python -m evals --checkpoint DIR --tasks mmlu,gsm8k,squad,scrolls_qmsum --data DIR --limit N --out results.jsonl"""

from __future__ import annotations

import argparse
import sys
import time


def _limit(text: str):
    value = float(text)
    return int(value) if value >= 1 and value == int(value) else value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evals", description=__doc__)
    p.add_argument("--checkpoint", required=True, help="exported HF checkpoint folder (with run.json)")
    p.add_argument("--tasks", default=None, help="comma list (default: mmlu,gsm8k,squad,scrolls_qmsum)")
    p.add_argument("--data", default="world", help="world[:size[:seed]] (default), local, hub, or a folder")
    p.add_argument("--limit", type=_limit, default=None, help="examples per task (a fraction if < 1)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--num-fewshot", type=int, default=None)
    p.add_argument("--max-length", type=int, default=None, help="model context for lm-eval (default: config)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--out", default=None, help="write rows as JSON lines here")
    p.add_argument("--append", action="store_true", help="append to --out instead of overwriting")
    p.add_argument("--list-tasks", action="store_true", help="print the known task names and exit")
    p.add_argument("--export-tasks", metavar="DIR", default=None,
                   help="write a self-contained lm-eval task folder for --data, print the stock "
                        "`lm-eval run` command that reproduces these scores, and exit")
    args = p.parse_args(argv)

    from evals.api import UnknownTaskError, evaluate, export_task_dir, lm_eval_command, public_tasks, write_jsonl
    from evals.data import DataLayoutError, resolve_data

    if args.list_tasks:
        print("\n".join(public_tasks()))
        return 0
    if args.export_tasks:
        import shlex

        source = resolve_data(args.data)
        folder = export_task_dir(source, args.export_tasks)
        cmd = lm_eval_command(args.checkpoint, args.tasks, source, folder, limit=args.limit,
                              batch_size=args.batch_size, device=args.device)
        print(shlex.join(cmd))
        return 0
    start = time.perf_counter()
    try:
        df = evaluate(
            args.checkpoint, args.tasks, data=args.data, limit=args.limit, batch_size=args.batch_size,
            num_fewshot=args.num_fewshot, max_length=args.max_length, device=args.device, dtype=args.dtype,
        )
    except (UnknownTaskError, DataLayoutError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(df[["task", "metric", "value", "stderr", "n"]].to_string(index=False))
    print(f"# scored in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    if args.out:
        write_jsonl(df, args.out, append=args.append)
    return 0


if __name__ == "__main__":
    sys.exit(main())
