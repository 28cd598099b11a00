"""Network-free motion checks of Moving MNIST: does a digit's track keep all of its caption's promise?

A track is a digit box's top-left corner (x, y) in every frame, (T, 2). Single digit: the centre of
mass of the pixels (`com_tracks`; a digit that translates rigidly moves its intensity-weighted centre
by exactly its displacement, and MNIST centres each digit's mass in its 28x28 box, at 13.5..14.5 px).
Two digits: where the judge locates each one (`judge_tracks`: its locator, tracker and cleared
images, each image then followed through the clip again by `follow_digits`), paired with the
caption's slots by what the judge's crop readers read there (`pair_tracks`); `check_judged` does it
all, and checks two digits given the same motion as one where apart they fail.

`check_tracks` tests the whole promise of generators/mnist (docs/datasets.md, "What a caption
promises") on each track, in this order, and names the first part that fails:

- no_track: a frame without a position (no ink);
- axis: the digit does not move along the captioned axis (range < `min_path` px), or moves at least
  twice as far across it (x = columns for left/right, y = rows for up/down, up = row 0);
- drift: the position across the axis spans more than `drift` px;
- reversals along the axis are found with a hysteresis of `turn` px (a turn counts once the digit has
  gone back that far from its furthest point, so track noise makes none);
- first_direction ("X then Y"): the first move of `turn` px goes X;
- reflections: "then" exactly one reversal; "and" at least one (every clip shows a turn);
- speed: the legs between reversals, fitted together as lines of one speed v, alternating in sign,
  miss a frame by more than `fit` px (a reversal frame: the nearer of its two legs), or v lies outside
  the config's speed_min..speed_max by more than `speed` px/frame. "and" clips may reflect in their
  last step, too little to show as a reversal: frames the last leg's line puts beyond its wall are
  compared with the line folded there. Constant speed and exact reflection are one model;
- wall: the two legs of a reversal meet (their lines' crossing) more than `wall` px from the wall
  they move towards: 0 or size - digit_size ("then": X's wall; a turn in mid-canvas breaks it);
- leg_length: the first reflection (the crossing's time) is before frame 2 or after frame T - 3 by
  more than `leg` frames (each leg of a "then" clip shows 3 frames; an "and" clip's first reflection
  comes after 2 steps and 2 steps before the end).

Tolerances (`TOL`) were set on real test clips of all four families (`research/probe_motion_check.py`
prints the measurements and the pass rates): "com" for centre-of-mass tracks, which real clips obey
exactly but for the MNIST centring (0.5 px; 100% of smnist4/smnist2 test clips pass), with room for
a generated digit's flicker; "judge" for the located corners (integer, ~1 px off the truth where the
digits stand apart): each at the knee of the pass rate on dmnist4/dmnist2 (99.4-99.7% pass).
"""
from __future__ import annotations

import numpy as np

IMPL = {"name": "t2vbench.motion_tracks", "version": "2"}
IMPL_V1 = {"name": "t2vbench.motion_centre_of_mass", "version": "1"}  # `check`, protocol 1.0
MIN_STEP, MIN_PATH, MAX_CROSS = 1.0, 4.0, 0.5
SIGN = {"left": -1, "right": 1, "up": -1, "down": 1}
AXIS = {"left": 0, "right": 0, "up": 1, "down": 1}
COM_OFFSET = 14.0  # MNIST's centre of mass inside its 28x28 box: 13.5..14.5 px on every test digit
KINDS = ("ok", "no_track", "axis", "drift", "first_direction", "reflections", "speed", "wall", "leg_length")
TOL = {  # px, px/frame (speed), frames (leg); how they were chosen: research/probe_motion_check.py
    "com": {"min_path": 6.0, "turn": 2.5, "drift": 1.5, "fit": 1.0, "speed": 0.25, "wall": 1.5, "leg": 0.5},
    "judge": {"min_path": 6.0, "turn": 2.5, "drift": 4.0, "fit": 2.5, "speed": 0.35, "wall": 3.0, "leg": 0.6},
}

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
    """Version 1 (`IMPL_V1`, protocol 1.0): (N,) bool, does each single-digit video's centre of mass
    take the captioned axis and, for "then", the first direction and some step back? Superseded by
    `check_tracks(com_tracks(video), ...)`, which tests the whole promise."""
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


# -- tracks ---------------------------------------------------------------------------------------
def com_tracks(video: np.ndarray, digit_size: int = 28) -> np.ndarray:
    """Single-digit videos uint8 (N, T, H, W, C) -> the digit box's top-left corners (N, T, 2) as (x, y),
    float: the centre of mass less `COM_OFFSET` (scaled to the digit size); NaN where a frame is empty."""
    return centres(video) - COM_OFFSET * digit_size / 28.0


def judge_tracks(judge, video, batch_size: int = 64, refine: bool = True, max_step: int | None = None) -> dict:
    """Where a two-digit judge (a `LoadedJudge` or `Judge` with crop readers) locates each digit, and
    what it reads there: video uint8 (N, T, H, W, C) or float (N, T, C, H, W) -> {"tracks": (N, S, T, 2)
    float corners (x, y) in the judge's slot order, "judge_tracks": the judge's own corners
    (`reader.locate_digits`: the computation `read_digits` makes; nothing the judge outputs changes),
    "logp": (N, S, K) the crop readers' summed log-probabilities of each located digit's value,
    "layered": (N,) bool, "gap": (N,) px between the digits in its reference frame}.

    The judge's tracker follows each digit within 1 px of where it was or of a detection: where the
    digits overlap it loses one for a frame or two (60% of real dmnist4 test clips keep their promise on
    its corners). With `refine` (default) each digit's image as the judge cleared it
    is followed again by `follow_digits`, over the whole canvas and every frame at once; `max_step`
    (default: the judge's largest speed + 1 px) bounds a step."""
    import torch

    from t2vbench.judge import reader as rd
    from t2vbench.judge.model import as_float_video

    model = getattr(judge, "model", judge)
    if model.locator is None:
        raise ValueError("judge_tracks needs a judge with a locator and crop readers (the two-digit judges)")
    a = model.arch
    layers = ({"gate": float(a["reader_layer_gate"]), "speed": int(a["reader_layer_speed"]),
               "beam": int(a["reader_layer_beam"])} if a.get("reader_layer_gate") else None)
    step = int(max_step if max_step is not None else int(a.get("reader_layer_speed", 6)) + 1)
    out = {"tracks": [], "judge_tracks": [], "logp": [], "layered": [], "gap": []}
    with torch.inference_mode():
        for s in range(0, len(video), batch_size):
            v = as_float_video(video[s:s + batch_size])
            r = rd.locate_digits(model.locator, model.readers, v, model.slots, int(a["digit_size"]),
                                 int(a["reader_radius"]), float(a["reader_match"]), layers=layers)
            corners = r["corners"].permute(0, 2, 1, 3)  # (B, S, T, 2)
            out["judge_tracks"].append(corners.double().numpy())
            if refine:
                corners = follow_digits(v.sum(dim=2), r["images"].sum(dim=2), step)
            out["tracks"].append(corners.double().numpy())
            out["logp"].append(r["logp"].numpy())
            out["layered"].append(r["layered"].numpy())
            out["gap"].append(r["gap"].numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def follow_digits(ink, images, max_step: int, rounds: int = 2, unexplained: float = 1.0, ink_at: float = 0.5,
                  match: float = 0.1):
    """Follow S digit images through their videos: ink (B, T, H, W) in [0, 1] (channels summed), each
    digit's image (B, S, d, d) -> corners (B, S, T, 2) long, (x, y) top-left.

    Pixels count as ink above `ink_at`. A video is a saturating sum of digits, so wherever a digit
    stands, all of its ink is in the frame: the cost of a corner is the share of the image's ink the
    frame misses there (0 for a clean image at its true corner). Each digit's path is the one of least
    summed cost over the frames whose steps are at most `max_step` px per axis (dynamic programming
    over all corners of the canvas, `_best_path`): nothing about the caption's motion is assumed, only
    that a digit moves at most that far a frame. Then `rounds` times, for each digit in turn, the cost
    adds `unexplained` x the share of the frame's ink that neither digit covers (the other one at its
    path), so two paths never settle on one digit; and each image is cleared again at the new paths
    (`_clear_at`). Every cost is a correlation of binary images (`_hits`)."""
    B, T, H, W = ink.shape
    S, d = images.shape[1], images.shape[-1]
    frames = (ink > ink_at).float()
    img = images.float()
    binary = (img > ink_at).float()
    at = _best_path(_missing(frames, binary), max_step)
    for _ in range(rounds if S == 2 else 0):
        for s in (0, 1):
            other = _paint(binary[:, 1 - s], at[:, 1 - s], H, W)
            resid = frames * (1 - other)
            miss, left = _missing(frames, binary[:, s:s + 1], resid)
            at[:, s] = _best_path(miss + unexplained * left, max_step)[:, 0]
        cost = _missing(frames, binary)  # (B, T, S, h, w): each image's cost at its new path
        h, w = cost.shape[-2:]
        flat = cost.permute(0, 2, 1, 3, 4).reshape(B, S, T, h * w)
        own = flat.gather(3, (at[..., 1] * w + at[..., 0])[..., None])[..., 0]
        img = _clear_at(ink, at, own <= match, d)
        binary = (img > ink_at).float()
    return at


def _hits(frames, binary):
    """How many of each image's ink pixels are ink in a frame, at every corner: frames (B, T, H, W) and
    images (B, S, d, d), both binary -> (B, T, S, H - d + 1, W - d + 1) counts. A correlation, made
    through the FFT (~20x as fast as a convolution with 28 px kernels on a CPU) and rounded: the counts
    are integers, exact (float32's error on a 64 px canvas is ~1e-3)."""
    import torch

    B, T, H, W = frames.shape
    S, d = binary.shape[1], binary.shape[-1]
    pad = binary.new_zeros(B, S, H, W)
    pad[..., :d, :d] = binary
    spec = torch.fft.rfft2(frames)[:, :, None] * torch.fft.rfft2(pad).conj()[:, None]
    return torch.fft.irfft2(spec, s=(H, W))[..., :H - d + 1, :W - d + 1].round()


def _missing(frames, binary, resid=None):
    """Share of each image's ink a frame misses at every corner: frames (B, T, H, W) and images
    (B, S, d, d) binary -> (B, T, S, h, w); with `resid` (B, T, H, W) binary (one image, S = 1) also the
    share of resid's ink the image leaves uncovered there (relative to the image's ink)."""
    n = binary.sum(dim=(2, 3)).clamp(min=1)[:, None, :, None, None]  # (B, 1, S, 1, 1)
    miss = 1 - _hits(frames, binary) / n
    if resid is None:
        return miss
    left = (resid.sum(dim=(2, 3))[:, :, None, None, None] - _hits(resid, binary)) / n
    return miss, left


def _best_path(cost, max_step: int):
    """Corners (B, S, T, 2) of the least summed cost over frames, cost (B, T, S, h, w), steps of at most
    `max_step` per axis (ties: the first corner in row order)."""
    import torch
    import torch.nn.functional as F

    B, T, S, h, w = cost.shape
    k = int(max_step)
    total = cost[:, 0].reshape(B * S, h, w)
    back = []
    for t in range(1, T):
        best, idx = F.max_pool2d(-total[:, None], 2 * k + 1, 1, k, return_indices=True)
        total = cost[:, t].reshape(B * S, h, w) - best[:, 0]
        back.append(idx[:, 0].flatten(1))
    cur = total.flatten(1).argmin(dim=1)
    path = [cur]
    for t in range(T - 2, -1, -1):
        cur = back[t].gather(1, cur[:, None])[:, 0]
        path.append(cur)
    path = torch.stack(path[::-1], dim=1)  # (B * S, T)
    return torch.stack([path % w, path // w], dim=-1).view(B, S, T, 2)


def _paint(binary, at, H: int, W: int):
    """One image per video (B, d, d) at its corners (B, T, 2) -> frames (B, T, H, W)."""
    import torch

    B, T = at.shape[:2]
    d = binary.shape[-1]
    ar = torch.arange(d)
    ys = (at[..., 1, None] + ar)[..., :, None].expand(B, T, d, d)
    xs = (at[..., 0, None] + ar)[..., None, :].expand(B, T, d, d)
    bi = torch.arange(B)[:, None, None, None].expand(B, T, d, d)
    ti = torch.arange(T)[None, :, None, None].expand(B, T, d, d)
    canvas = torch.zeros(B, T, H, W)
    canvas[bi, ti, ys, xs] = binary[:, None].expand(B, T, d, d)
    return canvas


def _clear_at(ink, at, keep, d: int):
    """Each digit's least ink over the frames `keep` (B, S, T), at corners at (B, S, T, 2), not counting
    its pixels that lie in the other digit's box in that frame (a pixel the other box covers in every
    kept frame: the least over the kept frames; no frame kept: over all) -> (B, S, d, d)."""
    import torch

    from t2vbench.judge.reader import crop

    B, S, T = at.shape[:3]
    which = torch.arange(B * T).repeat_interleave(S)
    crops = crop(ink.flatten(0, 1)[:, None], at.transpose(1, 2).reshape(-1, 2), d, which)
    crops = crops.view(B, T, S, d, d).transpose(1, 2)  # (B, S, T, d, d)
    ar = torch.arange(d)
    rel = at.flip(1) - at  # the other box's corner in this box's coordinates
    inx = (ar >= rel[..., 0:1]) & (ar < rel[..., 0:1] + d)
    iny = (ar >= rel[..., 1:2]) & (ar < rel[..., 1:2] + d)
    covered = iny[..., :, None] & inx[..., None, :] if S == 2 else torch.zeros_like(crops, dtype=torch.bool)
    big = torch.tensor(9.0)
    kept = keep[..., None, None]
    clear = torch.where(kept & ~covered, crops, big).amin(dim=2)
    some = torch.where(kept, crops, big).amin(dim=2)
    some = torch.where(some > 8, crops.amin(dim=2), some)
    return torch.where(clear > 8, some, clear)


def pair_tracks(tracks: np.ndarray, logp: np.ndarray, digit_labels: np.ndarray):
    """Located tracks (N, S, T, 2) in the judge's order and their readings (N, S, K) -> the tracks in
    caption-slot order (N, S, T, 2) and `tied` (N,) bool: the pairing that gives the caption's digits
    the higher summed log-probability (digit_labels (N, S), caption order); tied where both pairings
    read the caption equally well (the caption names one digit twice), so that either may be checked."""
    tracks, digit_labels = np.asarray(tracks), np.asarray(digit_labels).astype(np.int64)
    N, S = tracks.shape[:2]
    if S == 1:
        return tracks, np.zeros(N, dtype=bool)
    rows = np.arange(N)
    keep = logp[rows, 0, digit_labels[:, 0]] + logp[rows, 1, digit_labels[:, 1]]
    swap = logp[rows, 1, digit_labels[:, 0]] + logp[rows, 0, digit_labels[:, 1]]
    paired = np.where((swap > keep)[:, None, None, None], tracks[:, ::-1], tracks)
    return paired, (digit_labels[:, 0] == digit_labels[:, 1]) | (swap == keep)


def _tol(tol) -> dict:
    if isinstance(tol, str):
        return TOL[tol]
    return {**TOL["com"], **(tol or {})}


def turns(p: np.ndarray, h: float) -> tuple[int, list]:
    """Reversals of a 1-D position p (T,) with hysteresis h -> (first direction -1/0/+1, pivot frames).
    The first direction is that of the first move of h away from p[0]; a pivot is a furthest point
    from which the position then went back by at least h."""
    direction, first, ext, pivots = 0, 0, 0, []
    for t in range(1, len(p)):
        if direction == 0:
            if abs(p[t] - p[0]) >= h:
                direction = first = 1 if p[t] > p[0] else -1
                ext = int(np.argmax(p[:t + 1] * direction))
        elif direction * (p[t] - p[ext]) > 0:
            ext = t
        elif direction * (p[ext] - p[t]) >= h:
            pivots.append(ext)
            direction, ext = -direction, t
    return first, pivots


def _fit_legs(p: np.ndarray, legs: list, signs: np.ndarray):
    """Lines of one speed, leg j: p = a_j + signs[j] v t, over the frames legs[j] -> (a (L,), v)."""
    rows = [(t, j) for j, frames in enumerate(legs) for t in frames]
    A = np.zeros((len(rows), len(legs) + 1))
    for r, (t, j) in enumerate(rows):
        A[r, j], A[r, -1] = 1.0, signs[j] * t
    sol = np.linalg.lstsq(A, p[[t for t, _ in rows]], rcond=None)[0]
    return sol[:-1], float(sol[-1])


def track_stats(track: np.ndarray, axis: int, sign: int, ordered: bool, cfg: dict, tol) -> dict:
    """The measurements `check_tracks` judges one track (T, 2) by, and its verdict: {"kind", "range",
    "cross", "first", "pivots", "v", "fit", "wall", "t_first"}."""
    tol = _tol(tol)
    T = len(track)
    R = float(cfg["size"] - cfg["digit_size"])
    out = {"kind": "ok", "range": np.nan, "cross": np.nan, "first": 0, "pivots": [], "v": np.nan,
           "fit": np.nan, "wall": np.nan, "t_first": np.nan}
    if not np.isfinite(track).all():
        out["kind"] = "no_track"
        return out
    p, q = track[:, axis].astype(np.float64), track[:, 1 - axis].astype(np.float64)
    out["range"], out["cross"] = float(np.ptp(p)), float(np.ptp(q))
    if out["range"] < tol["min_path"] or out["cross"] >= 2 * out["range"]:
        out["kind"] = "axis"
        return out
    first, pivots = turns(p, tol["turn"])
    out["first"], out["pivots"] = first, pivots
    if out["cross"] > tol["drift"]:
        out["kind"] = "drift"
        return out
    if ordered and first != sign:
        out["kind"] = "first_direction"
        return out
    if (ordered and len(pivots) != 1) or not pivots:
        out["kind"] = "reflections"
        return out
    bounds = [-1, *pivots, T]
    legs = [list(range(bounds[j] + 1, bounds[j + 1])) for j in range(len(bounds) - 1)]
    if any(not leg for leg in legs[:-1]):  # two reversals in consecutive frames: a jump, not a reflection
        out["kind"] = "wall"
        return out
    signs = first * (-1.0) ** np.arange(len(legs))
    walls = np.where(signs > 0, R, 0.0)  # the wall each leg moves towards
    a, v = _fit_legs(p, legs, signs)
    meet = (a[:-1] + a[1:]) / 2  # where leg j's and leg j+1's lines cross
    offset = float(np.clip(np.mean(meet - walls[:-1]), -tol["wall"], tol["wall"]))
    folded = []
    if not ordered and legs[-1]:  # a reflection in the last step(s): fold the last leg's line at its wall
        w = walls[-1] + offset
        folded = [t for t in legs[-1] if signs[-1] * (a[-1] + signs[-1] * v * t - w) > 0]
        if folded and len(folded) < len(legs[-1]):
            legs2 = legs[:-1] + [[t for t in legs[-1] if t not in folded]]
            a, v = _fit_legs(p, legs2, signs)
            meet = (a[:-1] + a[1:]) / 2
            offset = float(np.clip(np.mean(meet - walls[:-1]), -tol["wall"], tol["wall"]))
            w = walls[-1] + offset
    t_all = np.arange(T, dtype=np.float64)
    line = a[:, None] + signs[:, None] * v * t_all[None]  # (L, T): every leg's line at every frame
    pred = np.empty(T)
    for j, frames in enumerate(legs):
        pred[frames] = line[j, frames]
    if folded:
        w = walls[-1] + offset
        pred[folded] = 2 * w - line[-1, folded]
    err = np.abs(p - pred)
    for j, k in enumerate(pivots):
        err[k] = min(abs(p[k] - line[j, k]), abs(p[k] - line[j + 1, k]))
    out["v"], out["fit"] = v, float(err.max())
    out["wall"] = float(np.abs(meet - walls[:-1]).max())
    out["t_first"] = float((a[1] - a[0]) / (2 * signs[0] * v)) if v > 0 else np.nan
    if out["fit"] > tol["fit"] or not cfg["speed_min"] - tol["speed"] <= v <= cfg["speed_max"] + tol["speed"]:
        out["kind"] = "speed"
    elif out["wall"] > tol["wall"]:
        out["kind"] = "wall"
    elif not 2 - tol["leg"] <= out["t_first"] <= T - 3 + tol["leg"]:
        out["kind"] = "leg_length"
    return out


def check_tracks(tracks: np.ndarray, motion_labels: np.ndarray, motion_names: list, cfg: dict, tol="com"):
    """Tracks (N, T, 2) or (N, S, T, 2) in caption-slot order, motion ids (N,) or (N, S) indexing
    `motion_names`, the dataset config (size, digit_size, speed_min, speed_max) and tolerances (a
    `TOL` name or a dict) -> ok (N,) bool (every slot keeps its promise) and kind (N,) object: "ok" or
    the first failing slot's failure kind (one of `KINDS`, see the module's docstring)."""
    tracks = np.asarray(tracks, dtype=np.float64)
    if tracks.ndim == 3:
        tracks = tracks[:, None]
    N, S = tracks.shape[:2]
    labels = np.asarray(motion_labels).reshape(N, -1)
    if labels.shape[1] != S:
        raise ValueError(f"{S} track(s) per video but {labels.shape[1]} motion label(s)")
    parsed = [parse_motion(n) for n in motion_names]
    kind = np.full(N, "ok", dtype=object)
    for i in range(N):
        for s in range(S):
            k = track_stats(tracks[i, s], *parsed[int(labels[i, s])], cfg, tol)["kind"]
            if k != "ok":
                kind[i] = k
                break
    return kind == "ok", kind


def check_judged(judge, video, motion_labels, digit_labels, motion_names: list, cfg: dict, pairing: str = "read",
                 tol="judge", located: dict | None = None, together: bool = True):
    """Two-digit videos: `judge_tracks`, paired with the caption's slots, then `check_tracks`.
    pairing "read": by what the crop readers read at each track (`pair_tracks`), both pairings tried
    where the caption's digits read equally (the same digit twice); "best": both pairings always, the
    better kept (a clip whose digits swap motions then passes).
    together: where the caption gives both digits the same motion and their tracks fail, the clip's
    centre of mass (`com_tracks`, all ink) is checked as the track of both. Two digits that keep one
    promise in step move their union's centre by it too, while the judge cannot tell them apart
    (their cleared images are mixed); on real same-motion clips whose digits do not move together it
    fails (87% of dmnist2's), so it clears only digits that move as one.
    `located`: a `judge_tracks` result for these videos, to not run the judge again (video may then be
    None, which skips `together`).
    -> ok (N,), kind (N,) (the caption-order pairing's kind where nothing passes)."""
    if located is None:
        located = judge_tracks(judge, video)
    tracks = located["tracks"]
    labels = np.asarray(motion_labels).reshape(len(tracks), -1)
    if pairing == "read":
        tracks, tied = pair_tracks(tracks, located["logp"], digit_labels)
    elif pairing == "best":
        tied = np.ones(len(tracks), dtype=bool)
    else:
        raise ValueError(f"pairing must be 'read' or 'best', not {pairing!r}")
    ok, kind = check_tracks(tracks, labels, motion_names, cfg, tol)
    if tracks.shape[1] != 2:
        return ok, kind
    again = np.flatnonzero(tied & ~ok)
    if len(again):
        ok2, _ = check_tracks(tracks[again, ::-1], labels[again], motion_names, cfg, tol)
        ok[again[ok2]], kind[again[ok2]] = True, "ok"
    both = np.flatnonzero(~ok & (labels[:, 0] == labels[:, 1]))
    if together and len(both) and video is not None:
        from t2vbench.judge.model import to_uint8_video

        com = com_tracks(to_uint8_video(video[both]), int(cfg["digit_size"]))
        ok3, _ = check_tracks(np.stack([com, com], axis=1), labels[both], motion_names, cfg, tol)
        ok[both[ok3]], kind[both[ok3]] = True, "ok"
    return ok, kind
