"""Evaluate your own text-to-video generator under the frozen t2vbench protocol, in a few lines.

    t2vbench make-dataset smnist4 --out data
    python examples/evaluate_own_generator.py data/smnist4 results/retrieval-s0.json
    t2vbench eval --real --dataset data/smnist4 --out results/real-data.json   # the ceiling row
    t2vbench leaderboard --results results

The "generator" here is a retrieval baseline: for each caption it returns a train video with the same
caption, chosen with the per-sample seed. Replace `generate` with your model's sampler: it gets the
caption tokens (B, L), the caption strings, and one seed per sample (derived from the evaluation seed
and the sample's index, so results do not depend on your batch size).
"""
import sys

import numpy as np
import torch

import t2vbench.eval
from t2vbench.data.dataset import read_split

root, out = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
train = read_split(root, "train", columns=["video", "caption"], limit=8192)
by_caption = {}
for i, c in enumerate(train["caption"]):
    by_caption.setdefault(c, []).append(i)


def generate(tokens: torch.Tensor, captions: list, seeds: torch.Tensor) -> np.ndarray:
    """Return uint8 videos (B, T, H, W, C) (or float (B, T, C, H, W) in [0, 1])."""
    picks = []
    for caption, seed in zip(captions, seeds.tolist()):
        rng = np.random.default_rng(seed)  # per-sample seed: same video whatever the batch size
        pool = by_caption.get(caption) or range(len(train["caption"]))  # unseen caption: anything
        picks.append(pool[rng.integers(len(pool))])
    return train["video"][picks]


results = t2vbench.eval.evaluate(generate, root, model="retrieval", train_seed=0, out=out,
                                 info={"note": "train-set retrieval baseline"})
for name, value in results["metrics"].items():
    print(f"{name:28s} {value:.4f}")
