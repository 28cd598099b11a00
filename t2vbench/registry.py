"""Dataset name -> builder, resolved lazily so the core imports nothing dataset-specific at start-up.

Models have their own table, `t2vbench.baselines.MODELS`, next to their configs.
"""
from __future__ import annotations

import importlib

from t2vbench.errors import UserError

DATASETS = {
    "smnist4": "t2vbench.generators.mnist.builder:SMNIST4",
    "dmnist4": "t2vbench.generators.mnist.builder:DMNIST4",
    "smnist2": "t2vbench.generators.mnist.builder:SMNIST2",
    "dmnist2": "t2vbench.generators.mnist.builder:DMNIST2",
    "kth4": "t2vbench.generators.kth.builder:KTH4",
}


def _load(table: dict, kind: str, name: str):
    if name not in table:
        raise UserError(f"unknown {kind} '{name}'; choose one of: {', '.join(sorted(table))}")
    module, attr = table[name].split(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise UserError(f"{kind} '{name}' is registered but not available in this install: {e}") from None


def dataset_builder(name: str):
    """A fresh builder instance for dataset `name`."""
    return _load(DATASETS, "dataset", name)()
