"""The locating probe (research/probe_judge_locating.py) compares digit lists as multisets and runs end
to end on a tiny two-digit judge, reading every row; a judge without a crop reader is one clear error."""
from __future__ import annotations

import subprocess
import sys

import torch


def test_misread_counts_missing_digits_of_multisets(probe_script):
    _, probe = probe_script("probe_judge_locating")
    pred = torch.tensor([[1, 2], [1, 1], [3, 4], [5, 5], [7, 7]])
    truth = torch.tensor([[2, 1], [1, 2], [1, 2], [5, 5], [7, 8]])
    assert probe.misread(pred, truth).tolist() == [0, 1, 2, 0, 1]


def test_found_needs_a_confident_detection_near_each_true_corner(probe_script):
    _, probe = probe_script("probe_judge_locating")
    true = torch.tensor([[[[10, 10], [30, 12]]]])  # (B=1, T=1, S=2, 2)
    pos = torch.tensor([[[[12, 9], [40, 40]]]])
    assert probe.found(true, pos, torch.tensor([[[0.9, 0.9]]])).tolist() == [[[True, False]]]
    assert probe.found(true, pos, torch.tensor([[[0.4, 0.9]]])).tolist() == [[[False, False]]]
    assert probe.found(true, pos + torch.tensor([1, 0]), torch.tensor([[[0.9, 0.9]]])).tolist() == [[[False, False]]]
    assert probe.separation(true).tolist() == [[20]]


def test_probe_runs_and_reports_every_reading(make, probe_script, tiny_reader_judge):
    script, _ = probe_script("probe_judge_locating")
    root = make("dmnist4", n=256, n_test=64)
    judge = tiny_reader_judge(root)
    out = subprocess.run([sys.executable, str(script), "--dataset", str(root), "--judge", str(judge)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = {line[:32].strip(): line[32:].split() for line in out.stdout.splitlines()
            if line[:32].strip() in ("as shipped", "true positions", "true positions, reader alone")}
    assert len(rows) == 3, out.stdout
    for misread, acc in rows.values():
        assert 0 <= int(misread) <= 128 and abs(1 - int(misread) / 128 - float(acc)) < 1e-4
    assert "64 videos, 128 digits" in out.stdout and "fixed by the true positions" in out.stdout
    bands = [line.split()[-3:] for line in out.stdout.splitlines() if " px (" in line]
    assert len(bands) == 3, out.stdout  # the largest-distance bands split the videos and both readings' misreads
    assert sum(int(b[0]) for b in bands) == 64
    want = [int(rows[k][0]) for k in ("as shipped", "true positions")]
    assert [sum(int(b[i]) for b in bands) for i in (1, 2)] == want
    frames = [line.split() for line in out.stdout.splitlines() if " px " in line and " px (" not in line]
    assert len(frames) == 6 and sum(int(f[-2]) for f in frames) == 64 * 16, out.stdout
    bad = subprocess.run([sys.executable, str(script), "--dataset", str(make("smnist2", n=256, n_test=64))],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and bad.stderr.strip().startswith("error:") and len(bad.stderr.strip().splitlines()) == 1
