"""Dataset speed: render rate vs a NumPy loop and the memory-copy ceiling, end-to-end make-dataset,
DataLoader reads. Every ratio is against a reference measured in this same run.

    python bench/bench_data.py [--digits ../shared/data/mnist] [--n 12000]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def best(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def numpy_loop(pool, img, pos, size):
    """The plain reference: one video at a time, one frame at a time, saturating paste in NumPy."""
    n, s_count, t_count = pos.shape[:3]
    out = np.empty((n, t_count, size, size), np.uint8)
    for i in range(n):
        for t in range(t_count):
            frame = np.zeros((size, size), np.int32)
            for s in range(s_count):
                x, y = pos[i, s, t]
                frame[y: y + 28, x: x + 28] += pool[img[i, s]]
            out[i, t] = np.minimum(frame, 255)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--digits", default=str(REPO.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--n", type=int, default=12000)
    args = ap.parse_args()

    from t2vbench.generators.mnist.builder import DMNIST4, SMNIST4
    from t2vbench.generators.mnist.render import render
    from t2vbench.generators.mnist.trajectories import draw

    print(f"machine: {os.cpu_count()} cores")
    buf = np.empty((1 << 29,), np.uint8)
    src = np.ones_like(buf)
    copy_s = best(partial(np.copyto, buf, src), 5)
    copy_bw = buf.nbytes / copy_s
    print(f"memory copy: {copy_bw / 1e9:.2f} GB/s  = ceiling {copy_bw / 65536:,.0f} videos/s of 16x64x64 uint8")
    del buf, src

    n = 16384
    for cls in (SMNIST4, DMNIST4):
        b = cls()
        cfg = b.resolve({"digits": args.digits, "n": n})
        images, labels = b.digits().split("train")
        p = draw(cfg, "train", 0, n, labels)
        out = np.empty((n, 16, 64, 64), np.uint8)
        render(images, p["img"], p["pos"], 64, out)  # warm: compile or load the cache, touch the pages
        t_numba = best(lambda: render(images, p["img"], p["pos"], 64, out))
        m = 400
        t_numpy = best(lambda: numpy_loop(images, p["img"][:m], p["pos"][:m], 64), 2) * n / m
        assert np.array_equal(numpy_loop(images, p["img"][:m], p["pos"][:m], 64), out[:m])
        t_draw = best(lambda: draw(cfg, "train", 0, n, labels))
        rate = n / t_numba
        print(f"{cls.name}: render {rate:,.0f} videos/s (NumPy loop {n / t_numpy:,.0f}/s, "
              f"ratio {t_numpy / t_numba:.0f}x; "
              f"{rate * 65536 / copy_bw:.0%} of memory-copy ceiling); parameter draws {n / t_draw:,.0f}/s")

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "t2vbench.cli", "make-dataset", "smnist4", "--n", str(args.n), "--out", tmp,
               "--digits", args.digits, "-q", "--overwrite"]
        subprocess.run(cmd, check=True, capture_output=True)  # warm the JIT cache
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        e2e = time.perf_counter() - t
        root = Path(tmp) / "smnist4"
        nbytes = sum(p.stat().st_size for p in root.glob("*.h5"))
        total = args.n + 2048
        print(f"make-dataset smnist4 --n {args.n} (+2048 test), fresh process, warm JIT cache: {e2e:.2f} s, "
              f"{total / e2e:,.0f} videos/s, shards {nbytes / 1e6:.1f} MB ({nbytes / total:.0f} B/video, "
              f"raw {65536} B/video)")

        import torch
        from torch.utils.data import DataLoader

        from t2vbench import VideoTextDataset

        torch.set_num_threads(1)
        # the Dataset's sha256 check on a shard's first open, against the unchecked read, alternated
        def first_pass(verify):
            ds = VideoTextDataset(root, "train", video_dtype="uint8", verify=verify)
            for i in range(len(ds)):
                ds[i]
        times = {False: [], True: []}
        for _ in range(5):
            for verify in (False, True):
                times[verify].append(best(partial(first_pass, verify), 1))
        plain, checked = min(times[False]), min(times[True])
        from t2vbench.data.format import sha256_file

        hash_s = best(lambda: [sha256_file(p) for p in root.glob("train-*.h5")], 3)
        print(f"Dataset first pass, in order, 0 workers: unchecked {args.n / plain:,.0f} videos/s, with the sha256 "
              f"check on first open {args.n / checked:,.0f} videos/s (ratio {checked / plain:.3f}); hashing the "
              f"train shards alone takes {hash_s / plain:.1%} of the unchecked pass")
        for dtype in ("float32", "uint8"):
            ds = VideoTextDataset(root, "train", video_dtype=dtype)
            for workers in (0, 2):
                loader = DataLoader(ds, batch_size=64, shuffle=True, num_workers=workers,
                                    persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0))
                it = iter(loader)
                next(it)
                t = time.perf_counter()
                count = 0
                for batch in it:
                    count += len(batch["index"])
                    if count >= 6000:
                        break
                dt = time.perf_counter() - t
                print(f"DataLoader read (shuffled, batch 64, {dtype} video): {workers} workers "
                      f"{count / dt:,.0f} videos/s")
                del it, loader


if __name__ == "__main__":
    main()
