"""The on-disk format: names, hashing and the manifest. Every other part reads through here.

A dataset is a folder `ROOT/` holding `manifest.json` and shards `{split}-{i:05d}-of-{n:05d}.h5`.
See README, "Shard format", for the schema.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import socket
from contextlib import contextmanager
from pathlib import Path

from t2vbench.errors import UserError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LOCK = ".lock"  # held by a make-dataset run while it writes the folder (data/lock.py)
SPLITS = ("train", "test")
SHARD_NAME = re.compile(r"[a-z]+-\d{5}-of-\d{5}\.h5")
SLICE_NAME = re.compile(r"slice-\d{5}-of-\d{5}\.json")  # a cluster slice's record of its shards (build.py)
_TEMP = re.compile(r"\.(.+)\.tmp-(.+)-(\d+)")  # temp_name's form: .FINAL.tmp-HOST-PID


def shard_filename(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.h5"


def temp_of(name: str) -> str | None:
    """The final name whose temp file (`temp_name`) `name` is, else None."""
    m = _TEMP.fullmatch(name)
    return m.group(1) if m else None


def is_own_name(name: str) -> bool:
    """Named like a file t2vbench writes in a dataset folder: shards, the manifest, slice records, the
    lock, and their temp files. A name is not proof: `build.py` deletes only what it can show it wrote."""
    final = temp_of(name)
    name = final if final is not None else name
    return (name == MANIFEST or bool(SHARD_NAME.fullmatch(name)) or bool(SLICE_NAME.fullmatch(name))
            or (name == LOCK and final is None))


def canonical_json(obj) -> str:
    """Sorted keys, no whitespace: the form whose sha256 names a config."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def sha256_json(obj) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def sha256_file(path, block: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def fsync_dir(path) -> None:
    """Make a rename in `path` durable (POSIX: the directory entry lives in the directory)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


TMP_MARK = ".tmp-"


def temp_name(final: str) -> str:
    """Hidden, and unique per host and process, so concurrent writers on a shared disk never collide."""
    return f".{final}{TMP_MARK}{socket.gethostname()}-{os.getpid()}"


@contextmanager
def atomic_file(path, mode: str = "wb"):
    """Open a temp file beside `path`; on success fsync it and rename it into place, else delete it.
    A final name therefore only ever holds a complete file."""
    path = Path(path)
    tmp = path.with_name(temp_name(path.name))
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json_atomic(path, obj) -> None:
    with atomic_file(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def _errno(err: OSError) -> int | None:
    """The errno of an OSError; HDF5's errors carry it inside their message."""
    if err.errno is not None:
        return err.errno
    m = re.search(r"errno = (\d+)", str(err))
    return int(m.group(1)) if m else None


def os_reason(err: OSError) -> str:
    """The cause of an OSError in words."""
    code = _errno(err)
    return os.strerror(code) if code else (str(err).splitlines() or [type(err).__name__])[0][:160]


def cannot_write(path, err: OSError, option: str = "--out", name_file: bool = True) -> UserError:
    """One line for a write that failed: the path, the cause (with the file it names, if another one and
    `name_file`), and what to do about it."""
    code, why = _errno(err), os_reason(err)
    if name_file and getattr(err, "filename", None) and Path(err.filename) != Path(path):
        why = f"{why}: {err.filename}"
    if code in (errno.EEXIST, errno.ENOTDIR):  # a file (or a dangling link) where a folder must go
        above = next((p for p in Path(path).parents if p.is_file() or (p.is_symlink() and not p.exists())), None)
        if above is not None:
            why = dangling(above) or f"{above} is a file, not a folder"
    if code in (errno.ENOSPC, errno.EDQUOT):
        fix = f"free space on that disk or choose another {option}"
    elif code in (errno.EROFS, errno.EACCES, errno.EPERM):
        fix = f"choose a folder you can write to with {option}"
    else:
        fix = f"choose another {option}"
    return UserError(f"cannot write {path} ({why}); {fix}")


def dangling(path) -> str | None:
    """'P is a symlink to T, which does not exist' when P (or a folder above it) is one, else None."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.is_symlink() and not p.exists():
            return f"{p} is a symlink to {os.readlink(p)}, which does not exist"
    return None


def attr_value(v):
    """An HDF5 attribute as a plain Python value (bytes decoded, NumPy scalars unwrapped)."""
    import numpy as np

    if isinstance(v, bytes):
        return v.decode(errors="replace")
    if isinstance(v, np.generic):
        return v.item()
    return v


def dataset_folder(root) -> Path:
    """The dataset's folder, also when given its manifest.json (shards are found beside it); any other
    path that is not a folder is refused, saying what it is."""
    root = Path(root)
    if root.name == MANIFEST and root.is_file():
        return root.parent
    if root.is_dir():
        return root
    link = dangling(root)
    if link:
        raise UserError(f"{link}: not a dataset folder; pass the folder that holds {MANIFEST}")
    if not root.exists():
        raise UserError(f"{root} is not a t2vbench dataset (it does not exist); make one with `t2vbench make-dataset "
                        "NAME --out DIR` (it writes DIR/NAME)")
    if SHARD_NAME.fullmatch(root.name):
        raise UserError(f"{root} is a shard, not a dataset folder; pass the folder that holds it and {MANIFEST} "
                        f"({root.parent})")
    raise UserError(f"{root} is a file, not a dataset folder; pass the folder that holds {MANIFEST}")


def read_manifest(root) -> dict:
    """Load and sanity-check `ROOT/manifest.json`; raise UserError with a fix on anything wrong."""
    root = Path(root)
    path = root / MANIFEST if root.is_dir() else root
    if path.is_symlink() and not path.exists():
        raise UserError(f"{dangling(path)}; re-run the make-dataset command that made this dataset")
    if not path.exists():
        if root.is_dir() and any(root.glob("*.h5")):
            raise UserError(f"{root} has shards but no {MANIFEST}: the run did not finish; "
                            "re-run the same make-dataset command (or add --finalize) to complete it")
        inside = sorted(p.name for p in root.iterdir() if (p / MANIFEST).is_file()) if root.is_dir() else []
        if inside:
            raise UserError(f"{root} holds datasets, it is not one: pass {root / inside[0]}"
                            + (f" (or {', '.join(inside[1:4])})" if len(inside) > 1 else ""))
        raise UserError(f"{root} is not a t2vbench dataset (no {MANIFEST}); "
                        "make one with `t2vbench make-dataset NAME --out DIR`")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {path}: {e}; regenerate the dataset with --overwrite") from None
    if not isinstance(manifest, dict):
        raise UserError(f"{path} is not a t2vbench manifest (a JSON object); regenerate the dataset with --overwrite")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise UserError(f"{path} has format version {version}, this t2vbench reads {FORMAT_VERSION}; "
                        "regenerate the dataset with this version (--overwrite)")
    for key in ("dataset", "splits", "vocabulary", "config"):
        if key not in manifest:
            raise UserError(f"{path} lacks '{key}': not a complete t2vbench manifest; regenerate it")
    return manifest


def open_shard(path):
    """Open a shard read-only, or raise the one-line UserError every reader gives for a bad file."""
    import h5py

    link = dangling(path)
    if link:
        raise UserError(f"shard {link}; restore it, or re-run the make-dataset command that made this dataset")
    if not Path(path).exists():
        raise UserError(f"shard {path} is missing; re-run the make-dataset command that made this dataset "
                        "(it renders only what is missing)")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise corrupt(path, e) from None


def corrupt(path, err) -> UserError:
    return UserError(f"corrupt shard {path} ({str(err).splitlines()[0][:160]}); regenerate the dataset with "
                     "--overwrite")


def split_shards(manifest: dict, split: str) -> list[dict]:
    splits = manifest["splits"]
    if split not in splits:
        raise UserError(f"dataset '{manifest['dataset']}' has no split '{split}' "
                        f"(it has: {', '.join(sorted(splits))})")
    return splits[split]["shards"]
