import pytest

from accsim.errors import UnknownNameError
from accsim.registry import DuplicateNameError, Registry, families, mappers

pytestmark = pytest.mark.unit


def test_duplicate_name_is_an_error():
    reg = Registry("widget")
    reg.register("a", 1)
    with pytest.raises(DuplicateNameError, match="duplicate widget name 'a'"):
        reg.register("a", 2)


def test_unknown_name_lists_known_and_suggests():
    reg = Registry("widget")
    for name in ("alpha", "beta"):
        reg.register(name, name)
    with pytest.raises(UnknownNameError, match=r"unknown widget 'alpah' \(did you mean 'alpha'\?\). Known: alpha, beta"):
        reg.get("alpah")


def test_builtin_family_and_mapper_are_registered_once():
    assert "gpu" in families() and "gpu-kernels" in mappers()
    assert mappers().get("gpu-kernels").family == "gpu"
    with pytest.raises(DuplicateNameError):
        families().register("gpu", families().get("gpu"))
