"""The discriminator probe (bench/probe_discriminators.py): its one-attribute contrasts (shared with
the near-miss mismatch sampler) are what they say, and it runs end to end on a small dataset."""
from __future__ import annotations

import subprocess
import sys
from collections import Counter

import torch

from t2vbench.baselines.gan import one_attribute_swaps


def test_one_attribute_swaps_change_one_slot_attribute_only(bench_script):
    _, probe = bench_script("probe_discriminators")
    digits, motions = range(3), range(2)
    meanings = sorted({tuple(sorted([(d1, m1), (d2, m2)])) for d1 in digits for m1 in motions
                       for d2 in digits for m2 in motions})
    known = {m: i for i, m in enumerate(meanings)}
    inv = {i: m for m, i in known.items()}
    for m in meanings:
        for attr, values in ((0, digits), (1, motions)):
            swaps = one_attribute_swaps(m, attr, list(values), known)
            assert swaps and known[m] not in swaps
            for k in swaps:  # as multisets: one slot replaced by one that differs in `attr` only
                gone, came = Counter(m) - Counter(inv[k]), Counter(inv[k]) - Counter(m)
                assert sum(gone.values()) == 1 and sum(came.values()) == 1, (m, inv[k])
                (a,), (b,) = gone, came
                assert a[attr] != b[attr] and a[1 - attr] == b[1 - attr], (m, inv[k])
    codes = probe.ideal_codes([((1, 0),), ((1, 1),), ((2, 0),)], 2, 8, torch.Generator().manual_seed(0))
    assert torch.allclose(codes[0, :4], codes[1, :4]) and torch.allclose(codes[0, 4:], codes[2, 4:])
    assert torch.isclose(codes.pow(2).mean(), torch.tensor(1.0))


def test_probe_runs_and_reports_every_head(make, bench_script):
    script, _ = bench_script("probe_discriminators")
    root = make("smnist4", n=64, n_test=32, seed=3)
    out = subprocess.run([sys.executable, str(script), "--dataset", str(root), "--steps", "3", "--batch", "4",
                          "--test", "16"], capture_output=True, text=True, timeout=300, check=True).stdout
    rows = {line.split()[0]: line.split()[2:] for line in out.splitlines() if line.split()[:1] and
            line.split()[0] in ("video-3d", "frame-2d", "motion-2d")}
    assert set(rows) == {"video-3d", "frame-2d", "motion-2d"}, out
    assert all(len(v) == 3 and all(0 <= float(x) <= 1 for x in v) for v in rows.values()), out
