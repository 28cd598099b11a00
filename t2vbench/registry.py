"""Datasets and models by name: one registry style for both, resolved on first use, so the core imports
nothing dataset- or model-specific at start-up.

A dataset is a `DatasetBuilder` (t2vbench/data/builder.py) listed in `DATASETS`. A model is one file in
baselines/ plus one config, baselines/configs/<name>.json, whose "impl" names the class ("module:attr",
a `TextToVideoModel`); an ablation's config inherits its parent's "impl". So the configs folder is the
model registry: adding a model is one file plus one config.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path

from t2vbench.errors import UserError


class Registry:
    """name -> "module:attr" of the class that implements it, imported only when asked for."""

    def __init__(self, kind: str, entries):
        self.kind = kind
        self._entries = entries  # a dict, or a function that makes it (read once)

    @property
    def entries(self) -> dict:
        if callable(self._entries):
            self._entries = self._entries()
        return self._entries

    def names(self) -> list[str]:
        return sorted(self.entries)

    def __contains__(self, name) -> bool:
        return name in self.entries

    def __iter__(self):
        return iter(self.names())

    def impl(self, name: str) -> str:
        """The "module:attr" of `name`, or a one-line error that lists the known names."""
        if name not in self.entries:
            raise UserError(f"unknown {self.kind} '{name}'; choose one of: {', '.join(self.names())} "
                            "(see `t2vbench list`)")
        return self.entries[name]

    def load(self, name: str):
        """The class that implements `name`."""
        module, attr = self.impl(name).split(":")
        return getattr(importlib.import_module(module), attr)


DATASETS = Registry("dataset", {
    "smnist4": "t2vbench.generators.mnist.builder:SMNIST4",
    "dmnist4": "t2vbench.generators.mnist.builder:DMNIST4",
    "smnist2": "t2vbench.generators.mnist.builder:SMNIST2",
    "dmnist2": "t2vbench.generators.mnist.builder:DMNIST2",
    "kth4": "t2vbench.generators.kth.builder:KTH4",
})


def configs_dir() -> Path:
    """baselines/configs/ (installed as t2vbench/baselines/configs/)."""
    import t2vbench.baselines as b

    return Path(b.__file__).parent / "configs"


def _model_entries() -> dict:
    """Every configs/<name>.json, with the "impl" of the first config along its `inherits` chain."""
    specs = {}
    for path in sorted(configs_dir().glob("*.json")):
        try:
            specs[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read the config of model '{path.stem}' ({path}): {e}") from None
    out = {}
    for name in specs:
        seen, cur = set(), name
        while "impl" not in specs.get(cur, {}) and specs.get(cur, {}).get("inherits") and cur not in seen:
            seen.add(cur)
            cur = specs[cur]["inherits"]
        impl = specs.get(cur, {}).get("impl")
        if not impl:
            raise UserError(f"the config of model '{name}' names no \"impl\" (module:Class), nor does a config "
                            "it inherits")
        out[name] = impl
    return out


MODELS = Registry("model", _model_entries)


def dataset_builder(name: str):
    """A fresh builder instance for dataset `name`."""
    return DATASETS.load(name)()
