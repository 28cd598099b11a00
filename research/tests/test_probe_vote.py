"""The vote-weight probe (research/probe_vote_weight.py) validates on train digits that no judge training
video uses, compares digit lists as multisets, and runs end to end on a tiny judge."""
from __future__ import annotations

import subprocess
import sys

import numpy as np


def test_validation_videos_use_only_unseen_train_digits(make, mnist_dir, probe_script):
    from t2vbench.data.format import read_manifest
    from t2vbench.digits import load_digits
    from t2vbench.generators.mnist.trajectories import draw

    _, probe = probe_script("probe_vote_weight")
    root = make("dmnist2", n=256, n_test=64)
    cfg = read_manifest(root)["config"]
    digits = load_digits(str(mnist_dir))
    images, labels = digits.split("train")
    val = probe.unseen_videos(cfg, 256, 40, 1, digits)
    ids, d = val["img"], cfg["digit_size"]
    seen = set(draw(cfg, "train", 0, 256, labels)["img"].ravel().tolist())
    assert val["video"].shape == (40, cfg["frames"], cfg["size"], cfg["size"], 1) and ids.shape == (40, 2)
    assert not seen & set(ids.ravel().tolist()) and (labels[ids] == val["digit"]).all()
    for n in range(40):  # the pixels hold those images: a saturating sum is at least each of its digits
        for s in range(2):
            for t, (x, y) in enumerate(val["pos"][n, s].tolist()):
                assert (val["video"][n, t, y:y + d, x:x + d, 0] >= images[ids[n, s]]).all()
    pred, truth = np.array([[1, 2], [1, 1], [3, 4], [5, 5]]), np.array([[2, 1], [1, 2], [1, 2], [5, 5]])
    assert probe.slot_hits(pred, truth).tolist() == [2, 1, 0, 2]  # multisets: order-free, {1,1} vs {1,2} is one


def test_probe_runs_and_prints_every_weight(make, mnist_dir, probe_script, tiny_reader_judge):
    script, _ = probe_script("probe_vote_weight")
    root = make("dmnist2", n=256, n_test=64)
    judge = tiny_reader_judge(root)
    out = subprocess.run([sys.executable, str(script), "--dataset", str(root), "--judge", str(judge),
                          "--digits", str(mnist_dir), "--n", "64", "--weights", "0", "1", "2"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.strip()[:1].isdigit() and "." in line.split()[0]]
    assert [r[0] for r in rows] == ["0.00", "1.00", "2.00"] and all(0 <= float(r[1]) <= 1 for r in rows), out.stdout
    assert "(the judge's)" in out.stdout
    bad = subprocess.run([sys.executable, str(script), "--dataset", str(make("smnist2", n=256, n_test=64)),
                          "--judge", str(judge)], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and bad.stderr.strip().startswith("error:") and len(bad.stderr.strip().splitlines()) == 1
