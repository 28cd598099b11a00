"""The Numba kernel: paste digits at given integer positions, no randomness, parallel over videos.

Two digits combine by saturating sum (Sync-DRAW's rule): overlaps brighten and clip at 255, never wrap
around or overwrite.
"""
from __future__ import annotations

import sys

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True, nogil=True)
def render_videos(pool, img, pos, out):  # pragma: no cover - compiled; tested through py_func and outputs
    """pool (P, d, d) uint8; img (N, S) int32; pos (N, S, T, 2) int16 (x, y); out (N, T, H, W) uint8."""
    n, s_count, t_count = pos.shape[0], pos.shape[1], pos.shape[2]
    d = pool.shape[1]
    for i in prange(n):
        for t in range(t_count):
            for r in range(out.shape[2]):
                for c in range(out.shape[3]):
                    out[i, t, r, c] = 0
            for s in range(s_count):
                x = pos[i, s, t, 0]
                y = pos[i, s, t, 1]
                k = img[i, s]
                if s == 0:  # the canvas is empty: copy
                    for r in range(d):
                        for c in range(d):
                            out[i, t, y + r, x + c] = pool[k, r, c]
                else:
                    for r in range(d):
                        for c in range(d):
                            v = np.int32(out[i, t, y + r, x + c]) + np.int32(pool[k, r, c])
                            out[i, t, y + r, x + c] = 255 if v > 255 else v


def render(pool: np.ndarray, img: np.ndarray, pos: np.ndarray, size: int, out: np.ndarray | None = None):
    """Render (N, T, size, size) uint8 videos; `out` may be a preallocated buffer to reuse."""
    n, _, t = pos.shape[:3]
    if out is None:
        out = np.empty((n, t, size, size), np.uint8)
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    render_videos(pool, img.astype(np.int32, copy=False), pos.astype(np.int16, copy=False), out)
    if threads is not None and torch.get_num_threads() != threads:
        # Numba's OpenMP layer sets the process's OpenMP thread count on every parallel launch, and torch
        # reads the same count: without this, rendering would change the threads (and so the float sums)
        # of the user's torch code
        torch.set_num_threads(threads)
    return out
