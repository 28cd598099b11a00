"""Independent checks of what a Moving MNIST caption promises, from pixels or positions alone.

Nothing here imports the renderer: captions are parsed from their text, motion is read from pixels
(single digit: the centre of mass) or from positions that a separate test proves the pixels obey.
"""
from __future__ import annotations

import re

import numpy as np

DIRS = {"left": (0, -1), "right": (0, 1), "up": (1, -1), "down": (1, 1)}  # axis (0 = x), sign
PHRASE = re.compile(r"digit (\d) is moving (left|right|up|down) (then|and) (left|right|up|down)")


def parse_caption(caption: str) -> list[tuple[int, str, str, str]]:
    """'digit 3 is moving left then right and digit 7 ...' -> [(3, 'left', 'then', 'right'), ...]."""
    slots = PHRASE.findall(caption)
    rebuilt = " and ".join(f"digit {d} is moving {a} {c} {b}" for d, a, c, b in slots)
    assert rebuilt == caption, f"caption does not follow the grammar: {caption!r}"
    return [(int(d), a, c, b) for d, a, c, b in slots]


def centre_of_mass(video: np.ndarray) -> np.ndarray:
    """(T, H, W) -> (T, 2) intensity-weighted (x, y)."""
    v = video.astype(np.float64)
    mass = v.sum((1, 2))
    ys, xs = np.arange(v.shape[1]), np.arange(v.shape[2])
    return np.stack([(v.sum(1) * xs).sum(1) / mass, (v.sum(2) * ys).sum(1) / mass], 1)


def check_track(track: np.ndarray, first: str, link: str, second: str) -> None:
    """Assert that a (T, 2) track of (x, y) does what 'first <link> second' promises. Raises AssertionError."""
    axis, s1 = DIRS[first]
    axis2, s2 = DIRS[second]
    assert axis == axis2 and s1 == -s2, f"'{first} {link} {second}' is not a caption of this grammar"
    other = 1 - axis
    assert np.ptp(track[:, other]) < 1e-6, f"moves along the other axis too ({np.ptp(track[:, other]):.3f} px)"
    steps = np.diff(track[:, axis])
    signs = np.sign(np.where(np.abs(steps) < 1e-6, 0, steps))
    nonzero = signs[signs != 0]
    changes = int(np.count_nonzero(np.diff(nonzero)))
    # a step that straddles a reflection can return to the same pixel; nothing else may stand still
    # (two-motion clips may also end on a reflection, after which no step is left to show the turn)
    assert len(steps) - len(nonzero) <= changes + (link == "and"), "the digit stands still other than at a reflection"
    if link == "then":
        assert nonzero[0] == s1, f"first visible step goes {'+' if nonzero[0] > 0 else '-'}, caption says {first}"
        assert changes == 1, f"{changes} reversals, 'then' promises exactly one"
        k = int(np.argmax(nonzero != s1))
        assert k >= 2 and len(nonzero) - k >= 2, f"a leg shows fewer than 3 frames ({k}, {len(nonzero) - k})"
    else:
        assert changes >= 1, "'and' promises back and forth, the digit never reverses"
