"""Benchmark: the evaluation protocol end to end on CPU (target: 2,048 videos in under 60 s on 2 cores).

    python bench/bench_eval.py [--threads 2] [--n 2048] [--families smnist4 dmnist4]

Per family: make a dataset (2,048 train + 2,048 test videos), then time `evaluate()` of a generator
that returns the real test videos (all metrics except GAM, which needs a model's discriminator; the
Fréchet reference of 2,048 train videos is computed inside the timed run, not cached), and the judge
alone in videos/s. The reference measured in the same run is the I/O floor: reading and decoding the
same 4,096 videos from the shards; the ratio says how much the judge and the metrics add to it.
Two same-run A/B timings of the judge follow (alternated, best of two): with and without the two
layers (format 5), and in chunks (`reader.by_chunks`, `clear_digits`: the same bits) against one batch
of 128 videos at a time.
"""
from __future__ import annotations

import argparse
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=2048, help="samples evaluated (the protocol's 2,048)")
    ap.add_argument("--families", nargs="+", default=["smnist4", "dmnist4"])
    ap.add_argument("--digits", default=None, help="MNIST folder (default: ../shared/data/mnist if present)")
    args = ap.parse_args()

    import pathlib

    import torch

    from t2vbench.data.build import make_dataset
    from t2vbench.data.dataset import read_split
    from t2vbench.data.format import read_manifest
    from t2vbench.eval import api
    from t2vbench.eval.protocol import SEED_STRIDE
    from t2vbench.judge import reader as rd
    from t2vbench.judge.model import judge_for

    torch.set_num_threads(args.threads)
    digits = args.digits
    if digits is None:
        shared = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
        digits = str(shared) if shared.exists() else None
    print(f"threads {args.threads}, {args.n} samples, torch {torch.__version__}")
    print(f"{'family':8s} {'io_floor_s':>10s} {'eval_s':>8s} {'eval/io':>8s} {'judge_vid_s':>11s} {'target':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        for fam in args.families:
            opts = {"n": 2048, "n_test": args.n}
            if digits:
                opts["digits"] = digits
            root = make_dataset(fam, tmp, **opts)
            t0 = time.perf_counter()
            read_split(root, "test", columns=["video"])
            read_split(root, "train", columns=["video"], limit=2048)
            io_s = time.perf_counter() - t0

            video = read_split(root, "test", columns=["video"])["video"]

            def generate(tokens, captions, seeds):
                return video[seeds.numpy() % SEED_STRIDE]

            api._REFERENCE_CACHE.clear()
            t0 = time.perf_counter()
            res = api.evaluate(generate, root, model="copy", n_samples=args.n, progress=False)
            eval_s = time.perf_counter() - t0

            judge = judge_for(read_manifest(root))
            t0 = time.perf_counter()
            api.judge_outputs(judge, video)
            judge_vps = len(video) / (time.perf_counter() - t0)
            ok = "ok" if eval_s < 60 else "SLOW"
            print(f"{fam:8s} {io_s:10.2f} {eval_s:8.2f} {eval_s / io_s:8.1f} {judge_vps:11.0f} {ok:>8s}"
                  f"   caption_acc {res['metrics']['caption_acc']:.4f}")
            arch = judge.model.arch
            if arch.get("reader_layer_gate"):  # format 5: what following digits as two layers costs
                gate, took = arch["reader_layer_gate"], {}
                for g in (0.0, gate, 0.0, gate):  # alternated, best of two: the machine's noise is ~10%
                    arch["reader_layer_gate"] = g
                    t0 = time.perf_counter()
                    api.judge_outputs(judge, video)
                    took[g] = min(took.get(g, float("inf")), time.perf_counter() - t0)
                print(f"{'':8s} judge {took[gate]:.1f} s, {took[0.0]:.1f} s without the two layers "
                      f"(x{took[gate] / took[0.0]:.2f}; {took[gate] - took[0.0]:+.1f} s)")
            # inference in chunks (reader.by_chunks, clear_digits): same bits, activations in cache
            took, chunks = {}, (rd.FRAME_CHUNK, rd.VIDEO_CHUNK)
            for whole in (True, False, True, False):
                rd.FRAME_CHUNK, rd.VIDEO_CHUNK = (10 ** 9, 10 ** 9) if whole else chunks
                t0 = time.perf_counter()
                api.judge_outputs(judge, video)
                took[whole] = min(took.get(whole, float("inf")), time.perf_counter() - t0)
            rd.FRAME_CHUNK, rd.VIDEO_CHUNK = chunks
            print(f"{'':8s} judge {took[False]:.1f} s in chunks, {took[True]:.1f} s a batch at a time "
                  f"(x{took[True] / took[False]:.2f} faster)")


if __name__ == "__main__":
    main()
