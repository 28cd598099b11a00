"""How well can any judge read the digits of a Moving-MNIST video? A bound, not a timing.

A two-digit caption is read right only if both digits are, so a judge's per-video digit accuracy is
about (per-digit accuracy)^2 and 99% per video needs ~99.5% per digit. This asks how far the best
reading of each digit gets when everything except the classifier is given for free:

- a crop reader (a small CNN, `--width`) is trained on 28x28 crops of the train split at the digits'
  TRUE positions (the `trajectory` column; +-2 px jitter, small affine warps), from the frames in
  which the digits overlap least;
- on the test split it reads each digit, with its true position (an oracle no judge has), from
  `one frame`: the crop in the frame where the two digits overlap least, and from
  `pixel min`: the pixel-wise minimum of the digit's crops over all frames. A video is a saturating
  sum of digits, so the other digit's strokes vanish wherever it has moved away in some frame;
- the same reader on the clean MNIST test digits (`--digits`) is its accuracy with no overlap at all.

Per digit and per video (every digit right), also for the videos whose digits overlap by half or more
in every frame. The rows share one reader, so they differ only in what it is shown.

    python research/probe_digit_reading.py --dataset data/dmnist2 --digits ../shared/data/mnist
    python research/probe_digit_reading.py --dataset data/dmnist4 --steps 300 --train 4096
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from t2vbench.data.dataset import read_split
from t2vbench.judge import reader as rd
from t2vbench.judge.train import augment_frames, lr_at

WARP = {"p": 1.0, "rotate_deg": 10.0, "scale": 0.1, "shear": 0.0}  # every crop, the judges' warp
SCHEDULE = {"lr": 2e-3, "warmup_steps": 100}  # the judges' schedule: linear warmup, cosine decay to 0


def reader(width: int, n_classes: int = 10) -> nn.Module:
    """Five 3x3 convs with BatchNorm (two with stride 2), average pool, linear."""
    chans, layers = [1, width, width, 2 * width, 2 * width, 4 * width], []
    for a, b, s in zip(chans, chans[1:], [1, 2, 1, 2, 1]):
        layers += [nn.Conv2d(a, b, 3, s, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, n_classes))


def load(root, split: str, limit=None):
    cols = read_split(root, split, columns=["video", "label/digit", "trajectory"], limit=limit)
    video = torch.from_numpy(np.ascontiguousarray(cols["video"][..., 0]))  # (N, T, H, W)
    traj = torch.from_numpy(np.rint(cols["trajectory"]).astype(np.int64))  # (N, S, T, 2)
    digit = torch.from_numpy(np.asarray(cols["label/digit"], dtype=np.int64).reshape(len(video), -1))
    return video, traj, digit


def train(net, video, traj, digit, steps: int, batch: int, g: torch.Generator, log) -> list:
    N, S, T = traj.shape[:3]
    size = video.shape[-1]
    ov = rd.box_overlap(traj.transpose(1, 2), 28)  # (N, T)
    clean = (ov <= ov.min(dim=1, keepdim=True).values.clamp(min=0.05) + 1e-6).float()  # >= 1 frame each
    opt = torch.optim.AdamW(net.parameters(), lr=SCHEDULE["lr"], weight_decay=1e-4)
    losses = []
    net.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, SCHEDULE)
        i = torch.randint(0, N, (batch,), generator=g)
        s = torch.randint(0, S, (batch,), generator=g)
        t = torch.multinomial(clean[i], 1, generator=g)[:, 0]
        pos = (traj[i, s, t] + torch.randint(-2, 3, (batch, 2), generator=g)).clamp(0, size - 28)
        x = augment_frames(rd.crop(video[i, t][:, None], pos, 28).float().div_(255.0), WARP, g)
        loss = F.cross_entropy(net(x), digit[i, s])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % 500 == 0:
            log(f"  step {step:5d}  loss {np.mean(losses[-100:]):.4f}")
    net.eval()
    return losses


@torch.inference_mode()
def read_test(net, video, traj, chunk: int = 64) -> dict:
    """Oracle-position readings of every test digit: (N, S) predictions for `one frame` and `pixel min`."""
    N, S, T = traj.shape[:3]
    ov = rd.box_overlap(traj.transpose(1, 2), 28)  # (N, T)
    least = ov.argmin(dim=1)
    out = {"one frame": [], "pixel min": []}
    for lo in range(0, N, chunk):
        b = torch.arange(lo, min(N, lo + chunk))
        n = len(b)
        frame_ix = b[:, None, None].expand(n, S, T).reshape(-1)
        t_ix = torch.arange(T).repeat(n * S)
        c = rd.crop(video[frame_ix, t_ix][:, None], traj[b].reshape(-1, 2), 28).float().div_(255.0)
        c = c.view(n, S, T, 1, 28, 28)
        one = c[torch.arange(n), :, least[b]]  # (n, S, 1, d, d)
        for name, img in (("one frame", one), ("pixel min", c.amin(dim=2))):
            out[name].append(net(img.reshape(-1, 1, 28, 28)).argmax(1).view(n, S))
    return {k: torch.cat(v) for k, v in out.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True, help="a Moving-MNIST dataset folder with train and test splits")
    ap.add_argument("--digits", default=None, help="MNIST IDX folder: also read the clean MNIST test digits")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--train", type=int, default=40000, help="train videos read (the first N)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    video, traj, digit = load(args.dataset, "train", args.train)
    test_video, test_traj, test_digit = load(args.dataset, "test")
    print(f"{args.dataset}: {len(video)} train / {len(test_video)} test videos, {traj.shape[1]} digit(s) each, "
          f"read in {time.time() - t0:.0f} s")
    net = reader(args.width)
    t0 = time.time()
    losses = train(net, video, traj, digit, args.steps, args.batch, g, print)
    print(f"reader: width {args.width}, {sum(p.numel() for p in net.parameters()):,} parameters, {args.steps} "
          f"steps in {time.time() - t0:.0f} s, loss {np.mean(losses[:50]):.3f} -> {np.mean(losses[-50:]):.3f}")
    pred = read_test(net, test_video, test_traj)
    heavy = rd.box_overlap(test_traj.transpose(1, 2), 28).min(dim=1).values >= 0.5
    print(f"\nOracle positions, {len(test_video)} test videos ({heavy.float().mean().item():.1%} overlap by half "
          "or more in every frame)")
    print(f"{'reading':<22}{'per digit':>10}{'per video':>11}{'overlapping, per video':>24}")
    for name, p in pred.items():
        ok = p == test_digit
        hv = ok.all(1)[heavy].float().mean().item() if heavy.any() else float("nan")
        print(f"{name:<22}{ok.float().mean().item():>10.4f}{ok.all(1).float().mean().item():>11.4f}{hv:>24.4f}")
    if args.digits:
        from pathlib import Path

        from t2vbench.digits import load_idx_folder

        d = load_idx_folder(Path(args.digits))
        x = torch.from_numpy(np.array(d.test_images)).float().div_(255.0)[:, None]
        y = torch.from_numpy(np.array(d.test_labels, dtype=np.int64))
        with torch.inference_mode():
            p = torch.cat([net(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
        acc = (p == y).float().mean().item()
        print(f"{'clean MNIST test':<22}{acc:>10.4f}{acc ** traj.shape[1]:>11.4f}{'(per video: ^S)':>24}")


if __name__ == "__main__":
    from t2vbench.errors import UserError

    try:
        main()
    except UserError as e:
        raise SystemExit(f"error: {e}") from None
