"""Atomic shard writing.

A shard is written to a hidden temp file in the same folder, fsynced, then renamed into place, so a
final name always holds a complete shard: an interrupted run leaves only temp files, which the next
run removes. Video chunks are deflated by us in threads (zlib releases the GIL) and stored with
`write_direct_chunk`; on disk they are ordinary HDF5 gzip chunks that any HDF5 reader can open.
"""
from __future__ import annotations

import os
import re
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np

from t2vbench.data.format import TMP_MARK, fsync_dir, sha256_file, temp_name
_OWN = re.compile(r"^(?:[a-z]+-\d{5}-of-\d{5}\.h5|manifest\.json|\.(?:[a-z]+-\d{5}-of-\d{5}\.h5|manifest\.json)"
                  r"\.tmp-[\w.-]+)$")


def is_own_file(name: str) -> bool:
    """Shards, the manifest and their temp files: the only names t2vbench ever creates or deletes."""
    return bool(_OWN.match(name))


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


def write_shard(path, columns: dict, attrs: dict, level: int = 1, threads: int | None = None) -> dict:
    """Write one shard atomically; return its manifest entry (file, count, bytes, sha256).

    `columns` maps dataset paths to arrays: `video` uint8 (N, T, H, W, C), `caption` a list of str,
    anything else a NumPy array whose first axis is N ('label/digit' makes a group 'label').
    """
    path = Path(path)
    tmp = path.with_name(temp_name(path.name))
    video = np.ascontiguousarray(columns["video"], dtype=np.uint8)
    n = len(video)
    threads = threads or min(4, os.cpu_count() or 1)
    try:
        with h5py.File(tmp, "w") as f:
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
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        entry = {"file": path.name, "count": n, "bytes": tmp.stat().st_size, "sha256": sha256_file(tmp)}
        os.replace(tmp, path)
        fsync_dir(path.parent)
        return entry
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_stale_temps(folder, finals) -> int:
    """Delete the temp files that an interrupted run left for these final names; return how many."""
    removed = 0
    for final in finals:
        for p in Path(folder).glob(f".{final}{TMP_MARK}*"):
            p.unlink(missing_ok=True)
            removed += 1
    return removed
