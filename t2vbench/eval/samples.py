"""Generating the protocol's samples: sample i shows test caption i (cycling) with the per-sample seed
`protocol.sample_seeds(eval_seed, i)`, so neither the batch size nor the batch order changes a video."""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from t2vbench.errors import UserError
from t2vbench.eval.protocol import caption_indices, sample_seeds
from t2vbench.judge.model import to_uint8_video


def generate_samples(generate, dataset, n: int, *, seed: int, batch_size: int = 64, progress: bool = True):
    """Call `generate(tokens, captions, seeds)` over the first n protocol captions of `dataset` (a
    `DatasetHandle`); return uint8 videos (n, T, H, W, C) and the tokens used."""
    if batch_size <= 0:
        raise UserError(f"batch_size must be positive (got {batch_size})")
    test = dataset.test_columns(video=False)
    if not test.get("caption"):
        raise UserError(f"{dataset.root} has an empty test split; the protocol samples its captions")
    idx = caption_indices(n, len(test["caption"]))
    tokens = np.asarray(test["tokens"])[idx]
    captions = [test["caption"][i] for i in idx]
    seeds = sample_seeds(seed, np.arange(n))
    out = None
    for s in tqdm(range(0, n, batch_size), desc="generate", unit="batch", disable=not progress, leave=False):
        e = min(n, s + batch_size)
        v = generate(torch.from_numpy(tokens[s:e].astype(np.int64)), captions[s:e], torch.from_numpy(seeds[s:e]))
        v = to_uint8_video(v)
        if len(v) != e - s:
            raise UserError(f"generate returned {len(v)} videos for a batch of {e - s} captions")
        if out is None:
            out = np.empty((n, *v.shape[1:]), np.uint8)
        elif v.shape[1:] != out.shape[1:]:
            raise UserError(f"generate returned videos of shape {v.shape[1:]}, earlier {out.shape[1:]}")
        out[s:e] = v
    return out, tokens
