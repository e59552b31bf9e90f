"""What the post-training stages share: reading a checkpoint folder, the stage config
(paper hyperparameters scaled to the preset), stage options with `stage.key=value`
overrides, export, sampling, and generation from a ZeRO-3 engine.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path

import torch

from harness import config as C
from harness.export import RUN_FILE

# The paper's post-training lrs are quoted for 7B/13B, whose pretraining peak is 3e-4.
# A preset's own pretraining lr sets the scale (tiny-cpu 3e-3 -> SFT 2e-4, RM 1e-4, PPO 1e-5;
# llama2-70b 1.5e-4 -> RM 5e-6, the paper's 70B value).
PAPER_PRETRAIN_LR = 3e-4

# Tokens a post-training stage lets the policy generate (RS, PPO, on-policy RM pairs, the
# oracle evaluation). It must cover the answers the policy was taught: the generated world's
# longest SFT answer is 206 tokens at tiny-cpu's 512-piece vocabulary (a story; the explained
# refusal is ~110), and fewer at larger vocabularies. A shorter budget cuts every good answer
# mid-word, and the RMs, trained on complete answers, then score the cut answer below short
# garbage that ends (tests/test_posttrain_budget.py; BENCHMARKS.md).
POSTTRAIN_NEW_TOKENS = 224


def lr_scale(cfg: C.Config) -> float:
    base = C.preset(cfg.preset).optim.lr if cfg.preset in C.PRESETS else cfg.optim.lr
    return base / PAPER_PRETRAIN_LR


def checkpoint_info(folder: str | Path, what: str = "checkpoint") -> dict:
    """run.json of an exported HF folder (or a run folder holding hf/); says which path is missing."""
    folder = Path(folder)
    if (folder / "hf" / RUN_FILE).exists():
        folder = folder / "hf"
    if not (folder / RUN_FILE).exists() or not (folder / "config.json").exists():
        raise FileNotFoundError(f"{what} not found: {folder} (expected an exported folder with config.json and "
                                f"{RUN_FILE}, e.g. <run>/hf)")
    info = json.loads((folder / RUN_FILE).read_text())
    info["_folder"] = str(folder)
    return info


def base_config(info: dict) -> C.Config:
    return C.from_dict(info["config"])


def stage_config(base: C.Config, *, lr: float, max_steps: int, warmup: int, min_lr_ratio: float,
                 overrides: list[str] | dict | None = None, **run) -> C.Config:
    """The checkpoint's config with the stage's optimiser and run values, then user overrides."""
    cfg = dataclasses.replace(
        base,
        optim=dataclasses.replace(base.optim, lr=lr, warmup_steps=warmup, min_lr_ratio=min_lr_ratio),
        run=dataclasses.replace(base.run, max_steps=max(1, max_steps), **run))
    return C.validate(C.apply_overrides(cfg, overrides or []))


def warmup_steps(max_steps: int) -> int:
    """The paper's RM warmup: 3% of steps, at least 5 (never all of a very short run)."""
    return min(max(5, round(0.03 * max_steps)), max(1, max_steps - 1))


# ----------------------------------------------------------------------------- options


def split_overrides(overrides: list[str], prefix: str) -> tuple[list[str], list[str]]:
    """(`prefix.key=value` items, the rest)."""
    mine = [o for o in overrides if o.split("=", 1)[0].startswith(prefix + ".")]
    return mine, [o for o in overrides if o not in mine]


def parse_options(cls, overrides: list[str], prefix: str):
    """A stage-options dataclass from `prefix.key=value` strings, typed like config overrides."""
    hints = typing.get_type_hints(cls)
    values = {}
    for item in overrides:
        key, raw = C._split(item)
        name = key[len(prefix) + 1:]
        if name not in hints:
            raise C.ConfigError(f"unknown option {key!r}; valid: "
                                + ", ".join(f"{prefix}.{f.name}" for f in dataclasses.fields(cls)))
        values[name] = C._convert(key, raw, hints[name])
    return cls(**values)


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str))


def finished(out_dir: str | Path) -> bool:
    """A stage is finished once its export is complete (export writes hf/ atomically)."""
    return (Path(out_dir) / "hf" / RUN_FILE).exists()


def has_checkpoint(out_dir: str | Path) -> bool:
    return (Path(out_dir) / "checkpoints" / "latest").exists()


# ----------------------------------------------------------------------------- models


def load_causal_lm(folder: str | Path, what: str = "policy checkpoint", device: torch.device | str = "cpu"):
    from transformers import LlamaForCausalLM

    info = checkpoint_info(folder, what)
    return LlamaForCausalLM.from_pretrained(info["_folder"], dtype=torch.float32).to(device), info


NOT_TOKENIZER = ("config.json", "generation_config.json", RUN_FILE, "eval.json")


def tokenizer_dir(checkpoint: str | Path, out_dir: str | Path) -> Path:
    """`out_dir/tokenizer`: only the tokenizer files of a checkpoint folder (export copies
    every file of the folder it is given, which must not bring the old weights along)."""
    import shutil

    src = Path(checkpoint_info(checkpoint)["_folder"])
    dst = Path(out_dir) / "tokenizer"
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and f.name not in NOT_TOKENIZER and not f.name.endswith((".safetensors", ".bin")):
            shutil.copy2(f, dst / f.name)
    return dst


def load_tokenizer_from(folder: str | Path):
    from harness.tokenizer import load_tokenizer

    return load_tokenizer(checkpoint_info(folder)["_folder"])


@torch.no_grad()
def sample(model, prompts: list[list[int]], *, max_new_tokens: int, temperature: float, seed: int,
           pad_id: int, eos_id: int, batch_size: int = 64) -> list[list[int]]:
    """Response ids per prompt (ending at </s> when the model emits it), left-padded batches.
    temperature 0 is greedy. Seeded, so the same call gives the same samples."""
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    out: list[list[int]] = []
    dev = next(model.parameters()).device
    for i in range(0, len(prompts), batch_size):
        chunk = prompts[i:i + batch_size]
        n = max(len(p) for p in chunk)
        ids = torch.full((len(chunk), n), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for j, p in enumerate(chunk):
            ids[j, n - len(p):] = torch.tensor(p)
            mask[j, n - len(p):] = 1
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        kw = dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0) if temperature > 0 else dict(do_sample=False)
        seqs = model.generate(input_ids=ids.to(dev), attention_mask=mask.to(dev), max_new_tokens=max_new_tokens,
                              eos_token_id=eos_id, pad_token_id=pad_id, **kw)
        for row in seqs[:, n:].tolist():
            out.append(row[: row.index(eos_id) + 1] if eos_id in row else row)
    model.train(was_training)
    return out


class InferenceCopy:
    """A plain (unpartitioned) copy of a ZeRO-3 model for generation.

    Generating from the ZeRO-3 module would all-gather every layer for every new token.
    Instead the partitioned weights are gathered once per rollout batch (one
    `GatheredParameters` over all parameters) and copied into this copy, which then
    generates at plain `generate` speed. Costs one extra copy of the weights in memory.
    """

    def __init__(self, template, device: torch.device | str = "cpu"):
        import copy

        self.model = copy.deepcopy(template).to(device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def refresh(self, module) -> torch.nn.Module:
        import deepspeed

        params = list(module.parameters())
        with deepspeed.zero.GatheredParameters(params):  # no-op below ZeRO-3
            dst = dict(self.model.named_parameters())
            for name, p in module.named_parameters():
                dst[name].data.copy_(p.data.to(dst[name].dtype))
        return self.model
