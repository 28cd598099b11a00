"""Which caption-conditioned discriminator head can read which attribute? A diagnostic, not a timing.

A GAN's generator only learns an attribute that some discriminator can check. This trains each head
type the baselines use ALONE on real videos (matched caption -> 1, a random other-meaning caption -> 0,
the training step's matching loss, quick-protocol widths) and then asks, on held-out test videos, how
often it scores the video's own caption above a caption that differs in ONE attribute (the digit only,
the motion only) and above a random one. 0.5 is chance; the random-caption column is the reference
measured in the same run.

Captions are given as ideal codes (per attribute a fixed random embedding of its value, so meanings that
share a digit share that part of the code), so the numbers are about what the head can see in the
pixels, not about a text encoder.

    python research/probe_discriminators.py --dataset data/smnist4            # 1,000 steps per head
    python research/probe_discriminators.py --dataset data/smnist4 --steps 300 --heads frame-2d
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from t2vbench.baselines.discriminators import FrameTextHead, FrameTrunk, VideoTextD
from t2vbench.baselines.gan import one_attribute_swaps
from t2vbench.baselines.layers import bce_logits
from t2vbench.data.dataset import read_split
from t2vbench.data.format import read_manifest
from t2vbench.data.handle import open_dataset
from t2vbench.train.runner import TrainData


def build(kind: str, channels: int, ndf: int, d_text: int):
    """-> (module, logit(video, codes) -> (B,)) for a head type."""
    if kind == "video-3d":  # IRC-GAN D1, TGANs-C video D
        d = VideoTextD(channels, ndf, d_text, q=False)
        return d, lambda v, c: d.logit(d.features(v), c)
    trunk = FrameTrunk(channels, ndf)
    head = FrameTextHead(trunk.out_channels, d_text)
    mod = torch.nn.ModuleList([trunk, head])
    if kind == "frame-2d":  # TGANs-C frame D
        return mod, lambda v, c: head(trunk(v), c).mean(1)
    if kind == "motion-2d":  # TGANs-C motion D (differences of frame features)
        def logit(v, c):
            f = trunk(v)
            return head(f[:, 1:] - f[:, :-1], c).mean(1)
        return mod, logit
    raise SystemExit(f"unknown head {kind!r}; choose from video-3d, frame-2d, motion-2d")


def slot_meanings(labels: dict, names: list) -> list:
    cols = [np.asarray(labels[n]).reshape(len(labels[n]), -1) for n in names]
    return [tuple(sorted(zip(*(c[i].tolist() for c in cols)))) for i in range(len(cols[0]))]


def ideal_codes(meanings: list, n_attr: int, d_text: int, g) -> torch.Tensor:
    """A compositional caption code per meaning: per attribute a random embedding of its value, the
    attributes concatenated per slot and the slots summed (order-free); one scale for all, unit RMS."""
    width = d_text // n_attr
    tables = [torch.randn(1 + max(s[a] for m in meanings for s in m), width, generator=g) for a in range(n_attr)]
    codes = torch.zeros(len(meanings), d_text)
    for i, m in enumerate(meanings):
        for slot in m:
            codes[i, :width * n_attr] += torch.cat([tables[a][v] for a, v in enumerate(slot)])
    return codes / codes.pow(2).mean().sqrt()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--ndf", type=int, default=8, help="discriminator width (quick protocol: 8)")
    ap.add_argument("--d-text", type=int, default=32)
    ap.add_argument("--heads", default="video-3d,frame-2d,motion-2d")
    ap.add_argument("--test", type=int, default=512, help="held-out test videos to score")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)

    data = TrainData(open_dataset(a.dataset))
    names = sorted(read_manifest(a.dataset)["labels"])
    train_lab = read_split(a.dataset, "train", columns=[f"label/{n}" for n in names])
    test = read_split(a.dataset, "test", columns=["video"] + [f"label/{n}" for n in names], limit=a.test)
    m_train = slot_meanings({n: train_lab[f"label/{n}"] for n in names}, names)
    m_test = slot_meanings({n: test[f"label/{n}"] for n in names}, names)
    known = {m: i for i, m in enumerate(sorted(set(m_train) | set(m_test)))}
    g = torch.Generator().manual_seed(a.seed)
    codes = ideal_codes(sorted(known, key=known.get), len(names), a.d_text, g)
    train_key = torch.tensor([known[m] for m in m_train])
    test_key = np.array([known[m] for m in m_test])
    video_test = torch.from_numpy(test["video"]).permute(0, 1, 4, 2, 3).float().mul_(2 / 255).sub_(1)

    rng = np.random.default_rng(a.seed)
    contrasts = {}
    for attr, name in enumerate(names):
        values = sorted({s[attr] for m in known for s in m})
        pick = [one_attribute_swaps(m, attr, values, known) for m in m_test]
        ok = np.array([len(p) > 0 for p in pick])
        contrasts[f"{name} only"] = (ok, np.array([rng.choice(p) if p else 0 for p in pick]))
    uniform = np.array([rng.choice([k for k in range(len(known)) if k != own]) for own in test_key])
    contrasts["random caption"] = (np.ones(len(test_key), bool), uniform)

    print(f"{a.dataset}: {len(data)} train / {len(test_key)} test videos, {len(known)} meanings, "
          f"{a.steps} steps of batch {a.batch}, ndf {a.ndf}; pair accuracy, chance 0.50")
    print(f"{'head':<10} {'s':>5}  " + "  ".join(f"{k:>14}" for k in contrasts))
    for kind in a.heads.split(","):
        torch.manual_seed(a.seed)
        mod, logit = build(kind, data.channels, a.ndf, a.d_text)
        opt = torch.optim.Adam(mod.parameters(), lr=5e-4, betas=(0.5, 0.999))
        t0 = time.time()
        for _ in range(a.steps):
            idx = torch.randint(len(data), (a.batch,), generator=g)
            v, _ = data.batch(idx, "cpu")
            mis = train_key[data.mismatch.sample(idx, g)]
            loss = bce_logits(logit(v, codes[train_key[idx]]), 1.0) + bce_logits(logit(v, codes[mis]), 0.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
        mod.eval()
        with torch.no_grad():
            own = torch.cat([logit(v, codes[test_key[i:i + 64]]) for i, v in _chunks(video_test)])
            cols = []
            for ok, other in contrasts.values():
                s = torch.cat([logit(v, codes[other[i:i + 64]]) for i, v in _chunks(video_test)])
                cols.append(float((own > s).float()[torch.from_numpy(ok)].mean()))
        print(f"{kind:<10} {time.time() - t0:>5.0f}  " + "  ".join(f"{c:>14.2f}" for c in cols), flush=True)


def _chunks(video, n: int = 64):
    for i in range(0, len(video), n):
        yield i, video[i:i + n]


if __name__ == "__main__":
    main()
