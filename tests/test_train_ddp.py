"""Two CPU processes under torchrun (gloo): the smoke run completes, only rank 0 writes, and the ranks
stay in lock-step (same weights after averaged updates). tests/ddp_worker.py runs the runner's phases
and dumps every rank's parameters."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from t2vbench.train import checkpoint as ckpt

WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.mark.slow
def test_torchrun_two_cpu_processes(make, tmp_path):
    data = make("smnist4", n=48, n_test=16)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(WORKER),
           "ircgan", str(data), str(tmp_path / "runs"), str(tmp_path / "dump"), "--set", "train.iters=3",
           "--set", "train.log_every=1", "--set", "text.pretrain.iters=2"]
    proc = subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "runs" / "ircgan-smnist4-smoke-seed0"
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["world_size"] == 2 and cfg["global_batch"] == 2 * cfg["config"]["train"]["batch"]
    rows = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["stage"] == 2] == [1, 2, 3]  # one writer: no duplicated lines
    assert (run_dir / "model.pt").exists() and ckpt.load(run_dir / "checkpoints" / "last.pt")["step"] == 3
    # every rank dumped its final parameters: identical across ranks
    w0, w1 = (ckpt.load(tmp_path / "dump" / f"rank{r}" / "params.pt")["params"] for r in (0, 1))
    assert w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0)
