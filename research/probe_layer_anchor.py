"""Where two digits never stand apart, does anchoring their layers better help a two-digit judge?

A format-5 judge follows such digits as two translating layers (`reader.layer_corners`): two paths of
displacements from frame 0 (`reader.follow_layer`), each pinned to a detection of the reference
frame and then centred on its crop's ink. In these videos the locator's detections are poor (one
blob for two digits), and so are the corners. This probe pins each path instead by its own least
ink: the frames moved back along the path keep that digit whole, and MNIST centres a digit's ink in
its 28 x 28 box, so the corner is that image's centre of ink less 14 px. No detection is used.

On validation videos of unseen train digits (`probe_vote_weight.unseen_videos`; never the test
split), it prints for the videos whose digits never stand `--max-sep` px apart the crop readers'
misread digits (alone, at the shipped, the ink-anchored and the true corners) and how well each set
of corners explains the frames (`reader.unexplained_ink`), then the whole
judge's misread digits with either anchoring.

    python research/probe_layer_anchor.py --dataset data/dmnist4 --digits ../shared/data/mnist
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F


def ink_anchored_corners(video, det, ref_frame: int, digit: int, speed: int, beam: int):
    """`reader.layer_corners`'s signature and paths, anchored by each path's own least ink: (T, 2, 2)."""
    from t2vbench.judge import reader as rd

    T, C, H, W = video.shape
    ink = video.sum(dim=1).clamp(max=1)
    reach = min(H, W) - digit
    path_a, image_a = rd.follow_layer(ink, speed, beam, reach)
    path_b, _ = rd.follow_layer((ink - rd.moved(image_a, path_a)).clamp(min=0), speed, beam, reach)
    ar = torch.arange(H, dtype=ink.dtype)
    out = []
    for path in (path_a, path_b):
        image = torch.stack([rd.moved(ink[t], -path[t:t + 1])[0] for t in range(T)]).amin(dim=0)
        mass = image.sum().clamp(min=1e-6)
        centre = torch.stack([(image.sum(0) * ar).sum(), (image.sum(1) * ar).sum()]) / mass
        out.append(((centre - digit / 2).round().long() + path).clamp(0, reach))
    return torch.stack(out, dim=1)


def misread(pred: np.ndarray, truth: np.ndarray) -> int:
    from probe_vote_weight import slot_hits

    return int((truth.shape[1] - slot_hits(pred, truth)).sum())


def main():
    from probe_vote_weight import add_validation_arguments, judge_and_digits, unseen_videos

    from t2vbench.errors import UserError
    from t2vbench.judge import reader as rd
    from t2vbench.judge.model import as_float_video

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_validation_arguments(ap, n=8192)
    ap.add_argument("--max-sep", type=int, default=12, help="px: the videos whose digits never stand this far apart")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    judge, cfg, digits, train_videos = judge_and_digits(
        args, "the judge does not follow digits as layers: this probe concerns format-5+ two-digit judges",
        lambda m: m.reader is not None and bool(m.arch.get("reader_layer_gate")))
    model, a = judge.model, judge.model.arch
    val = unseen_videos(cfg, train_videos, args.n, args.seed, digits)
    truth, pos = val["digit"], val["pos"]
    sep = np.abs(pos[:, 0] - pos[:, 1]).max(axis=-1).max(axis=-1)
    sel = np.nonzero(sep < args.max_sep)[0]
    d, speed, beam = int(a["digit_size"]), int(a["reader_layer_speed"]), int(a["reader_layer_beam"])
    if len(sel) == 0:
        raise UserError(f"none of the {args.n} validation videos keeps its digits within {args.max_sep} px; "
                        "raise --n or --max-sep")

    with torch.inference_mode():
        video = as_float_video(val["video"][sel])
        B, T, H = video.shape[0], video.shape[1], video.shape[-1]
        heat, offset = rd.by_chunks(model.locator, video.flatten(0, 1))
        det, conf = rd.detect(heat, offset, 2, H, d)
        det, conf = det.view(B, T, 2, 2), conf.view(B, T, 2)
        ref = rd.least_overlap_frames(det, 1, d, conf)[:, 0]
        corners = {
            "shipped": torch.stack([rd.layer_corners(video[b], det[b, ref[b]], int(ref[b]), d, speed, beam)
                                    for b in range(B)]),
            "ink-anchored": torch.stack([ink_anchored_corners(video[b], None, 0, d, speed, beam) for b in range(B)]),
            "true": torch.from_numpy(pos[sel]).long().permute(0, 2, 1, 3),
        }
        print(f"{len(sel)} of {args.n} validation videos (seed {args.seed}) whose digits never stand {args.max_sep} px "
              "apart; the crop readers alone:")
        for name, at in corners.items():
            x = rd.least_ink(video, at, d).flatten(0, 1)
            logp = sum(F.log_softmax(r(x), dim=-1) for r in model.readers)
            pred = logp.argmax(dim=-1).view(B, 2).numpy()
            err = np.mean([float(rd.unexplained_ink(video[b], at[b], d)) for b in range(B)])
            print(f"  {name:>13} corners: {misread(pred, truth[sel]):4d} of {2 * B} digits misread; "
                  f"frames explained to an L1 error of {err:.0f}")

        print(f"the whole judge, all {args.n} videos:")
        shipped_corners = rd.layer_corners
        for name, fn in (("shipped", shipped_corners), ("ink-anchored", ink_anchored_corners)):
            t0 = time.time()
            rd.layer_corners = fn
            try:
                pred = []
                for lo in range(0, args.n, 256):
                    out = model(as_float_video(val["video"][lo:lo + 256]))
                    pred.append(model.decode_output(out) // (model.n_cells // model.sizes[0]))
            finally:
                rd.layer_corners = shipped_corners
            print(f"  {name:>13} layers: {misread(torch.cat(pred).numpy(), truth):4d} of {2 * args.n} digits "
                  f"misread ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    from t2vbench.errors import UserError

    try:
        main()
    except UserError as e:
        raise SystemExit(f"error: {e}") from None
