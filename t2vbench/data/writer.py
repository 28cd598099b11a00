"""Atomic shard writing.

A shard is written to a hidden temp file in the same folder, fsynced, then renamed into place, so a
final name always holds a complete shard: an interrupted run leaves only temp files, which the next
run removes. Video chunks are deflated by us in threads (zlib releases the GIL) and stored with
`write_direct_chunk`; on disk they are ordinary HDF5 gzip chunks that any HDF5 reader can open.
"""
from __future__ import annotations

import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np

from t2vbench.data.format import TMP_MARK, cannot_write, fsync_dir, sha256_file, temp_name, temp_of


def _deflate_rows(video: np.ndarray, level: int, threads: int) -> list[bytes]:
    n = len(video)
    if n == 0:
        return []
    bounds = np.linspace(0, n, min(threads, n) + 1).astype(int)

    def work(k):
        return [zlib.compress(video[i].tobytes(), level) for i in range(bounds[k], bounds[k + 1])]

    if len(bounds) == 2:
        return work(0)
    with ThreadPoolExecutor(len(bounds) - 1) as pool:
        return [c for part in pool.map(work, range(len(bounds) - 1)) for c in part]


def _fill(f, columns: dict, attrs: dict, level: int, threads: int) -> int:
    """Write the shard's attributes and columns into the open HDF5 file `f`; return the row count."""
    video = np.ascontiguousarray(columns["video"], dtype=np.uint8)
    n = len(video)
    for key, value in attrs.items():
        f.attrs[key] = value
    ds = f.create_dataset("video", shape=video.shape, dtype=np.uint8,
                          chunks=(1, *video.shape[1:]), compression="gzip",
                          compression_opts=level)
    origin = (0,) * (video.ndim - 1)
    for i, chunk in enumerate(_deflate_rows(video, level, threads)):
        ds.id.write_direct_chunk((i, *origin), chunk)
    for key, value in columns.items():
        if key == "video":
            continue
        if key == "caption":
            f.create_dataset(key, data=np.asarray(list(value), dtype=object),
                             dtype=h5py.string_dtype("utf-8"))
            continue
        value = np.asarray(value)
        if len(value) != n:
            raise ValueError(f"column {key} has {len(value)} rows, video has {n}")
        f.create_dataset(key, data=value, compression="gzip" if value.size > 4096 else None)
    return n


def shard_image(columns: dict, attrs: dict, level: int = 1, threads: int | None = None) -> bytes:
    """The exact bytes `write_shard` would write for these columns, made in memory (to compare a shard
    on disk with what its config renders, without writing anything). HDF5's core driver lays the file
    out as on disk; a Python file object would not."""
    f = h5py.File(f"t2vbench-shard-image-{id(columns)}.h5", "w", driver="core", backing_store=False)
    try:
        _fill(f, columns, attrs, level, threads or min(4, os.cpu_count() or 1))
        f.flush()
        return f.id.get_file_image()
    finally:
        f.close()


def write_shard(path, columns: dict, attrs: dict, level: int = 1, threads: int | None = None) -> dict:
    """Write one shard atomically; return its manifest entry (file, count, bytes, sha256).

    `columns` maps dataset paths to arrays: `video` uint8 (N, T, H, W, C), `caption` a list of str,
    anything else a NumPy array whose first axis is N ('label/digit' makes a group 'label').
    A failed write (a full disk, a read-only folder) is one UserError naming the path and the cause,
    and leaves no temp file behind.
    """
    path = Path(path)
    tmp = path.with_name(temp_name(path.name))
    threads = threads or min(4, os.cpu_count() or 1)
    try:
        with h5py.File(tmp, "w") as f:
            n = _fill(f, columns, attrs, level, threads)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        entry = {"file": path.name, "count": n, "bytes": tmp.stat().st_size, "sha256": sha256_file(tmp)}
        os.replace(tmp, path)
        fsync_dir(path.parent)
        return entry
    except OSError as e:
        raise cannot_write(path, e) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_stale_temps(folder, finals) -> int:
    """Delete the temp files that an interrupted run left for these final names; return how many.
    Only names of `temp_name`'s exact form go (`.FINAL.tmp-HOST-PID`), never, say, a user's
    `.FINAL.tmp-backup`."""
    removed = 0
    for final in finals:
        for p in Path(folder).glob(f".{final}{TMP_MARK}*"):
            if temp_of(p.name) == final and (p.is_file() or p.is_symlink()):
                p.unlink(missing_ok=True)
                removed += 1
    return removed
