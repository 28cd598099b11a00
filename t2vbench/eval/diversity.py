"""Diversity: does a model draw the variety of videos a caption allows, or one prototype per caption?

A *caption meaning* is the multiset of a video's label cells (MNIST: the (digit, motion) of each
slot, sorted: 'digit 3 ... and digit 7 ...' and 'digit 7 ... and digit 3 ...' promise the same
video; `meaning_codes`). The protocol's 2,048 samples show the test captions in order, so every
meaning gets as many samples as the test split has videos of it (smnist4: 40 meanings, ~51 each;
dmnist2: 210, ~10; dmnist4: ~750 seen, ~2.7).

Per-meaning ratios are aggregated as sum over meanings of the samples' statistic / sum of the real
one (`ratio_by_meaning`: the per-meaning ratios weighted by the real statistic), which an unweighted
mean of ratios is not: meanings whose few real videos happen to be alike blow it up.

Metrics (names as in results):
- `diversity_within`: per meaning, the mean pairwise L2 distance of the samples' coarse pixels
  (every frame cut into 4 x 4 blocks of 16 x 16 px, block means in [0, 1]: 16 numbers per frame of a
  64 px video), against the same statistic of the real *test* videos of that meaning (>= 2 of each).
  1.0: as diverse as the data; 0: one video per caption. Test, not train, videos: held-out captions
  never occur in train. Pixels, not the judge's frame maps: measured on smnist4's 2,048 test videos
  (unweighted means of ratios, pixels vs the judge's maps pooled 2 x 2), coarse pixels separate
  collapse as well or better: copies of one video per meaning 0.00 vs 0.00; those copies + N(0, 25)
  noise 0.07 vs 0.20; one trajectory per meaning drawn with every glyph 0.34 vs 0.39; one video
  jittered by <= 2 px 0.24 vs 0.23; real halves 1.00 vs 0.99. They need no network pass (the maps
  would cost a second encoder pass, about as long as the judge's own), and coarse blocks beat finer
  ones (8 px blocks: 0.09, 0.42, 0.32) because a block averages pixel noise away but not a
  displacement. What positions cannot see is one glyph per meaning moved along every real trajectory
  (0.94): hence
- `diversity_within_appearance`: the same ratio on the judge's frame features averaged over time
  (spatially max-pooled, so position-blind: what the digit / person looks like), against the Fréchet
  reference's videos of that meaning (already judged; held-out meanings have none and are left out).
  One glyph per meaning: 0.37; one trajectory per meaning: 0.97; copies 0.00; real 1.00.
- `precision_video`, `recall_video` (Kynkäänniemi et al. 2019, k = 3) and `density_video`,
  `coverage_video` (Naeem et al. 2020, k = 5): k-NN manifolds in the judge's video-feature space
  (Euclidean, raw features) against the Fréchet reference (the first 2,048 train videos); the same
  four `*_intra`: per meaning (>= 6 samples and reference videos of it), averaged over meanings; and
  `fd_video_intra`: the Fréchet distance of video features per meaning, averaged (`fd_gram`, equal
  to `frechet.distance`). Fréchet distances and k-NN radii depend on the counts: compare only at
  the protocol's N. The `*_intra` are skipped unless the meanings with enough videos hold half the
  samples (dmnist4: 2 of ~750 meanings have 6 reference videos).
- single-digit MNIST only, no network: `com_start_spread_ratio` and `com_speed_spread_ratio`: per
  meaning the std of the frame-0 centre of mass (sqrt(var x + var y)) and of its speed (mean |step|,
  px / frame), against the real test videos' (1: the data's spread, 0: one start / speed a caption).
- `memorised_frac`: the share of samples whose nearest of the first 20,000 train videos (8 x 8
  blocks of 8 px per frame, L2) is closer than the 1st percentile of the real test videos' nearest-
  train distances: real data ~0.01 by construction, copies of those train videos ~1. Copies of later
  train videos are not seen (`MEMO_COUNT`, cost linear). `nn_train_ratio`: the samples' median
  nearest-train distance over the test videos' (1 real, 0 copies).

The reference side (the reference's judge outputs, the test videos' per-meaning statistics, the
memorisation set) comes from `real_statistics` and is cached on disk by `t2vbench.eval.reference`.
On CPU `metrics` takes 1-4 s for 2,048 samples (0.03-0.1 of the judge's own pass over them).
"""
from __future__ import annotations

import numpy as np

from t2vbench.eval import frechet

K_PR, K_DC = 3, 5  # Kynkäänniemi et al. use k = 3; Naeem et al. recommend k = 5
DIVERSITY_CELLS = 4  # blocks per side of a frame for diversity_within (16 px at 64 px)
MEMO_CELLS = 8  # blocks per side for the nearest-train distance (8 px at 64 px)
MEMO_COUNT = 20_000  # the first train videos the memorisation check compares with
MEMO_QUANTILE = 0.01  # of the real test videos' nearest-train distances
MIN_WITHIN = 2  # samples and real videos of a meaning for diversity_within and the spread ratios
MIN_INTRA = 6  # samples and reference videos of a meaning for the *_intra metrics (> K_DC)
MIN_INTRA_SHARE = 0.5  # ... and those meanings must hold this share of the samples, else the *_intra are skipped

IMPL = {"name": "t2vbench.diversity", "version": "1"}
CACHE_CONTENTS = f"{IMPL['name']}:{IMPL['version']}"  # `reference_features(contents=)`: what real_statistics makes
PARAMS = {
    "diversity_within": {"feature": f"pixels: {DIVERSITY_CELLS}x{DIVERSITY_CELLS} block means per frame, every "
                         "frame, L2", "reference": "test videos of the same meaning", "min_per_meaning": MIN_WITHIN},
    "appearance": {"feature": "judge frame features averaged over time, L2", "min_per_meaning": MIN_WITHIN,
                   "reference": "frechet_reference (first train videos) of the same meaning"},
    "manifold": {"feature": "judge video features, L2", "k_precision_recall": K_PR, "k_density_coverage": K_DC,
                 "reference": "frechet_reference (first train videos)"},
    "manifold_intra": {"feature": "judge video features, L2", "k_precision_recall": K_PR, "k_density_coverage": K_DC,
                       "reference": "frechet_reference (first train videos) of the same meaning",
                       "min_per_meaning": MIN_INTRA, "min_sample_share": MIN_INTRA_SHARE,
                       "average": "unweighted mean over meanings"},
    "fd_intra": {"frechet": f"{frechet.IMPL['name']}:{frechet.IMPL['version']}", "feature": "judge video features",
                 "min_per_meaning": MIN_INTRA, "min_sample_share": MIN_INTRA_SHARE,
                 "reference": "frechet_reference (first train videos) of the same meaning",
                 "average": "unweighted mean over meanings"},
    "com_spread": {"reference": "test videos of the same meaning", "min_per_meaning": MIN_WITHIN},
    "memorisation": {"feature": f"pixels: {MEMO_CELLS}x{MEMO_CELLS} block means per frame, every frame, L2",
                     "train": f"first {MEMO_COUNT}", "threshold": f"quantile {MEMO_QUANTILE} of test->train"},
}
# which PARAMS entry each metric's metric_impl gets
_METRIC_PARAMS = {"diversity_within": "diversity_within", "diversity_within_appearance": "appearance",
                  "com_start_spread_ratio": "com_spread", "com_speed_spread_ratio": "com_spread",
                  "memorised_frac": "memorisation", "nn_train_ratio": "memorisation", "fd_video_intra": "fd_intra",
                  **{f"{k}_intra": "manifold_intra" for k in ("precision_video", "recall_video", "density_video",
                                                              "coverage_video")}}
MANIFOLD = ("precision_video", "recall_video", "density_video", "coverage_video")
JUDGE_METRICS = ("diversity_within_appearance", *MANIFOLD, *[f"{k}_intra" for k in MANIFOLD], "fd_video_intra")
PIXEL_METRICS = ("diversity_within", "com_start_spread_ratio", "com_speed_spread_ratio", "memorised_frac",
                 "nn_train_ratio")
# what protocol 1.1 records of these metrics (PROTOCOL["diversity"]; tests check the two agree)
PROTOCOL_ENTRY = {
    "meaning": "sorted multiset of a video's label cells (slot order ignored)",
    "aggregate": "sum over meanings of the samples' statistic / sum of the real one",
    "within": {"feature": f"pixels, {DIVERSITY_CELLS}x{DIVERSITY_CELLS} block means per frame, every frame, L2",
               "statistic": "mean pairwise distance", "real": "test videos of the meaning",
               "min_per_meaning": MIN_WITHIN},
    "appearance": {"feature": "judge frame features averaged over time, L2", "statistic": "mean pairwise distance",
                   "real": "frechet_reference videos of the meaning", "min_per_meaning": MIN_WITHIN},
    "manifold": {"feature": "judge video features, L2", "reference": "frechet_reference",
                 "k_precision_recall": K_PR, "k_density_coverage": K_DC},
    "intra": {"reference": "frechet_reference videos of the meaning", "min_per_meaning": MIN_INTRA,
              "min_sample_share": MIN_INTRA_SHARE, "average": "unweighted mean over meanings"},
    "com_spread": {"digits_per_video": 1, "real": "test videos of the meaning", "min_per_meaning": MIN_WITHIN},
    "memorisation": {"split": "train", "count": MEMO_COUNT, "which": "first",
                     "feature": f"pixels, {MEMO_CELLS}x{MEMO_CELLS} block means per frame, every frame, L2",
                     "threshold_quantile": MEMO_QUANTILE, "threshold_of": "test videos' nearest-train distances"},
}


# -- meanings ---------------------------------------------------------------------------------------
def meaning_codes(labels: dict, attributes: list, sizes: list) -> np.ndarray:
    """{attribute: (N, S) value ids} -> (N,) int64 code of each video's meaning: the sorted multiset
    of its S cells (cell = the attribute values in C order, as `caption.cells_of`), in base n_cells."""
    cells = np.zeros_like(np.asarray(labels[attributes[0]]), dtype=np.int64)
    for name, size in zip(attributes, sizes):
        cells = cells * int(size) + np.asarray(labels[name]).astype(np.int64)
    cells = np.sort(cells.reshape(len(cells), -1), axis=1)
    n_cells = int(np.prod(sizes))
    code = np.zeros(len(cells), np.int64)
    for s in range(cells.shape[1]):
        code = code * n_cells + cells[:, s]
    return code


def _groups(codes: np.ndarray) -> dict:
    """code -> indices, codes in ascending order."""
    codes = np.asarray(codes)
    order = np.argsort(codes, kind="stable")
    uniq, start = np.unique(codes[order], return_index=True)
    return {int(c): order[a:b] for c, a, b in zip(uniq, start, [*start[1:], len(order)])}


# -- pixel features ---------------------------------------------------------------------------------
def block_means(video: np.ndarray, cells: int, chunk: int = 256) -> np.ndarray:
    """uint8 (N, T, H, W, C) -> float32 (N, T * cells * cells): every frame's mean over `cells` x
    `cells` blocks (channels pooled), in [0, 1]. Rows/columns beyond cells * (H // cells) are dropped."""
    n, t, h, w, c = video.shape
    bh, bw = h // cells, w // cells
    out = np.empty((n, t * cells * cells), np.float32)
    for s in range(0, n, chunk):
        v = np.asarray(video[s:s + chunk, :, :cells * bh, :cells * bw])
        m = len(v)
        # two uint32 sums (rows of a block, then its columns and channels): ~4x faster than a float cast
        rows = v.reshape(m, t, cells, bh, cells * bw * c).sum(3, dtype=np.uint32)
        sums = rows.reshape(m, t, cells, cells, bw * c).sum(-1, dtype=np.uint32)
        out[s:s + chunk] = sums.reshape(m, -1).astype(np.float32) / float(bh * bw * c * 255)
    return out


def coarser(blocks: np.ndarray, frames: int, cells: int, factor: int = 2) -> np.ndarray:
    """Block means (N, T * cells^2) -> (N, T * (cells / factor)^2), exactly as `block_means` would."""
    n, k = len(blocks), cells // factor
    x = blocks.reshape(n, frames, k, factor, k, factor).mean(axis=(3, 5), dtype=np.float64)
    return x.reshape(n, -1).astype(np.float32)


def _sq_norms(x):
    return np.einsum("ij,ij->i", x, x)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance matrix (len(a), len(b)), float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d2 = _sq_norms(a)[:, None] + _sq_norms(b)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.clip(d2, 0.0, None))


def nearest_distance(a: np.ndarray, b: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """(len(a),) L2 distance from each row of `a` to its nearest row of `b` (float32 products, in
    chunks of `b`, so 2,048 x 20,000 x 1,024 takes about a second)."""
    a = np.asarray(a, np.float32)
    na = _sq_norms(a).astype(np.float64)
    best = np.full(len(a), np.inf)
    for s in range(0, len(b), chunk):
        bb = np.asarray(b[s:s + chunk], np.float32)
        d2 = na[:, None] + _sq_norms(bb).astype(np.float64)[None, :] - 2.0 * (a @ bb.T)
        best = np.minimum(best, d2.min(axis=1))
    return np.sqrt(np.clip(best, 0.0, None))


# -- within-meaning spread --------------------------------------------------------------------------
def mean_pairwise(x: np.ndarray) -> float:
    """Mean L2 distance over the n(n-1)/2 distinct pairs of rows (n >= 2)."""
    n = len(x)
    if n < 2:
        raise ValueError("a mean pairwise distance needs at least 2 rows")
    d = distances(x, x)
    return float(d[np.triu_indices(n, 1)].mean())


def pairwise_by_meaning(x: np.ndarray, codes: np.ndarray, min_count: int = MIN_WITHIN) -> dict:
    """{"meaning": (G,) codes, "pairwise": (G,) mean pairwise distance, "count": (G,)} over meanings
    with at least `min_count` rows."""
    g = {c: i for c, i in _groups(codes).items() if len(i) >= min_count}
    return {"meaning": np.array(list(g), np.int64),
            "pairwise": np.array([mean_pairwise(x[i]) for i in g.values()], np.float64),
            "count": np.array([len(i) for i in g.values()], np.int64)}


def ratio_by_meaning(values: dict, real: dict) -> tuple[float, int]:
    """Over the meanings both hold (per-meaning statistics as `pairwise_by_meaning` returns, under any
    key but "meaning" and "count"): sum of values / sum of real values, i.e. the per-meaning ratios
    averaged with the real values as weights. (An unweighted mean of ratios is biased upwards by
    meanings whose few real videos happen to be alike: real halves of 6 videos a meaning give 1.45 for
    the speed spread, against 1.0 here.) Meanings whose real value is 0 or NaN, or whose own is NaN,
    are left out. -> (ratio, meanings used); (nan, 0) if none."""
    key = next(k for k in values if k not in ("meaning", "count"))
    rk = next(k for k in real if k not in ("meaning", "count"))
    ref = dict(zip(np.asarray(real["meaning"]).tolist(), np.asarray(real[rk], np.float64)))
    pairs = [(v, ref[c]) for c, v in zip(np.asarray(values["meaning"]).tolist(), np.asarray(values[key], np.float64))
             if c in ref and np.isfinite(v) and np.isfinite(ref[c]) and ref[c] > 0]
    if not pairs:
        return float("nan"), 0
    own, den = np.array(pairs).T
    return float(own.sum() / den.sum()), len(pairs)


def within_diversity(features: np.ndarray, codes: np.ndarray, real: dict) -> tuple[float, int]:
    """`diversity_within` of sample features (N, D) with meaning codes (N,) against the real videos'
    `pairwise_by_meaning` -> (mean ratio over meanings, meanings used)."""
    return ratio_by_meaning(pairwise_by_meaning(features, codes), real)


# -- k-NN manifolds ---------------------------------------------------------------------------------
def knn_radii(x: np.ndarray, k: int, d: np.ndarray | None = None) -> np.ndarray:
    """Distance of each row to its k-th nearest other row (needs > k rows)."""
    if len(x) <= k:
        raise ValueError(f"k-NN radii with k = {k} need more than {k} points, got {len(x)}")
    d = distances(x, x) if d is None else d
    return np.partition(d, k, axis=1)[:, k]  # column 0 is the point itself (distance 0)


def manifold(samples: np.ndarray, reference: np.ndarray, k_pr: int = K_PR, k_dc: int = K_DC) -> dict:
    """Precision / recall (Kynkäänniemi et al. 2019, k_pr) and density / coverage (Naeem et al. 2020,
    k_dc) of sample features against reference (real) features."""
    s_s, r_r, s_r = distances(samples, samples), distances(reference, reference), distances(samples, reference)
    r_real, r_fake = knn_radii(reference, k_pr, r_r), knn_radii(samples, k_pr, s_s)
    r_dc = knn_radii(reference, k_dc, r_r)
    inside_dc = s_r <= r_dc[None, :]  # (samples, reference): sample j inside reference i's k_dc ball
    return {
        "precision_video": float((s_r <= r_real[None, :]).any(axis=1).mean()),
        "recall_video": float((s_r <= r_fake[:, None]).any(axis=0).mean()),
        "density_video": float(inside_dc.sum() / (k_dc * len(samples))),
        "coverage_video": float(inside_dc.any(axis=0).mean()),
    }


def _paired_meanings(codes, ref_codes, min_count: int):
    a, b = _groups(codes), _groups(ref_codes)
    return [(c, a[c], b[c]) for c in a if c in b and len(a[c]) >= min_count and len(b[c]) >= min_count]


def manifold_intra(samples, codes, reference, ref_codes, min_count: int = MIN_INTRA) -> tuple[dict, int]:
    """`manifold` per meaning (>= min_count samples and reference videos), averaged over meanings
    -> ({name + "_intra": mean}, meanings used); ({}, 0) if none qualifies."""
    pairs = _paired_meanings(codes, ref_codes, max(min_count, K_DC + 1, K_PR + 1))
    if not pairs:
        return {}, 0
    per = [manifold(samples[i], reference[j]) for _, i, j in pairs]
    return {f"{k}_intra": float(np.mean([p[k] for p in per])) for k in MANIFOLD}, len(pairs)


def fd_gram(a: np.ndarray, b: np.ndarray) -> float:
    """`frechet.distance(a, b)` for few points (n < D), exactly, from their Gram matrix: with centred
    A (n1, D), B (n2, D), the nonzero eigenvalues of S1 S2 are those of (A B^T)(A B^T)^T / ((n1-1)(n2-1)),
    so Tr sqrt(S1 S2) is the sum of A B^T's singular values over sqrt((n1-1)(n2-1)): an n1 x n2 SVD
    instead of two D x D eigendecompositions (40 meanings: ~0.05 s instead of ~1.5 s)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n1, n2 = len(a), len(b)
    if n1 < 2 or n2 < 2:
        raise ValueError("a Fréchet distance needs at least 2 feature vectors")
    mu1, mu2 = a.mean(0), b.mean(0)
    a, b = a - mu1, b - mu2
    tr_sqrt = np.linalg.svd(a @ b.T, compute_uv=False).sum() / np.sqrt((n1 - 1) * (n2 - 1))
    d = float(((mu1 - mu2) ** 2).sum() + (a * a).sum() / (n1 - 1) + (b * b).sum() / (n2 - 1) - 2 * tr_sqrt)
    return max(d, 0.0)


def fd_intra(samples, codes, reference, ref_codes, min_count: int = MIN_INTRA) -> tuple[float, int]:
    """Fréchet distance of (video) features per meaning (`frechet.distance`; `fd_gram`, the same
    number, when a meaning has fewer points than dimensions), averaged -> (mean, meanings used)."""
    pairs = _paired_meanings(codes, ref_codes, max(min_count, 2))
    if not pairs:
        return float("nan"), 0
    dim = np.asarray(samples).shape[1]
    fd = [fd_gram(samples[i], reference[j]) if min(len(i), len(j)) < dim else frechet.distance(samples[i], reference[j])
          for _, i, j in pairs]
    return float(np.mean(fd)), len(pairs)


# -- MNIST, no network: centre of mass ----------------------------------------------------------------
def com_motion(video: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, T, H, W, C) -> frame-0 centre of mass (N, 2) (x, y) and speed (N,): the mean length
    of its per-frame steps, px / frame (NaN where a frame is empty)."""
    from t2vbench.eval.motion import centres

    c = centres(video)
    step = np.linalg.norm(np.diff(c, axis=1), axis=2)
    return c[:, 0], step.mean(axis=1)


def spread_by_meaning(start: np.ndarray, speed: np.ndarray, codes: np.ndarray, min_count: int = MIN_WITHIN) -> dict:
    """Per meaning (>= min_count finite videos): std of the start (sqrt(var x + var y), ddof 0) and of
    the speed -> {"meaning", "start_std", "speed_std", "count"} (NaN where too few are finite)."""
    out = {"meaning": [], "start_std": [], "speed_std": [], "count": []}
    for c, i in _groups(codes).items():
        ok = i[np.isfinite(start[i]).all(axis=1) & np.isfinite(speed[i])]
        if len(i) < min_count:
            continue
        good = len(ok) >= min_count
        out["meaning"].append(c)
        out["start_std"].append(float(np.sqrt(start[ok].var(axis=0).sum())) if good else np.nan)
        out["speed_std"].append(float(speed[ok].std()) if good else np.nan)
        out["count"].append(len(i))
    return {k: np.asarray(v, np.int64 if k in ("meaning", "count") else np.float64) for k, v in out.items()}


# -- the reference side ------------------------------------------------------------------------------
def iter_videos(dataset, split: str, limit: int, chunk: int = 512):
    """The first `limit` videos of a split in chunks of `chunk`, shard by shard (memory stays at one
    chunk, whatever `limit`)."""
    from t2vbench.data.format import corrupt, open_shard, split_shards

    left = int(limit)
    for entry in split_shards(dataset.manifest, split):
        if left <= 0:
            return
        path = dataset.root / entry["file"]
        take = int(min(entry["count"], left))
        try:
            with open_shard(path) as f:
                for s in range(0, take, chunk):
                    yield f["video"][s:min(s + chunk, take)]
        except (OSError, KeyError) as e:
            raise corrupt(path, e) from None
        left -= take


def real_arrays(test_video: np.ndarray, test_labels: dict, reference_labels: dict, memo_train: np.ndarray,
                attributes: list, sizes: list, single_digit: bool) -> dict:
    """The real side as flat arrays (`real_statistics` for a dataset; tests use halves of a test
    split): test videos uint8 (N, T, H, W, C) with their labels {attribute: (N, S)}, the labels of
    the Fréchet reference (in its order), `memo_train`: `block_means(train videos, MEMO_CELLS)`."""
    codes = meaning_codes(test_labels, attributes, sizes)
    frames = int(test_video.shape[1])
    fine = block_means(test_video, MEMO_CELLS)
    pw = pairwise_by_meaning(coarser(fine, frames, MEMO_CELLS, MEMO_CELLS // DIVERSITY_CELLS), codes)
    out = {"div_reference_meaning": meaning_codes(reference_labels, attributes, sizes),
           "div_test_meaning": pw["meaning"], "div_test_pairwise": pw["pairwise"], "div_test_count": pw["count"],
           "div_single_digit": np.array(bool(single_digit))}
    if single_digit:
        sp = spread_by_meaning(*com_motion(test_video), codes)
        out.update({"div_com_meaning": sp["meaning"], "div_com_start_std": sp["start_std"],
                    "div_com_speed_std": sp["speed_std"]})
    memo = np.asarray(memo_train, np.float16)
    if len(memo) and len(fine):
        nn = nearest_distance(fine, memo)
        out.update({"div_memo_threshold": np.array(np.quantile(nn, MEMO_QUANTILE)),
                    "div_memo_test_median": np.array(np.median(nn))})
    out["div_memo_train"] = memo
    return out


def real_statistics(dataset, attributes: list, sizes: list, reference_count: int, memo_count: int = MEMO_COUNT,
                    single_digit: bool | None = None) -> dict:
    """Everything about real data the metrics need besides the reference's judge outputs, as flat
    NumPy arrays (an .npz, `reference.reference_features`): the meanings of the first
    `reference_count` train videos (the Fréchet reference, whose judge outputs the caller adds), the
    test videos' per-meaning pixel spread and centre-of-mass spreads, the memorisation set (coarse
    pixels of the first `memo_count` train videos, float16, read shard by shard) and the threshold
    and median of the test videos' nearest-train distances. `single_digit`: compute the centre-of-mass
    spreads (default: a dataset with one digit per video)."""
    if single_digit is None:
        single_digit = int(dataset.config.get("digits_per_video", 0)) == 1 and "digit" in attributes
    names = [f"label/{a}" for a in attributes]
    ref = dataset.read("train", columns=names, limit=reference_count)
    ref_labels = {a: np.asarray(ref[n]).reshape(len(ref[n]), -1) for a, n in zip(attributes, names)}
    test = dataset.test_columns()
    n_memo = min(int(memo_count), dataset.count("train"))
    cells = MEMO_CELLS * MEMO_CELLS * int(dataset.config.get("frames", test["video"].shape[1]))
    memo = np.concatenate([np.zeros((0, cells), np.float16),
                           *[block_means(v, MEMO_CELLS).astype(np.float16)
                             for v in iter_videos(dataset, "train", n_memo)]])
    return real_arrays(test["video"], test["labels"], ref_labels, memo, attributes, sizes, bool(single_digit))


# -- the metrics ---------------------------------------------------------------------------------------
def metrics(video: np.ndarray, labels: dict, out: dict, ref: dict, attributes: list, sizes: list,
            judge_version: str | None = None) -> tuple[dict, dict, dict]:
    """All diversity metrics of uint8 samples (N, T, H, W, C) with their promised labels {attribute:
    (N, S)} and judge outputs `out` ("frame_feat" (N, T, F), "video_feat" (N, D): `run_judge`'s),
    against `ref`: the cached reference ("frame_feat", "video_feat" of the Fréchet reference and
    `real_statistics`'s arrays) -> (metrics, metric_impl, skipped), as `score_videos` merges them.
    `judge_version` goes into the metric_impl of the metrics read in judge space (`JUDGE_METRICS`)."""
    codes = meaning_codes(labels, attributes, sizes)
    frames = int(video.shape[1])
    m, skipped, used = {}, {}, {}
    fine = block_means(video, MEMO_CELLS)
    real_pw = {"meaning": ref["div_test_meaning"], "pairwise": ref["div_test_pairwise"]}
    coarse = coarser(fine, frames, MEMO_CELLS, MEMO_CELLS // DIVERSITY_CELLS)
    value, used["diversity_within"] = within_diversity(coarse, codes, real_pw)
    if used["diversity_within"]:
        m["diversity_within"] = value
    else:
        skipped["diversity_within"] = (f"no caption meaning has >= {MIN_WITHIN} samples and >= {MIN_WITHIN} real "
                                       "test videos")
    ref_codes = np.asarray(ref["div_reference_meaning"])
    ref_app = np.asarray(ref["frame_feat"]).mean(axis=1)
    value, n = within_diversity(np.asarray(out["frame_feat"]).mean(axis=1), codes,
                                pairwise_by_meaning(ref_app, ref_codes))
    if n:
        m["diversity_within_appearance"], used["diversity_within_appearance"] = value, n
    else:
        skipped["diversity_within_appearance"] = (f"no caption meaning has >= {MIN_WITHIN} samples and >= "
                                                  f"{MIN_WITHIN} reference videos")
    ref_feat, video_feat = np.asarray(ref["video_feat"]), np.asarray(out["video_feat"])
    if len(video_feat) > K_DC and len(ref_feat) > K_DC:
        m.update(manifold(video_feat, ref_feat))
    else:
        for k in MANIFOLD:
            skipped[k] = f"k-NN manifolds need more than {K_DC} samples and reference videos"
    # per-meaning k-NN manifolds and Fréchet distances: only where the meanings with enough videos
    # hold most samples (dmnist4: 2 of ~750 meanings have 6 reference videos; their mean says nothing)
    pairs = _paired_meanings(codes, ref_codes, max(MIN_INTRA, K_DC + 1))
    share = sum(len(i) for _, i, _ in pairs) / max(len(codes), 1)
    if share >= MIN_INTRA_SHARE:
        intra, n_intra = manifold_intra(video_feat, codes, ref_feat, ref_codes)
        fd, n_fd = fd_intra(video_feat, codes, ref_feat, ref_codes)
        m.update(intra)
        m["fd_video_intra"] = fd
        used.update({k: n_intra for k in intra}, fd_video_intra=n_fd)
    else:
        why = (f"the caption meanings with >= {MIN_INTRA} samples and >= {MIN_INTRA} reference videos ({len(pairs)} "
               f"of {len(np.unique(codes))}) hold {share:.0%} of the samples, < {MIN_INTRA_SHARE:.0%}: too few videos "
               f"per meaning ({len(ref_codes)} reference videos over {len(np.unique(ref_codes))} meanings)")
        for k in (*[f"{k}_intra" for k in MANIFOLD], "fd_video_intra"):
            skipped[k] = why
    if bool(ref.get("div_single_digit", False)) and "div_com_meaning" in ref:
        sp = spread_by_meaning(*com_motion(video), codes)
        for key, name in (("start_std", "com_start_spread_ratio"), ("speed_std", "com_speed_spread_ratio")):
            v, n = ratio_by_meaning({"meaning": sp["meaning"], key: sp[key]},
                                    {"meaning": ref["div_com_meaning"], key: ref[f"div_com_{key}"]})
            if n:
                m[name], used[name] = v, n
            else:
                skipped[name] = (f"no caption meaning has {MIN_WITHIN} samples and {MIN_WITHIN} real test videos "
                                 "with a digit in every frame")
    else:
        for name in ("com_start_spread_ratio", "com_speed_spread_ratio"):
            skipped[name] = "needs one digit per video (centres of two digits mix; KTH has no digit)"
    memo = ref.get("div_memo_train")
    n_memo = 0 if memo is None else int(len(memo))
    if n_memo and "div_memo_threshold" in ref:
        nn = nearest_distance(fine, memo)
        m["memorised_frac"] = float((nn < float(ref["div_memo_threshold"])).mean())
        med = float(ref["div_memo_test_median"])
        if med > 0:
            m["nn_train_ratio"] = float(np.median(nn) / med)
        else:
            skipped["nn_train_ratio"] = "the real test videos' median nearest-train distance is 0"
    else:
        for name in ("memorised_frac", "nn_train_ratio"):
            skipped[name] = "no train or no test videos to compare with"
    impl = {}
    for k in m:
        impl[k] = {**IMPL, **PARAMS[_METRIC_PARAMS.get(k, "manifold")]}
        if k in used:
            impl[k]["meanings"] = int(used[k])
        if k in ("memorised_frac", "nn_train_ratio"):
            impl[k]["n_train"] = n_memo
        if k in JUDGE_METRICS:
            impl[k]["n_reference"] = int(len(ref_feat))
            if judge_version is not None:
                impl[k]["judge"] = judge_version
    return m, impl, skipped
