"""How often do real clips pass the geometric motion check (`t2vbench.eval.motion.check_tracks`), and
how close do they come to its tolerances?

For a Moving MNIST split this checks three kinds of tracks against the captions:

- `true`: the `trajectory` column (the generator's own corners; must pass 100%, else the check
  itself misreads the promise);
- `com`: single digit, the centre of mass of the pixels (`motion.com_tracks`), tolerances "com";
- `judge`: two digits, where the shipped (or given) judge locates them (`motion.judge_tracks`: the
  judge's own corners, and the refined ones `motion.follow_digits` makes from the judge's cleared
  images), paired with the caption's slots by reading ("read", ties tried both ways) or by the
  better of both pairings ("best"), with and without checking same-motion digits together, tolerances
  "judge"; with the located corners' error against the true ones, by how far apart the digits stand,
  and the pass rate by how close they come.

For each it prints the pass rate, the failure kinds and the percentiles of what the tolerances bound
(cross-axis range, leg-fit residual, speed, distance of a reflection from its wall, first reflection
time), so a tolerance can be set with its margin in view.

    python research/probe_motion_check.py --dataset /tmp/x/smnist4
    python research/probe_motion_check.py --dataset /tmp/x/dmnist4 --limit 512
"""
from __future__ import annotations

import argparse
import collections
import time

import numpy as np

from t2vbench.data.dataset import read_split
from t2vbench.data.format import read_manifest
from t2vbench.eval import motion

STATS = ("cross", "fit", "v", "wall", "t_first")


def report(name: str, tracks, labels, names, cfg, tol) -> np.ndarray:
    """Print one kind of tracks' pass rate, failure kinds and statistics; -> ok (N,)."""
    ok, kind = motion.check_tracks(tracks, labels, names, cfg, tol)
    counts = collections.Counter(kind.tolist())
    fails = ", ".join(f"{k} {c}" for k, c in counts.most_common() if k != "ok") or "none"
    print(f"{name:>12}: {ok.mean():7.2%} pass ({int(ok.sum())} of {len(ok)}); failures: {fails}")
    tr = np.asarray(tracks, dtype=np.float64)
    tr = tr[:, None] if tr.ndim == 3 else tr
    lab = np.asarray(labels).reshape(len(tr), -1)
    rows = [motion.track_stats(tr[i, s], *motion.parse_motion(names[int(lab[i, s])]), cfg, tol)
            for i in range(len(tr)) for s in range(tr.shape[1])]
    for key in STATS:
        vals = np.array([r[key] for r in rows], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        if len(vals):
            q = np.percentile(vals, [0, 0.5, 50, 99, 99.5, 100])
            print(f"{'':>14}{key:>8}: " + " ".join(f"{x:7.3f}" for x in q) + "   (min, 0.5%, 50%, 99%, 99.5%, max)")
    return ok


def _nearer(got: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Located tracks (N, 2, T, 2) in the slot order nearer the true ones (largest error per clip)."""
    keep = np.abs(got - true).max(axis=(1, 2, 3)) <= np.abs(got[:, ::-1] - true).max(axis=(1, 2, 3))
    return np.where(keep[:, None, None, None], got, got[:, ::-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--judge", default=None, help="a judge file (default: the shipped one for the family)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--save", default=None, help="write the located tracks to this .npz")
    ap.add_argument("--load", default=None, help="read located tracks from a --save file instead of running the judge")
    args = ap.parse_args(argv)
    manifest = read_manifest(args.dataset)
    cfg, names = manifest["config"], manifest["labels"]["motion"]
    data = read_split(args.dataset, args.split, columns=["video", "label/motion", "label/digit", "trajectory"],
                      limit=args.limit)
    labels, digits = data["label/motion"], data["label/digit"]
    true = data["trajectory"].astype(np.float64)  # (N, S, T, 2)
    print(f"{manifest['dataset']} {args.split}: {len(labels)} clips, speeds {cfg['speed_min']}..{cfg['speed_max']}")
    report("true", true, labels, names, cfg, "com")
    if cfg["digits_per_video"] == 1:
        com = motion.com_tracks(data["video"], cfg["digit_size"])
        err = np.abs(com - true[:, 0])
        print(f"{'':>14}centre-of-mass corner error: max {err.max():.3f} px")
        report("com", com, labels, names, cfg, "com")
        return
    import torch

    from t2vbench.judge.model import judge_for

    if args.threads:
        torch.set_num_threads(args.threads)
    judge = None if args.load else judge_for(manifest, args.judge)
    t0 = time.time()
    if args.load:
        located = dict(np.load(args.load))
    else:
        located = motion.judge_tracks(judge, data["video"])
    secs = time.time() - t0
    if args.save:
        np.savez(args.save, **located)
    tracks, tied = motion.pair_tracks(located["tracks"], located["logp"], digits)
    print(f"{'':>14}judge located {len(labels)} clips in {secs:.1f} s ({int(located['layered'].sum())} as layers, "
          f"{int(tied.sum())} pairings tied)")
    sep = np.abs(true[:, 0] - true[:, 1]).max(axis=-1)  # (N, T) Chebyshev px between the true corners
    for which in ("judge_tracks", "tracks"):
        got = located[which]
        err = np.abs(_nearer(got, true) - true).max(axis=-1)  # (N, S, T) Chebyshev px
        print(f"{'':>14}{which}: corner error (px, the pairing nearer the truth) by how far apart the digits stand:")
        for lo, hi in ((0, 8), (8, 16), (16, 28), (28, 99)):
            m = (sep >= lo) & (sep < hi)
            if m.any():
                e = err.transpose(0, 2, 1)[m]  # (frames, S)
                print(f"{'':>16}{lo}-{hi} px: median {np.median(e):.1f}, 99% {np.percentile(e, 99):.1f}, "
                      f"<= 1 px {np.mean(e <= 1):.2%} ({m.sum()} frames)")
    report("refined/read", tracks, labels, names, cfg, "judge")  # read pairing, ties in caption order
    print(f"{'':>14}as `check_judged` checks, by the tracks and how they are paired:")
    print(f"{'':>16}{'tracks':<14}{'pairing':<9}{'together':<10}{'pass':>8}  failures")
    for which in ("judge_tracks", "tracks"):
        for pairing, together in (("read", False), ("best", False), ("read", True)):
            if which == "judge_tracks" and pairing == "best":
                continue
            loc = {**located, "tracks": located[which]}
            ok, kind = motion.check_judged(judge, data["video"], labels, digits, names, cfg, pairing,
                                           located=loc, together=together)
            counts = collections.Counter(kind[~ok].tolist())
            fails = ", ".join(f"{k} {c}" for k, c in counts.most_common()) or "none"
            name = "judge's own" if which == "judge_tracks" else "refined"
            print(f"{'':>16}{name:<14}{pairing:<9}{'yes' if together else 'no':<10}{ok.mean():8.2%}  {fails}")
    # the check as shipped: refined tracks, read pairing, together
    ok, kind = motion.check_judged(judge, data["video"], labels, digits, names, cfg, "read", located=located)
    same = labels[:, 0] == labels[:, 1]
    print(f"{'judge':>12}: {ok.mean():7.2%} pass ({int(ok.sum())} of {len(ok)}) as checked (refined, read, together); "
          f"same motion in both slots {ok[same].mean():.2%} of {int(same.sum())}, different "
          f"{ok[~same].mean():.2%} of {int((~same).sum())}")
    for what, by in (("closest approach", sep.min(axis=1)), ("furthest apart", sep.max(axis=1))):
        for lo, hi in ((0, 8), (8, 16), (16, 28), (28, 99)):
            m = (by >= lo) & (by < hi)
            if m.any():
                print(f"{'':>14}{what} {lo}-{hi} px: {ok[m].mean():.2%} pass of {int(m.sum())}")


if __name__ == "__main__":
    main()
