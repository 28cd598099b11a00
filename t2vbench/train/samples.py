"""Sample GIFs during training and from `t2vbench sample`: clips in a captioned grid (t2vbench.video)."""
from __future__ import annotations

import numpy as np


def to_uint8(videos) -> np.ndarray:
    """float (N, T, C, H, W) in [0, 1] -> uint8 (N, T, H, W, C)."""
    v = np.asarray(videos, dtype=np.float32)
    return (np.clip(v, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(0, 1, 3, 4, 2)


def write_grid(path, videos01, captions, cols: int, fps: int = 8):
    """Float videos (N, T, C, H, W) in [0, 1] with one caption each -> a looping GIF grid, atomically."""
    from t2vbench.video import caption_grid, save_gif

    return save_gif(caption_grid(to_uint8(videos01), list(captions), cols=cols), path, fps=fps)
