"""The discriminator probe (research/probe_discriminators.py): its ideal caption codes share what the
captions share, and it runs end to end on a small dataset (its one-attribute contrasts, shared with the
near-miss mismatch sampler, are tested in tests/test_baselines_models.py)."""
from __future__ import annotations

import subprocess
import sys

import torch


def test_ideal_codes_share_the_code_of_a_shared_attribute(probe_script):
    _, probe = probe_script("probe_discriminators")
    codes = probe.ideal_codes([((1, 0),), ((1, 1),), ((2, 0),)], 2, 8, torch.Generator().manual_seed(0))
    assert torch.allclose(codes[0, :4], codes[1, :4]) and torch.allclose(codes[0, 4:], codes[2, 4:])
    assert torch.isclose(codes.pow(2).mean(), torch.tensor(1.0))


def test_probe_runs_and_reports_every_head(make, probe_script):
    script, _ = probe_script("probe_discriminators")
    root = make("smnist4", n=64, n_test=32, seed=3)
    out = subprocess.run([sys.executable, str(script), "--dataset", str(root), "--steps", "3", "--batch", "4",
                          "--test", "16"], capture_output=True, text=True, timeout=300, check=True).stdout
    rows = {line.split()[0]: line.split()[2:] for line in out.splitlines() if line.split()[:1] and
            line.split()[0] in ("video-3d", "frame-2d", "motion-2d")}
    assert set(rows) == {"video-3d", "frame-2d", "motion-2d"}, out
    assert all(len(v) == 3 and all(0 <= float(x) <= 1 for x in v) for v in rows.values()), out
