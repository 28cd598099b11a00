"""The command line: help, the main job without torch, and one clear line for every bad input."""
from __future__ import annotations

import subprocess
import sys

import pytest

from t2vbench.cli import main


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, needle", [
    (["make-dataset", "mnist9"], "unknown dataset 'mnist9'"),
    (["make-dataset", "smnist4", "--n", "0"], "--n must be positive"),
    (["make-dataset", "smnist4", "--n", "-5"], "--n must be positive"),
    (["make-dataset", "smnist4", "--n", "abc"], "is not a valid integer"),
    (["make-dataset", "smnist4", "--digits", "/nonexistent/mnist"], "does not exist"),
    (["make-dataset", "smnist4", "--frames", "4"], "too few for a four-motion clip"),
    (["make-dataset", "smnist4", "--frames", "40"], "no speed"),
    (["make-dataset", "smnist4", "--size", "30"], "too small"),
    (["make-dataset", "smnist4", "--size", "32"], "use --size >= 44"),
    (["make-dataset", "smnist2", "--frames", "4"], "use --frames >= 5"),
    (["make-dataset", "smnist4", "--size", "100000"], "GiB of memory"),
    (["make-dataset", "smnist4", "--n", "100000000000"], "at most 99999 shards"),
    (["make-dataset", "smnist4", "--kth-dir", "/tmp"], "does not apply to smnist4"),
    (["make-dataset", "smnist4", "--shard-size", "0"], "--shard-size must be positive"),
    (["make-dataset", "smnist4", "--seed", "-1"], "--seed must be in"),
    (["make-dataset", "smnist4", "--num-shards", "2", "--overwrite"], "cannot be combined"),
    (["info", "/nonexistent/data"], "not a t2vbench dataset"),
    (["frobnicate"], "No such command"),
])
def test_bad_input_is_one_line(args, needle, capsys, tmp_path, mnist_dir):
    if "--digits" not in args and args[0] == "make-dataset":
        args = args + ["--digits", str(mnist_dir)]
    code, out, err = run(args + (["--out", str(tmp_path)] if args[0] == "make-dataset" else []), capsys)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err
    assert not any(tmp_path.iterdir()) if args[0] == "make-dataset" else True


def _bad_digit_sources(tmp_path, mnist_dir):
    import gzip

    import numpy as np

    out = {}
    d = tmp_path / "notgz"
    d.mkdir()
    (d / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    out["not gzip"] = d
    d = tmp_path / "corruptgz"
    d.mkdir()
    blob = bytearray(gzip.compress(bytes(range(256)) * 400))
    blob[40:60] = b"\xff" * 20  # a damaged deflate stream, not a truncated one
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (d / (name + ".gz")).write_bytes(bytes(blob))
    out["corrupt gz"] = d
    np.save(tmp_path / "x.npy", np.zeros(3))
    out["npy"] = tmp_path / "x.npy"
    z = np.zeros((5, 28, 28), np.float32)
    np.savez(tmp_path / "f.npz", x_train=z, y_train=np.zeros(5, int), x_test=z, y_test=np.zeros(5, int))
    out["float npz"] = tmp_path / "f.npz"
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\0" * 16))
    out["one IDX file"] = tmp_path / "t10k-images-idx3-ubyte.gz"
    (tmp_path / "notes.txt").write_text("hello")
    out["text file"] = tmp_path / "notes.txt"
    return out


def test_unreadable_digits(capsys, tmp_path, mnist_dir):
    for what, path in _bad_digit_sources(tmp_path, mnist_dir).items():
        code, _, err = run(["make-dataset", "smnist4", "--digits", str(path), "--out", str(tmp_path / "o")], capsys)
        assert code == 2 and "t2vbench: error:" in err and len(err.strip().splitlines()) == 1, (what, err)
        assert "allow_pickle" not in err, (what, err)
        if what == "one IDX file":
            assert f"--digits {tmp_path}" in err
        assert not (tmp_path / "o").exists()


def test_outputs_that_cannot_be_written_are_one_line(make, capsys, tmp_path, mnist_dir):
    (tmp_path / "smnist4").write_text("")  # a file where the dataset folder would go
    (tmp_path / "plain").write_text("")
    root = make("smnist4", n=64, n_test=16)
    for args, needle in (
        (["make-dataset", "smnist4", "--n", "8", "--digits", str(mnist_dir), "--out", str(tmp_path)], "is a file"),
        (["preview", str(root), "--out", str(tmp_path / "plain" / "p.gif")], "cannot write"),
        (["preview", str(root), "--fps", "0"], "--fps"),
        (["review-kth", str(root)], "not a KTH-4 dataset"),
    ):
        code, _, err = run(args, capsys)
        lines = err.strip().splitlines()
        assert code != 0 and len(lines) == 1 and needle in lines[0], (args, err)


def test_preview_of_an_empty_split(make, capsys, tmp_path):
    root = make("smnist4", n=200, n_test=0)
    code, _, err = run(["preview", str(root), "--out", str(tmp_path / "p.gif")], capsys)
    assert code == 2 and "is empty" in err and len(err.strip().splitlines()) == 1


def test_shard_missing_a_column(make, capsys, tmp_path):
    import shutil

    import h5py

    root = tmp_path / "d"
    shutil.copytree(make("smnist4", n=200, n_test=0), root)
    with h5py.File(root / "train-00000-of-00001.h5", "a") as f:
        del f["caption"]
    code, _, err = run(["info", str(root)], capsys)
    assert code == 2 and "corrupt shard" in err and len(err.strip().splitlines()) == 1


def test_missing_shard_says_rerun(make, capsys, tmp_path):
    import shutil

    root = tmp_path / "d"
    shutil.copytree(make("smnist4", n=3000, n_test=1000), root)
    (root / "train-00001-of-00002.h5").unlink()
    code, _, err = run(["info", str(root), "--verify"], capsys)
    assert code == 2 and "is missing" in err and "re-run" in err and len(err.strip().splitlines()) == 1, err


def test_corrupt_shard_in_info(make, capsys, tmp_path):
    import shutil

    root = tmp_path / "d"
    shutil.copytree(make("smnist4", n=3000, n_test=1000), root)
    (root / "train-00000-of-00002.h5").write_bytes(b"\x89HDF garbage")
    code, _, err = run(["info", str(root)], capsys)
    assert code == 2 and "corrupt shard" in err and len(err.strip().splitlines()) == 1


def test_info_and_preview(make, capsys, tmp_path):
    root = make("smnist4", n=3000, n_test=1000)
    code, out, _ = run(["info", str(root), "--verify"], capsys)
    assert code == 0 and "all shards match" in out and "digit" in out and "sha256" in out
    gif = tmp_path / "p.gif"
    code, out, _ = run(["preview", str(root), "--out", str(gif), "--n", "6"], capsys)
    from PIL import Image

    with Image.open(gif) as im:
        assert im.n_frames == 16 and im.size[0] > 128


def test_make_dataset_does_not_import_torch(tmp_path, mnist_dir):
    code = ("import sys; from t2vbench.cli import main; "
            f"rc = main(['make-dataset', 'smnist4', '--n', '64', '--n-test', '8', '-q', '--out', {str(tmp_path)!r}, "
            f"'--digits', {str(mnist_dir)!r}]); assert rc == 0; "
            "assert 'torch' not in sys.modules, 'make-dataset imported torch'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_help_teaches(capsys):
    code, out, _ = run(["make-dataset", "--help"], capsys)
    assert code == 0 and "smnist4" in out and "Examples" in out and "--holdout" in out
    code, out, _ = run(["--help"], capsys)
    assert "make-dataset" in out and "preview" in out
