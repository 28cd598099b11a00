"""The on-disk format: names, hashing and the manifest. Every other part reads through here.

A dataset is a folder `ROOT/` holding `manifest.json` and shards `{split}-{i:05d}-of-{n:05d}.h5`.
See README, "Shard format", for the schema.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
from contextlib import contextmanager
from pathlib import Path

from t2vbench.errors import UserError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SPLITS = ("train", "test")


def shard_filename(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.h5"


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


def dataset_folder(root) -> Path:
    """The dataset's folder, also when given its manifest.json (shards are found beside it)."""
    root = Path(root)
    return root.parent if root.name == MANIFEST and root.is_file() else root


def read_manifest(root) -> dict:
    """Load and sanity-check `ROOT/manifest.json`; raise UserError with a fix on anything wrong."""
    root = Path(root)
    path = root / MANIFEST if root.is_dir() else root
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
