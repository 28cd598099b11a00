"""`t2vbench run`: train a baseline under a protocol, write samples and checkpoints, evaluate, and put a
row on the leaderboard.

Reproducibility: every random draw of a training step (batch order, noise, mismatched captions) is a
function of (seed, step, rank) — the batch order of an epoch is a permutation seeded by (seed, epoch)
— so a run resumed from a checkpoint (weights, optimiser moments, step, log accumulator) continues
exactly as the uninterrupted run would have. The torch RNG state is saved as well, for model code
that draws from the global generator.

Run folder `OUT/<model>-<dataset>-<protocol>-seed<S>/`:
  config.json      resolved config, its sha256, seed, dataset identity, world size, code version
                   (package version; git commit and dirty flag when run from a checkout)
  log.jsonl        one line per log interval (stage 1 = text pre-training, stage 2 = GAN)
  samples/         step-XXXXXXX.gif grids (rows: fixed test captions; columns: fixed seeds), captions.txt
  text_encoder.pt  stage-1 result (models with a pre-trained text encoder)
  checkpoints/last.pt  training state for --resume;  model.pt  final weights for `t2vbench sample`
  results.json     evaluation (t2vbench.eval.evaluate); OUT/leaderboard.csv is rebuilt from all runs
"""
from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from t2vbench.data.format import write_json_atomic
from t2vbench.data.handle import DatasetHandle, open_dataset
from t2vbench.data.vocab import Vocabulary
from t2vbench.errors import UserError
from t2vbench.eval.results import code_version
from t2vbench.train import checkpoint as ckpt
from t2vbench.train import config as C
from t2vbench.train.distributed import Dist, average_gradients, barrier, broadcast_state, cleanup, setup
from t2vbench.train.samples import write_grid

CKPT_FORMAT = 1


def mix_seed(*parts) -> int:
    """A 63-bit seed from any parts, stable across processes and Python runs (no hash randomisation)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little") >> 1


def log(msg: str) -> None:
    print(f"t2vbench: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data

class TrainData:
    """The train split held in memory as uint8, plus caption meaning keys for mismatch sampling."""

    def __init__(self, dataset: DatasetHandle):
        from t2vbench.baselines.gan import MismatchSampler, meaning_keys

        self.root = dataset.root
        self.manifest = dataset.manifest
        label_names = sorted(self.manifest.get("labels", {}))
        cols = dataset.read("train", columns=["video", "tokens", "caption"] + [f"label/{n}" for n in label_names])
        video = cols["video"]
        if video.ndim != 5 or video.shape[1:4] != (16, 64, 64) or video.shape[4] not in (1, 3):
            raise UserError(f"dataset {self.root} has videos of shape {tuple(video.shape[1:])} (T, H, W, C); the "
                            "baselines generate 16 frames of 64x64 with 1 or 3 channels: make the dataset with "
                            "the default frames and size")
        self.video = torch.from_numpy(np.ascontiguousarray(video))
        self.tokens = torch.from_numpy(cols["tokens"].astype(np.int64))
        self.captions = cols["caption"]
        labels = {n: cols[f"label/{n}"] for n in label_names}
        self.keys = meaning_keys(labels or None, self.captions)
        self.mismatch = MismatchSampler(self.keys, labels or None)
        self.channels = int(video.shape[4])
        self.vocabulary = list(self.manifest["vocabulary"])
        self.vocab_size = len(dataset.vocabulary)  # the dataset's words plus the 4 special ids
        self._perm = (None, None)

    def __len__(self) -> int:
        return len(self.video)

    def identity(self) -> dict:
        m = self.manifest
        return {"root": str(self.root), "name": m["dataset"], "config_sha256": m.get("config_sha256"),
                "train_count": len(self), "channels": self.channels, "vocabulary": self.vocabulary,
                "token_length": int(self.tokens.shape[1])}

    def indices(self, seed: int, step: int, batch: int, d: Dist) -> torch.Tensor:
        """Rank's share of global batch `step`: epochs are permutations seeded by (seed, epoch)."""
        gb = batch * d.world
        per_epoch = len(self) // gb
        if per_epoch < 1:
            raise UserError(f"the train split has {len(self)} videos, fewer than one global batch ({gb}); "
                            "lower --set train.batch or make a larger dataset")
        epoch, k = divmod(step, per_epoch)
        if self._perm[0] != (seed, epoch):
            g = torch.Generator().manual_seed(mix_seed(seed, "epoch", epoch))
            self._perm = ((seed, epoch), torch.randperm(len(self), generator=g))
        start = k * gb + d.rank * batch
        return self._perm[1][start:start + batch]

    def batch(self, idx, device):
        """uint8 (B, T, H, W, C) -> float (B, T, C, H, W) in [-1, 1]."""
        v = self.video[idx].to(device).permute(0, 1, 4, 2, 3).float()
        return v.mul_(2 / 255).sub_(1), self.tokens[idx].to(device)


def sample_captions(dataset: DatasetHandle, k: int):
    """The fixed caption set for sample grids: the first k test captions of distinct meaning."""
    from t2vbench.baselines.gan import meaning_keys

    split = "test" if dataset.has_split("test") else "train"
    names = sorted(dataset.labels)
    cols = dataset.read(split, columns=["tokens", "caption"] + [f"label/{n}" for n in names], limit=4096)
    keys = meaning_keys({n: cols[f"label/{n}"] for n in names} or None, cols["caption"])
    seen, pick = set(), []
    for i, key in enumerate(keys.tolist()):
        if key not in seen:
            seen.add(key)
            pick.append(i)
        if len(pick) == k:
            break
    return torch.from_numpy(cols["tokens"][pick].astype(np.int64)), [cols["caption"][i] for i in pick]


# ---------------------------------------------------------------- model

def build_model(cfg: dict, vocab_size: int, channels: int):
    module, attr = cfg["impl"].split(":")
    cls = getattr(importlib.import_module(module), attr)
    try:
        return cls(cfg, vocab_size, channels)
    except (KeyError, ValueError, TypeError) as e:
        raise UserError(f"the config of model '{cfg['name']}' is invalid: {type(e).__name__}: {e}") from None


@torch.no_grad()
def recalibrate_bn(model, data: TrainData, batch: int, n_batches: int, seed: int, device) -> None:
    """Re-estimate the generator's BatchNorm statistics as exact averages over n fresh batches.

    Samples and evaluation run G in eval mode so that a sample does not depend on its batch; the
    running averages kept during training lag the generator, so they are recomputed at the end.
    """
    from torch.nn.modules.batchnorm import _BatchNorm

    bns = [m for m in model.generator.modules() if isinstance(m, _BatchNorm)]
    if not bns or n_batches <= 0:
        return
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.generator.train()
    g = torch.Generator().manual_seed(mix_seed(seed, "bn"))
    for _ in range(n_batches):
        idx = torch.randint(len(data), (batch,), generator=g)
        model.generator(model.encode(data.tokens[idx].to(device)), model.noise(batch, g, device))
    for m, mom in zip(bns, momenta):
        m.momentum = mom


def write_samples(model, tokens, captions, path, per_caption: int, fps: int) -> None:
    k = len(captions)
    toks = tokens.repeat_interleave(per_caption, 0)
    seeds = torch.tensor([1000 + j for _ in range(k) for j in range(per_caption)])
    videos = model.generate(toks, seeds)
    write_grid(path, videos.numpy(), [c for c in captions for _ in range(per_caption)], per_caption, fps)


# ---------------------------------------------------------------- the run

def run_name(model: str, dataset: str, protocol: str, seed: int) -> str:
    return f"{model}-{dataset}-{protocol}-seed{seed}"


class JsonlLog:
    """Append-only JSONL log (rank 0). On resume, lines past the checkpoint are dropped first."""

    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled

    def truncate(self, keep) -> None:
        if not self.enabled or not self.path.exists():
            return
        lines = [ln for ln in self.path.read_text().splitlines() if ln.strip()]
        kept = []
        for ln in lines:
            try:
                if keep(json.loads(ln)):
                    kept.append(ln)
            except ValueError:  # a line cut by a kill
                pass
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text("".join(k + "\n" for k in kept))
        tmp.replace(self.path)

    def write(self, row: dict) -> None:
        if self.enabled:
            with open(self.path, "a") as f:
                f.write(json.dumps(row, sort_keys=True) + "\n")


def _pretrain_text(model, data, cfg, seed, d, run_dir, jlog, progress):
    """IRC-GAN stage 1; its result is saved once (text_encoder.pt) and reused on resume."""
    path = run_dir / "text_encoder.pt"
    if path.exists():
        state = ckpt.load(path, map_location=d.device)
        model.text.load_state_dict(state["state"])
        log(f"stage 1: loaded the pre-trained text encoder from {path}")
        return
    tp = cfg["text"]["pretrain"]
    pre = model.pretrainer().to(d.device)
    if tp.get("iters"):
        iters = int(tp["iters"])
    else:
        iters = max(1, math.ceil(float(tp["epochs"]) * len(data) / (tp["batch"] * d.world)))
    opt = torch.optim.Adam(pre.parameters(), lr=float(tp["lr"]))
    every = int(cfg["train"]["log_every"])
    from tqdm import tqdm

    acc: dict = {}
    pre.train()
    for step in tqdm(range(iters), desc="stage 1 text", disable=not (progress and d.main), file=sys.stderr,
                     smoothing=0.1):
        video, tokens = data.batch(data.indices(mix_seed(seed, "stage1"), step, int(tp["batch"]), d), d.device)
        loss, logs = pre.loss(video, tokens)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if d.active:
            average_gradients(list(pre.parameters()), d.world)
        opt.step()
        for k, v in logs.items():
            acc[k] = acc.get(k, 0.0) + v
        if (step + 1) % every == 0 or step + 1 == iters:
            n = every if (step + 1) % every == 0 else (step + 1) % every
            jlog.write({"stage": 1, "step": step + 1, **{k: v / n for k, v in acc.items()}})
            acc = {}
    from t2vbench.baselines.text import code_separation

    n = min(len(data), 4096)
    if cfg["text"].get("whiten"):
        model.text.fit_whitening(data.tokens[:n].to(d.device), data.keys[:n])
    sep = code_separation(model.text, data.tokens[:n].to(d.device), data.keys[:n])
    jlog.write({"stage": 1, "step": iters, **sep})
    if d.main:
        log(f"stage 1: caption codes of different meanings are {sep['code_min_dist']:.3f} apart at the least "
            f"(mean {sep['code_mean_dist']:.3f}, in code RMS units)")
        if not sep["code_min_dist"] > 0.05:
            log("warning: stage 1 left two caption meanings with nearly the same code; the generator cannot "
                "tell them apart (lower text.q_weight or raise text.pretrain.iters)")
        ckpt.save(path, {"format": CKPT_FORMAT, "kind": "text_encoder", "iters": iters,
                         "state": model.text.state_dict()})


def _dry_run(model, data, d) -> None:
    """Generate two clips and score them, in eval mode, leaving every random state as it was: a config
    that builds but cannot run (a zero width, a mismatched shape) fails now, not after stage 1."""
    rng = torch.get_rng_state()
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            tokens = data.tokens[:2].to(d.device)
            video = model.generate(tokens, torch.arange(2))
            model.video_text_logit(video.to(d.device), tokens)
    except (RuntimeError, ValueError, IndexError) as e:
        raise UserError(f"the model cannot run with this config ({str(e).splitlines()[0][:200]}); "
                        "check the --set values") from None
    finally:
        torch.set_rng_state(rng)
        model.train(was_training)


def _check_evaluation(cfg: dict, dataset, judge):
    """The evaluation's judge and dataset, checked before training rather than after it -> the judge."""
    from t2vbench.eval.api import dataset_and_judge

    try:
        return dataset_and_judge(dataset, judge)[1]
    except UserError as e:
        raise UserError(f"{e} (or train without the evaluation: --no-eval)") from None


def _prepare_run_dir(run_dir: Path, identity: dict, resume: bool) -> bool:
    """Check an existing folder against this run; return True when there is state to resume."""
    cfg_path = run_dir / "config.json"
    if not cfg_path.exists():
        if run_dir.exists() and any(run_dir.iterdir()) and not resume:
            raise UserError(f"{run_dir} exists and is not a t2vbench run; choose another --out")
        return False
    if not resume:
        raise UserError(f"{run_dir} already holds a run; add --resume to continue it, or choose another --out or --seed")
    try:
        saved = json.loads(cfg_path.read_text())
    except ValueError as e:
        raise UserError(f"cannot read {cfg_path}: {e}; delete the run folder to start again") from None
    for key in ("config_sha256", "seed", "world_size"):
        if saved.get(key) != identity[key]:
            raise UserError(f"--resume: {run_dir} was started with another {key} ({saved.get(key)} vs "
                            f"{identity[key]}); use the same command line, or another --out")
    if saved.get("dataset", {}).get("config_sha256") != identity["dataset"]["config_sha256"]:
        raise UserError(f"--resume: {run_dir} was trained on another dataset; pass the same --dataset")
    return True


def run(model_name: str, dataset, *, protocol: str = "quick", seed: int = 0, out="runs", resume: bool = False,
        overrides=(), device: str | None = None, progress: bool = True, evaluate: bool = True,
        judge=None, stop_after: int | None = None) -> Path:
    """Train `model_name` on `dataset` under `protocol`; return the run folder.

    `stop_after` (tests): stop after that many GAN steps as if killed (no save beyond the periodic
    checkpoints), so that `resume=True` can be checked against an uninterrupted run.
    """
    t_start = time.time()
    cfg = C.resolve(model_name, protocol, overrides)
    chash = C.config_hash(cfg)
    d = setup(device)
    try:
        return _run(cfg, chash, model_name, dataset, protocol, seed, Path(out), resume, d, progress, evaluate,
                    judge, stop_after, t_start)
    finally:
        cleanup(d)


def _run(cfg, chash, model_name, dataset, protocol, seed, out, resume, d, progress, evaluate, judge, stop_after,
         t_start):
    dataset = open_dataset(dataset)
    data = TrainData(dataset)
    ident = data.identity()
    run_dir = out / run_name(model_name, ident["name"], protocol, seed)
    identity = {"config": cfg, "config_sha256": chash, "seed": seed, "dataset": ident, "world_size": d.world,
                "global_batch": int(cfg["train"]["batch"]) * d.world, "code_version": code_version(),
                "torch": torch.__version__, "device": d.device.split(":")[0]}
    has_state = _prepare_run_dir(run_dir, identity, resume)  # read-only on every rank: all fail alike
    tcfg = cfg["train"]
    iters, batch = int(tcfg["iters"]), int(tcfg["batch"])
    # Everything a config or an argument can get wrong fails here, before the run folder is written:
    # a folder with a config.json would refuse the corrected command line.
    torch.manual_seed(mix_seed(seed, "init"))
    model = build_model(cfg, data.vocab_size, data.channels).to(d.device)
    data.indices(seed, 0, batch, d)
    _dry_run(model, data, d)
    if evaluate:
        judge = _check_evaluation(cfg, dataset, judge)
    barrier(d)
    if d.main:
        try:
            (run_dir / "samples").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create {run_dir} ({e.strerror or e}); choose another --out") from None
        if not has_state:
            write_json_atomic(run_dir / "config.json", identity)
    barrier(d)

    if d.active:
        broadcast_state(model)
    jlog = JsonlLog(run_dir / "log.jsonl", d.main)
    near = float(tcfg.get("near_mismatch", 0.0))
    last = run_dir / "checkpoints" / "last.pt"
    state = ckpt.load(last, map_location=d.device) if resume and last.exists() else None
    if state is not None and state.get("config_sha256") != chash:
        raise UserError(f"{last} belongs to another config; delete it or use another --out")
    start = int(state["step"]) if state else 0

    text_done = (run_dir / "text_encoder.pt").exists()
    if d.main:
        jlog.truncate(lambda r: (r.get("stage") == 1 and text_done) or (r.get("stage") == 2 and r["step"] <= start))
    if model.text_mode == "pretrained":
        _pretrain_text(model, data, cfg, seed, d, run_dir, jlog, progress)
        barrier(d)
        model.freeze_text()

    betas = tuple(tcfg["betas"])
    opt_g = torch.optim.Adam(model.g_parameters(), lr=float(tcfg["lr_g"]), betas=betas)
    opt_d = torch.optim.Adam(model.d_parameters(), lr=float(tcfg["lr_d"]), betas=betas)
    amp = bool(tcfg.get("amp")) and d.device.startswith("cuda")
    scalers = (torch.amp.GradScaler("cuda"), torch.amp.GradScaler("cuda")) if amp else (None, None)
    acc, elapsed = {}, 0.0
    if state is None:  # a fresh stage 2 starts from its own seed, whether or not stage 1 ran in this process
        torch.manual_seed(mix_seed(seed, "stage2"))
    else:
        model.load_state_dict(state["model"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        if amp and state.get("scalers"):
            for s, st in zip(scalers, state["scalers"]):
                s.load_state_dict(st)
        torch.set_rng_state(state["rng"].cpu())
        acc, elapsed = dict(state["log_acc"]), float(state["elapsed"])
        log(f"resuming {run_dir.name} at step {start}/{iters}")

    tokens_fixed, captions_fixed = sample_captions(dataset, int(cfg["samples"]["captions"]))
    if d.main:
        (run_dir / "samples" / "captions.txt").write_text("".join(c + "\n" for c in captions_fixed))
    reduce = (lambda ps: average_gradients(ps, d.world)) if d.active else None

    def save_state(step):
        if not d.main:
            return
        ckpt.save(last, {"format": CKPT_FORMAT, "kind": "train", "config_sha256": chash, "step": step,
                         "model": model.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                         "scalers": [s.state_dict() for s in scalers] if amp else None,
                         "rng": torch.get_rng_state(), "log_acc": acc, "elapsed": elapsed + time.time() - t0})

    from tqdm import tqdm

    every = int(tcfg["log_every"])
    model.train()
    t0 = time.time()
    t_log = time.time()
    bar = tqdm(total=iters, initial=start, desc=f"{model_name} {protocol}", disable=not (progress and d.main),
               file=sys.stderr, smoothing=0.05)
    for step in range(start, iters):
        if stop_after is not None and step >= stop_after:
            bar.close()
            return run_dir  # simulated kill: nothing saved beyond the periodic checkpoints
        idx = data.indices(seed, step, batch, d)
        real, tokens = data.batch(idx, d.device)
        g = torch.Generator().manual_seed(mix_seed(seed, "step", step, d.rank))
        mis_tokens = data.tokens[data.mismatch.sample(idx, g, near)].to(d.device)
        z = model.noise(len(idx), g, d.device)
        from t2vbench.baselines.gan import gan_step

        logs = gan_step(model, real, tokens, mis_tokens, z, opt_d, opt_g, amp=amp, scalers=scalers,
                        reduce_grads=reduce)
        for k, v in logs.items():
            acc[k] = acc.get(k, 0.0) + v
        bar.update(1)
        done = step + 1
        if done % every == 0 or done == iters:
            n = every if done % every == 0 else done % every
            row = {k: v / n for k, v in acc.items()}
            now = time.time()
            jlog.write({"stage": 2, "step": done, "it_per_s": round(n / max(now - t_log, 1e-9), 3), **row})
            bar.set_postfix(d=f"{row['d_loss']:.2f}", g=f"{row['g_loss']:.2f}")
            acc, t_log = {}, now
        if d.main and (done % int(tcfg["sample_every"]) == 0):
            write_samples(model, tokens_fixed.to(d.device), captions_fixed, run_dir / "samples" / f"step-{done:07d}.gif",
                          int(cfg["samples"]["per_caption"]), int(cfg["samples"]["fps"]))
        if done % int(tcfg["ckpt_every"]) == 0 or done == iters:
            save_state(done)
    bar.close()
    train_time = elapsed + time.time() - t0
    check = os.environ.get("T2VBENCH_DDP_CHECK")  # test hook: every rank dumps its parameters
    if check:
        ckpt.save(check.format(rank=d.rank), {"format": CKPT_FORMAT, "params": {
            n: p.detach().cpu() for n, p in model.named_parameters()}})
    barrier(d)
    if not d.main:
        return run_dir

    recalibrate_bn(model, data, batch, int(tcfg.get("bn_recalibrate_batches", 0)), seed, d.device)
    model.eval()
    ckpt.save(run_dir / "model.pt", {"format": CKPT_FORMAT, "kind": "model", "config_sha256": chash,
                                     "run_json": json.dumps(identity), "model": model.state_dict()})
    write_samples(model, tokens_fixed.to(d.device), captions_fixed, run_dir / "samples" / "final.gif",
                  int(cfg["samples"]["per_caption"]), int(cfg["samples"]["fps"]))
    if evaluate:
        info = {"protocol": protocol, "smoke": protocol == "smoke", "train_seed": seed, "config_sha256": chash,
                "iterations": iters, "global_batch": batch * d.world, "world_size": d.world,
                "train_wall_time_s": round(train_time, 1), "run": run_dir.name, "device": d.device.split(":")[0]}
        evaluate_run(model, cfg, run_dir, dataset, info, judge)
        build_leaderboard(out_dir=run_dir.parent)
    log(f"done: {run_dir} (train {train_time:.0f} s, total {time.time() - t_start:.0f} s)")
    return run_dir


def evaluate_run(model, cfg, run_dir: Path, dataset, info: dict, judge=None):
    """Evaluate with the frozen protocol (t2vbench.eval.evaluate) into run_dir/results.json."""
    try:
        from t2vbench.eval import evaluate
    except ImportError as e:
        log(f"warning: evaluation is not available in this install ({e}); the run has no results.json")
        return None

    def generate(tokens, captions, seeds):
        return model.generate(tokens, seeds)

    try:
        return _evaluate(evaluate, generate, model, cfg, run_dir, dataset, info, judge)
    except UserError as e:  # the trained run is saved: say so, and how to evaluate it later
        raise UserError(f"training finished ({run_dir}) but evaluation failed: {e}. Fix that, then re-run the "
                        "same command with --resume to evaluate") from None


def _evaluate(evaluate, generate, model, cfg, run_dir, dataset, info, judge):
    return evaluate(generate, dataset, model=leaderboard_name(cfg["name"], info["protocol"]),
                    discriminator=model.video_text_logit, discriminator_output="logit",
                    n_samples=cfg["eval"]["n_samples"], batch_size=int(cfg["eval"]["batch_size"]),
                    train_seed=info["train_seed"], info=info, out=run_dir / "results.json", judge=judge)


def leaderboard_name(model: str, protocol: str) -> str:
    """The model's name on the leaderboard: the training protocol is part of it except for `paper`, so
    smoke and quick rows are marked as such and never replace a full-budget row."""
    return model if protocol == "paper" else f"{model}@{protocol}"


def build_leaderboard(out_dir: Path):
    files = sorted(Path(out_dir).glob("*/results.json"))
    if not files:
        return None
    try:
        from t2vbench.eval.leaderboard import build, render_markdown
    except ImportError as e:
        log(f"warning: the leaderboard is not available in this install ({e})")
        return None
    rows = build(files, csv_path=Path(out_dir) / "leaderboard.csv")
    try:
        md = render_markdown(rows)
        tmp = Path(out_dir) / ".leaderboard.md.tmp"
        tmp.write_text(md)
        tmp.replace(Path(out_dir) / "leaderboard.md")
    except Exception as e:  # noqa: BLE001 - the CSV is the record; Markdown is a convenience
        log(f"warning: could not render leaderboard.md ({e})")
    return rows


# ---------------------------------------------------------------- inference from a run folder

def load_run(run_dir, device: str = "cpu"):
    """(model, run identity) from a finished run (model.pt) or, failing that, its last checkpoint."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.json"
    if not cfg_path.exists():
        raise UserError(f"{run_dir} is not a t2vbench run folder (no config.json); pass the folder `t2vbench run` made")
    try:
        identity = json.loads(cfg_path.read_text())
    except ValueError as e:
        raise UserError(f"cannot read {cfg_path} ({e}); it is damaged: re-run the training") from None
    final, last = run_dir / "model.pt", run_dir / "checkpoints" / "last.pt"
    if final.exists():
        state = ckpt.load(final, device)
    elif last.exists():
        state = ckpt.load(last, device)
        log(f"{run_dir} has not finished; sampling from its last checkpoint (step {state['step']})")
    else:
        raise UserError(f"{run_dir} has no model.pt or checkpoint yet; train it first")
    ds = identity["dataset"]
    model = build_model(identity["config"], len(Vocabulary(ds["vocabulary"])), ds["channels"]).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    return model, identity
