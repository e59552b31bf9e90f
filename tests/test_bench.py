"""The regression bench (`nox -s bench` = `python -m reports.bench`): fails when a golden loss
is perturbed, passes otherwise; the comparison's tolerances on each kind of check."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from reports import bench
from support import REPO, child_env

BASELINE = json.loads(bench.BASELINE.read_text())


def _measured():
    return {"losses": copy.deepcopy(BASELINE["losses"]), "evals": copy.deepcopy(BASELINE["evals"]),
            "throughput": dict(BASELINE["throughput"])}


def _status(rows, prefix):
    return [r["status"] for r in rows if r["check"].startswith(prefix)]


def test_baseline_has_every_stage_and_matches_the_engine_golden_file():
    assert set(BASELINE["losses"]) == set(bench.STAGES) and set(BASELINE["evals"]) == set(bench.EVALS)
    golden = json.loads((REPO / "tests" / "assets" / "losses" / "tiny-cpu.json").read_text())["losses"]
    assert BASELINE["losses"]["pretrain"] == pytest.approx(golden, rel=1e-6)


def test_unchanged_measurements_pass():
    rows = bench.compare(BASELINE, _measured())
    assert rows and all(r["status"] == "pass" for r in rows), rows


@pytest.mark.parametrize("stage", ["pretrain", "sft", "reward"])
@pytest.mark.parametrize("step", [0, 5, -1])
def test_a_perturbed_golden_loss_is_a_regression(stage, step):
    m = _measured()
    m["losses"][stage][step] *= 1 + 1e-3  # 10x the stated tolerance
    assert _status(bench.compare(BASELINE, m), f"losses/{stage}") == ["REGRESSION"]
    m["losses"][stage][step] = BASELINE["losses"][stage][step] * (1 + 1e-5)  # within tolerance
    assert _status(bench.compare(BASELINE, m), f"losses/{stage}") == ["pass"]


def test_eval_throughput_and_missing_checks():
    m = _measured()
    m["evals"]["world_mmlu"]["acc"] += 0.05
    m["throughput"]["tiny-cpu/fp32"] = BASELINE["throughput"]["tiny-cpu/fp32"] * 1.4  # noisy but within 1.5x
    rows = bench.compare(BASELINE, m)
    assert _status(rows, "evals/world_mmlu/acc") == ["REGRESSION"] and _status(rows, "throughput") == ["pass"]
    m["throughput"]["tiny-cpu/fp32"] = BASELINE["throughput"]["tiny-cpu/fp32"] * 1.6
    assert _status(bench.compare(BASELINE, m), "throughput") == ["REGRESSION"]
    m["losses"]["ppo"] = [1.0, 0.9]  # a new stage without a baseline entry is reported, not ignored
    assert _status(bench.compare(BASELINE, m), "losses/ppo") == ["MISSING"]
    assert "| check" in bench.format_table(rows)


def test_bench_cli_fails_on_a_perturbed_golden_loss_and_passes_otherwise(tmp_path):
    """The real measurements (pretrain, SFT and RM on ZeRO-3, 8-10 steps each) through the CLI nox runs."""
    perturbed = copy.deepcopy(BASELINE)
    perturbed["losses"]["pretrain"][4] *= 1.001
    (tmp_path / "perturbed.json").write_text(json.dumps(perturbed))
    env = child_env(PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "reports.bench", "--only", "losses"]
    bad = subprocess.run([*cmd, "--baseline", str(tmp_path / "perturbed.json"), "--save", str(tmp_path / "m.json")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1, bad.stdout + bad.stderr[-3000:]
    assert "REGRESSION" in bad.stdout and "losses/pretrain" in bad.stderr
    # the same measurements against the committed baseline pass
    good = subprocess.run([*cmd, "--measured", str(tmp_path / "m.json")], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert good.returncode == 0, good.stdout + good.stderr[-3000:]
    assert "all checks pass" in good.stdout
