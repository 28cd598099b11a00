"""The evaluation protocol: judges, caption accuracy, Fréchet distances in judge space, the analytic
motion check, GAM, results JSON. `evaluate` is the model-agnostic entry point (see `api.py`).

Loaded lazily, so `import t2vbench.eval` (and the CLI) does not import torch.
"""
_LAZY = {
    "evaluate": "t2vbench.eval.api",
    "evaluate_real": "t2vbench.eval.api",
    "evaluate_file": "t2vbench.eval.api",
    "battle": "t2vbench.eval.gam",
    "PROTOCOL": "t2vbench.eval.protocol",
    "PROTOCOL_VERSION": "t2vbench.eval.protocol",
    "sample_seeds": "t2vbench.eval.protocol",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 't2vbench.eval' has no attribute {name!r}")


__all__ = list(_LAZY)
