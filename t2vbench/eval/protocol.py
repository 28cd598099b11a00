"""The evaluation protocol as data. Every result records `PROTOCOL_VERSION` and this dict; change a
number here and the version must change (results of different versions are never aggregated).

Seeds: sample i of an evaluation uses caption i of the test split (cycling if N exceeds the split) and
the per-sample noise seed `sample_seed(eval_seed, i) = eval_seed * 1_000_003 + i` (int64), so a
model's videos, and every metric, are the same whatever the batch size or the order of batches.
"""
from __future__ import annotations

import numpy as np

PROTOCOL_VERSION = "1.0"
SEED_STRIDE = 1_000_003  # a prime > any sample count, so (seed, index) pairs never collide

PROTOCOL = {
    "name": "t2vbench-judge-protocol",
    "version": PROTOCOL_VERSION,
    "n_samples": 2048,  # generated videos, over the test split's captions in order
    "caption_split": "test",
    "eval_seed": 0,
    "sample_seed_rule": "eval_seed * 1000003 + sample_index (int64)",
    "frechet_reference": {"split": "train", "count": 2048, "which": "first"},  # never the test videos
    "frechet_features": {"fd_frame": "judge frame features of every frame",
                         "fd_video": "judge video features",
                         "fd2vid": "judge frame features averaged over time"},
    "gam": {"n_real": 1000, "n_samples": 1000, "real_split": "test", "threshold_prob": 0.5,
            "threshold_logit": 0.0, "eps": 1e-3, "bootstrap": 1000, "ci": 0.95, "bootstrap_seed": 0,
            "winner_rule": "r_test CI contains 1 and r_sample < 1 -> model 1; > 1 -> model 2; else none",
            # discriminators often use batch statistics, so their scores are taken in batches of this
            # size whatever the generation batch size
            "d_batch_size": 64},
    "judge_batch_size": 128,
}


def sample_seeds(eval_seed: int, indices) -> np.ndarray:
    """Per-sample noise seeds, int64 (see module docstring)."""
    return int(eval_seed) * SEED_STRIDE + np.asarray(indices, dtype=np.int64)


def caption_indices(n_samples: int, n_captions: int) -> np.ndarray:
    """Which test caption each sample uses: 0, 1, ..., cycling over the split."""
    return np.arange(n_samples, dtype=np.int64) % n_captions
