"""PyTorch access to shards.

`__init__` reads only the manifest; each process opens the HDF5 shards itself on first use (keyed by
pid), so a DataLoader with workers is safe under both fork (no inherited handle is reused) and spawn
(the object pickles without handles).

The first time a process opens a shard, `VideoTextDataset` checks the file's sha256 against the
manifest, so an edited or damaged shard (a flipped `label/digit` byte: label 3 for a video captioned
"digit 2") is one UserError instead of wrong items. Hashing a compressed shard costs a few percent of
reading its videos once (`python bench/bench_data.py` measures it); `verify=False` skips it.
"""
from __future__ import annotations

import bisect
import os
import weakref
import zlib
from pathlib import Path

import h5py
import numpy as np

from t2vbench.data.format import corrupt, dataset_folder, open_shard, read_manifest, sha256_file, split_shards
from t2vbench.data.vocab import Vocabulary
from t2vbench.errors import UserError

try:
    import torch
    from torch.utils.data import Dataset as _TorchDataset
except ImportError:  # pragma: no cover - torch is a dependency; read_split works without it
    torch = None
    _TorchDataset = object


class _Shard:
    """One open shard of one process: the video dataset plus its small columns held in memory.

    Video chunks are read with a plain `pread` at offsets taken once from the chunk index, then
    inflated with zlib: a third of the cost of going through HDF5's selection and filter machinery.
    """

    def __init__(self, path: Path):
        self.path = path
        self.file = open_shard(path)
        try:
            self.video = self.file["video"]
            self.caption = self.file["caption"].asstr()[:]
            self.tokens = self.file["tokens"][:].astype(np.int64)
            self.labels = ({k: v[:].astype(np.int64) for k, v in self.file["label"].items()}
                           if "label" in self.file else {})
            self.offsets = self._chunk_offsets()
        except (OSError, KeyError) as e:
            self.file.close()
            raise corrupt(path, e) from None
        self.fd = os.open(path, os.O_RDONLY) if self.offsets is not None else None
        # a dataset dropped without close() must not keep one descriptor per shard it read
        self._close_fd = weakref.finalize(self, os.close, self.fd) if self.fd is not None else None

    def _chunk_offsets(self):
        v = self.video
        dcpl = v.id.get_create_plist()
        filters = [dcpl.get_filter(k)[0] for k in range(dcpl.get_nfilters())]
        if filters != [h5py.h5z.FILTER_DEFLATE] or v.chunks != (1, *v.shape[1:]) or not hasattr(v.id, "chunk_iter"):
            return None
        table = np.full((len(v), 2), -1, np.int64)

        def record(info):
            if info.filter_mask == 0:
                table[info.chunk_offset[0]] = (info.byte_offset, info.size)

        v.id.chunk_iter(record)
        return None if (table < 0).any() else table

    def read_video(self, j: int) -> np.ndarray:
        if self.offsets is not None:
            offset, size = self.offsets[j]
            try:
                data = zlib.decompress(os.pread(self.fd, int(size), int(offset)))
                return np.frombuffer(data, np.uint8).reshape(self.video.shape[1:])
            except (zlib.error, ValueError) as e:
                raise corrupt(self.path, e) from None
        try:
            return self.video[j]
        except OSError as e:
            raise corrupt(self.path, e) from None

    def close(self) -> None:
        self.file.close()
        if self._close_fd is not None:
            self._close_fd()


def _check_sha256(path: Path, sha256: str | None) -> None:
    try:
        actual = sha256_file(path)
    except OSError:  # missing, a dangling link, unreadable: _Shard names it
        return
    if actual != sha256:
        raise UserError(f"{path} does not match its sha256 in the manifest (edited or damaged); regenerate the "
                        "dataset with --overwrite")


class VideoTextDataset(_TorchDataset):
    """`VideoTextDataset(root, split, transform=None)`: item i is a dict

    - `video`: float32 tensor (T, C, H, W) in [0, 1] (after `transform`, if given)
    - `caption`: str; `tokens`: int64 tensor (L,) padded with 0 (`self.vocab` decodes it)
    - `labels`: dict of int64 tensors, e.g. `digit` and `motion` of shape (S,)
    - `index`: the video's index in the split

    `video_dtype="uint8"` returns the raw 0..255 bytes instead (same layout): a quarter of the bytes
    that DataLoader workers pass through shared memory, to convert on the GPU
    (`video.float().div_(255)`). On a 2-core machine this lifts 2-worker reads from ~5k to ~13k videos/s.

    `verify` (default True): each process checks a shard's sha256 against the manifest when it first
    opens it (see the module docstring).
    """

    def __init__(self, root, split: str = "train", transform=None, video_dtype: str = "float32", verify: bool = True):
        if video_dtype not in ("float32", "uint8"):
            raise UserError(f"video_dtype must be 'float32' or 'uint8' (got {video_dtype!r})")
        self.root = dataset_folder(root)
        self.split = split
        self.transform = transform
        self.video_dtype = video_dtype
        self.verify = verify
        self.manifest = read_manifest(self.root)
        shards = split_shards(self.manifest, split)
        self.vocab = Vocabulary(self.manifest["vocabulary"])
        self._paths = [self.root / s["file"] for s in shards]
        self._sha256 = [s.get("sha256") for s in shards]
        self._starts = np.cumsum([0] + [s["count"] for s in shards]).tolist()
        self._open: dict[int, _Shard] = {}
        self._pid = None

    def __len__(self) -> int:
        return self._starts[-1]

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_open"], state["_pid"] = {}, None
        return state

    def _shard(self, k: int) -> _Shard:
        if self._pid != os.getpid():  # a fork inherited handles it must not use
            self._open, self._pid = {}, os.getpid()
        if k not in self._open:
            if self.verify:
                _check_sha256(self._paths[k], self._sha256[k])
            self._open[k] = _Shard(self._paths[k])
        return self._open[k]

    def locate(self, i: int) -> tuple[int, int]:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {n} videos")
        i %= n
        k = bisect.bisect_right(self._starts, i) - 1
        return k, i - self._starts[k]

    def __getitem__(self, i: int) -> dict:
        k, j = self.locate(int(i))
        s = self._shard(k)
        raw = s.read_video(j)
        if self.video_dtype == "uint8":
            video = torch.from_numpy(raw.copy()).permute(0, 3, 1, 2)
        else:  # in NumPy: torch's intra-op threads make this 100x slower on a busy machine
            video = torch.from_numpy(np.divide(raw, 255, dtype=np.float32)).permute(0, 3, 1, 2)
        if self.transform is not None:
            video = self.transform(video)
        return {
            "video": video,
            "caption": str(s.caption[j]),
            "tokens": torch.from_numpy(s.tokens[j].copy()),  # copies: an item must not alias the shard cache
            "labels": {name: torch.from_numpy(v[j].copy()) for name, v in s.labels.items()},
            "index": self._starts[k] + j,
        }

    def close(self) -> None:
        if self._pid == os.getpid():
            for s in self._open.values():
                s.close()
        self._open = {}


def read_split(root, split: str = "test", columns=None, limit: int | None = None, manifest: dict | None = None) -> dict:
    """Whole columns of a split as NumPy arrays (for evaluation and tools; no torch needed).

    `columns` defaults to everything; label columns are named 'label/<name>'; `caption` is a list.
    `manifest`: the dataset's, when the caller has read it already (`DatasetHandle.read`).
    """
    root = dataset_folder(root)
    if manifest is None:
        manifest = read_manifest(root)
    parts: dict[str, list] = {}
    remaining = limit if limit is not None else float("inf")
    for entry in split_shards(manifest, split):
        if remaining <= 0:
            break
        path = root / entry["file"]
        take = int(min(entry["count"], remaining))
        try:
            with open_shard(path) as f:
                names = []
                f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
                for name in (columns or names):
                    if name not in f:
                        raise UserError(f"{path} has no column '{name}' (it has: {', '.join(names)})")
                    ds = f[name]
                    value = ds.asstr()[:take] if name == "caption" else ds[:take]
                    parts.setdefault(name, []).append(value)
        except (OSError, KeyError) as e:
            raise corrupt(path, e) from None
        remaining -= take
    out = {}
    for name, chunks in parts.items():
        out[name] = [str(c) for part in chunks for c in part] if name == "caption" else np.concatenate(chunks)
    return out
