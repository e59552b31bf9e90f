"""The shared sweep runner: every (variant, seed) of an ablation -> train -> score -> results store.

Each run trains in its own subprocess (`python -m harness pretrain ...`, or
`python -m ablations.uptrain ...`), so runs are isolated and killable; on a cluster the same
arguments go through the DeepSpeed launcher with a hostfile. Scoring runs in this process
after each run and writes the run's `rows.jsonl`, which marks it finished.

Re-running a sweep: a run with rows is skipped (no training, no scoring); a run whose export
is complete is only scored; a run with checkpoints resumes from its latest one (the harness
guarantees the resumed losses equal an uninterrupted run's); anything else starts fresh.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ablations import stats, store
from ablations.spec import STAGES, Ablation, AblationError, Variant

REPO = Path(__file__).resolve().parents[1]
DIST_VARS = {"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}


@dataclass(frozen=True)
class Launcher:
    """How a run's training process starts: "local" (`python -m ...`, one process) or
    "deepspeed" (the DeepSpeed launcher; `hostfile` for several nodes)."""

    kind: str = "local"
    hostfile: str | None = None
    num_gpus: int | None = None
    num_nodes: int | None = None

    def prefix(self, module: str) -> list[str]:
        if self.kind == "local":
            return [sys.executable, "-m", module]
        if self.kind == "deepspeed":
            cmd = ["deepspeed"]
            if self.hostfile:
                cmd += ["--hostfile", self.hostfile]
            if self.num_nodes:
                cmd += ["--num_nodes", str(self.num_nodes)]
            if self.num_gpus:
                cmd += ["--num_gpus", str(self.num_gpus)]
            return cmd + ["--module", module]
        raise AblationError(f"unknown launcher {self.kind!r}; valid launchers: local, deepspeed")


@dataclass
class Run:
    ablation: str
    variant: Variant
    seed: int
    dir: Path
    preset: str
    overrides: list[str]
    cfg: object  # harness Config
    config_hash: str
    source: Path | None = None  # uptrain: the run folder it converts
    base_dir: Path | None = None  # reward / sample: the shared pipeline folder (<out>/base/<base>/seed<k>)
    base_overrides: list[str] = field(default_factory=list)  # its pipeline overrides
    base_until: str | None = None  # its last pipeline stage

    @property
    def name(self) -> str:
        return f"{self.variant.name}/seed{self.seed}"


@dataclass
class Sweep:
    ablation: Ablation
    preset: str
    seeds: tuple[int, ...]
    out: Path
    data: str = "world"
    steps: int | None = None
    limit: int | None = None
    tasks: tuple[str, ...] | None = None
    probes: tuple[str, ...] | None = None
    variants: tuple[str, ...] | None = None
    extra: tuple[str, ...] = ()  # --set overrides for every variant
    launcher: Launcher = field(default_factory=Launcher)

    # ------------------------------------------------------------------ plan

    def __post_init__(self):
        from harness import config as C

        if self.preset not in C.PRESETS:
            raise AblationError(f"unknown preset {self.preset!r}; valid presets: {', '.join(C.PRESETS)}")
        self.out = Path(self.out)
        self.selected = self.ablation.select(list(self.variants) if self.variants else None)
        default_tasks = self.ablation.tasks_by_preset.get(self.preset, self.ablation.tasks)
        self.task_list = tuple(default_tasks if self.tasks is None else self.tasks)
        self.probe_list = tuple(self.ablation.probes if self.probes is None else self.probes)
        unknown = [p for p in self.probe_list if p not in ("validation", "inference")]
        if unknown:
            raise AblationError(f"unknown probe(s) {', '.join(unknown)}; valid probes: validation, inference")
        self.limit_given = self.limit is not None
        if self.limit is None:
            self.limit = self.ablation.limit if self.preset == "tiny-cpu" else None
        # seed-major: each seed's variants finish together, so paired differences exist early
        self.runs = [self._plan(v, s) for s in self.seeds for v in self.selected]

    def base_overrides(self) -> list[str]:
        out = [f"{k}={v}" for k, v in self.ablation.quick.get(self.preset, {}).items()]
        if self.steps is not None:
            out.append(f"run.max_steps={self.steps}")
        return out + list(self.extra)

    def _plan(self, v: Variant, seed: int) -> Run:
        from harness import config as C

        if v.stage not in STAGES:
            raise AblationError(f"variant {v.name!r}: unknown stage {v.stage!r}; valid stages: {', '.join(STAGES)}")
        if v.stage in ("reward", "sample"):
            return self._plan_post(v, seed)
        overrides = self.base_overrides() + [f"{k}={val}" for k, val in v.overrides_for(self.preset).items()]
        source = None
        if v.stage == "uptrain":
            src = self.ablation.variant(v.init_from)
            base_over = self.base_overrides() + [f"{k}={val}" for k, val in src.overrides_for(self.preset).items()]
            base = C.load(self.preset, base_over)
            n = max(1, round(v.uptrain_fraction * base.run.max_steps))
            # Continue at the lr pretraining ended with; a short warmup, then cosine to 10% of it.
            overrides = base_over + [f"{k}={val}" for k, val in v.overrides_for(self.preset).items()] + [
                f"run.max_steps={n}", f"optim.warmup_steps={max(1, n // 10)}",
                f"optim.lr={base.optim.lr * base.optim.min_lr_ratio:.6g}",
                f"run.checkpoint_every={max(1, min(base.run.checkpoint_every, n // 2 or 1))}",
                f"run.eval_every={n}",
            ]
            source = self.out / "runs" / src.name / f"seed{seed}"
        overrides = dedup(overrides + [f"run.seed={seed}"])
        try:
            cfg = C.load(self.preset, overrides)
        except C.ConfigError as e:
            raise AblationError(f"ablation {self.ablation.name!r}, variant {v.name!r}: {e}") from None
        h = store.config_hash({"config": cfg.to_dict(), "stage": v.stage, "eval": self.eval_settings()})
        return Run(self.ablation.name, v, seed, self.out / "runs" / v.name / f"seed{seed}", self.preset, overrides,
                   cfg, h, source)

    def _plan_post(self, v: Variant, seed: int) -> Run:
        """A reward or sample variant: its base pipeline (once per base and seed) and its own options."""
        from harness import config as C

        if v.base not in self.ablation.bases:
            raise AblationError(f"variant {v.name!r}: unknown base {v.base!r}; bases of ablation "
                                f"{self.ablation.name!r}: {', '.join(self.ablation.bases) or 'none'}")
        b = self.ablation.bases[v.base]
        base_over = dedup(self.base_overrides() + [f"{k}={x}" for k, x in b.overrides_for(self.preset).items()]
                          + [f"run.seed={seed}"])
        prefix = "rm" if v.stage == "reward" else "sample"
        options = dedup([o for o in self.extra if o.startswith(prefix + ".")]
                        + [f"{k}={x}" for k, x in v.overrides_for(self.preset).items()])
        try:
            cfg = C.load(self.preset, [o for o in base_over if o.split("=", 1)[0].split(".")[0] not in POST_PREFIXES])
            check_options(v.stage, options)
        except C.ConfigError as e:
            raise AblationError(f"ablation {self.ablation.name!r}, variant {v.name!r}: {e}") from None
        h = store.config_hash({"config": cfg.to_dict(), "stage": v.stage, "options": options,
                               "base": {"until": b.until, "overrides": base_over}, "eval": self.eval_settings()})
        return Run(self.ablation.name, v, seed, self.out / "runs" / v.name / f"seed{seed}", self.preset, options,
                   cfg, h, base_dir=self.out / "base" / v.base / f"seed{seed}", base_overrides=base_over,
                   base_until=b.until)

    def eval_settings(self) -> dict:
        out = {"tasks": list(self.task_list), "limit": self.limit, "data": self.data,
               "max_gen_toks": self.ablation.max_gen_toks, "task_options": self.task_options(),
               "probes": list(self.probe_list),
               "probe_settings": self.ablation.probe_settings.get(self.preset, {})}
        if self.ablation.sample_settings:
            out["sample_settings"] = self.ablation.sample_settings.get(self.preset, {})
        return out

    def task_options(self) -> dict:
        """Per-task limits apply on tiny-cpu unless --limit is given; generation budgets always."""
        opts = {}
        for t, o in self.ablation.task_options.items():
            o = dict(o)
            if self.preset != "tiny-cpu" or self.limit_given:
                o.pop("limit", None)
            opts[t] = o
        return opts

    def manifest(self) -> dict:
        variants = {}
        for r in self.runs:
            d = r.cfg.to_dict()
            d["run"] = {k: v for k, v in d["run"].items() if k != "seed"}
            variants[r.variant.name] = {"stage": r.variant.stage, "init_from": r.variant.init_from, "config": d}
            if r.base_dir is not None:
                variants[r.variant.name]["base"] = {"name": r.variant.base, "until": r.base_until,
                                                    "overrides": [o for o in r.base_overrides
                                                                  if not o.startswith("run.seed=")]}
                variants[r.variant.name]["options"] = r.overrides
        return {"ablation": self.ablation.name, "preset": self.preset, "eval": self.eval_settings(),
                "variants": variants}

    def base_command(self, run: Run) -> list[str]:
        """The shared pipeline a reward / sample run builds on (finished stages are skipped)."""
        return [*self.launcher.prefix("harness"), "pipeline", "--preset", run.preset, "--out", str(run.base_dir),
                "--until", run.base_until, "--no-eval", "--no-progress", *run.base_overrides]

    def base_finished(self, run: Run) -> bool:
        return (run.base_dir / run.base_until / "hf" / "run.json").exists()

    def command(self, run: Run) -> list[str] | None:
        if run.variant.stage == "sample":
            return None  # nothing to train: scoring samples the base's policies
        if run.variant.stage == "reward":
            resume = ["--resume"] * ((run.dir / "checkpoints" / "latest").exists())
            return [*self.launcher.prefix("harness"), "reward", "--init", str(run.base_dir / run.base_until / "hf"),
                    "--out", str(run.dir), *resume, "--no-progress", *run.overrides]
        if run.variant.stage == "uptrain":
            args = ["--source", str(run.source)]
            module = "ablations.uptrain"
            head = []
        else:
            args, module, head = [], "harness", ["pretrain"]
        return [*self.launcher.prefix(module), *head, "--preset", run.preset, "--out", str(run.dir), "--resume",
                "--no-progress", *args, *run.overrides]

    # ------------------------------------------------------------------ state

    def status(self, run: Run) -> str:
        """"scored" (skip), "trained" (score only), "partial" (resume), or "new"."""
        rows = run.dir / store.ROWS
        if rows.exists():
            df = store.read_rows(rows)
            if len(df) and set(df["config_hash"]) == {run.config_hash}:
                return "scored"
        if run.variant.stage == "sample":
            return "trained" if self.base_finished(run) else "new"
        if run.variant.stage == "reward" and (run.dir / "hf" / "run.json").exists():
            return "trained"
        info_file = run.dir / "hf" / "run.json"
        if info_file.exists():
            info = json.loads(info_file.read_text())
            if info.get("config") == run.cfg.to_dict() and info.get("steps") == run.cfg.run.max_steps:
                return "trained"
        if (run.dir / "checkpoints" / "latest").exists():
            return "partial"
        return "new"

    # ------------------------------------------------------------------ execute

    def dry_run(self) -> list[str]:
        lines, bases = [], set()
        for r in self.runs:
            if r.base_dir is not None and r.base_dir not in bases:
                bases.add(r.base_dir)
                state = "finished" if self.base_finished(r) else "to run"
                lines.append(f"# base {r.variant.base}/seed{r.seed} [{state}]: pipeline until {r.base_until}")
                lines.append(shlex.join(self.base_command(r)))
            lines.append(f"# {r.name} [{self.status(r)}] config {r.config_hash}")
            cmd = self.command(r)
            lines.append(shlex.join(cmd) if cmd else f"# (no training: scored by sampling {r.base_dir})")
        return lines

    def execute(self, log=print) -> pd.DataFrame:
        store.check_manifest(self.out, self.manifest())
        t0 = time.time()
        for r in self.runs:
            state = self.status(r)
            if state == "scored":
                log(f"[{r.name}] finished earlier: skipped (no training, no scoring)")
                continue
            if r.base_dir is not None and state in ("new", "partial") and not self.base_finished(r):
                log(f"[{r.name}] base {r.variant.base}/seed{r.seed}: pipeline until {r.base_until}")
                self._subprocess(self.base_command(r), r.base_dir, f"base:{r.variant.base}/seed{r.seed}", "pipeline.log")
            if state in ("new", "partial") and r.variant.stage != "sample":
                if r.source is not None and not (r.source / store.ROWS).exists() and not (r.source / "hf" / "run.json").exists():
                    raise AblationError(f"{r.name} uptrains from {r.source}, which has not finished")
                what = f"{r.cfg.run.max_steps} steps" if r.base_dir is None else f"stage {r.variant.stage}"
                log(f"[{r.name}] {'resuming from ' + (r.dir / 'checkpoints' / 'latest').read_text().strip() if state == 'partial' else 'training'}"
                    f" ({what})")
                self._train(r)
            elif r.variant.stage == "sample":
                log(f"[{r.name}] sampling the base's policies (no training)")
            else:
                log(f"[{r.name}] trained earlier: scoring only")
            rows = self.score(r)
            store.write_rows(r.dir / store.ROWS, rows)
            log(f"[{r.name}] scored: {len(rows)} rows ({time.time() - t0:.0f}s into the sweep)")
        return self.collect()

    def _train(self, run: Run) -> None:
        self._subprocess(self.command(run), run.dir, run.name, "train.log")

    def _subprocess(self, cmd: list[str], folder: Path, name: str, log_name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in DIST_VARS}
        env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("HF_DATASETS_OFFLINE", "1")
        # test hook: "<variant>/seed<k>:kill@N" (or "base:<base>/seed<k>:kill@N") -> HARNESS_FAULT of that process
        target, _, fault = os.environ.get("ABLATIONS_FAULT", "").rpartition(":")
        if target == name:
            env["HARNESS_FAULT"] = fault
        log_path = folder / log_name
        with open(log_path, "a") as logf:
            logf.write(f"\n$ {shlex.join(cmd)}\n")
            logf.flush()
            proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=logf, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            tail = log_path.read_text()[-2000:]
            raise AblationError(f"{name} failed (exit {proc.returncode}); re-run the same command to resume it. "
                                f"Log {log_path}:\n{tail}")

    def score(self, run: Run) -> pd.DataFrame:
        from ablations import score

        hf = run.dir / "hf"
        frames = []
        if run.variant.stage == "reward":
            rows = score.reward_rows(run.dir)
            fraction = dict(o.split("=", 1) for o in run.overrides).get("rm.data_fraction")
            if fraction is not None:  # the RM-scaling study's axes, as the reports read them
                rows = rows.assign(model_size=run.variant.base, data_fraction=float(fraction))
            frames.append(rows)
        if run.variant.stage == "sample":
            from harness.stages.common import parse_options

            opts = parse_options(score.SampleOptions, run.overrides, "sample")
            frames.append(score.temperature_rows(run.base_dir, opts.temperature, seed=run.seed,
                                                 **self.ablation.sample_settings.get(self.preset, {}))
                          .assign(temperature=opts.temperature))
            hf = run.base_dir / run.base_until / "hf"
        elif run.base_dir is not None:
            pass  # a reward model: no language-model tasks or probes
        elif "validation" in self.probe_list:
            frames.append(score.validation_rows(run.dir))
        if self.task_list and run.base_dir is None:
            frames.append(score.lm_rows(hf, self.task_list, score.world_data(self.data, run.seed), self.limit,
                                        self.ablation.max_gen_toks, task_options=self.task_options()))
        if "inference" in self.probe_list and run.base_dir is None:
            frames.append(score.inference_rows(hf, **self.ablation.probe_settings.get(self.preset, {}).get("inference", {})))
        df = pd.concat([f for f in frames if len(f)], ignore_index=True) if frames else pd.DataFrame()
        info = json.loads((hf / "run.json").read_text())
        df.insert(0, "run", run.name)
        df.insert(1, "ablation", run.ablation)
        df.insert(2, "variant", run.variant.name)
        df.insert(3, "seed", run.seed)
        df.insert(4, "step", int(info.get("steps", run.cfg.run.max_steps)))
        df["config_hash"] = run.config_hash
        df["git_commit"] = info.get("git_commit", "unknown")
        df["parameters"] = info.get("parameters")
        df["tokens_seen"] = (info.get("tokens_seen") or 0) + (info.get("source_tokens_seen") or 0)
        df["train_wall_time_s"] = info.get("wall_time_s")
        extra = [c for c in df.columns if c not in store.ROW_COLUMNS]
        return df[store.ROW_COLUMNS + extra]

    # ------------------------------------------------------------------ collect

    def collect(self) -> pd.DataFrame:
        """Rebuild results, curves, summary and paired tables from every scored run folder of
        this store (also runs of seeds/variants from earlier sweeps of the same config)."""
        frames, curves = [], []
        for rows in sorted((self.out / "runs").glob(f"*/seed*/{store.ROWS}")):
            frames.append(store.read_rows(rows))
            curves.append(curve_rows(rows.parent, frames[-1].iloc[0]))
        results = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=store.ROW_COLUMNS)
        store.write_table(self.out, "results", results)
        curves = [c for c in curves if len(c)]
        if curves:
            store.write_table(self.out, "curves", pd.concat(curves, ignore_index=True))
        if len(results):
            summary = stats.summarize(results)
            paired = stats.paired_differences(results, self.ablation.baseline)
            summary.to_csv(self.out / "summary.csv", index=False)
            paired.to_csv(self.out / "paired.csv", index=False)
        return results


def curve_rows(run_dir: Path, like: pd.Series) -> pd.DataFrame:
    metrics = run_dir / "metrics.jsonl"
    recs = [json.loads(x) for x in metrics.read_text().splitlines() if x.strip()] if metrics.exists() else []
    rows = []
    for r in recs:
        for metric in ("loss", "val_loss", "lr", "tokens_per_s"):
            if metric in r and isinstance(r[metric], (int, float)) and math.isfinite(r[metric]):
                rows.append({"run": like["run"], "ablation": like["ablation"], "variant": like["variant"],
                             "seed": int(like["seed"]), "step": r["step"], "task": "train", "metric": metric,
                             "value": float(r[metric]), "stderr": None, "n": None,
                             "config_hash": like["config_hash"], "git_commit": like["git_commit"]})
    return pd.DataFrame(rows, columns=store.ROW_COLUMNS)


POST_PREFIXES = ("sft", "rm", "rs", "ppo")  # pipeline stage options (not harness config sections)


def check_options(stage: str, options: list[str]) -> None:
    """Reject an unknown `rm.*` / `sample.*` option at plan time, naming the valid ones."""
    from harness.stages.common import parse_options

    if stage == "reward":
        from harness.stages.reward import RewardOptions

        parse_options(RewardOptions, options, "rm")
    else:
        from ablations.score import SampleOptions

        parse_options(SampleOptions, options, "sample")


def dedup(overrides: list[str]) -> list[str]:
    """key=value list where a later value of a key replaces the earlier one (in its place)."""
    out: dict[str, str] = {}
    for o in overrides:
        key, _, value = o.partition("=")
        out[key.strip()] = value
    return [f"{k}={v}" for k, v in out.items()]
