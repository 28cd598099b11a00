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
    (["make-dataset", "smnist4", "--kth-dir", "/tmp"], "does not apply to smnist4"),
    (["make-dataset", "smnist4", "--shard-size", "0"], "--shard-size must be positive"),
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


def test_unreadable_digits(capsys, tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    code, _, err = run(["make-dataset", "smnist4", "--digits", str(tmp_path), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "t2vbench: error:" in err and len(err.strip().splitlines()) == 1


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
