"""Program IR: validation when built, freezing, save/load round trip."""
import numpy as np
import pytest

from accsim.core.errors import ProgramError
from accsim.core.program import Program, ProgramBuilder

pytestmark = pytest.mark.unit


def make(**changes):
    args = dict(family="toy", units=["u0", "u1"], kinds=["k"], ops=["a", "b", "c"],
                columns={"op": np.array([0, 1, 2], np.int32), "unit": np.array([0, 1, 0], np.int32),
                         "kind": np.zeros(3, np.int32), "size": np.array([4, 5, 6], np.int64)},
                dep_ptr=np.array([0, 0, 1, 3], np.int64), dep_idx=np.array([0, 0, 1], np.int32),
                meta={"note": "x"})
    for key, value in changes.items():
        if key in ("op", "unit", "kind", "size"):
            args["columns"] = {**args["columns"], key: value}
        else:
            args[key] = value
    return Program.build(**args)


def test_valid_program_is_frozen():
    p = make()
    assert p.n_tasks == 3
    with pytest.raises(ValueError):
        p.columns["size"][0] = 1
    with pytest.raises(TypeError):
        p.columns["new"] = np.zeros(3)


@pytest.mark.parametrize("change, message", [
    (dict(unit=np.array([0, 2, 0], np.int32)), "column 'unit': index 2 out of range"),
    (dict(unit=np.array([0, 1, 0], np.int64)), "column 'unit': dtype int64, expected int32"),
    (dict(size=np.array([1, -1, 2], np.int64)), "column 'size': negative value -1 at task 1"),
    (dict(size=np.array([1, 2], np.int64)), "column 'size': shape (2,), expected (3,)"),
    (dict(size=np.array([1.0, np.nan, 2.0])), "column 'size': non-finite"),
    (dict(size=np.array(["a", "b", "c"])), "column 'size': dtype <U1 not one of"),
    (dict(dep_idx=np.array([0, 2, 1], np.int32)), "task 2 depends on task 2, which is not an earlier task"),
    (dict(dep_idx=np.array([1, 0, 1], np.int32)), "task 1 depends on task 1"),
    (dict(dep_ptr=np.array([0, 0, 1, 2], np.int64)), "dep_ptr must have 4 entries from 0 to len(dep_idx)=3"),
    (dict(dep_ptr=np.array([0, 2, 1, 3], np.int64)), "dep_ptr must be non-decreasing"),
])
def test_bad_programs_are_rejected(change, message):
    with pytest.raises(ProgramError) as info:
        make(**change)
    assert message in str(info.value)


def test_save_load_round_trip_keeps_digest(tmp_path):
    p = make()
    p.save(tmp_path / "prog")
    q = Program.load(tmp_path / "prog")
    assert q.digest() == p.digest()
    assert q.ops == p.ops and dict(q.meta) == {"note": "x"}
    np.testing.assert_array_equal(q.columns["size"], p.columns["size"])


def test_digest_changes_with_content():
    assert make().digest() != make(size=np.array([4, 5, 7], np.int64)).digest()


def test_load_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ProgramError, match="cannot load Program"):
        Program.load(tmp_path / "nothing")


def test_builder_and_successors():
    b = ProgramBuilder("toy", ["u"], ["k"], {"size": np.int64})
    t0 = b.add("a", "u", "k", size=1)
    t1 = b.add("b", "u", "k", [t0], size=2)
    b.add("c", "u", "k", [t0, t1, t1], size=3)
    p = b.build()
    assert p.dep_idx.tolist() == [0, 0, 1]
    succ_ptr, succ_idx = p.successors()
    assert succ_ptr.tolist() == [0, 2, 3, 3] and succ_idx.tolist() == [1, 2, 2]


def test_builder_rejects_undeclared_column():
    b = ProgramBuilder("toy", ["u"], ["k"], {"size": np.int64})
    with pytest.raises(ProgramError, match="undeclared columns"):
        b.add("a", "u", "k", size=1, extra=2)
