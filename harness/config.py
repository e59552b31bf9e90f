"""Typed configs, named presets and `section.key=value` overrides.

A preset is a plain function returning a frozen `Config`; a variant is
`dataclasses.replace`. Every value a run uses lives here, so `run.json` (the resolved
config written beside each checkpoint) is enough to reproduce it.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field


class ConfigError(ValueError):
    """A config value is unknown, of the wrong type, or inconsistent. The message names the key."""


# ----------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = 32000
    dim: int = 4096
    n_layers: int = 32
    n_heads: int = 32
    # "mha" (kv heads = heads), "mqa" (one kv head) or "gqa:<kv_heads>"
    attention: str = "mha"
    # FFN width: explicit, or Meta's rule int(8*dim/3 * multiplier) rounded up to multiple_of
    ffn_dim: int | None = None
    ffn_dim_multiplier: float | None = None
    multiple_of: int = 256
    # Widen the FFN of MQA/GQA so the parameter count matches MHA (the paper's Table 18 set-up)
    match_mha_params: bool = False
    max_seq_len: int = 4096  # position limit (max_position_embeddings)
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    init_std: float = 0.02

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def n_kv_heads(self) -> int:
        return parse_attention(self.attention, self.n_heads)

    @property
    def ffn_hidden(self) -> int:
        base = self.ffn_dim if self.ffn_dim is not None else meta_ffn_dim(self.dim, self.ffn_dim_multiplier, self.multiple_of)
        if not self.match_mha_params or self.n_kv_heads == self.n_heads:
            return base
        # K and V projections shrink by 2*dim*(heads-kv)*head_dim per layer; the three FFN
        # matrices grow by 3*dim per unit of width. Round to the nearest multiple_of.
        saved = 2 * self.dim * (self.n_heads - self.n_kv_heads) * self.head_dim
        extra = saved / (3 * self.dim)
        return int(round((base + extra) / self.multiple_of) * self.multiple_of)


@dataclass(frozen=True)
class DataConfig:
    # "world" (embedded generated corpus), a .jsonl/.jsonl.gz/.txt file, a folder of them,
    # or "hf:<dataset>[:<config>]" (needs network)
    source: str = "world"
    world_size: str = "tiny"  # size knob of the generated world when source == "world"
    seq_len: int = 4096
    val_fraction: float = 0.01  # share of documents held out for validation (at least one)
    max_documents: int | None = None  # cap on documents read (None: all)
    tokenizer: str | None = None  # folder of an existing tokenizer; None: train one on the data
    tokenizer_train_documents: int = 5000


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 3e-4
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-5
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    warmup_steps: int = 2000
    min_lr_ratio: float = 0.1  # cosine decays to 10% of the peak


@dataclass(frozen=True)
class RunConfig:
    seed: int = 0
    max_steps: int = 500_000
    micro_batch_size: int = 1  # sequences per process per forward
    global_batch_size: int = 1024  # sequences per optimiser step (4M tokens at 4k context)
    precision: str = "bf16"  # "bf16" or "fp32"
    zero_stage: int = 3
    # Parameters smaller than this stay gathered on every rank under ZeRO-3 (DeepSpeed's
    # default 1e5): fast for small models, but then only gradients and optimiser states are
    # partitioned. 0 partitions every parameter.
    zero3_persistence_threshold: int = 100_000
    log_every: int = 1
    eval_every: int = 1000
    eval_batches: int = 20
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2


@dataclass(frozen=True)
class Config:
    preset: str = "custom"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def grad_accum(self, world_size: int) -> int:
        per_pass = self.run.micro_batch_size * world_size
        if self.run.global_batch_size % per_pass:
            raise ConfigError(
                f"run.global_batch_size={self.run.global_batch_size} is not a multiple of "
                f"run.micro_batch_size x processes = {self.run.micro_batch_size} x {world_size}"
            )
        return self.run.global_batch_size // per_pass

    def tokens_per_step(self) -> int:
        return self.run.global_batch_size * self.data.seq_len


# ----------------------------------------------------------------------------- helpers


def meta_ffn_dim(dim: int, multiplier: float | None, multiple_of: int) -> int:
    """FFN width as in Meta's llama/model.py: 2/3 of 4*dim (SwiGLU), scaled, rounded up."""
    hidden = int(2 * (4 * dim) / 3)
    if multiplier is not None:
        hidden = int(multiplier * hidden)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


def parse_attention(spec: str, n_heads: int) -> int:
    """Number of key/value heads for an attention spec ("mha", "mqa", "gqa:<kv>")."""
    if spec == "mha":
        return n_heads
    if spec == "mqa":
        return 1
    if spec.startswith("gqa:"):
        try:
            kv = int(spec.split(":", 1)[1])
        except ValueError:
            raise ConfigError(f"model.attention={spec!r}: expected gqa:<kv_heads> with an integer") from None
        if kv < 1 or n_heads % kv:
            raise ConfigError(
                f"model.attention={spec!r}: {kv} kv heads do not divide model.n_heads={n_heads}"
            )
        return kv
    raise ConfigError(f"model.attention={spec!r}: expected one of 'mha', 'mqa', 'gqa:<kv_heads>'")


def validate(cfg: Config) -> Config:
    """Check consistency before any compute; raise ConfigError naming the key."""
    m, d, o, r = cfg.model, cfg.data, cfg.optim, cfg.run
    positive = {
        "model.vocab_size": m.vocab_size, "model.dim": m.dim, "model.n_layers": m.n_layers,
        "model.n_heads": m.n_heads, "model.max_seq_len": m.max_seq_len, "data.seq_len": d.seq_len,
        "run.max_steps": r.max_steps, "run.micro_batch_size": r.micro_batch_size,
        "run.global_batch_size": r.global_batch_size, "run.checkpoint_every": r.checkpoint_every,
        "run.eval_every": r.eval_every, "run.log_every": r.log_every, "optim.lr": o.lr,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key}={value}: must be positive")
    if m.dim % m.n_heads:
        raise ConfigError(f"model.dim={m.dim} is not divisible by model.n_heads={m.n_heads}")
    parse_attention(m.attention, m.n_heads)
    if d.seq_len > m.max_seq_len:
        raise ConfigError(
            f"data.seq_len={d.seq_len} exceeds the model's position limit model.max_seq_len={m.max_seq_len}"
        )
    if r.precision not in ("bf16", "fp32"):
        raise ConfigError(f"run.precision={r.precision!r}: expected 'bf16' or 'fp32'")
    if r.zero_stage not in (0, 1, 2, 3):
        raise ConfigError(f"run.zero_stage={r.zero_stage}: expected 0, 1, 2 or 3")
    if not 0 <= o.min_lr_ratio <= 1:
        raise ConfigError(f"optim.min_lr_ratio={o.min_lr_ratio}: expected a value in [0, 1]")
    if not (0 <= o.beta1 < 1 and 0 <= o.beta2 < 1):
        raise ConfigError(f"optim.beta1/beta2=({o.beta1}, {o.beta2}): expected values in [0, 1)")
    if o.warmup_steps < 0:
        raise ConfigError(f"optim.warmup_steps={o.warmup_steps}: must be >= 0")
    if not 0 < d.val_fraction < 1:
        raise ConfigError(f"data.val_fraction={d.val_fraction}: expected a value in (0, 1)")
    if r.global_batch_size % r.micro_batch_size:
        raise ConfigError(
            f"run.global_batch_size={r.global_batch_size} is not a multiple of run.micro_batch_size={r.micro_batch_size}"
        )
    return cfg


# ----------------------------------------------------------------------------- presets


def tiny_cpu() -> Config:
    """Trains in minutes on 2 CPU cores; sized after the calibration in DESIGN.md."""
    return Config(
        preset="tiny-cpu",
        model=ModelConfig(vocab_size=512, dim=192, n_layers=4, n_heads=6, attention="mha",
                          multiple_of=32, max_seq_len=512),
        data=DataConfig(source="world", seq_len=256, val_fraction=0.02, tokenizer_train_documents=2000),
        # Warmup scaled: the paper warms up 2000 of ~500k steps; at a few hundred steps we
        # use ~5% so the tiny model does not diverge at its (higher) peak lr.
        optim=OptimConfig(lr=3e-3, warmup_steps=30),
        run=RunConfig(max_steps=600, micro_batch_size=16, global_batch_size=16, precision="bf16",
                      eval_every=100, eval_batches=8, checkpoint_every=100),
    )


def small_gpu() -> Config:
    """~134M parameters (GPT-2-small sized Llama) for one GPU."""
    return Config(
        preset="small-gpu",
        model=ModelConfig(vocab_size=32000, dim=768, n_layers=12, n_heads=12, attention="mha",
                          max_seq_len=2048),
        data=DataConfig(source="world", world_size="small", seq_len=2048),
        optim=OptimConfig(lr=6e-4, warmup_steps=200),
        run=RunConfig(max_steps=5000, micro_batch_size=8, global_batch_size=64, precision="bf16",
                      eval_every=250, eval_batches=20, checkpoint_every=500),
    )


def _llama2(name: str, dim: int, n_layers: int, n_heads: int, attention: str, lr: float,
            ffn_dim_multiplier: float | None = None, multiple_of: int = 256) -> Config:
    # Paper Table 1 / sec. 2.2: 4k context, 4M-token batches, 2000 warmup steps, 2T tokens.
    return Config(
        preset=name,
        model=ModelConfig(vocab_size=32000, dim=dim, n_layers=n_layers, n_heads=n_heads,
                          attention=attention, ffn_dim_multiplier=ffn_dim_multiplier,
                          multiple_of=multiple_of, max_seq_len=4096),
        data=DataConfig(source="world", world_size="small", seq_len=4096),
        optim=OptimConfig(lr=lr, warmup_steps=2000),
        run=RunConfig(max_steps=2_000_000_000_000 // (1024 * 4096), micro_batch_size=1,
                      global_batch_size=1024, precision="bf16", eval_every=1000, checkpoint_every=1000),
    )


PRESETS: dict[str, typing.Callable[[], Config]] = {
    "tiny-cpu": tiny_cpu,
    "small-gpu": small_gpu,
    "llama2-7b": lambda: _llama2("llama2-7b", 4096, 32, 32, "mha", 3e-4),
    "llama2-13b": lambda: _llama2("llama2-13b", 5120, 40, 40, "mha", 3e-4),
    "llama2-70b": lambda: _llama2("llama2-70b", 8192, 80, 64, "gqa:8", 1.5e-4,
                                  ffn_dim_multiplier=1.3, multiple_of=4096),
}


def preset(name: str) -> Config:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return PRESETS[name]()


# ----------------------------------------------------------------------------- overrides


def _convert(key: str, raw: str, annotation) -> object:
    """Parse `raw` into the field's declared type, or raise ConfigError naming the key."""
    if isinstance(annotation, str):
        annotation = eval(annotation, {**vars(typing), "int": int, "float": float, "str": str, "bool": bool})
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and raw.lower() in ("none", "null"):
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(key, raw, arg)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0])
    if annotation is bool:
        if raw.lower() in ("true", "1", "yes"):
            return True
        if raw.lower() in ("false", "0", "no"):
            return False
        raise ConfigError(f"{key}={raw!r}: expected a boolean (true/false)")
    if annotation is int:
        try:
            value = float(raw) if ("e" in raw.lower() and not raw.lower().startswith("0x")) else int(raw)
        except ValueError:
            raise ConfigError(f"{key}={raw!r}: expected an integer") from None
        if isinstance(value, float):
            if not value.is_integer():
                raise ConfigError(f"{key}={raw!r}: expected an integer")
            value = int(value)
        return value
    if annotation is float:
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{key}={raw!r}: expected a number") from None
        if not math.isfinite(value):
            raise ConfigError(f"{key}={raw!r}: expected a finite number")
        return value
    if annotation is str:
        return raw
    raise ConfigError(f"{key}: cannot override a field of type {annotation}")


def all_keys(cfg: Config) -> list[str]:
    keys = ["preset"]
    for section in ("model", "data", "optim", "run"):
        keys += [f"{section}.{f.name}" for f in dataclasses.fields(getattr(cfg, section))]
    return keys


def apply_overrides(cfg: Config, overrides: list[str] | dict[str, object]) -> Config:
    """Apply `section.key=value` strings (or a {key: value} dict). Unknown keys are named."""
    items = overrides.items() if isinstance(overrides, dict) else [_split(o) for o in overrides]
    for key, raw in items:
        section, _, name = key.partition(".")
        sections = {"model", "data", "optim", "run"}
        if section not in sections or not name:
            raise ConfigError(_unknown(cfg, key))
        sub = getattr(cfg, section)
        fields = {f.name: f for f in dataclasses.fields(sub)}
        if name not in fields:
            raise ConfigError(_unknown(cfg, key))
        hints = typing.get_type_hints(type(sub))
        value = _convert(key, raw, hints[name]) if isinstance(raw, str) else raw
        cfg = dataclasses.replace(cfg, **{section: dataclasses.replace(sub, **{name: value})})
    return cfg


def _split(override: str) -> tuple[str, str]:
    if "=" not in override:
        raise ConfigError(f"override {override!r}: expected section.key=value, e.g. run.max_steps=100")
    key, value = override.split("=", 1)
    return key.strip(), value.strip()


def _unknown(cfg: Config, key: str) -> str:
    keys = all_keys(cfg)
    close = difflib.get_close_matches(key, keys, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"unknown config key {key!r}{hint}; valid keys: {', '.join(keys)}"


def from_dict(data: dict) -> Config:
    """Rebuild a Config from `Config.to_dict()` output (e.g. a checkpoint's run.json)."""
    return Config(
        preset=data.get("preset", "custom"),
        model=ModelConfig(**data["model"]),
        data=DataConfig(**data["data"]),
        optim=OptimConfig(**data["optim"]),
        run=RunConfig(**data["run"]),
    )


def load(preset_name: str, overrides: list[str] | dict | None = None) -> Config:
    return validate(apply_overrides(preset(preset_name), overrides or []))
