"""The installed package exposes the accsim.* names and nothing at top level."""
import importlib
import importlib.metadata
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.install


@pytest.mark.parametrize("name", ["accsim", "accsim.arch", "accsim.arch.gpu", "accsim.mappers",
                                  "accsim.workloads", "accsim.validation", "accsim.core.engine",
                                  "accsim.core._trace"])
def test_installed_names_import(name):
    importlib.import_module(name)


def test_only_accsim_is_installed_at_top_level():
    dist = importlib.metadata.distribution("accsim")
    top = (dist.read_text("top_level.txt") or "accsim").split()
    assert top == ["accsim"]


def test_data_files_ship_with_the_package():
    import accsim.arch
    import accsim.validation
    import accsim.workloads
    from pathlib import Path
    assert (Path(accsim.arch.__file__).parent / "presets" / "t4.yaml").exists()
    assert (Path(accsim.workloads.__file__).parent / "configs" / "gpt2-small.json").exists()
    assert (Path(accsim.validation.__file__).parent / "reference" / "gpu_overhead.yaml").exists()


def test_console_script_runs(tmp_path):
    exe = shutil.which("accsim") or str(__import__("pathlib").Path(sys.executable).parent / "accsim")
    result = subprocess.run([exe, "list", "families"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and "gpu" in result.stdout


def test_wheel_holds_every_family_and_mapper_module(tmp_path):
    """setup.py finds packages from the folders: a new arch/<fam>/ or mappers/<name>.py ships
    in the wheel without an edit (an editable install would hide a missing one)."""
    import zipfile
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    src = tmp_path / "src"
    shutil.copytree(root, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "*.so",
                                                             "__pycache__", "*.db", "*.c"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("accsim-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"accsim/{p.relative_to(root).as_posix()}" for folder in ("arch", "mappers", "workloads")
                for p in (root / folder).rglob("*.py") if "__pycache__" not in p.parts}
    expected |= {f"accsim/{p.relative_to(root).as_posix()}" for p in (root / "arch").rglob("presets/*.yaml")}
    missing = sorted(expected - names)
    assert not missing, f"missing from the wheel: {missing}"
