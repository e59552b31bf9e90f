"""`python -m harness generate` from a checkpoint, with and without a LoRA adapter."""

from __future__ import annotations

from test_sft import base  # noqa: F401


def test_generate_cli_batch_and_adapter(base, tmp_path):  # noqa: F811
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    from support import run_cli

    out = run_cli("generate", "--checkpoint", str(base), "--prompt", "Who is Ada?", "--prompt", "Hi",
                  "--temperature", "0", "--max-new-tokens", "6").stdout
    assert ">>> Who is Ada?" in out and ">>> Hi" in out

    peft = get_peft_model(LlamaForCausalLM.from_pretrained(str(base)),
                          LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False))
    peft.save_pretrained(str(tmp_path / "adapter"))
    out2 = run_cli("generate", "--checkpoint", str(base), "--adapter", str(tmp_path / "adapter"),
                   "--prompt", "Who is Ada?", "--temperature", "0", "--max-new-tokens", "6").stdout
    assert ">>> Who is Ada?" in out2
    bad = run_cli("generate", "--checkpoint", str(base), "--adapter", str(tmp_path / "none"), "--prompt", "x",
                  check=False)
    assert bad.returncode == 2 and f"adapter not found: {tmp_path / 'none'}" in bad.stderr
