"""Which way does the person walk? Two independent pixel cues that must agree (reference kth.md 5.1).

KTH's metadata has no direction, so it is inferred from the pixels of each walking/running video,
analysed at half resolution (80x60, an exact 2x2 area average):

1. Foreground: background = per-pixel temporal median of up to 51 evenly spaced frames (static
   camera; a walker covers any pixel only briefly). Each frame is gain-normalised to the background's
   mean (d4 lighting, auto-gain), and |frame - background| > tau is foreground, tau = max(15, 5 sigma)
   with sigma a robust (MAD) noise estimate of the video.
2. Centroid cue v_c: per frame, the person is the 9-column window holding the most foreground
   pixels (a column profile: fragmented silhouettes still add up, specks do not); its centroid is
   the profile-weighted mean x within +-12 columns. Frames with fewer than 25 foreground pixels
   there have no detection; frames whose silhouette touches the left or right edge are skipped
   (entering and leaving bias the centroid). v_c = Theil-Sen slope of x against frame number.
3. Flow cue v_f: Farneback flow (3 pyramid levels, one iteration; on a strip around the person)
   between frames 2 apart (3 pairs per 16-frame clip), minus the
   camera motion predicted there by an affine model u = a + b x + c y fitted by least squares to
   background pixels (removes pan and zoom, d2); v_f = median residual x-flow inside the person's
   foreground, median over the pairs.
4. Decision for a clip (or a whole annotated pass): direction = sign(v_c) when at least half the
   frames have a detection away from the edges, at least 2 flow pairs are measured, sign(v_c) =
   sign(v_f), |v_c| >= 0.5 and |v_f| >= 0.25 source px/frame, and the first and second halves of the
   track each move the same way at >= 0.25 px/frame (catches a turn-around inside the clip).
   Anything else is 'uncertain': the clip is left out and counted, never guessed.

Every step is mirror-symmetric except for ties, so a horizontally flipped video gets the opposite
labels (tested). Velocities are in source pixels (160-px frame) per source frame; + = left to right.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCALE = 2  # analysis at 1/SCALE resolution
BACKGROUND_FRAMES = 51
TAU_MIN, TAU_SIGMAS = 15.0, 5.0
WINDOW, RADIUS, MIN_PIXELS, COL_MIN = 9, 12, 25, 2
FLOW_GAP, FLOW_PAIRS, CROP_MARGIN = 2, 3, 16
MIN_VC, MIN_VF, MIN_HALF = 0.5, 0.25, 0.25
MIN_VALID_FRACTION = 0.5
METHOD = "median-background centroid (Theil-Sen) + camera-compensated Farneback flow, v1"

# the thresholds, for the provenance
PARAMS = {"analysis_scale": SCALE, "tau_min": TAU_MIN, "tau_sigmas": TAU_SIGMAS, "window_cols": WINDOW,
          "radius_cols": RADIUS, "min_pixels": MIN_PIXELS, "flow_gap": FLOW_GAP, "flow_pairs": FLOW_PAIRS,
          "min_centroid_speed": MIN_VC, "min_flow_speed": MIN_VF, "min_half_speed": MIN_HALF,
          "min_valid_fraction": MIN_VALID_FRACTION}


@dataclass
class Decision:
    direction: int  # +1 left to right, -1 right to left, 0 uncertain
    v_c: float  # centroid speed, source px/frame (nan if unmeasured)
    v_f: float  # flow speed, source px/frame (nan if unmeasured)
    reason: str  # '' when decided, else why not


def theil_sen(t: np.ndarray, x: np.ndarray) -> float:
    if len(t) < 2:
        return float("nan")
    i, j = np.triu_indices(len(t), 1)
    return float(np.median((x[j] - x[i]) / (t[j] - t[i])))


def half_resolution(gray: np.ndarray) -> np.ndarray:
    """(T, H, W) -> (T, H/2, W/2) by exact 2x2 area averaging (one resize call on the stacked frames)."""
    import cv2

    t, h, w = gray.shape
    small = cv2.resize(gray.reshape(t * h, w), (w // SCALE, t * h // SCALE), interpolation=cv2.INTER_AREA)
    return small.reshape(t, h // SCALE, w // SCALE)


class Motion:
    """Per-video foreground track plus a memo of flow measurements; clips are judged from it."""

    def __init__(self, gray: np.ndarray, ids=None, background_ids=None):
        """`gray` (K, H, W): frames `ids` (0-based, increasing; default 0..K-1) of one video; the background
        is the median of `background_ids` (default: BACKGROUND_FRAMES of them, evenly spaced)."""
        small = half_resolution(gray)
        self.small = small
        t, h, w = small.shape
        self.h, self.w = h, w
        self.ids = np.arange(t) if ids is None else np.asarray(ids, np.int64)
        if background_ids is None:
            sample = np.linspace(0, t - 1, min(t, BACKGROUND_FRAMES)).round().astype(int)
        else:
            sample = np.searchsorted(self.ids, np.intersect1d(self.ids, np.asarray(sorted(background_ids))))
            if len(sample) < 5:  # the frame-count hint was wrong: fall back to all decoded frames
                sample = np.linspace(0, t - 1, min(t, BACKGROUND_FRAMES)).round().astype(int)
        bg = np.median(small[sample], axis=0).astype(np.float32)
        self.bg_mean = float(bg.mean())
        means = small.reshape(t, -1).mean(1, dtype=np.float64)
        self.gain = (self.bg_mean / np.maximum(means, 1.0)).astype(np.float32)
        norm = small.astype(np.float32) * self.gain[:, None, None]
        diff = np.abs(norm - bg)
        self.norm = np.clip(norm + 0.5, 0, 255).astype(np.uint8)  # gain-normalised frames, for the flow
        sigma = 1.4826 * float(np.median(diff[sample[::5]]))
        self.tau = max(TAU_MIN, TAU_SIGMAS * sigma)
        self.fg = diff > self.tau
        prof = self.fg.sum(1, dtype=np.int32)  # (T, w) column profile
        csum = np.concatenate([np.zeros((t, 1), np.int64), np.cumsum(prof, 1)], 1)
        box = csum[:, WINDOW:] - csum[:, :-WINDOW]  # (T, w - WINDOW + 1)
        # mirror-symmetric tie-break: among equal maxima take the one closest to the image centre
        best = box.max(1, keepdims=True)
        starts = np.arange(box.shape[1])
        centre_dist = np.abs(starts + (WINDOW - 1) / 2 - (w - 1) / 2)
        start = np.argmin(np.where(box == best, centre_dist[None, :], np.inf), 1)
        centre = start + (WINDOW - 1) / 2
        cols = np.arange(w)
        inwin = np.abs(cols[None, :] - centre[:, None]) <= RADIUS
        weights = prof * inwin
        mass = weights.sum(1)
        valid = mass >= MIN_PIXELS
        x_small = (weights * cols).sum(1) / np.maximum(mass, 1)
        self.x = np.where(valid, x_small * SCALE + (SCALE - 1) / 2, np.nan)
        active = inwin & (prof >= COL_MIN)
        self.border = valid & (active[:, 0] | active[:, -1])
        self.valid = valid
        self.centre = centre
        self._flow: dict = {}

    # -- cues ----------------------------------------------------------------------------------
    def pos(self, frame_ids) -> np.ndarray:
        return np.searchsorted(self.ids, frame_ids)

    def flow_speed(self, fi: int, fj: int) -> float:
        """Camera-compensated horizontal speed of the person between frames fi < fj (source px/frame)."""
        key = (fi, fj)
        if key not in self._flow:
            i, j = self.pos([fi, fj])
            self._flow[key] = self._measure_flow(int(i), int(j)) * SCALE / (fj - fi)
        return self._flow[key]

    def _measure_flow(self, i: int, j: int) -> float:
        """Median residual x-flow of the person between stored frames i and j, in analysis px."""
        import cv2

        if not (self.valid[i] and self.valid[j]):
            return float("nan")
        # a strip around the person (plus background on both sides for the camera model) is enough
        lo = int(max(0, min(self.centre[i], self.centre[j]) - RADIUS - CROP_MARGIN))
        hi = int(min(self.w, max(self.centre[i], self.centre[j]) + RADIUS + CROP_MARGIN + 1))
        a = np.ascontiguousarray(self.norm[i][:, lo:hi])
        b = np.ascontiguousarray(self.norm[j][:, lo:hi])
        u = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 9, 1, 5, 1.1, 0)[..., 0]
        cols = np.arange(lo, hi)
        near = (np.abs(cols - self.centre[i]) <= RADIUS + 4) | (np.abs(cols - self.centre[j]) <= RADIUS + 4)
        fg_i, fg_j = self.fg[i][:, lo:hi], self.fg[j][:, lo:hi]
        person = fg_i & (np.abs(cols - self.centre[i]) <= RADIUS)[None, :]
        background = ~(fg_i | fg_j) & ~near[None, :]
        background[1::2] = False  # every other row is plenty for three parameters
        yy, xx = np.nonzero(background)
        py, px = np.nonzero(person)
        if len(px) < MIN_PIXELS or len(xx) < 50:
            return float("nan")
        # least squares u = a + b x + c y on the background; with x, y centred the normal equations split
        # into a = mean(u) and a 2x2 system for (b, c)
        mx, my = xx.mean(), yy.mean()
        xc, yc = xx - mx, yy - my
        ub = u[yy, xx].astype(np.float64)
        a0 = float(ub.mean())
        sxx, sxy, syy = float(xc @ xc), float(xc @ yc), float(yc @ yc)
        rx, ry = float(xc @ ub), float(yc @ ub)
        det = sxx * syy - sxy * sxy
        bx, cy = ((syy * rx - sxy * ry) / det, (sxx * ry - sxy * rx) / det) if det > 1e-9 * (sxx * syy + 1) else (0, 0)
        model = a0 + bx * (px - mx) + cy * (py - my)
        return float(np.median(u[py, px] - model))

    def centroid_cue(self, idx: np.ndarray):
        p = self.pos(idx)
        ok = self.valid[p] & ~self.border[p]
        t, x = idx[ok].astype(np.float64), self.x[p][ok]
        if len(t) > 48:  # Theil-Sen is quadratic: thin long passes evenly
            keep = np.linspace(0, len(t) - 1, 48).round().astype(int)
            t, x = t[keep], x[keep]
        return ok.mean() if len(idx) else 0.0, t, x

    # -- decisions -----------------------------------------------------------------------------
    def flow_pairs(self, idx: np.ndarray) -> list[tuple[int, int]]:
        n = len(idx)
        gap = min(FLOW_GAP, n - 1)
        if gap < 1:
            return []
        firsts = sorted({0, (n - 1 - gap) // 2, n - 1 - gap})[:FLOW_PAIRS]
        return [(int(idx[k]), int(idx[k + gap])) for k in firsts]

    def decide(self, idx: np.ndarray, pairs=None) -> Decision:
        """Direction of the frames `idx` (0-based, increasing); `pairs` overrides the flow pairs. A clip
        (no `pairs`) whose own flow goes against its direction anywhere is left out; a pass (its clips'
        pairs) goes by the median, so that one clip against it is caught by the pass check instead."""
        idx = np.asarray(idx)
        frac, t, x = self.centroid_cue(idx)
        v_c = theil_sen(t, x)
        clip = pairs is None
        pairs = self.flow_pairs(idx) if clip else pairs
        flows = [f for f in (self.flow_speed(i, j) for i, j in pairs) if np.isfinite(f)]
        v_f = float(np.median(flows)) if flows else float("nan")
        if frac < MIN_VALID_FRACTION or len(t) < 4:
            return Decision(0, v_c, v_f, "person not detected in enough frames")
        if not flows or len(flows) < min(2, len(pairs)):
            return Decision(0, v_c, v_f, "too few flow measurements")
        if abs(v_c) < MIN_VC or abs(v_f) < MIN_VF:
            return Decision(0, v_c, v_f, "too slow")
        if np.sign(v_c) != np.sign(v_f):
            return Decision(0, v_c, v_f, "centroid and flow disagree")
        mid = np.median(t)
        first, second = t <= mid, t >= mid
        h1, h2 = theil_sen(t[first], x[first]), theil_sen(t[second], x[second])
        sign = np.sign(v_c)
        # the halves' slopes miss a turn in the first or last few frames; the flow pairs at the ends see it
        if (not (first.sum() >= 3 and second.sum() >= 3 and sign * h1 >= MIN_HALF and sign * h2 >= MIN_HALF)
                or (clip and any(sign * f <= -MIN_VF for f in flows))):
            return Decision(0, v_c, v_f, "direction changes within the clip")
        return Decision(int(sign), v_c, v_f, "")
