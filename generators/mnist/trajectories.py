"""Random parameters and exact trajectories, all in NumPy, drawn from the seed.

Parameters of video `i` of a split come from the block `i // BLOCK`, whose generator is
`default_rng(SeedSequence((seed, split_code, block)))`: the same seed gives the same videos whatever
the shard size, worker count or thread count. Positions are integers (pixels), so the renderer is
exact and the trajectory stored with each video is the ground truth the pixels obey.

Four motions ("left then right" ...): the distance to the first wall is d(t) = |d0 - v t|, one exact
reflection at t_b = d0 / v with 2 <= t_b <= T - 3 (each leg shows at least 3 frames) and
v (T - 1) - d0 < R (the digit never reaches the far wall after the bounce). Two motions
("left and right"): a triangle wave of period 2R with random first direction, whose first reflection
also falls in 2 <= t_b <= T - 3 so that a turn is always visible; speeds are at most R / 2, so a
step never jumps over a whole reflection.
"""
from __future__ import annotations

import numpy as np

from t2vbench.generators.mnist.captions import AXIS, FIRST_SIGN, heldout

BLOCK = 1024
SPLIT_CODE = {"train": 0, "test": 1}


def valid_speeds(cfg: dict) -> np.ndarray:
    """Speeds in [speed_min, speed_max] for which a motion of this kind fits T frames on the canvas."""
    T, R = cfg["frames"], cfg["size"] - cfg["digit_size"]
    v = np.arange(cfg["speed_min"], cfg["speed_max"] + 1)
    lo, hi = first_wall_range(v, T, R, cfg["motions"])
    return v[(lo <= hi) & (v > 0) & (2 * v <= R)]


def first_wall_range(v, T: int, R: int, motions: int):
    """Allowed distance to the first wall for speed v: the bounce at d0 / v in [2, T - 3]; with four
    motions also no arrival at the far wall, v (T - 1) - d0 < R."""
    lo, hi = 2 * v, np.minimum(R, v * (T - 3))
    if motions == 4:
        lo = np.maximum(lo, v * (T - 1) - R + 1)
    return lo, hi


def _block(cfg: dict, split: str, block: int, pool_labels: np.ndarray) -> dict:
    rng = np.random.default_rng(np.random.SeedSequence((cfg["seed"], SPLIT_CODE[split], block)))
    B, S, K = BLOCK, cfg["digits_per_video"], cfg["motions"]
    T, R = cfg["frames"], cfg["size"] - cfg["digit_size"]
    speeds = valid_speeds(cfg)
    # Fixed draw order, every draw made whatever the config, so configs do not shift each other's streams.
    img = rng.integers(0, len(pool_labels), (B, S))
    motion = rng.integers(0, K, (B, S))
    remap = rng.integers(0, max(K - 1, 1), B)
    v = speeds[rng.integers(0, len(speeds), (B, S))]
    u_start = rng.random((B, S))
    cross = rng.integers(0, R + 1, (B, S))
    sign2 = np.where(rng.integers(0, 2, (B, S)) == 1, 1, -1)

    digit = pool_labels[img].astype(np.int64)
    if cfg["holdout"] == "captions" and split == "train":
        forbidden = (-(digit.sum(1) + motion[:, :-1].sum(1))) % K
        motion[:, -1] = (forbidden + 1 + remap % (K - 1)) % K
    t = np.arange(T)
    lo, hi = first_wall_range(v, T, R, K)
    d0 = lo + np.floor(u_start * (hi - lo + 1)).astype(np.int64)  # distance to the first wall
    first = FIRST_SIGN[4][motion] if K == 4 else sign2
    u = np.mod(d0[..., None] - v[..., None] * t, 2 * R)  # unfolded, measured from the first wall
    dist = np.where(u <= R, u, 2 * R - u)  # exact reflections (four motions: at most one, by the range)
    along = np.where(first[..., None] < 0, dist, R - dist)
    axis = AXIS[K][motion][..., None]
    x = np.where(axis == 0, along, cross[..., None])
    y = np.where(axis == 1, along, cross[..., None])
    return {"img": img.astype(np.int32), "digit": digit.astype(np.int8), "motion": motion.astype(np.int8),
            "pos": np.stack([x, y], -1).astype(np.int16)}  # pos: (B, S, T, 2) top-left (x, y)


def draw(cfg: dict, split: str, start: int, stop: int, pool_labels: np.ndarray) -> dict:
    """Parameters of videos [start, stop) of `split`: img, digit, motion (N, S), pos (N, S, T, 2)."""
    blocks = [_block(cfg, split, b, pool_labels) for b in range(start // BLOCK, (stop - 1) // BLOCK + 1)]
    lo = start - (start // BLOCK) * BLOCK
    out = {k: np.concatenate([b[k] for b in blocks])[lo: lo + stop - start] for k in blocks[0]}
    if cfg["holdout"] == "captions":
        out["heldout"] = heldout(out["digit"].astype(np.int64), out["motion"].astype(np.int64), cfg["motions"])
    return out
