import json

import pytest

from harness import config
from harness.config import ConfigError
from harness.engine import deepspeed_config, lr_at
from harness.model import dry_run


@pytest.mark.parametrize("name,billions", [("llama2-7b", 6.74), ("llama2-13b", 13.0), ("llama2-70b", 69.0)])
def test_paper_presets_match_released_parameter_counts(name, billions):
    info = dry_run(config.load(name), processes_per_node=8, nodes=16)
    assert round(info["parameters"] / 1e9, 2 if billions < 10 else 1) == billions
    assert info["tokens_per_step"] == 1024 * 4096  # 4M-token batches (paper sec. 2.2)
    assert info["zero3_model_state_bytes_per_device"] > 0


def test_70b_is_gqa_with_eight_kv_heads_and_meta_ffn_width():
    cfg = config.load("llama2-70b")
    assert cfg.model.n_kv_heads == 8
    assert cfg.model.ffn_hidden == 28672
    assert config.load("llama2-7b").model.ffn_hidden == 11008
    assert config.load("llama2-13b").model.ffn_hidden == 13824


def test_small_gpu_is_about_125m():
    assert 110e6 < dry_run(config.load("small-gpu"))["parameters"] < 140e6


def test_zero3_memory_per_device_shrinks_with_more_devices():
    cfg = config.load("llama2-7b")
    one = dry_run(cfg, 8, 1)["zero3_model_state_bytes_per_device"]
    four = dry_run(cfg, 8, 4)["zero3_model_state_bytes_per_device"]
    assert four < one / 3


def test_paper_optimiser_defaults():
    o = config.load("llama2-7b").optim
    assert (o.beta1, o.beta2, o.eps, o.weight_decay, o.grad_clip, o.warmup_steps, o.min_lr_ratio) == (
        0.9, 0.95, 1e-5, 0.1, 1.0, 2000, 0.1)


def test_cosine_schedule_warms_up_then_decays_to_ten_percent():
    o = config.load("tiny-cpu").optim
    steps = 600
    mult = [lr_at(s, o, steps) for s in range(steps + 1)]
    assert mult[0] == pytest.approx(1 / o.warmup_steps)
    assert mult[o.warmup_steps - 1] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(mult[o.warmup_steps:], mult[o.warmup_steps + 1:]))
    assert mult[steps] == pytest.approx(0.1)


def test_overrides_are_typed():
    cfg = config.load("tiny-cpu", ["run.max_steps=12", "optim.lr=1e-3", "model.attention=gqa:2",
                                   "model.match_mha_params=true", "data.max_documents=none"])
    assert cfg.run.max_steps == 12 and cfg.optim.lr == 1e-3 and cfg.model.n_kv_heads == 2
    assert cfg.model.match_mha_params is True and cfg.data.max_documents is None


def test_unknown_key_is_named_with_suggestion():
    with pytest.raises(ConfigError, match=r"unknown config key 'run.max_step'.*run\.max_steps"):
        config.load("tiny-cpu", ["run.max_step=3"])
    with pytest.raises(ConfigError, match=r"run.max_steps='abc': expected an integer"):
        config.load("tiny-cpu", ["run.max_steps=abc"])


def test_unknown_preset_lists_known_ones():
    with pytest.raises(ConfigError, match="tiny-cpu.*llama2-70b"):
        config.load("llama2-8b")


def test_kv_heads_must_divide_heads():
    with pytest.raises(ConfigError, match=r"4 kv heads do not divide model.n_heads=6"):
        config.load("tiny-cpu", ["model.attention=gqa:4"])


def test_sequence_length_above_position_limit():
    with pytest.raises(ConfigError, match=r"data.seq_len=1024 exceeds .* model.max_seq_len=512"):
        config.load("tiny-cpu", ["data.seq_len=1024"])


def test_match_mha_params_widens_ffn_of_mqa():
    mha = dry_run(config.load("tiny-cpu"))["parameters"]
    mqa = dry_run(config.load("tiny-cpu", ["model.attention=mqa"]))["parameters"]
    matched = dry_run(config.load("tiny-cpu", ["model.attention=mqa", "model.match_mha_params=true"]))["parameters"]
    assert mqa < mha
    assert abs(matched - mha) < abs(mqa - mha) / 4  # within a quarter of the gap (FFN rounds to multiple_of)


def test_deepspeed_config_snapshot():
    cfg = config.load("tiny-cpu", ["run.global_batch_size=32", "run.micro_batch_size=8"])
    got = deepspeed_config(cfg, world_size=2)
    assert got == {
        "train_micro_batch_size_per_gpu": 8,
        "gradient_accumulation_steps": 2,
        "train_batch_size": 32,
        "gradient_clipping": 1.0,
        "zero_optimization": {"stage": 3, "overlap_comm": False, "contiguous_gradients": True,
                              "stage3_gather_16bit_weights_on_model_save": False,
                              "stage3_param_persistence_threshold": 100_000},
        "bf16": {"enabled": True},
        "fp16": {"enabled": False},
        "steps_per_print": 2**31 - 1,
        "wall_clock_breakdown": False,
        "zero_allow_untested_optimizer": True,
    }
    with pytest.raises(ConfigError, match="global_batch_size=32 is not a multiple"):
        deepspeed_config(cfg, world_size=3)


def test_config_round_trips_through_dict():
    cfg = config.load("llama2-70b", ["run.seed=7"])
    assert config.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
