"""Every command line of the README's Usage block runs as written (exit 0), read from the README
text itself, in order (later lines use what earlier ones wrote), in a folder holding a copy of
examples/. Lines that take minutes run in the slow layer."""
import shlex
import shutil
from pathlib import Path

import pytest

from accsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
# lines of half a minute or more on the 2-core CI machine (a 1,000-point sweep, the whole
# validation table, 2,000 requests on a DGX, a 16-chip DeepSeek-R1 prefill)
SLOW = ("sweep-h100-design", "accsim validate", "--chips 16 --batch 96", "--requests 2000")


def usage_lines() -> list[str]:
    """The Usage block's commands: continuation lines joined, trailing comments dropped."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index("## Usage"):]
    block = block[block.index("```") + 3:]
    block = block[:block.index("```")]
    lines, current = [], ""
    for raw in block.strip().splitlines():
        line = raw.split("  #")[0].rstrip()
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        lines.append((current + line).strip())
        current = ""
    return lines


LINES = usage_lines()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "examples", folder / "examples",
                    ignore=shutil.ignore_patterns("*.db", "*.db-*", "*.png", "serve"))
    return folder


def test_the_usage_block_is_read():
    assert len(LINES) >= 35 and all(line.startswith("accsim ") for line in LINES)
    assert any("--set mapper.fusion=off" in line for line in LINES)


@pytest.mark.parametrize("line", [pytest.param(line, marks=pytest.mark.slow) if any(s in line for s in SLOW)
                                  else line for line in LINES], ids=range(len(LINES)))
def test_a_readme_line_runs(line, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    assert main(shlex.split(line)[1:]) in (0, None), line
