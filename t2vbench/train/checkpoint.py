"""Atomic, checked checkpoints: torch.save to a hidden temp file in the same folder, fsync, os.replace,
and the file's sha256 recorded beside it (`<name>.sha256`, in `sha256sum` format) and checked on load.

A final name therefore always holds a complete checkpoint; a killed save leaves only a temp file
(named for its process), which the next save of that checkpoint deletes. torch reads a byte-flipped
file without complaint (its zip records are not checksummed), so the recorded sha256 is what tells a
damaged file from a good one. The record is rewritten around the rename (old and new hashes, then the
new alone), so a kill at any moment leaves a file whose hash is in its record. A file without a record
(a run folder from before t2vbench recorded them) loads unchecked, silently: it was never checkable.

Checkpoints hold only tensors and plain Python values, so they load with `weights_only=True` (no
pickled code runs on load).
"""
from __future__ import annotations

import errno
from pathlib import Path

from t2vbench.errors import UserError

SUFFIX = ".sha256"


def record_path(path) -> Path:
    path = Path(path)
    return path.with_name(path.name + SUFFIX)


def _write_record(path: Path, digests: list[str]) -> None:
    from t2vbench.data.format import atomic_file

    with atomic_file(record_path(path), "w") as f:
        f.write("".join(f"{d}  {path.name}\n" for d in dict.fromkeys(digests)))


def recorded(path) -> list[str] | None:
    """The sha256 values recorded for `path` (one, or two during a save); None when there is no record."""
    rec = record_path(path)
    try:
        text = rec.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {rec} ({e}); delete it to load {Path(path).name} unchecked") from None
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def write_failed(path, e: BaseException) -> UserError:
    """One line for a failed write: the path, the cause, and that the file there before is intact."""
    if isinstance(e, OSError):
        cause = e.strerror or str(e)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            cause += " (the disk or quota is full: free space)"
    else:  # torch's zip writer: "[enforce fail at inline_container.cc:...] ... file write failed"
        said = str(e).splitlines()[0].split("] ")[-1].lstrip(". ").strip()[:100] if str(e) else type(e).__name__
        cause = f"torch could not write the file ({said}; is the disk full?)"
    return UserError(f"cannot write {path}: {cause}; the previous {Path(path).name}, if any, is intact: fix that, "
                     "then re-run the same command with --resume")


def save(path, obj) -> None:
    """Write `obj` to `path` atomically and record its sha256; a failed write (a full disk) is one line."""
    import torch

    from t2vbench.data.format import atomic_file, sha256_file
    from t2vbench.data.writer import remove_stale_temps

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # one writer per run folder: any temp is a killed save's
        remove_stale_temps(path.parent, [path.name, record_path(path).name])
        before = recorded(path) or []
        with atomic_file(path) as f:
            torch.save(obj, f)
            f.flush()
            new = sha256_file(f.name)
            _write_record(path, [*before, new])  # the file now there, or this one
        _write_record(path, [new])
    except OSError as e:
        raise write_failed(path, e) from None
    except RuntimeError as e:
        if "inline_container" in str(e) or "write" in str(e).lower():
            raise write_failed(path, e) from None
        raise


def load(path, map_location="cpu", fix: str = "delete it to restart the run from scratch") -> dict:
    """Load a checkpoint after checking it against its recorded sha256; a damaged, truncated or foreign
    file is a UserError that says so and how to fix it (`fix`), not a traceback."""
    import torch

    from t2vbench.data.format import sha256_file

    path = Path(path)
    if not path.exists():
        raise UserError(f"checkpoint {path} does not exist")
    digests = recorded(path)
    if digests is not None and sha256_file(path) not in digests:
        raise UserError(f"{path} does not match its recorded sha256 ({record_path(path).name}): the file is damaged "
                        f"or was changed after it was written; {fix}")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a corrupt file
        first = str(e).splitlines()[0].split(". ")[0][:120] if str(e) else type(e).__name__
        raise UserError(f"corrupt checkpoint {path}: not a complete torch file, truncated or damaged ({first}); "
                        f"{fix}") from None
    if not isinstance(obj, dict) or "format" not in obj:
        raise UserError(f"{path} is not a t2vbench checkpoint; {fix}")
    return obj
