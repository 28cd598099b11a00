"""Atomic checkpoints: torch.save to a hidden temp file in the same folder, fsync, os.replace.

A final name therefore always holds a complete checkpoint; a killed save leaves only a temp file
(named for its process), which the next save of that checkpoint deletes. Checkpoints hold only
tensors and plain Python values, so they load with `weights_only=True` (no pickled code runs on load).
"""
from __future__ import annotations

from pathlib import Path

from t2vbench.errors import UserError


def save(path, obj) -> None:
    import torch

    from t2vbench.data.format import atomic_file
    from t2vbench.data.writer import remove_stale_temps

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent, [path.name])  # one writer per run folder: any temp is a killed save's
    with atomic_file(path) as f:
        torch.save(obj, f)


def load(path, map_location="cpu") -> dict:
    """Load a checkpoint; a truncated or foreign file is a UserError with the fix, not a traceback."""
    import torch

    path = Path(path)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise UserError(f"checkpoint {path} does not exist") from None
    except Exception as e:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise UserError(f"corrupt checkpoint {path} ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
                        "delete it to restart the run from scratch") from None
    if not isinstance(obj, dict) or "format" not in obj:
        raise UserError(f"{path} is not a t2vbench checkpoint; delete it to restart the run from scratch")
    return obj
