"""Fréchet distances between Gaussians fitted to judge features.

    d^2 = |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr(sqrt(S1 S2))

Tr(sqrt(S1 S2)) is computed as the sum of square roots of the eigenvalues of sqrt(S1) S2 sqrt(S1),
which is symmetric positive semi-definite, so only `numpy.linalg.eigh` is needed (no scipy, no complex
parts to drop). Float64 throughout; negative round-off eigenvalues are clipped to 0.

Three distances, named for what they are (never "FID"/"FVD": the features come from t2vbench's own
judge, not Inception or I3D, so the numbers are not comparable with papers' FID/FVD):
- `fd_frame`: every frame's frame features (the FID-on-frames analogue);
- `fd_video`: the judge's video features (the FVD analogue);
- `fd2vid`: frame features averaged over time (the FID2vid analogue).
Fréchet distances are biased by the sample count: compare only at the protocol's N.
"""
from __future__ import annotations

import numpy as np

IMPL = {"name": "t2vbench.frechet_eigh", "version": "1"}


def gaussian(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (ddof=1) of (N, D) features, float64."""
    x = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    if len(x) < 2:
        raise ValueError("a Fréchet distance needs at least 2 feature vectors")
    return x.mean(0), np.cov(x, rowvar=False)


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, s1, mu2, s2) -> float:
    r1 = _sqrt_psd(s1)
    m = r1 @ s2 @ r1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    d = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)
    return max(d, 0.0)


def distance(features_a, features_b) -> float:
    return frechet_distance(*gaussian(features_a), *gaussian(features_b))


def judge_distances(a: dict, b: dict) -> dict:
    """fd_frame, fd_video, fd2vid between two judge outputs (see `judges.run_judge`)."""
    fa, fb = a["frame_feat"], b["frame_feat"]
    return {
        "fd_frame": distance(fa.reshape(-1, fa.shape[-1]), fb.reshape(-1, fb.shape[-1])),
        "fd_video": distance(a["video_feat"], b["video_feat"]),
        "fd2vid": distance(fa.mean(1), fb.mean(1)),
    }
