"""How many of a two-digit judge's misread digits come from locating them? A bound, not a timing.

A shipped dmnist2/dmnist4 judge reads digits by locating both in every frame, following them and
clearing each of the other (`t2vbench.judge.reader`). This reads a split twice with the same judge:

- `as shipped`: the judge's own decoding;
- `true positions`: the same reader and decoding, but each digit's image is cleared at its TRUE
  corners (`reader.true_images`, the `trajectory` column): what a perfect locator and tracker
  would give. Also the reader alone there, without the judge's cell scores.

The misread digits that the true positions fix are the locator's; they are split by why:
`no second digit` (no frame has two confident detections: the digits overlap in every frame and the
locator sees one blob) and `tracking` (both found in the reference frame, lost elsewhere).

Two tables say where the locator falls short, by how far apart the digits stand (the Chebyshev
distance of their true corners, px): the misread digits by the largest distance a video reaches (its
digits never stand clear of each other, partly, or wholly at some frame), and the share of frames in
which the locator finds both digits (a confident detection within 2 px of each true corner) by that
frame's distance. Below 4 px one detection can stand for both digits.

    python research/probe_judge_locating.py --dataset data/dmnist4
    python research/probe_judge_locating.py --dataset val/dmnist4 --split train --limit 8192
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from t2vbench.data.dataset import read_split
from t2vbench.data.format import read_manifest
from t2vbench.eval.caption import multiset_overlap
from t2vbench.judge import reader as rd
from t2vbench.judge.model import decode_multiset_read, judge_for


def misread(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Digits of the true multiset (B, S) that the predicted multiset (B, S) misses -> (B,)."""
    share = multiset_overlap(pred.numpy(), truth.numpy())
    return torch.from_numpy(np.rint(truth.shape[1] * (1 - share)).astype(np.int64))


def separation(corners: torch.Tensor) -> torch.Tensor:
    """Chebyshev distance (px) of two digits' corners (..., 2, 2) -> (...)."""
    return (corners[..., 0, :] - corners[..., 1, :]).abs().amax(dim=-1)


def found(true: torch.Tensor, pos: torch.Tensor, conf: torch.Tensor, tol: int = 2) -> torch.Tensor:
    """Which true corners (B, T, S, 2) have a detection (B, T, S', 2) of confidence >= 0.5 within
    `tol` px (Chebyshev) -> (B, T, S) bool."""
    near = (true[:, :, :, None] - pos[:, :, None]).abs().amax(dim=-1) <= tol
    return (near & (conf[:, :, None] >= 0.5)).any(dim=-1)


VIDEO_BANDS = ((0, 12, "never 12 px apart"), (12, 28, "apart, boxes overlap"), (28, None, "boxes clear at some frame"))
FRAME_BANDS = ((0, 4), (4, 8), (8, 12), (12, 20), (20, 28), (28, None))


def band_mask(x: torch.Tensor, lo: int, hi: int | None) -> torch.Tensor:
    return (x >= lo) & (x < hi) if hi is not None else x >= lo


def band_label(lo: int, hi: int | None) -> str:
    return f"{lo}-{hi} px" if hi is not None else f">= {lo} px"


@torch.inference_mode()
def probe(judge, video_u8, traj, digit, chunk: int = 128) -> dict:
    a, K = judge.arch, judge.sizes[0]
    d, S = int(a["digit_size"]), judge.slots
    rows = {"as shipped": [], "true positions": [], "true positions, reader alone": [], "no second digit": [],
            "separation": [], "both found": []}
    for lo in range(0, len(video_u8), chunk):
        idx = torch.arange(lo, min(len(video_u8), lo + chunk))
        v = video_u8[idx].permute(0, 1, 4, 2, 3).float().div_(255.0)
        B, T, C, H, W = v.shape
        out = judge(v)
        n = out["cell_logits"].shape[1]
        value = torch.arange(n) // (n // K)
        truth = digit[idx]
        rows["as shipped"].append(misread(value[judge.decode_output(out)], truth))
        imgs = torch.stack([rd.true_images(video_u8, traj, idx, s, d) for s in range(S)], dim=1)
        logp = sum(F.log_softmax(r(imgs.flatten(0, 1)), dim=-1) for r in judge.readers).view(B, 1, S, K)
        vote = rd.digit_vote(logp, torch.ones(B, 1, S))
        pred = decode_multiset_read(out["cell_logits"], vote, S, float(a["reader_vote"]))
        rows["true positions"].append(misread(value[pred], truth))
        rows["true positions, reader alone"].append(misread(logp[:, 0].argmax(dim=-1), truth))
        heat, offset = judge.locator(v.flatten(0, 1))
        pos, conf = rd.detect(heat, offset, S, H, d)
        pos, conf = pos.view(B, T, S, 2), conf.view(B, T, S)
        rows["no second digit"].append((conf.amin(dim=2) < 0.5).all(dim=1))
        true = traj[idx].transpose(1, 2)  # (B, T, S, 2)
        rows["separation"].append(separation(true))
        rows["both found"].append(found(true, pos, conf).all(dim=2))
    return {k: torch.cat(v) for k, v in rows.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True, help="a dmnist2/dmnist4 dataset folder")
    ap.add_argument("--split", default="test", help="split to read (default test; a differently seeded "
                    "dataset's train split is a validation set that leaves the test split alone)")
    ap.add_argument("--limit", type=int, default=None, help="read only the first N videos")
    ap.add_argument("--judge", default=None, help="a judge file (default: the shipped one)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    judge = judge_for(read_manifest(args.dataset), args.judge).model.eval()
    if judge.reader is None:
        raise SystemExit(f"error: the judge of {args.dataset} has no crop reader; probe a dmnist2/dmnist4 dataset")
    cols = read_split(args.dataset, args.split, columns=["video", "label/digit", "trajectory"], limit=args.limit)
    video = torch.from_numpy(np.ascontiguousarray(cols["video"]))
    traj = torch.from_numpy(np.rint(cols["trajectory"]).astype(np.int64))
    digit = torch.from_numpy(np.asarray(cols["label/digit"], dtype=np.int64).reshape(len(video), -1))
    t0 = time.time()
    r = probe(judge, video, traj, digit)
    N, S = digit.shape
    print(f"{args.dataset} {args.split}: {N} videos, {N * S} digits, read in {time.time() - t0:.0f} s\n")
    print(f"{'reading':<32}{'misread':>9}{'per digit':>11}")
    for name in ("as shipped", "true positions", "true positions, reader alone"):
        e = int(r[name].sum())
        print(f"{name:<32}{e:>9}{1 - e / (N * S):>11.4f}")
    fixed = (r["as shipped"] - r["true positions"]).clamp(min=0)
    blob = r["no second digit"]
    print(f"\nfixed by the true positions: {int(fixed.sum())} digits; no second digit "
          f"{int(fixed[blob].sum())} (in {int(blob.sum())} videos), tracking {int(fixed[~blob].sum())}; made worse: "
          f"{int((r['true positions'] - r['as shipped']).clamp(min=0).sum())}")
    sep, widest = r["separation"], r["separation"].amax(dim=1)
    print(f"\n{'largest distance in the clip':<38}{'videos':>8}{'as shipped':>12}{'true positions':>16}")
    for lo, hi, what in VIDEO_BANDS:
        m = band_mask(widest, lo, hi)
        print(f"{band_label(lo, hi) + ' (' + what + ')':<38}{int(m.sum()):>8}{int(r['as shipped'][m].sum()):>12}"
              f"{int(r['true positions'][m].sum()):>16}")
    print(f"\n{'distance in the frame':<24}{'frames':>8}{'both found':>12}")
    for lo, hi in FRAME_BANDS:
        m = band_mask(sep, lo, hi)
        share = f"{float(r['both found'][m].float().mean()):.3f}" if m.any() else "-"
        print(f"{band_label(lo, hi):<24}{int(m.sum()):>8}{share:>12}")


if __name__ == "__main__":
    from t2vbench.errors import UserError

    try:
        main()
    except UserError as e:
        raise SystemExit(f"error: {e}") from None
