"""Shard schema, manifest, determinism across threads/workers/shard sizes, resume and interruption."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from t2vbench.data.build import make_dataset
from t2vbench.data.dataset import read_split
from t2vbench.data.format import FORMAT_VERSION, sha256_file


def _digest(root: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.iterdir())}


def test_schema_and_manifest(make):
    root = make("dmnist4", n=1500, n_test=500, holdout="captions")
    m = json.loads((root / "manifest.json").read_text())
    assert m["format_version"] == FORMAT_VERSION and m["dataset"] == "dmnist4"
    assert m["labels"]["motion"] == ["left then right", "right then left", "up then down", "down then up"]
    assert m["source"]["sha256"] == m["config"]["digit_source_sha256"]
    assert m["splits"]["train"]["count"] == 1500 and m["splits"]["test"]["count"] == 500
    for split in ("train", "test"):
        for entry in m["splits"][split]["shards"]:
            path = root / entry["file"]
            assert sha256_file(path) == entry["sha256"] and path.stat().st_size == entry["bytes"]
            with h5py.File(path, "r") as f:
                n = entry["count"]
                v = f["video"]
                assert v.dtype == np.uint8 and v.shape == (n, 16, 64, 64, 1)
                assert v.chunks == (1, 16, 64, 64, 1) and v.compression == "gzip"
                assert h5py.check_string_dtype(f["caption"].dtype).encoding == "utf-8"
                assert f["tokens"].shape[0] == n and f["tokens"].dtype.kind == "i"
                assert f["label/digit"].shape == (n, 2) and f["label/motion"].shape == (n, 2)
                assert f["trajectory"].shape == (n, 2, 16, 2) and f["trajectory"].dtype == np.float32
                assert f["heldout"].dtype == bool
                for key in ("format_version", "dataset", "split", "generator_version", "seed", "config_json"):
                    assert key in f.attrs
                assert f.attrs["split"] == split and json.loads(f.attrs["config_json"]) == m["config"]
    from t2vbench.data.vocab import Vocabulary

    vocab = Vocabulary(m["vocabulary"])
    data = read_split(root, "test", columns=["caption", "tokens"])
    assert [vocab.decode(t) for t in data["tokens"]] == data["caption"]


def _build(out, env_extra=None, **opts):
    """Build in a fresh process so NUMBA_NUM_THREADS takes effect."""
    args = [sys.executable, "-m", "t2vbench.cli", "make-dataset", "smnist4", "--out", str(out), "-q"]
    for k, v in opts.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    env = dict(os.environ, **(env_extra or {}))
    subprocess.run(args, check=True, env=env, capture_output=True)
    return Path(out) / "smnist4"


def test_same_seed_same_bytes_for_any_threads_workers_and_shard_size(tmp_path, mnist_dir):
    base = dict(n=3000, n_test=700, digits=mnist_dir, seed=7, shard_size=1024)
    a = _build(tmp_path / "a", {"NUMBA_NUM_THREADS": "1"}, **base)
    b = _build(tmp_path / "b", {"NUMBA_NUM_THREADS": "2"}, workers=2, **base)
    assert _digest(a) == _digest(b), "thread or worker count changed the bytes"
    c = _build(tmp_path / "c", **dict(base, shard_size=500))
    for split in ("train", "test"):
        x, y = read_split(a, split), read_split(c, split)
        assert x.keys() == y.keys()
        for k in x:
            assert np.array_equal(np.asarray(x[k]), np.asarray(y[k])), f"shard size changed column {k}"
    d = _build(tmp_path / "d", **dict(base, seed=8))
    assert not np.array_equal(read_split(a, "test")["video"], read_split(d, "test")["video"])


def test_same_bytes_whatever_the_digits_were_loaded_from(tmp_path, mnist_dir):
    """The user cache and an explicit --digits folder hold the same MNIST: the shards must not differ."""
    if not mnist_dir.is_dir():
        pytest.skip("needs the MNIST IDX folder")
    import shutil

    shutil.copytree(mnist_dir, tmp_path / "home" / "mnist")
    opts = dict(n=1200, n_test=100, shard_size=500)
    env = {"T2VBENCH_HOME": str(tmp_path / "home"), "T2VBENCH_OFFLINE": "1"}
    cached = _build(tmp_path / "c", env, workers=2, **opts)
    explicit = _build(tmp_path / "e", digits=mnist_dir, **opts)
    assert _digest(cached) == _digest(explicit)


def test_kernel_matches_its_python_version(mnist_dir):
    from t2vbench.generators.mnist.builder import DMNIST4
    from t2vbench.generators.mnist.render import render_videos
    from t2vbench.generators.mnist.trajectories import draw

    b = DMNIST4()
    cfg = b.resolve({"digits": str(mnist_dir), "n": 10})
    images, labels = b.digits().split("test")
    p = draw(cfg, "test", 0, 6, labels)
    fast, slow = np.empty((2, 6, 16, 64, 64), np.uint8)
    render_videos(images, p["img"], p["pos"], fast)
    render_videos.py_func(images, p["img"], p["pos"], slow)
    assert np.array_equal(fast, slow)


def test_rendering_leaves_torchs_thread_count_alone(make):
    """Numba's OpenMP layer sets the process's OpenMP thread count, which torch shares: a dataset made
    in a session once turned a test's one torch thread into two (and changed its training's sums)."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        make("dmnist4", n=64, n_test=16, seed=3)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_rerun_is_a_noop_and_overwrite_is_required_for_a_new_config(tmp_path, mnist_dir):
    from t2vbench.errors import UserError

    root = make_dataset("smnist4", tmp_path, n=300, n_test=50, digits=str(mnist_dir))
    before = _digest(root)
    make_dataset("smnist4", tmp_path, n=300, n_test=50, digits=str(mnist_dir))
    assert _digest(root) == before
    with pytest.raises(UserError, match="--overwrite"):
        make_dataset("smnist4", tmp_path, n=301, n_test=50, digits=str(mnist_dir))
    assert _digest(root) == before, "a refused run must lose nothing"
    make_dataset("smnist4", tmp_path, n=301, n_test=50, digits=str(mnist_dir), overwrite=True)
    assert read_split(root, "train", columns=["caption"])["caption"].__len__() == 301
    for name in ("notes.txt", "my-model.h5", "draft.tmp-notes"):
        (root / name).write_text("mine")
        with pytest.raises(UserError, match="not part of a t2vbench dataset"):
            make_dataset("smnist4", tmp_path, n=302, n_test=50, digits=str(mnist_dir), overwrite=True)
        assert (root / name).read_text() == "mine"
        (root / name).unlink()


def test_partial_output_of_another_config_is_refused(tmp_path, mnist_dir):
    from t2vbench.errors import UserError

    root = make_dataset("smnist4", tmp_path, n=300, n_test=50, digits=str(mnist_dir), seed=1)
    (root / "manifest.json").unlink()  # as if the seed-1 run had been interrupted
    before = _digest(root)
    with pytest.raises(UserError, match="another config"):
        make_dataset("smnist4", tmp_path, n=300, n_test=50, digits=str(mnist_dir), seed=2)
    assert _digest(root) == before


def test_complete_dataset_with_a_lost_shard_is_repaired(tmp_path, mnist_dir):
    root = make_dataset("smnist4", tmp_path, n=1200, n_test=50, digits=str(mnist_dir), shard_size=500)
    before = _digest(root)
    (root / "train-00001-of-00003.h5").unlink()
    make_dataset("smnist4", tmp_path, n=1200, n_test=50, digits=str(mnist_dir), shard_size=500)
    assert _digest(root) == before


def test_interrupted_write_leaves_no_final_file_and_rerun_finishes(tmp_path, mnist_dir, monkeypatch):
    """An exception between writing a shard's temp file and renaming it (the worst moment)."""
    import t2vbench.data.writer as writer

    real_replace, calls = os.replace, []

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_replace(src, dst)

    opts = dict(n=3000, n_test=100, digits=str(mnist_dir), shard_size=1000)
    monkeypatch.setattr(writer.os, "replace", flaky_replace)
    with pytest.raises(KeyboardInterrupt):
        make_dataset("smnist4", tmp_path / "x", **opts)
    monkeypatch.setattr(writer.os, "replace", real_replace)
    root = tmp_path / "x" / "smnist4"
    names = sorted(p.name for p in root.iterdir())
    assert names == ["train-00000-of-00003.h5"], names  # no temp, no half shard, no manifest
    make_dataset("smnist4", tmp_path / "x", **opts)
    clean = make_dataset("smnist4", tmp_path / "y", **opts)
    assert _digest(root) == _digest(clean)


def test_killed_process_resumes_to_the_same_bytes(tmp_path, mnist_dir):
    """SIGKILL in the middle of a real run: only complete shards carry final names; a re-run finishes."""
    out = tmp_path / "k"
    root = out / "smnist4"
    args = [sys.executable, "-m", "t2vbench.cli", "make-dataset", "smnist4", "--out", str(out), "-q",
            "--n", "60000", "--n-test", "0", "--shard-size", "500", "--digits", str(mnist_dir)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(root.glob("train-*.h5"))) < 3:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = sorted(root.glob("train-*.h5"))
    assert 3 <= len(finished) < 120 and not (root / "manifest.json").exists()
    for p in finished:  # every final name opens and is whole
        with h5py.File(p, "r") as f:
            assert f["video"].shape[0] == 500
    subprocess.run(args, check=True, capture_output=True)
    assert not list(root.glob(".*tmp*"))
    assert json.loads((root / "manifest.json").read_text())["splits"]["train"]["count"] == 60000
    clean = make_dataset("smnist4", tmp_path / "clean", n=60000, n_test=0, shard_size=500, digits=str(mnist_dir))
    assert _digest(root) == _digest(clean)


def test_ctrl_c_stops_a_parallel_run_promptly(tmp_path, mnist_dir):
    """Ctrl-C reaches the whole process group; the queued shards (here ~390) must not be rendered first."""
    out = tmp_path / "c"
    root = out / "smnist4"
    args = [sys.executable, "-m", "t2vbench.cli", "make-dataset", "smnist4", "--out", str(out), "-q", "--workers",
            "2", "--n", "200000", "--n-test", "0", "--shard-size", "500", "--digits", str(mnist_dir)]
    # SIG_DFL: a Python started with SIGINT ignored (e.g. pytest run as a background job) never raises
    # KeyboardInterrupt, which would test the shell, not the tool
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and len(list(root.glob("train-*.h5"))) < 2 and proc.poll() is None:
        time.sleep(0.02)
    shards = len(list(root.glob("train-*.h5")))
    assert proc.poll() is None, f"the run ended (rc {proc.returncode}, {shards} shards) before Ctrl-C was sent"
    t0 = time.time()
    os.killpg(proc.pid, signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130 and "re-run the same command to resume" in err, (proc.returncode, shards, err)
    assert time.time() - t0 < 10
    assert not (root / "manifest.json").exists() and not list(root.glob(".*tmp*"))
    assert len(list(root.glob("train-*.h5"))) < 100


def test_concurrent_slices_do_not_disturb_each_other(tmp_path, mnist_dir):
    out = tmp_path / "par"
    args = [sys.executable, "-m", "t2vbench.cli", "make-dataset", "smnist4", "--out", str(out), "-q", "--n", "8000",
            "--n-test", "0", "--shard-size", "250", "--num-shards", "2", "--digits", str(mnist_dir)]
    procs = [subprocess.Popen(args + ["--shard-index", str(i)], stderr=subprocess.PIPE) for i in (0, 1)]
    errs = [p.communicate()[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    whole = _build(tmp_path / "w", n=8000, n_test=0, shard_size=250, digits=mnist_dir)
    assert _digest(out / "smnist4") == _digest(whole)


def test_cluster_slices_then_finalize(tmp_path, mnist_dir):
    opts = dict(n=2000, n_test=300, digits=mnist_dir, shard_size=500)
    for i in (2, 0):
        _build(tmp_path / "s", num_shards=3, shard_index=i, **opts)
        assert not (tmp_path / "s" / "smnist4" / "manifest.json").exists()
    with pytest.raises(subprocess.CalledProcessError):  # slice 1 is missing: finalize refuses
        subprocess.run([sys.executable, "-m", "t2vbench.cli", "make-dataset", "smnist4", "--out", str(tmp_path / "s"),
                        "--finalize", "--n", "2000", "--n-test", "300", "--shard-size", "500", "--digits",
                        str(mnist_dir)], check=True, capture_output=True)
    _build(tmp_path / "s", num_shards=3, shard_index=1, **opts)
    args = [sys.executable, "-m", "t2vbench.cli", "make-dataset", "smnist4", "--out", str(tmp_path / "s"), "-q",
            "--finalize", "--n", "2000", "--n-test", "300", "--shard-size", "500", "--digits", str(mnist_dir)]
    subprocess.run(args, check=True, capture_output=True)
    whole = _build(tmp_path / "w", **opts)
    assert _digest(tmp_path / "s" / "smnist4") == _digest(whole)
