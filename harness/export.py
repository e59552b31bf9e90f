"""DeepSpeed checkpoint -> HF folder (safetensors + config + tokenizer + run.json).

The weights are the fp32 master weights reassembled from every rank's ZeRO shards by
DeepSpeed's own `zero_to_fp32`, so export needs no process group and works on a laptop
for a checkpoint written by a cluster.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from pathlib import Path

import torch

from harness.config import Config
from harness.model import count_parameters, hf_config

RUN_FILE = "run.json"


def git_commit() -> str:
    repo = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def library_versions() -> dict:
    import deepspeed
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__,
            "deepspeed": deepspeed.__version__, "transformers": transformers.__version__}


def compute_platform() -> dict:
    """What the bits of a run depend on besides config and seed. On CPU, oneDNN runs bf16
    matrix products on AMX tiles where the CPU has them and on AVX-512 otherwise, and the two
    round differently: the same config and seed reproduce a run on the same kind of CPU, not
    across these (BENCHMARKS.md, "The default recipe on seeds that chose nothing")."""
    if torch.cuda.is_available():
        return {"device": torch.cuda.get_device_name(), "cuda": torch.version.cuda}
    cpu = torch.cpu
    has = lambda name: bool(getattr(cpu, name, lambda: False)())  # noqa: E731  (private probes; absent on old torch)
    return {"device": "cpu", "processor": platform.processor() or platform.machine(),
            "capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
            "amx": has("_is_amx_tile_supported"), "avx512_bf16": has("_is_avx512_bf16_supported")}


def full_state_dict(ckpt_dir: str | Path, tag: str | None = None) -> dict[str, torch.Tensor]:
    """fp32 weights of the whole model from a DeepSpeed checkpoint folder (any ZeRO stage)."""
    ckpt_dir = Path(ckpt_dir)
    tag = tag or (ckpt_dir / "latest").read_text().strip()
    folder = ckpt_dir / tag
    if not folder.is_dir():
        raise FileNotFoundError(f"no checkpoint {folder}")
    if any(folder.glob("*optim_states.pt")) and any(folder.glob("zero_pp_rank_*")):
        from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

        state = get_fp32_state_dict_from_zero_checkpoint(str(ckpt_dir), tag=tag)
    else:  # ZeRO stage 0: the module's state dict is stored whole
        state = torch.load(folder / "mp_rank_00_model_states.pt", map_location="cpu", weights_only=False)["module"]
    return {k: v.float() for k, v in state.items()}


def export_hf(
    cfg: Config,
    ckpt_dir: str | Path,
    out_dir: str | Path,
    *,
    tokenizer_dir: str | Path,
    run_info: dict,
    tag: str | None = None,
    model_class=None,
    dtype: torch.dtype = torch.float32,
    prefix: str = "",
    config_updates: dict | None = None,
    state: dict | None = None,
) -> Path:
    """Write an HF folder that `AutoModelForCausalLM.from_pretrained` and lm-eval load.

    `prefix`: export only the checkpoint's weights under this module prefix (e.g. the
    policy inside PPO's policy + value-head wrapper), with the prefix stripped.
    `config_updates`: attributes set on the HF config (e.g. num_labels=1 for a reward model).
    `state`: these weights instead of the checkpoint's (e.g. PPO's best iteration).
    """
    from transformers import LlamaForCausalLM

    model_class = model_class or LlamaForCausalLM
    out_dir = Path(out_dir)
    state = full_state_dict(ckpt_dir, tag) if state is None else state
    if prefix:
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    hf_cfg = hf_config(cfg.model)
    for key, value in (config_updates or {}).items():
        setattr(hf_cfg, key, value)
    with torch.device("meta"):
        model = model_class(hf_cfg)
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    if missing or unexpected:
        raise RuntimeError(f"checkpoint {ckpt_dir} does not match the model: missing {missing}, unexpected {unexpected}")
    model = model.to(dtype)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    for f in Path(tokenizer_dir).iterdir():
        if f.is_file():
            shutil.copy2(f, tmp / f.name)
    info = {"config": cfg.to_dict(), "seed": cfg.run.seed, "git_commit": git_commit(),
            "parameters": count_parameters(model), "versions": library_versions(),
            "platform": compute_platform(), **run_info}
    (tmp / RUN_FILE).write_text(json.dumps(info, indent=2))
    # Replace the old export only once the new one is complete.
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir


def read_run_info(folder: str | Path) -> dict:
    return json.loads((Path(folder) / RUN_FILE).read_text())
