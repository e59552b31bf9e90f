"""Command line: python -m harness <command> ...

  pretrain --preset tiny-cpu --out DIR [--resume] [--dry-run] [section.key=value ...]
  export   --checkpoint DIR/checkpoints --out HF_DIR --run DIR    (re-export a run's checkpoint)
  presets                                                          (list presets and their sizes)
  sft      --init PRETRAIN/hf --out DIR [--resume] [--use_peft --peft_method lora] [sft.key=value ...]
  reward   --init SFT/hf --out DIR [--kind helpfulness|safety] [--margin none|small|large] [--pairs F.jsonl]
  rejection --policy SFT/hf --helpful-rm RM/hf --safety-rm RM/hf --out DIR [rs.key=value ...]
  ppo      --policy RS/hf --helpful-rm RM/hf --safety-rm RM/hf --out DIR [ppo.key=value ...]
  pipeline --preset tiny-cpu --out DIR [--until STAGE] [--paper-defaults] [section.key=value | sft.|rm.|rs.|ppo.key=value ...]
  generate --checkpoint DIR [--adapter DIR] [--temperature T] [--prompt TEXT ...]   (stdin if no --prompt)

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

    def stage_parser(name, help, policy=False):
        q = sub.add_parser(name, help=help)
        if policy:
            q.add_argument("--policy", required=True, help="policy checkpoint (an hf/ folder or its run folder)")
            q.add_argument("--helpful-rm", required=True)
            q.add_argument("--safety-rm", required=True)
        else:
            q.add_argument("--init", required=True, help="checkpoint to start from (an hf/ folder or its run folder)")
        q.add_argument("--out", required=True)
        q.add_argument("--resume", action="store_true")
        q.add_argument("--no-progress", action="store_true")
        q.add_argument("--local_rank", type=int, default=None, help=argparse.SUPPRESS)
        q.add_argument("overrides", nargs="*", metavar="key=value")
        return q

    q = stage_parser("sft", "supervised fine-tuning (answer-only loss, packed)")
    q.add_argument("--data", default=None, help="world | alpaca[:PATH] | oasst[:PATH], joined with +")
    q.add_argument("--use_peft", action="store_true", help="train a LoRA adapter instead of the full model")
    q.add_argument("--peft_method", default="lora")
    q = stage_parser("reward", "train a helpfulness or safety reward model")
    q.add_argument("--kind", default=None, choices=["helpfulness", "safety"])
    q.add_argument("--margin", default=None, choices=["none", "small", "large"])
    q.add_argument("--pairs", default=None, help="preference jsonl file(s), comma-separated")
    stage_parser("rejection", "rejection-sampling fine-tuning", policy=True)
    stage_parser("ppo", "PPO against the helpfulness and safety reward models", policy=True)
    q = sub.add_parser("pipeline", help="pretrain -> SFT -> RMs -> RS -> PPO, resumable stage by stage")
    q.add_argument("--preset", default="tiny-cpu")
    q.add_argument("--out", required=True)
    q.add_argument("--no-progress", action="store_true")
    q.add_argument("--no-eval", action="store_true", help="skip the oracle/KL evaluation after policy stages")
    q.add_argument("--paper-defaults", action="store_true",
                   help="the stages' own (paper) defaults, without the generated world's recipe (pipeline.WORLD_RECIPE)")
    q.add_argument("--until", default="ppo", help="last stage to run (pretrain, sft, rm_helpfulness, rm_safety, "
                   "rejection, ppo)")
    q.add_argument("overrides", nargs="*", metavar="key=value")
    q = sub.add_parser("generate", help="generate from a checkpoint (optionally with a LoRA adapter)")
    q.add_argument("--checkpoint", required=True)
    q.add_argument("--adapter", default=None)
    q.add_argument("--temperature", type=float, default=0.7)
    q.add_argument("--max-new-tokens", type=int, default=128)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--prompt", action="append", default=None, help="repeatable; without it, read prompts from stdin")

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
        if args.command in ("sft", "reward", "rejection", "ppo", "pipeline", "generate"):
            return _post(args)
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


def _post(args) -> int:
    """The post-training commands; flags are shorthands for `stage.key=value` options."""
    if args.command == "generate":
        from harness.stages import generate

        return generate.main(args.checkpoint, args.adapter, args.prompt, args.temperature, args.max_new_tokens,
                             args.seed)
    progress = not args.no_progress
    over = list(args.overrides)
    if args.command == "pipeline":
        from harness.stages import pipeline

        report = pipeline.run(args.preset, args.out, over, progress=progress, evaluate=not args.no_eval,
                              until=args.until, recipe=not args.paper_defaults)
        print(json.dumps({"total_wall_time_s": report["total_wall_time_s"], "out": args.out}))
        return 0
    from harness.stages import ppo, rejection, reward, sft

    if args.command == "sft":
        over += [f"sft.data={args.data}"] * bool(args.data)
        over += ["sft.use_peft=true", f"sft.peft_method={args.peft_method}"] * args.use_peft
        summary = sft.run(args.init, args.out, over, resume=args.resume, progress=progress)
    elif args.command == "reward":
        over += [f"rm.kind={args.kind}"] * bool(args.kind) + [f"rm.margin={args.margin}"] * bool(args.margin)
        over += [f"rm.pairs={args.pairs}"] * bool(args.pairs)
        summary = reward.run(args.init, args.out, over, resume=args.resume, progress=progress)
    else:
        stage = rejection if args.command == "rejection" else ppo
        summary = stage.run(args.policy, args.helpful_rm, args.safety_rm, args.out, over, resume=args.resume,
                            progress=progress)
    if int(os.environ.get("RANK", 0)) == 0:
        print(json.dumps({k: v for k, v in summary.items() if k in ("stage", "steps", "wall_time_s", "accuracy")},
                         default=str))
        print(f"exported: {os.path.join(args.out, 'hf')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
