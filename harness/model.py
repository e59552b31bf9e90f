"""The Llama 2 model family from stock `transformers` classes.

RMSNorm pre-norm, SwiGLU and RoPE come with `LlamaForCausalLM`; MHA/MQA/GQA is
`num_key_value_heads`. Nothing here subclasses the model, so any checkpoint we write
loads in stock transformers, vLLM, lm-eval, etc.
"""

from __future__ import annotations

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from harness.config import Config, ModelConfig


def hf_config(m: ModelConfig) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=m.vocab_size,
        hidden_size=m.dim,
        intermediate_size=m.ffn_hidden,
        num_hidden_layers=m.n_layers,
        num_attention_heads=m.n_heads,
        num_key_value_heads=m.n_kv_heads,
        head_dim=m.head_dim,
        max_position_embeddings=m.max_seq_len,
        rms_norm_eps=m.norm_eps,
        rope_theta=m.rope_theta,
        initializer_range=m.init_std,
        tie_word_embeddings=False,  # Llama 2 keeps input and output embeddings separate
        attention_bias=False,
        mlp_bias=False,
        hidden_act="silu",
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=None,
        use_cache=True,
    )


def build_model(m: ModelConfig, seed: int, dtype: torch.dtype = torch.float32) -> LlamaForCausalLM:
    """A freshly initialised model; the same seed gives the same weights."""
    torch.manual_seed(seed)
    model = LlamaForCausalLM(hf_config(m))
    return model.to(dtype)


def meta_model(m: ModelConfig) -> LlamaForCausalLM:
    """The model on the meta device: exact shapes and counts with no memory (70B included)."""
    with torch.device("meta"):
        return LlamaForCausalLM(hf_config(m))


def count_parameters(model: torch.nn.Module) -> int:
    # Under ZeRO-3 a parameter's local tensor is a shard; ds_numel is its full size.
    return sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters())


def dry_run(cfg: Config, processes_per_node: int = 1, nodes: int = 1) -> dict:
    """Parameter count, ZeRO-3 memory per device for model states, and tokens per step.

    Memory comes from DeepSpeed's own estimator (params + grads + Adam states, no offload);
    activations are excluded and depend on micro batch and recompute settings.
    """
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs

    model = meta_model(cfg.model)
    total = count_parameters(model)
    largest_layer = max(
        sum(p.numel() for p in module.parameters())
        for module in [model.model.embed_tokens, model.lm_head, *model.model.layers]
    )
    world = processes_per_node * nodes
    _, device_bytes, _ = estimate_zero3_model_states_mem_needs(
        total, largest_layer, num_gpus_per_node=processes_per_node, num_nodes=nodes,
        cpu_offload=False, cpu_offload_params=False, zero_init=True,
    )
    return {
        "preset": cfg.preset,
        "parameters": total,
        "parameters_human": human(total),
        "attention": cfg.model.attention,
        "kv_heads": cfg.model.n_kv_heads,
        "ffn_dim": cfg.model.ffn_hidden,
        "processes": world,
        "zero3_model_state_bytes_per_device": int(device_bytes),
        "zero3_model_state_gib_per_device": round(device_bytes / 2**30, 2),
        "micro_batch_size": cfg.run.micro_batch_size,
        "grad_accum": cfg.grad_accum(world),
        "tokens_per_step": cfg.tokens_per_step(),
        "steps": cfg.run.max_steps,
        "total_tokens": cfg.tokens_per_step() * cfg.run.max_steps,
    }


def human(n: float) -> str:
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(int(n))
