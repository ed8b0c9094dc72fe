"""Shared fixtures. Test layers are pytest markers (see pyproject.toml): unit, kernel, golden,
validation, slow (excluded by default), install."""
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
