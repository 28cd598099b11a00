"""The analytic motion check for single-digit MNIST: no network, just the centre of mass.

A digit that translates rigidly moves its intensity-weighted centre by exactly its displacement, so
the caption's motion can be checked from pixels alone:
- axis: the centre must travel at least `MIN_PATH` px along the captioned axis, and the path across
  it must be at most `MAX_CROSS` of that (x = columns for left/right, y = rows for up/down, up = row 0);
- "X then Y" (four motions): the first step of at least `MIN_STEP` px along the axis goes in
  direction X, and a later one goes back (direction Y);
- "X and Y" (two motions): the axis alone (the first direction is random by the dataset's definition).
Meaningful only with one digit per video: two digits' centres mix.
"""
from __future__ import annotations

import numpy as np

IMPL = {"name": "t2vbench.motion_centre_of_mass", "version": "1"}
MIN_STEP, MIN_PATH, MAX_CROSS = 1.0, 4.0, 0.5
SIGN = {"left": -1, "right": 1, "up": -1, "down": 1}
AXIS = {"left": 0, "right": 0, "up": 1, "down": 1}


def centres(video: np.ndarray, chunk: int = 256) -> np.ndarray:
    """uint8 (N, T, H, W, C) -> (N, T, 2) intensity-weighted (x, y); NaN for an empty frame.
    In chunks, so 2,048 clips never become a 0.5 GB float copy."""
    out = np.empty((len(video), video.shape[1], 2), np.float64)
    for s in range(0, len(video), chunk):
        v = video[s:s + chunk].astype(np.float32)
        v = v.sum(-1) if v.ndim == 5 else v
        cols, rows = v.sum(2), v.sum(3)  # (n, T, W), (n, T, H)
        mass = cols.sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[s:s + chunk, :, 0] = (cols @ np.arange(v.shape[3], dtype=np.float32)) / mass
            out[s:s + chunk, :, 1] = (rows @ np.arange(v.shape[2], dtype=np.float32)) / mass
    return out


def parse_motion(name: str) -> tuple[int, int, bool]:
    """'left then right' -> (axis 0, first sign -1, ordered True); 'up and down' -> (1, -1, False)."""
    words = name.split()
    return AXIS[words[0]], SIGN[words[0]], "then" in words


def check(video: np.ndarray, motion_ids: np.ndarray, motion_names: list) -> np.ndarray:
    """(N,) bool: does each single-digit video's centre of mass do what its motion label says?"""
    c = centres(video)
    d = np.diff(c, axis=1)  # (N, T-1, 2)
    ok = np.zeros(len(c), dtype=bool)
    for i, m in enumerate(np.asarray(motion_ids).reshape(len(c), -1)[:, 0]):
        axis, sign, ordered = parse_motion(motion_names[int(m)])
        step = d[i, :, axis]
        if not np.isfinite(d[i]).all():
            continue
        path, cross = np.abs(step).sum(), np.abs(d[i, :, 1 - axis]).sum()
        good = path >= MIN_PATH and cross <= MAX_CROSS * path
        if good and ordered:
            moving = np.flatnonzero(np.abs(step) >= MIN_STEP)
            good = len(moving) > 0 and np.sign(step[moving[0]]) == sign and bool(
                (np.sign(step[moving[1:]]) == -sign).any())
        ok[i] = good
    return ok
