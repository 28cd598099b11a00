"""A torchrun launcher for tests/test_train_ddp.py: one smoke run of MODEL through the runner's phases,
as `t2vbench run` does them, and each rank's final parameters in DUMP/rank<R>/params.pt (ranks in
lock-step hold equal ones).

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ddp_worker.py MODEL DATASET OUT DUMP \\
        [--set KEY=VALUE ...]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from t2vbench.data.handle import open_dataset
from t2vbench.train import checkpoint as ckpt
from t2vbench.train.runner import RunSpec, prepare, save_model, train


def main() -> None:
    ap = argparse.ArgumentParser()
    for name in ("model", "dataset", "out", "dump"):
        ap.add_argument(name)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    a = ap.parse_args()
    spec = RunSpec(a.model, open_dataset(a.dataset), budget="smoke", out=Path(a.out), overrides=tuple(a.overrides),
                   device="cpu", progress=False, evaluate=False)
    with prepare(spec) as r:
        train(r)
        params = {n: p.detach().cpu() for n, p in r.model.named_parameters()}
        ckpt.save(Path(a.dump) / f"rank{r.dist.rank}" / "params.pt", {"format": 1, "params": params})
        save_model(r)


if __name__ == "__main__":
    main()
