"""What only a CUDA device shows: the engine on NCCL with bf16 ZeRO-3, and CPU and GPU doing
the same math. Marked `gpu`: never run in CI here (no GPU); run with `pytest -m gpu`."""

import json

import pytest
import torch

from harness import engine
from support import REPO, fixed_rows, tiny_config, train_in_process

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _rows_on_gpu(cfg):
    return fixed_rows(64, cfg.data.seq_len, cfg.model.vocab_size).to(engine.device())


def test_bf16_zero3_trains_on_nccl(tmp_path):
    cfg = tiny_config(**{"run.precision": "bf16", "run.max_steps": 30})
    losses, _ = train_in_process(cfg, tmp_path, rows=_rows_on_gpu(cfg))
    assert torch.distributed.get_backend() == "nccl"
    assert all(map(torch.isfinite, torch.tensor(losses)))
    assert losses[-1] < losses[0] - 1.0, losses


def test_fp32_gpu_matches_the_cpu_golden_losses(tmp_path):
    # The CPU golden file (tests/assets/losses/tiny-cpu.json): same model, data and optimiser
    # on another device. Kernels differ (cuBLAS vs MKL, no TF32 by default), so agreement
    # is to float32 accumulation noise over 10 steps, not bit-exact.
    golden = json.loads((REPO / "tests" / "assets" / "losses" / "tiny-cpu.json").read_text())["losses"]
    cfg = tiny_config(**{"run.max_steps": 10})
    losses, _ = train_in_process(cfg, tmp_path, rows=_rows_on_gpu(cfg))
    assert losses == pytest.approx(golden, rel=1e-4)
