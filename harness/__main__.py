"""Command line: python -m harness <command> ...

  pretrain --preset tiny-cpu --out DIR [--resume] [--dry-run] [section.key=value ...]
  export   --checkpoint DIR/checkpoints --out HF_DIR --run DIR    (re-export a run's checkpoint)
  presets                                                          (list presets and their sizes)

Runs under launchers unchanged:
  torchrun --nproc_per_node 2 -m harness pretrain ...
  deepspeed --num_gpus 8 [--hostfile hosts] --module harness pretrain ...
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("pretrain", help="train a model from scratch")
    p.add_argument("--preset", default="tiny-cpu")
    p.add_argument("--out", required=True, help="run folder: checkpoints/, metrics.jsonl, hf/")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
    p.add_argument("--dry-run", action="store_true",
                   help="print parameter count, ZeRO-3 memory per device and tokens per step; train nothing")
    p.add_argument("--processes-per-node", type=int, default=None, help="for --dry-run (default: this launch)")
    p.add_argument("--nodes", type=int, default=1, help="for --dry-run")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--local_rank", type=int, default=None, help=argparse.SUPPRESS)  # set by the deepspeed launcher
    p.add_argument("overrides", nargs="*", metavar="section.key=value")

    e = sub.add_parser("export", help="write an HF folder from a DeepSpeed checkpoint")
    e.add_argument("--run", required=True, help="run folder (reads its hf/run.json or config)")
    e.add_argument("--out", required=True)
    e.add_argument("--tag", default=None, help="checkpoint tag (default: latest)")

    sub.add_parser("presets", help="list presets")

    args = parser.parse_args(argv)
    from harness import config

    try:
        if args.command == "presets":
            from harness.model import dry_run

            for name in config.PRESETS:
                info = dry_run(config.load(name), 1, 1)
                print(f"{name:12s} {info['parameters_human']:>7s} params  attention={info['attention']}  "
                      f"seq_len={config.load(name).data.seq_len}")
            return 0

        if args.command == "pretrain":
            cfg = config.load(args.preset, args.overrides)
            if args.dry_run:
                from harness.model import dry_run

                per_node = args.processes_per_node or int(os.environ.get("LOCAL_WORLD_SIZE", 1))
                print(json.dumps(dry_run(cfg, per_node, args.nodes), indent=2))
                return 0
            from harness.stages import pretrain

            summary = pretrain.run(cfg, args.out, resume=args.resume, progress=not args.no_progress)
            if int(os.environ.get("RANK", 0)) == 0:
                print(json.dumps({k: summary[k] for k in ("parameters", "tokens_seen", "steps", "wall_time_s")}))
                print(f"exported: {os.path.join(args.out, 'hf')}")
            return 0

        if args.command == "export":
            from pathlib import Path

            from harness.export import export_hf, read_run_info

            info = read_run_info(Path(args.run) / "hf")
            cfg = config.from_dict(info["config"])
            tok = Path(args.run) / "hf"
            export_hf(cfg, Path(args.run) / "checkpoints", args.out, tokenizer_dir=tok, run_info=
                      {k: v for k, v in info.items() if k not in ("config", "seed", "git_commit", "parameters", "versions")},
                      tag=args.tag)
            print(f"exported: {args.out}")
            return 0
    except (config.ConfigError, ValueError, FileNotFoundError, FileExistsError) as err:
        # ConfigError and DataError are ValueErrors; they name the key, file or line.
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        from harness.engine import NonFiniteLoss

        if isinstance(err, NonFiniteLoss):
            print(f"error: {err}", file=sys.stderr)
            return 3
        raise
    return 1


if __name__ == "__main__":
    sys.exit(main())
