"""The reference side of an evaluation, cached on disk (as clean-fid caches its statistics).

Every evaluation compares its samples with the same real videos (the Fréchet reference: the first
2,048 train videos, judged; the test videos' per-meaning statistics `diversity.real_statistics`
makes). Judging the reference costs more than half of a CPU evaluation, and it is the same every
time for one (dataset config, judge, protocol version, reference count): that is the cache key.

    reference_features(dataset, judge, compute) -> dict of NumPy arrays

returns the cached arrays when a valid cache file holds them, else `compute()`'s (and writes them).
A cache file is `<folder>/reference/ref-<config>-<judge>-p<version>-n<count>-<key digest>.npz`
(folder: `cache_dir=`, else `$T2VBENCH_CACHE`, else `$T2VBENCH_HOME`, else `~/.cache/t2vbench`),
written atomically (`t2vbench.data.format.atomic_file`), with the key's parts inside (`_key`, JSON)
and the sha256 of its bytes beside it (`<file>.sha256`, `sha256sum -c` format), checked on every
load: a damaged or mismatched file is recomputed and rewritten, with one warning line on stderr. A
folder that cannot be written costs the cache, not the evaluation (one warning line). A dataset
without a config sha256 (no identity to key on) is never cached.
"""
from __future__ import annotations

import hashlib
import io
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from t2vbench.data.format import atomic_file, canonical_json, os_reason

IMPL = {"name": "t2vbench.reference_cache", "version": "1"}
FORMAT = 1
_KEY = "_key"


def _warn(message: str) -> None:
    print(f"t2vbench: warning: {message}", file=sys.stderr, flush=True)


def cache_folder(cache_dir=None) -> Path:
    """Where reference caches live: `cache_dir`, else $T2VBENCH_CACHE, else $T2VBENCH_HOME (the digits'
    cache), else ~/.cache/t2vbench; files go in its `reference/` subfolder."""
    if cache_dir is None:
        env = os.environ.get("T2VBENCH_CACHE") or os.environ.get("T2VBENCH_HOME")
        cache_dir = Path(env) if env else Path.home() / ".cache" / "t2vbench"
    return Path(cache_dir) / "reference"


def cache_key(dataset, judge, protocol_version: str | None = None, count: int | None = None,
              contents: str = "") -> dict:
    """The parts a cache is keyed on. `judge`: a `LoadedJudge` or its sha256; `contents`: a version
    string of what `compute` makes (change it when compute changes within a protocol version)."""
    from t2vbench.eval.protocol import PROTOCOL

    return {
        "format": FORMAT,
        "dataset": dataset.name,
        "config_sha256": dataset.config_sha256,
        "judge_sha256": judge if isinstance(judge, str) else judge.sha256,
        "protocol_version": str(PROTOCOL["version"] if protocol_version is None else protocol_version),
        "count": int(PROTOCOL["frechet_reference"]["count"] if count is None else count),
        "contents": str(contents),
    }


def cache_path(key: dict, cache_dir=None) -> Path:
    digest = hashlib.sha256(canonical_json(key).encode()).hexdigest()[:12]
    name = (f"ref-{str(key['config_sha256'])[:12]}-{key['judge_sha256'][:12]}-p{key['protocol_version']}"
            f"-n{key['count']}-{digest}.npz")
    return cache_folder(cache_dir) / "".join(c if c.isalnum() or c in "-._" else "_" for c in name)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def load(path: Path, key: dict) -> tuple[dict | None, str | None]:
    """(arrays, None) from a valid cache file; (None, None) if there is none; (None, why) if it is
    damaged or keyed otherwise."""
    path = Path(path)
    if not path.exists():
        return None, None
    try:
        data = path.read_bytes()
        side = _sidecar(path).read_text().split()
    except OSError as e:
        return None, f"cannot read it or its .sha256 ({os_reason(e)})"
    got = hashlib.sha256(data).hexdigest()
    if not side or side[0] != got:
        return None, f"its sha256 {got[:12]} is not the one recorded beside it ({(side or ['none'])[0][:12]})"
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        return None, f"it is not a readable .npz ({str(e).splitlines()[0][:120] if str(e) else type(e).__name__})"
    recorded = arrays.pop(_KEY, None)
    if recorded is None or str(recorded) != canonical_json(key):
        return None, "its recorded key is not this evaluation's"
    return arrays, None


def save(path: Path, key: dict, arrays: dict) -> None:
    """Write the arrays and the key as an .npz (atomically), then its sha256 beside it."""
    for k, v in arrays.items():
        if k == _KEY or k.startswith("_"):
            raise ValueError(f"reference array names must not start with '_' ({k!r})")
        if np.asarray(v).dtype.kind == "O":
            raise ValueError(f"reference array {k!r} holds Python objects; an .npz cache holds plain arrays")
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()}, **{_KEY: np.array(canonical_json(key))})
    data = buf.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as f:
        f.write(data)
    with atomic_file(_sidecar(path), "w") as f:
        f.write(f"{hashlib.sha256(data).hexdigest()}  {path.name}\n")


def reference_features(dataset, judge, compute, *, cache_dir=None, protocol_version: str | None = None,
                       count: int | None = None, contents: str = "") -> dict:
    """The reference's arrays for (dataset config, judge, protocol version, count): from the cache if
    a valid file holds them, else `compute()` (a dict of NumPy arrays), written to the cache."""
    key = cache_key(dataset, judge, protocol_version, count, contents)
    if not key["config_sha256"]:
        return {k: np.asarray(v) for k, v in compute().items()}
    path = cache_path(key, cache_dir)
    arrays, why = load(path, key)
    if arrays is not None:
        return arrays
    if why:
        _warn(f"reference cache {path} is not valid ({why}); recomputing it")
    arrays = {k: np.asarray(v) for k, v in compute().items()}
    try:
        save(path, key, arrays)
    except OSError as e:
        _warn(f"cannot write the reference cache {path} ({os_reason(e)}); it is recomputed next time "
              f"(set T2VBENCH_CACHE to a writable folder)")
    return arrays

