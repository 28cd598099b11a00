"""The digit-reading probe (research/probe_digit_reading.py) runs end to end and reports every reading (the
least ink it reads is tested with `reader.true_images` in test_eval_reader.py)."""
from __future__ import annotations

import subprocess
import sys


def test_probe_runs_and_reports_every_reading(make, probe_script):
    script, _ = probe_script("probe_digit_reading")
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
