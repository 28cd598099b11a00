"""The digit-reading probe (bench/probe_digit_reading.py): the pixel-wise minimum of a digit's crops at
its true positions recovers its image from a saturating sum of digits, and the probe runs end to end."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch


def test_pixel_min_of_true_crops_clears_the_other_digit(bench_script):
    _, probe = bench_script("probe_digit_reading")
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (28, 28)) * (rng.random((28, 28)) < 0.3) for _ in range(2))
    T = 6
    pos = torch.tensor([[[18, 10]] * T, [[x, 20] for x in (0, 7, 14, 22, 29, 36)]])  # b slides across a
    frames = np.zeros((T, 64, 64), np.int64)
    for t in range(T):
        for img, (x, y) in ((a, pos[0, t].tolist()), (b, pos[1, t].tolist())):
            frames[t, y:y + 28, x:x + 28] += img
    frames = torch.from_numpy(np.minimum(frames, 255).astype(np.uint8))  # the renderer's saturating sum
    overlap = probe.box_overlap(pos[None])[0]
    assert bool((overlap > 0).all())  # b covers part of a's box in every frame ...
    crops = probe.crops(frames, pos[0])[:, 0]
    assert not torch.equal(crops[0], torch.from_numpy(a / 255.0).float())  # ... so no single crop is a
    cleared = crops.amin(dim=0)
    assert torch.allclose(cleared, torch.from_numpy(a / 255.0).float())  # but their minimum is


def test_probe_runs_and_reports_every_reading(make, bench_script):
    script, _ = bench_script("probe_digit_reading")
    root = make("dmnist2", n=64, n_test=32, seed=5)
    out = subprocess.run([sys.executable, str(script), "--dataset", str(root), "--steps", "3", "--batch", "8",
                          "--train", "64"], capture_output=True, text=True, timeout=300, check=True).stdout
    rows = {" ".join(line.split()[:2]): line.split()[2:] for line in out.splitlines()
            if line.startswith(("one frame", "pixel min"))}
    assert set(rows) == {"one frame", "pixel min"}, out
    assert all(0 <= float(x) <= 1 for v in rows.values() for x in v[:2]), out
    bad = subprocess.run([sys.executable, str(script), "--dataset", str(root.parent)], capture_output=True, text=True)
    # the folder that holds the dataset: one line that names the dataset to pass instead
    assert bad.returncode != 0 and bad.stderr.strip().count("\n") == 0 and f"pass {root}" in bad.stderr
