"""accsim: cycle-level simulator of LLM accelerators.

The source tree keeps arch/, mappers/, workloads/ and validation/ beside accsim/ (the design
card's layout); package_dir maps them into the accsim namespace so that the installed names
are accsim.arch, accsim.mappers, ... and nothing installs a generic top-level module.
"""
import numpy
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup

SIBLINGS = ("arch", "mappers", "workloads", "validation")


def packages() -> list[str]:
    """Every package of the tree under its installed name: accsim.* from accsim/, and
    accsim.<sibling>.* from each sibling folder, so a new arch/<fam>/ ships without an edit."""
    found = ["accsim", *(f"accsim.{p}" for p in find_packages("accsim"))]
    for sibling in SIBLINGS:
        found += [f"accsim.{sibling}", *(f"accsim.{sibling}.{p}" for p in find_packages(sibling))]
    return found


setup(
    name="accsim",
    version="0.1.0",
    description="Cycle-level simulator of LLM accelerators (PIM, RDU, CSD, NPU, GPU baseline)",
    python_requires=">=3.10",
    packages=packages(),
    package_dir={"accsim": "accsim", **{f"accsim.{k}": k for k in SIBLINGS}},
    package_data={
        "accsim.arch": ["presets/*.yaml"],
        "accsim.workloads": ["configs/*.json"],
        "accsim.validation": ["published/*.yaml", "reference/*.yaml", "reference/dram/*.txt",
                              "reference/dram/*.yaml", "reference/dram/cmdtrace/*/*/*"],
    },
    ext_modules=cythonize(
        [Extension("accsim.core._trace", ["accsim/core/_trace.pyx"], include_dirs=[numpy.get_include()])],
        language_level=3),
    install_requires=[
        "numpy>=1.24",
        "numba>=0.58",
        "networkx>=3.1",
        "click>=8.1",
        "pyyaml>=6.0",
        "rich>=13.0",
        "matplotlib>=3.7",
        "plotly>=5.18",        # accsim report: interactive charts, plotly.js inlined for offline HTML
    ],
    extras_require={
        "cluster": ["distributed>=2024.1"],
        "parquet": ["pyarrow>=14"],
        "pandas": ["pandas>=2.0"],
        "test": ["pytest>=7.4", "hypothesis>=6.80", "cython>=3.0", "distributed>=2024.1", "pyarrow>=14",
                 "setuptools>=68", "wheel>=0.41",     # the wheel-content test builds a wheel
                 "pandas>=2.0", "nbformat>=5.9", "nbclient>=0.9", "ipykernel>=6.25",   # the example notebook
                 "playwright>=1.40"],   # the HTML report opened in a real (Debian's) Chromium
    },
    entry_points={"console_scripts": ["accsim=accsim.cli:main"]},
)
