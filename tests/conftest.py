import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def data_root() -> Path:
    from harness.data.sources import default_data_root

    root = default_data_root()
    if not root.is_dir():
        pytest.skip(f"real data folder not found at {root} (set LLAMA2_SUITE_DATA)")
    return root
