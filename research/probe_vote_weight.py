"""How much should a two-digit judge trust its crop reader? Validation on digits no judge has seen.

A two-digit judge decodes with its clip head's cell scores + `vote` x the crop reader's
log-probabilities (`judges.decode_multiset_read`). The weight cannot be chosen on the test split
(that tunes the ruler on what it measures) nor on held-out train videos: their digit images were in
the judge's training videos, so the clip head reads them better than any new digit (dmnist2: 98.6%
of held-out train videos against 97.4% of test videos) and a weight chosen there trusts it too much.

This probe renders validation videos by the dataset's own rules (`trajectories.draw` with another
seed) from the MNIST *train* digits that none of the judge's training videos uses: the judge reads
the first `max_train_videos` train videos, which draw 2 of 60,000 images each, so about e^-2 = 13.5%
of the images are never drawn. It prints the judge's per-digit accuracy for each weight.

    python research/probe_vote_weight.py --dataset data/dmnist2 --digits ../shared/data/mnist
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def unseen_videos(cfg: dict, train_videos: int, n: int, seed: int, digits):
    """Videos drawn like the train split from the train images that the first `train_videos` train
    videos never use: {"video": (n, T, H, W, 1) uint8, "digit": (n, S), "img": (n, S) train-image ids,
    "pos": (n, S, T, 2) top-left corners}."""
    from t2vbench.generators.mnist.render import render
    from t2vbench.generators.mnist.trajectories import draw

    images, labels = digits.split("train")
    seen = np.unique(draw(cfg, "train", 0, train_videos, labels)["img"])
    unseen = np.setdiff1d(np.arange(len(labels)), seen)
    p = draw({**cfg, "seed": seed}, "train", 0, n, labels[unseen])
    video = render(images[unseen], p["img"], p["pos"], cfg["size"])[..., None]
    return {"video": video, "digit": p["digit"].astype(np.int64), "img": unseen[p["img"]], "pos": p["pos"]}


def slot_hits(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Digits read right per video, the two lists compared as multisets: (N, S), (N, S) -> (N,)."""
    p, t = np.sort(pred, 1), np.sort(truth, 1)
    if p.shape[1] == 1:
        return (p == t)[:, 0].astype(int)
    same = (p == t).all(1)
    one = (p[:, None, :] == t[:, :, None]).any(axis=(1, 2))
    return np.where(same, 2, one.astype(int))


def add_validation_arguments(ap, n: int) -> None:
    """The options of a probe that validates a two-digit judge on unseen train digits."""
    ap.add_argument("--dataset", required=True, help="the two-digit dataset the judge was trained on (its config)")
    ap.add_argument("--judge", default=None, help="a judge file (default: the one shipped for the dataset)")
    ap.add_argument("--digits", default=None, help="the MNIST the dataset was made from (checked by sha256)")
    ap.add_argument("--n", type=int, default=n, help="validation videos")
    ap.add_argument("--seed", type=int, default=1, help="seed of the validation videos' parameters")


def judge_and_digits(args, needs: str, check):
    """-> (the judge, its dataset config, the digits, how many train videos it read) for the options of
    `add_validation_arguments`, after check(judge model) (False: a one-line error that the probe
    `needs` something) and the checks that the judge and the digits belong to the dataset."""
    from t2vbench.data.format import read_manifest
    from t2vbench.digits import load_digits
    from t2vbench.errors import UserError
    from t2vbench.judge.model import judge_for

    manifest = read_manifest(args.dataset)
    cfg = manifest["config"]
    judge = judge_for(manifest, args.judge)
    if not check(judge.model):
        raise UserError(needs)
    if judge.meta.get("dataset_config_sha256") != manifest["config_sha256"]:
        raise UserError(f"the judge was trained on another dataset config than {args.dataset}")
    digits = load_digits(args.digits)
    if digits.sha256 != cfg["digit_source_sha256"]:
        raise UserError(f"--digits holds other images than {args.dataset} was made from; pass that MNIST")
    return judge, cfg, digits, min(int(cfg["n"]), int(judge.meta["recipe"]["max_train_videos"]))


def main():
    from t2vbench.judge.model import as_float_video, decode_multiset_read

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_validation_arguments(ap, n=4096)
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    judge, cfg, digits, train_videos = judge_and_digits(
        args, "the judge has no crop reader: the vote weight concerns two-digit judges", lambda m: m.reader is not None)
    model = judge.model
    t0 = time.time()
    val = unseen_videos(cfg, train_videos, args.n, args.seed, digits)
    video, truth = val["video"], val["digit"]
    print(f"{args.n} validation videos (seed {args.seed}) from {len(np.unique(val['img'])):,} train digits that the "
          f"judge's {train_videos:,} training videos never use; rendered in {time.time() - t0:.1f} s")
    cells, votes = [], []
    with torch.inference_mode():
        for lo in range(0, len(video), 256):
            out = model(as_float_video(video[lo:lo + 256]))
            cells.append(out["cell_logits"])
            votes.append(out["digit_vote"])
    cells, votes = torch.cat(cells), torch.cat(votes)
    S, rest = model.slots, model.n_cells // model.sizes[0]
    print(f"{'vote weight':>12}{'per digit':>11}{'both digits':>13}")
    for w in args.weights:
        pred = (decode_multiset_read(cells, votes, S, w) // rest).numpy()
        hits = slot_hits(pred, truth)
        mark = "  (the judge's)" if w == float(model.arch["reader_vote"]) else ""
        print(f"{w:>12.2f}{hits.mean() / S:>11.4f}{(hits == S).mean():>13.4f}{mark}")


if __name__ == "__main__":
    from t2vbench.errors import UserError

    try:
        main()
    except UserError as e:
        raise SystemExit(f"error: {e}") from None
