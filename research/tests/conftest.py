"""Fixtures of the probes' tests; the shared ones (MNIST, small datasets, a tiny judge) are tests/conftest.py's."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

RESEARCH = Path(__file__).resolve().parents[1]


def _shared():
    path = RESEARCH.parent / "tests" / "conftest.py"
    spec = importlib.util.spec_from_file_location("t2vbench_tests_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_s = _shared()
mnist_dir, make, tiny_reader_judge, torch_one_thread = _s.mnist_dir, _s.make, _s.tiny_reader_judge, _s.torch_one_thread


@pytest.fixture(scope="session")
def probe_script():
    """probe_script("probe_discriminators") -> (the script's path, the script imported as a module):
    the research/ scripts are not a package, and their tests use both."""

    def load(name: str):
        path = RESEARCH / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return path, module

    return load
