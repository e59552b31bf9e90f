"""Hooks for the YAML files beside this one: lm-eval imports this file by its path, so it
re-exports `evals.lm_tasks` (adding the repository to sys.path when the suite is not installed)."""

import sys
from pathlib import Path

try:
    import evals.lm_tasks  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from evals.lm_tasks import *  # noqa: E402,F401,F403
