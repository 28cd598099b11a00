"""t2vbench: captioned video datasets, baselines and a frozen evaluation protocol for text-to-video.

Importing this package is cheap (no torch, no numba): heavy parts load on first use, so the CLI
starts fast and `make-dataset` never pays for torch.
"""
__version__ = "0.1.0"

_LAZY = {
    "VideoTextDataset": "t2vbench.data.dataset",
    "read_split": "t2vbench.data.dataset",
    "read_manifest": "t2vbench.data.format",
    "make_dataset": "t2vbench.data.build",
    "evaluate": "t2vbench.eval",
    "UserError": "t2vbench.errors",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 't2vbench' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
