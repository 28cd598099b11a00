"""KTH-4 extractor speed against plain OpenCV decoding of the same files (the reference).

    python bench/bench_kth.py                      # synthetic KTH (make-fixture), 1 and 2 workers
    python bench/bench_kth.py --kth-dir ~/kth      # the real videos
    python bench/bench_kth.py --persons 1-4 --repeats 3 --json bench-kth.json

Both sides process the same walking/running/handwaving/boxing AVIs. One worker: in this process,
video by video, plain then extract, --repeats times, summing each video's best time (so changing
machine load hits both alike). N workers: a spawn process pool over videos for each side (start-up
included), best of --repeats. Wall and CPU time are both reported; on a shared machine the CPU-time
ratio is the steadier measure of cost. "plain" = cv2.VideoCapture.read() of every frame, nothing else. "extract" = what
`make-dataset kth4` does before writing shards: decode, gray, direction analysis of walking/running,
windowing, resize of the kept clips (`extract.run_tasks`). The ratio extract/plain is the cost of the
extractor in units of decoding; target <= 3.

Projections scale the measured frames/s to the real KTH: its 400 KTH-4 (walking/running/handwaving/
boxing) videos, >= 202,606 frames, and all 599 videos, >= 289,157 frames (the sums of each video's last
annotated frame in the real 00sequences.txt; with --kth-dir the folder's own 00sequences.txt gives
them). `make-dataset kth4` on the full 599-video folder costs the KTH-4 time: jogging and
handclapping are never opened; the 599 figure is the plain-decoding reference for the whole set.
Last, one end-to-end `make-dataset kth4` (hashing the inputs, extraction, HDF5 shards and manifest)
is timed with the largest worker count, and projected the same way.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

# frames of the real KTH: sum over the lines of the real 00sequences.txt of each video's last annotated
# frame (a lower bound of its decoded length, so the projections are slightly low): the 400 KTH-4 videos
# (none of them is missing; the 600th video is person13_handclapping_d3), and all 599
KTH4_FRAMES_ESTIMATE = 202_606
KTH4_VIDEOS = 400
ALL_FRAMES_ESTIMATE = 289_157
ALL_VIDEOS = 599
KTH4_ACTIONS = ("walking", "running", "handwaving", "boxing")


def annotated_frames(seq) -> tuple[int, int]:
    """(KTH-4 frames, all frames) as the sums of each listed video's last annotated frame."""
    last = {stem: max(b for _, b in e.ranges) for stem, e in seq.entries.items() if e.ranges}
    return sum(v for s, v in last.items() if s.split("_")[1] in KTH4_ACTIONS), sum(last.values())


def end_to_end(root: Path, workers: int) -> tuple[float, int]:
    """Wall seconds of one `make-dataset kth4` into a temp folder (inputs hashed, clips extracted, shards and
    manifest written), and the number of clips. The split is taken from the persons present."""
    from t2vbench.data.build import build_dataset
    from t2vbench.generators.kth.builder import KTH4
    from t2vbench.generators.kth.extract import find_videos

    persons = sorted({int(s[6:8]) for s in find_videos(root)})
    split = None if (set(persons) & set(range(1, 17)) and set(persons) & set(range(17, 26))) else \
        f"{persons[0]}/{','.join(map(str, persons[1:]))}"
    with tempfile.TemporaryDirectory(prefix="bench-kth-out-") as out:
        t0 = time.perf_counter()
        b = KTH4()
        cfg = b.resolve({"kth_dir": str(root), "workers": workers, "kth_split": split})
        m = build_dataset(b, cfg, out, workers=workers, progress=False, log=lambda msg: None)
        wall = time.perf_counter() - t0
    return wall, sum(sp["count"] for sp in m["splits"].values())


def _plain(path: str) -> int:
    import cv2

    cv2.setNumThreads(1)
    cap = cv2.VideoCapture(path)
    n = 0
    while True:
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    cap.release()
    return n


def _init():
    import cv2

    cv2.setNumThreads(1)


def _cpu() -> float:
    """CPU seconds of this process plus its finished children (pool workers, once the pool is shut)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def one_process(tasks, repeats: int):
    """Per video: plain decode, then extraction, alternating, `repeats` times; sum of per-video bests
    (wall and CPU), so changing machine load hits both sides alike."""
    import cv2

    from t2vbench.generators.kth.extract import process_video

    old = cv2.getNumThreads()
    cv2.setNumThreads(1)
    tot = {"plain_wall": 0.0, "plain_cpu": 0.0, "extract_wall": 0.0, "extract_cpu": 0.0}
    frames = clips = 0
    try:
        for task in tasks:
            best = {k: float("inf") for k in tot}
            for _ in range(repeats):  # process_time: os.times() ticks are too coarse for one video
                w0, c0 = time.perf_counter(), time.process_time()
                n = _plain(task.path)
                w1, c1 = time.perf_counter(), time.process_time()
                res = process_video(task)
                w2, c2 = time.perf_counter(), time.process_time()
                assert res.n_frames == n, (task.stem, res.n_frames, n)
                for k, v in (("plain_wall", w1 - w0), ("plain_cpu", c1 - c0), ("extract_wall", w2 - w1),
                             ("extract_cpu", c2 - c1)):
                    best[k] = min(best[k], v)
            for k in tot:
                tot[k] += best[k]
            frames += n
            clips += len(res.starts)
    finally:
        cv2.setNumThreads(old)
    return tot, frames, clips


def pooled(tasks, workers: int, repeats: int):
    """Both sides in a `workers`-process spawn pool over videos (start-up included); best of repeats."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from t2vbench.generators.kth.extract import run_tasks

    order = sorted((t.path for t in tasks), key=lambda p: -os.path.getsize(p))
    best = {"plain_wall": float("inf"), "plain_cpu": float("inf"), "extract_wall": float("inf"),
            "extract_cpu": float("inf")}
    frames = clips = 0
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), _cpu()
        with ProcessPoolExecutor(workers, mp.get_context("spawn"), _init) as pool:
            n = sum(pool.map(_plain, order))
        w1, c1 = time.perf_counter(), _cpu()
        results = run_tasks(tasks, workers, progress=False)
        w2, c2 = time.perf_counter(), _cpu()
        assert sum(r.n_frames for r in results) == n
        frames, clips = n, sum(len(r.starts) for r in results)
        for k, v in (("plain_wall", w1 - w0), ("plain_cpu", c1 - c0), ("extract_wall", w2 - w1),
                     ("extract_cpu", c2 - c1)):
            best[k] = min(best[k], v)
    return best, frames, clips


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kth-dir", help="real KTH folder (default: a synthetic one in a temp folder)")
    ap.add_argument("--persons", default="1,2,17,18", help="synthetic persons (default 1,2,17,18: 64 videos)")
    ap.add_argument("--workers", default="1,2", help="worker counts to measure")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)

    import cv2

    from t2vbench.commands.kth import _numbers
    from t2vbench.generators.kth.extract import VideoTask, find_files, find_videos
    from t2vbench.generators.kth.fixture import make_fixture
    from t2vbench.generators.kth.sequences import SEQUENCES_FILE, parse_name, read_sequences

    tmp = None
    if args.kth_dir:
        root = Path(args.kth_dir)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-kth-")
        root = Path(tmp.name)
        t0 = time.perf_counter()
        make_fixture(root, persons=_numbers(args.persons, 1, 25, "persons"), distractors=False)
        print(f"synthetic KTH: {time.perf_counter() - t0:.1f} s to write", file=sys.stderr)
    seq_files = find_files(root, lambda f: f == SEQUENCES_FILE) if root.is_dir() else []
    if not seq_files:
        print(f"bench_kth: no {SEQUENCES_FILE} under {root}; give --kth-dir the KTH folder (the AVIs and "
              f"{SEQUENCES_FILE}), or leave it out to bench on synthetic KTH", file=sys.stderr)
        return 2
    seq = read_sequences(seq_files[0])
    videos = find_videos(root)
    tasks = []
    for stem, path in sorted(videos.items()):
        e = seq.entries.get(stem)
        if parse_name(stem).action in ("walking", "running", "handwaving", "boxing") and e and e.ranges:
            tasks.append(VideoTask(str(path), stem, parse_name(stem).action, e.ranges, 16, 1, 64))
    paths = [t.path for t in tasks]
    loco = sum(t.action in ("walking", "running") for t in tasks)
    print(f"{len(tasks)} videos ({loco} walking/running), {sum(os.path.getsize(p) for p in paths) / 1e6:.1f} MB, "
          f"opencv {cv2.__version__}, {os.cpu_count()} cpus", file=sys.stderr)

    kth4_frames, all_frames = KTH4_FRAMES_ESTIMATE, ALL_FRAMES_ESTIMATE
    if args.kth_dir and len(seq.entries) >= ALL_VIDEOS:  # the real file: its own numbers
        kth4_frames, all_frames = annotated_frames(seq)
    rows = []
    workers = [int(x) for x in args.workers.split(",")]
    for w in workers:
        t, frames, clips = one_process(tasks, args.repeats) if w == 1 else pooled(tasks, w, args.repeats)
        full_frames = frames if (args.kth_dir and len(tasks) >= KTH4_VIDEOS) else kth4_frames
        rows.append({
            "workers": w, "videos": len(tasks), "frames": frames, "clips": clips,
            **{k: round(v, 3) for k, v in t.items()},
            "plain_fps": round(frames / t["plain_wall"]), "extract_fps": round(frames / t["extract_wall"]),
            "ratio_wall": round(t["extract_wall"] / t["plain_wall"], 2),
            "ratio_cpu": round(t["extract_cpu"] / t["plain_cpu"], 2),
            "projected_kth4_400_s": round(full_frames / (frames / t["extract_wall"]), 1),
            "projected_kth4_400_plain_s": round(full_frames / (frames / t["plain_wall"]), 1),
            "projected_all_599_plain_s": round(all_frames / (frames / t["plain_wall"]), 1),
        })
    print(f"{'workers':>7} {'frames':>7} {'plain f/s':>10} {'extract f/s':>12} {'ratio wall':>10} {'ratio cpu':>9} "
          f"{'KTH-4, 400 videos (projected)':>31} {'all 599, plain':>15}")
    for r in rows:
        print(f"{r['workers']:>7} {r['frames']:>7} {r['plain_fps']:>10} {r['extract_fps']:>12} "
              f"{r['ratio_wall']:>9.2f}x {r['ratio_cpu']:>8.2f}x {r['projected_kth4_400_s']:>9.1f} s "
              f"(plain {r['projected_kth4_400_plain_s']:>6.1f} s) {r['projected_all_599_plain_s']:>13.1f} s")
    print(f"(make-dataset on the full 599-video KTH = the KTH-4 time: jogging and handclapping are never opened; "
          f"frames assumed: {kth4_frames} KTH-4, {all_frames} all)")
    w = max(workers)
    e2e, n_clips = end_to_end(root, w)
    frames = rows[-1]["frames"]
    e2e_row = {"workers": w, "videos": len(tasks), "frames": frames, "clips": n_clips, "wall_s": round(e2e, 3),
               "fps": round(frames / e2e), "projected_kth4_400_s": round(kth4_frames / (frames / e2e), 1)}
    print(f"end to end: make-dataset kth4 with {w} workers (hash inputs, extract, write HDF5 + manifest): "
          f"{e2e:.2f} s for {frames} frames, {n_clips} clips ({e2e_row['fps']} f/s); projected for the 400 KTH-4 "
          f"videos (= the full 599-video folder): {e2e_row['projected_kth4_400_s']:.1f} s")
    worst = max(r["ratio_wall"] for r in rows)
    print(f"target: extractor <= 3x plain decoding: {'met' if worst <= 3 else 'NOT met'} (worst wall ratio "
          f"{worst:.2f}x; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus)")
    if args.json:
        Path(args.json).write_text(json.dumps({"source": str(args.kth_dir or "synthetic"), "rows": rows,
                                               "end_to_end": e2e_row}, indent=2))
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
