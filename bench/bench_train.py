"""Training speed of every baseline: GAN iterations/s at batch 16 and peak memory, on CPU (and CUDA when
present), plus the per-channel LSTM memory's batched form against the per-channel loop it replaces
(ratio measured in the same run).

    python bench/bench_train.py                       # quick-budget widths, CPU, all models
    python bench/bench_train.py --budget paper --device cuda --iters 20

Each model runs in a fresh subprocess so that peak memory (ru_maxrss on CPU, max_memory_allocated on
CUDA) is its own. Inputs are random tensors of the data's shape (16 × 1 × 64 × 64): speed does not
depend on the pixels.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from t2vbench.train.config import BUDGETS


def one(model: str, budget: str, batch: int, iters: int, device: str, threads: int) -> dict:
    """One model's training steps through the runner's model interface (`train_step`), as `t2vbench run`
    calls them."""
    import resource

    import torch

    from t2vbench.train.config import resolve
    from t2vbench.train.model import TrainBatch
    from t2vbench.train.runner import build_model

    if threads:
        torch.set_num_threads(threads)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    torch.manual_seed(0)
    cfg = resolve(model, budget)
    m = build_model(cfg, 22, 1).to(device)
    stage = m.pretraining()
    if stage is not None:  # stage 2 trains with the pre-trained part frozen
        stage.freeze()
    amp = device == "cuda" and cfg["train"].get("amp", False)
    opts = m.optimizers()
    scalers = {name: torch.amp.GradScaler("cuda") for name in opts} if amp else None
    g = torch.Generator().manual_seed(0)
    real = (torch.rand(batch, 16, 1, 64, 64, generator=g) * 2 - 1).to(device)
    tokens = torch.randint(4, 22, (batch, 8), generator=g).to(device)
    step_batch = TrainBatch(real, tokens, tokens.roll(1, 0), g)

    def step():
        m.train_step(step_batch, opts, scalers=scalers)

    for _ in range(2):  # warm-up: oneDNN / cuDNN kernel selection
        step()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for _ in range(iters):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024  # KiB -> MiB, growth
    n_params = sum(p.numel() for p in m.parameters())
    return {"model": model, "budget": budget, "device": device, "batch": batch, "it_per_s": iters / dt,
            "s_per_it": dt / iters, "peak_mem_mib": round(peak, 1), "params_m": round(n_params / 1e6, 2)}


def memory_unit_ratio(batch: int, channels: int, side: int, d_text: int, frames: int = 16, reps: int = 3) -> dict:
    """Forward+backward of IRC-GAN's memory unit: one batched nn.LSTM over B×C vs a loop over channels
    and frames with one shared LSTMCell (the reference form of the paper's description)."""
    import torch

    from t2vbench.baselines.layers import ChannelMemory

    torch.manual_seed(0)
    mem = ChannelMemory(side * side, d_text)
    cell = torch.nn.LSTMCell(side * side + d_text, side * side)
    feat = torch.randn(batch * frames, channels, side, side, requires_grad=True)
    text = torch.randn(batch, d_text)

    def batched():
        mem(feat, text, frames).sum().backward()

    def loop():
        f = feat.reshape(batch, frames, channels, side * side)
        outs = []
        for c in range(channels):
            h = cx = torch.zeros(batch, side * side)
            for t in range(frames):
                h, cx = cell(torch.cat([f[:, t, c], text], 1), (h, cx))
                outs.append(h)
        torch.stack(outs).sum().backward()

    res = {}
    for name, fn in (("batched", batched), ("loop", loop)):
        fn()
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        res[name] = (time.perf_counter() - t) / reps
    return {"shape": f"B{batch} C{channels} {side}x{side} T{frames}", "batched_s": res["batched"],
            "loop_s": res["loop"], "speedup": res["loop"] / res["batched"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", default="quick", choices=list(BUDGETS),
                    help="training budget whose widths are timed (quick: the CPU budget)")
    ap.add_argument("--models", nargs="*", default=None)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.budget, args.batch, args.iters, args.device, args.threads)))
        return
    from t2vbench.registry import MODELS

    models = args.models or sorted(MODELS)
    rows = []
    for m in models:
        cmd = [sys.executable, __file__, "--one", m, "--budget", args.budget, "--batch", str(args.batch),
               "--iters", str(args.iters), "--device", args.device, "--threads", str(args.threads)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{m}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    ref = next((r for r in rows if r["model"] == "ircgan"), rows[0] if rows else None)
    print(f"training speed, budget={args.budget} widths, batch {args.batch}, device {args.device}")
    print(f"{'model':<12} {'it/s':>8} {'s/it':>8} {'vs ircgan':>10} {'peak MiB':>10} {'params M':>9}")
    for r in rows:
        print(f"{r['model']:<12} {r['it_per_s']:>8.3f} {r['s_per_it']:>8.3f} {r['it_per_s'] / ref['it_per_s']:>9.2f}x "
              f"{r['peak_mem_mib']:>10.1f} {r['params_m']:>9.2f}")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    r = memory_unit_ratio(args.batch, 16, 16, 32)
    print(f"IRC-GAN memory unit ({r['shape']}), fwd+bwd: batched LSTM {r['batched_s'] * 1e3:.1f} ms, "
          f"per-channel LSTMCell loop (reference) {r['loop_s'] * 1e3:.1f} ms -> {r['speedup']:.1f}x faster")


if __name__ == "__main__":
    main()
