"""Broken sweep specs: refused before anything runs, with the spec path, and no database made."""
import pytest

pytestmark = [pytest.mark.unit, pytest.mark.badinput]

BASE = "base: {arch: t4, model: gpt2-small, gen: 2}\n"

CASES = [
    ("", "expected a mapping with keys"),
    ("- batch\n", "expected a mapping with keys"),
    ("axes: {batch: [1]\n", ("s.yaml:2", "invalid YAML")),
    (BASE + BASE + "axes: {batch: [1]}\n", ("s.yaml:2", "duplicate key 'base'")),
    (BASE + "axes: {batch: [1], batch: [2]}\n", "duplicate key 'batch'"),
    (BASE + "axis: {batch: [1]}\n", ("axis", "did you mean 'axes'")),
    ("base: [t4]\naxes: {batch: [1]}\n", "base: expected a mapping"),
    ("base: {arch: t5}\naxes: {batch: [1]}\n", "base.arch: unknown preset 't5'"),
    ("base: {model: gpt9}\naxes: {batch: [1]}\n", "base.model: unknown model 'gpt9'"),
    ("base: {batch: 0}\naxes: {prompt: [1]}\n", "base.batch"),
    ("base: {batch: true}\naxes: {prompt: [1]}\n", "base.batch"),
    ("base: {batch: two}\naxes: {prompt: [1]}\n", "base.batch"),
    ("base: {acceptance: .nan}\naxes: {prompt: [1]}\n", "base.acceptance"),
    ("base: {bandwidth: 3}\naxes: {prompt: [1]}\n", ("base.bandwidth", "put preset fields under base.set")),
    ("base: {set: [1]}\naxes: {prompt: [1]}\n", "base.set: expected a mapping"),
    ("base: {set: {memory.bandwith_GBps: 3}}\naxes: {prompt: [1]}\n", ("base.set", "did you mean")),
    ("base: {set: {memory.bandwidth_GBps: .inf}}\naxes: {prompt: [1]}\n", ("base.set", "finite")),
    (BASE, "axes: expected a mapping of at least one axis"),
    (BASE + "axes: {}\n", "axes: expected a mapping of at least one axis"),
    (BASE + "axes: [batch]\n", "axes: expected a mapping"),
    (BASE + "axes: {batch: []}\n", "axes.batch: an axis needs at least one value"),
    (BASE + "axes: {batch: 4}\n", "axes.batch: expected a list or a mapping"),
    (BASE + "axes: {batchsize: [1]}\n", ("axes.batchsize", "unknown axis")),
    (BASE + "axes: {memory.bandwith_GBps: [1]}\n", ("axes.memory.bandwith_GBps", "did you mean")),
    (BASE + "axes: {memory.bandwidth_GBps: [100, -1]}\n", "axes.memory.bandwidth_GBps[1]"),
    (BASE + "axes: {batch: [1, 0]}\n", "axes.batch[1]"),
    (BASE + "axes: {arch: [t4, t5]}\n", "axes.arch[1]: unknown preset 't5'"),
    (BASE + "axes: {batch: {range: [1, 8, 0]}}\n", "axes.batch: range: expected start <= stop and step > 0"),
    (BASE + "axes: {batch: {range: [8, 1, 1]}}\n", "axes.batch: range"),
    (BASE + "axes: {batch: {range: [1, 8]}}\n", "axes.batch: range: expected [start, stop, step]"),
    (BASE + "axes: {batch: {range: [1, .inf, 1]}}\n", "axes.batch: range"),
    (BASE + "axes: {batch: {range: [1, 1000000000, 1]}}\n", ("axes.batch", "1,000,000,000 values", "--max-points")),
    (BASE + "axes: {batch: {log: [0, 8, 4]}}\n", "axes.batch: log"),
    (BASE + "axes: {batch: {log: [1, 8, 0]}}\n", "axes.batch: log"),
    (BASE + "axes: {batch: {lin: [1, 8, 2.5]}}\n", "axes.batch: lin"),
    (BASE + "axes: {batch: {lin: [1, 8, 1e9]}}\n", ("axes.batch", "--max-points")),
    (BASE + "axes: {memory.bandwidth_GBps: {uniform: [100, 400]}}\n", "uniform: expected [low, high] and n"),
    (BASE + "axes: {memory.bandwidth_GBps: {uniform: [100, 400], n: 0}}\n", "uniform"),
    (BASE + "axes: {memory.bandwidth_GBps: {loguniform: [-1, 400], n: 2}}\n", "loguniform: bounds must be > 0"),
    (BASE + "axes: {batch: {range: [1, 8, 1], log: [1, 8, 4]}}\n", "axes.batch: expected a list or a mapping with one of"),
    (BASE + "axes: {batch: {range: [1, 8, 1], step: 2}}\n", "unknown key(s) ['step']"),
    (BASE + "axes: {batch: [1, 2]}\nmode: exhaustive\n", "mode: expected grid or random"),
    (BASE + "axes: {batch: [1, 2]}\nmode: random\n", "samples: mode random needs samples"),
    (BASE + "axes: {batch: [1, 2]}\nmode: random\nsamples: 0\n", "samples: mode random needs samples"),
    (BASE + "axes: {batch: [1, 2]}\nmode: random\nsamples: 1e9\n", ("samples", "--max-points")),
    (BASE + "axes: {batch: [1, 2]}\nseed: x\n", "seed: expected an integer"),
    (BASE + "axes: {batch: {range: [1, 1000, 1]}, prompt: {range: [1, 1000, 1]}}\n",
     ("the grid has 1,000,000 points", "--max-points")),
    (BASE + "axes: {batch: [1, 2]}\nconstraints: batch < 2\n", "constraints: expected a list"),
    (BASE + "axes: {batch: [1, 2]}\nconstraints: [3]\n", "constraints: expected a list"),
    (BASE + "axes: {batch: [1, 2]}\nconstraints: ['batch <']\n", "constraints[0]: cannot parse"),
    (BASE + "axes: {batch: [1, 2]}\nconstraints: ['__import__(\"os\").system(\"x\")']\n", ("constraints[0]", "uses Call")),
    (BASE + "axes: {batch: [1, 2]}\nconstraints: ['[x for x in batch]']\n", ("constraints[0]", "uses ListComp")),
    (BASE + "axes: {batch: [1, 2]}\nconstraints: ['bacth < 2']\n", ("unknown name 'bacth'", "did you mean 'batch'")),
    (BASE + "axes: {batch: [1, 2]}\nconstraints: ['batch.real < 2']\n", "unknown name 'batch.real'"),
    (BASE + "axes: {batch: [1, 2]}\nconstraints: ['9 ** 9 ** 9 ** 9 > batch']\n",
     ("constraints[0]: constraint error at point (batch=1)", "exponent")),
    (BASE + "axes: {batch: [1, 2]}\nconstraints: ['1 / (batch - 1) > 0']\n",
     "constraint error at point (batch=1): division by zero"),
    (BASE + "axes: {batch: [1, 2]}\nconstraints: ['arch * 1000000000 > 0']\n",
     ("constraint error at point (batch=1)", "arithmetic needs numbers")),
    (BASE + "axes: {batch: [1, 2]}\nconstraints: ['arch < 3']\n", "cannot order 't4' and 3"),
    (BASE + "axes: {batch: [1, 2]}\nconstraints: ['" + "batch + " * 200 + "1 > 0']\n", "a constraint is at most"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefg", "bcdefgh")), "aliases expand to"),
    # serving sweeps
    (BASE + "serve: [rate]\naxes: {batch: [1]}\n", "serve: expected a mapping of serve options"),
    (BASE + "serve: {rat: 3}\naxes: {batch: [1]}\n", ("serve.rat: unknown serve option", "did you mean 'rate'")),
    (BASE + "serve: {rate: -1}\naxes: {batch: [1]}\n", "rate: expected a value > 0"),
    (BASE + "serve: {policy: fifo}\naxes: {batch: [1]}\n", "policy: expected one of static, continuous"),
    (BASE + "axes: {serve.requestz: [1]}\n", ("axes.serve.requestz: unknown serve option", "did you mean")),
    (BASE + "axes: {serve.max_batch: [4, 0]}\n", "axes.serve.max_batch[1]: max_batch: expected an integer >= 1"),
]


@pytest.mark.parametrize("text, expect", CASES, ids=[f"{i}:{t[-40:]}" for i, (t, _) in enumerate(CASES)])
def test_bad_spec_is_refused_and_no_database_is_made(refused, text, expect):
    refused(["sweep", "s.yaml", "--quiet"], expect, files={"s.yaml": text}, lines=None)


def test_max_points_option_bounds_the_spec(refused):
    refused(["sweep", "s.yaml", "--quiet", "--max-points", "10"], ("the grid has 12 points", "more than 10"),
            files={"s.yaml": BASE + "axes: {batch: [1, 2, 3, 4], prompt: [8, 16, 32]}\n"})


def test_a_spec_that_is_a_folder(refused, tmp_path):
    (tmp_path / "d.yaml").mkdir()
    refused(["sweep", "d.yaml"], "d.yaml")
