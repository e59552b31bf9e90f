"""SFT: answer-only labels, packing without cross-example attention, a short run, LoRA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from harness.data.posttrain import SFTExample
from harness.data.sft import IGNORE, encode_example, pack, pack_examples, prompt_ids
from harness.stages.sft import sft_loss


def make_base(folder: Path, n_layers: int = 2, dim: int = 64, seed: int = 0) -> Path:
    """A tiny random Llama exported like a pretraining run (weights, tokenizer, run.json)."""
    from harness import config
    from harness.data.sources import load_documents
    from harness.model import build_model
    from harness.tokenizer import train_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    cfg = config.load("tiny-cpu", {"model.n_layers": n_layers, "model.dim": dim, "model.n_heads": 4,
                                   "run.precision": "fp32", "run.micro_batch_size": 4, "run.global_batch_size": 4,
                                   "data.seq_len": 128})
    train_tokenizer(load_documents("world", world_size="tiny", seed=0)[:400], 512, folder, model_max_length=512)
    build_model(cfg.model, seed=seed).save_pretrained(str(folder))
    (folder / "run.json").write_text(json.dumps({"config": cfg.to_dict(), "stage": "pretrain"}))
    return folder


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return make_base(tmp_path_factory.mktemp("base") / "hf")


@pytest.fixture(scope="module")
def tok(base):
    from harness.tokenizer import load_tokenizer

    return load_tokenizer(base)


def test_labels_mask_the_prompt(tok):
    ex = SFTExample("What job does Ada have?", "Ada is a baker.")
    ids, labels = encode_example(tok, ex, 128)
    n_prompt = len(prompt_ids(tok, ex.prompt))
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert labels[:n_prompt] == [IGNORE] * n_prompt
    assert labels[n_prompt:] == ids[n_prompt:]
    assert "[/INST]" in tok.decode(ids[:n_prompt])


def test_prompt_tokens_get_no_gradient(base, tok):
    """Through the real SFT loss on a packed row: the logits whose target is a prompt token
    (or padding, or the next example's first token) get exactly zero gradient; every answer
    target gets some."""
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(str(base))
    ex = [SFTExample("Tell me where Bo lives.", "Bo lives in Elm."), SFTExample("Who is Cy?", "Cy is a smith.")]
    batch = pack_examples(tok, ex, 128).rows(slice(0, 1))
    logits = {}

    def keep(module, inputs, out):
        out.retain_grad()
        logits["t"] = out

    model.lm_head.register_forward_hook(keep)
    loss, n = sft_loss(model, batch)
    loss.backward()
    grad = logits["t"].grad[0, :-1].abs().sum(-1)  # position t predicts token t + 1
    target_is_answer = batch["labels"][0, 1:] != IGNORE
    assert n == int(target_is_answer.sum()) > 0
    assert torch.all(grad[~target_is_answer] == 0)
    assert torch.all(grad[target_is_answer] > 0)
    n_prompt = len(prompt_ids(tok, ex[0].prompt))
    assert not target_is_answer[: n_prompt - 1].any()  # the whole first prompt is context only


def test_packed_logits_equal_alone(base, tok):
    """An example packed after others has the logits it has alone: no attention leak."""
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(str(base)).eval()
    exs = [SFTExample(f"Tell me about person {i}.", f"Person {i} is a baker in town {i}.") for i in range(3)]
    enc = [encode_example(tok, e, 400) for e in exs]
    packed = pack(enc, 400, pad_id=tok.eos_token_id)
    assert len(packed) == 1  # all three share one row
    with torch.no_grad():
        together = model(input_ids=packed.input_ids, position_ids=packed.position_ids, use_cache=False).logits[0]
        start = 0
        for ids, _ in enc:
            alone = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]
            assert torch.allclose(together[start:start + len(ids)], alone, atol=1e-5), "attention crossed examples"
            start += len(ids)
        # control: without restarting positions the second example's logits do change
        flat = model(input_ids=packed.input_ids, use_cache=False).logits[0]
        assert not torch.allclose(flat[len(enc[0][0]):len(enc[0][0]) + 5],
                                  together[len(enc[0][0]):len(enc[0][0]) + 5], atol=1e-3)


def test_sft_run_and_lora(base, tmp_path):
    """A short ZeRO-3 SFT run exports hf/; LoRA SFT changes only adapter weights, and the
    merged export gives the logits of base + adapter."""
    from peft import PeftModel
    from transformers import LlamaForCausalLM

    from harness.stages import sft

    common = ["sft.epochs=0.5", "run.max_steps=3"]
    s = sft.run(base, tmp_path / "full", common, progress=False)
    assert s["steps"] == 3 and (tmp_path / "full" / "hf" / "model.safetensors").exists()
    tuned = LlamaForCausalLM.from_pretrained(str(tmp_path / "full" / "hf")).state_dict()
    start = LlamaForCausalLM.from_pretrained(str(base)).state_dict()
    assert any(not torch.equal(tuned[k], start[k]) for k in start), "the export holds the initial weights"

    lora = sft.run(base, tmp_path / "lora", common + ["sft.use_peft=true", "sft.lora_r=4", "optim.lr=0.05"],
                   progress=False)
    assert lora["steps"] == 3
    before = LlamaForCausalLM.from_pretrained(str(base)).state_dict()
    adapted = PeftModel.from_pretrained(LlamaForCausalLM.from_pretrained(str(base)), str(tmp_path / "lora" / "adapter"))
    changed = [k for k, v in adapted.state_dict().items() if "lora_B" in k and v.abs().sum() > 0]
    assert changed, "the adapter did not train"
    for k, v in adapted.state_dict().items():  # base weights untouched
        if "lora_" not in k:
            name = k.replace("base_model.model.", "").replace(".base_layer", "")
            assert torch.equal(v, before[name]), name
    merged = LlamaForCausalLM.from_pretrained(str(tmp_path / "lora" / "hf"))
    ids = torch.tensor([prompt_ids(load_tok(base), "Who is Ada?")])
    with torch.no_grad():
        a = adapted(input_ids=ids).logits
        b = merged(input_ids=ids).logits
        c = LlamaForCausalLM.from_pretrained(str(base))(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-4)
    assert not torch.allclose(a, c, atol=1e-4)


def load_tok(folder):
    from harness.tokenizer import load_tokenizer

    return load_tokenizer(folder)


def test_sft_sources_alpaca_and_oasst(data_root, tok):
    from harness.data.sft import load_sft_examples

    alpaca = load_sft_examples(f"alpaca:{data_root / 'sft' / 'alpaca-en-demo.json'}")
    oasst = load_sft_examples(f"oasst:{data_root / 'preference' / 'oasst-en-100-trees.jsonl'}")
    assert alpaca and oasst and all(e.response for e in oasst)
    assert len({(e.prompt, e.history) for e in oasst}) == len(oasst)  # one reply per prompt
    packed = pack_examples(tok, alpaca[:20] + oasst[:20], 256)
    assert packed.examples > 0 and (packed.labels != IGNORE).any()


def test_flawed_fraction_reaches_the_world_demonstrations():
    from harness.data.sft import load_sft_examples

    good = load_sft_examples("world", world_size="micro")
    flawed = load_sft_examples("world", world_size="micro", flawed_fraction=0.5)
    assert [e.prompt for e in good] == [e.prompt for e in flawed]
    changed = sum(a.response != b.response for a, b in zip(good, flawed))
    assert 0.3 * len(good) < changed < 0.7 * len(good)
    with pytest.raises(ValueError, match="sft.flawed_fraction"):
        load_sft_examples("world", world_size="micro", flawed_fraction=1.0)
    with pytest.raises(ValueError, match="no 'world' source"):
        load_sft_examples("alpaca", flawed_fraction=0.2)
