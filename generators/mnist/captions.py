"""What a Moving MNIST caption says, and which captions a `--holdout captions` split keeps for test.

Motion ids index `MOTIONS[n_motions]`; a motion's axis is 0 (x, columns) or 1 (y, rows) and its sign
is the first direction along that axis (-1: left/up first).
"""
from __future__ import annotations

import numpy as np

MOTIONS = {
    4: ("left then right", "right then left", "up then down", "down then up"),
    2: ("left and right", "up and down"),
}
AXIS = {4: np.array([0, 0, 1, 1]), 2: np.array([0, 1])}
FIRST_SIGN = {4: np.array([-1, 1, -1, 1]), 2: np.array([0, 0])}  # two-motion: the first direction is random


def phrase(digit: int, motion_name: str) -> str:
    return f"digit {digit} is moving {motion_name}"


def vocabulary(n_motions: int, n_digits: int) -> list[str]:
    """Every word the grammar can produce, in a fixed order (so ids never depend on the data drawn)."""
    words = ["digit", "is", "moving", *map(str, range(10))]
    extra = [w for name in MOTIONS[n_motions] for w in name.split()] + (["and"] if n_digits > 1 else [])
    for w in extra:
        if w not in words:
            words.append(w)
    return words


def captions(digits: np.ndarray, motions: np.ndarray, n_motions: int) -> list[str]:
    """Captions for (N, S) digit and motion ids; slot order is caption order."""
    names = MOTIONS[n_motions]
    table = [[phrase(d, names[m]) for m in range(n_motions)] for d in range(10)]
    if digits.shape[1] == 1:
        return [table[d][m] for d, m in zip(digits[:, 0].tolist(), motions[:, 0].tolist())]
    return [" and ".join(table[d][m] for d, m in zip(ds, ms)) for ds, ms in zip(digits.tolist(), motions.tolist())]


def heldout(digits: np.ndarray, motions: np.ndarray, n_motions: int) -> np.ndarray:
    """The held-out combinations: sum of digit ids plus sum of motion ids divisible by n_motions.

    One caption in four (four motions) or two (two motions) is held out; every single digit and every
    single motion still occurs in train, only these combinations are new at test time (Sync-DRAW's
    unseen-caption protocol, made deterministic).
    """
    return (digits.sum(1) + motions.sum(1)) % n_motions == 0
