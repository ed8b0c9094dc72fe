"""Shared fixtures. Test layers are pytest markers (see pyproject.toml): unit, kernel, golden,
validation, slow (excluded by default), install."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def published_params():
    return yaml.safe_load((DATA / "published_params.yaml").read_text())


@pytest.fixture(scope="session")
def gpu_reference():
    import accsim.validation
    path = Path(accsim.validation.__file__).parent / "reference" / "gpu_overhead.yaml"
    return yaml.safe_load(path.read_text())


def run_with_and_without_jit(script: str) -> list:
    """Run a script that prints JSON once as plain Python (NUMBA_DISABLE_JIT=1) and once
    compiled; return both decoded outputs (kernels must agree, and run without numba too)."""
    outputs = []
    for disable in ("1", "0"):
        env = dict(os.environ, NUMBA_DISABLE_JIT=disable)
        out = subprocess.run([sys.executable, "-c", script], env=env, check=True,
                             capture_output=True, text=True).stdout
        outputs.append(json.loads(out))
    return outputs
