"""`t2vbench run`: train a model for a budget, write samples and checkpoints, evaluate, and put a row on
the leaderboard.

A run is data, `RunSpec`, and one function per phase, each taking the prepared `Run`:
  prepare(spec)      config, run folder, model (checked against `TextToVideoModel`), dry run, judge check
  train(run)         stage 1 when the model has one, then the training loop (`until_step` stops early)
  save_model(run)    final weights (model.pt) and samples
  evaluate_run(run)  results.json under the frozen evaluation protocol
  build_leaderboard  OUT/leaderboard.csv and .md from every run's results.json
`run(...)` (the CLI's) and `execute(spec)` do them all; tests and launchers call them one by one.

Reproducibility: every random draw of a training step (batch order, noise, mismatched captions) is a
function of (seed, step, rank) — the batch order of an epoch is a permutation seeded by (seed, epoch)
— so a run resumed from a checkpoint (weights, optimiser moments, step, log accumulator) continues
exactly as the uninterrupted run would have. The torch RNG state is saved as well, for model code
that draws from the global generator; the checks before training (dry run, judge) leave it as it was,
so a run trains the same model with or without the evaluation.

Run folder `OUT/<model>-<dataset>-<budget>-seed<S>/`:
  config.json      resolved config, its sha256, seed, dataset identity, world size, code version
                   (package version; git commit and dirty flag when run from a checkout)
  log.jsonl        one line per log interval (stage 1 = pre-training, stage 2 = the training loop)
  samples/         step-XXXXXXX.gif grids (rows: fixed test captions, train captions for a dataset
                   without test videos; columns: fixed seeds), captions.txt
  text_encoder.pt  stage-1 result (models with a pre-trained text encoder)
  checkpoints/last.pt  training state for --resume;  model.pt  final weights for `t2vbench sample`
  *.pt.sha256      each .pt file's sha256, checked whenever it is loaded (t2vbench.train.checkpoint)
  results.json     evaluation (t2vbench.eval.evaluate); OUT/leaderboard.csv is rebuilt from all runs

A failed run is never a result: a non-finite loss (either stage; under mixed precision, one whose
weights are not finite either) or non-finite weights stop it with one line before anything is saved
from that state, so last.pt stays the last good checkpoint and no model.pt, results.json or leaderboard
row is written; a failed write (a full disk) is one line naming the file, and the file there before is
intact.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import importlib
import json
import math
import operator
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from t2vbench.baselines.gan import MismatchSampler, meaning_keys
from t2vbench.data.format import atomic_file, write_json_atomic
from t2vbench.data.handle import DatasetHandle, open_dataset
from t2vbench.data.vocab import Vocabulary
from t2vbench.errors import UserError
from t2vbench.eval.api import dataset_and_judge, evaluate
from t2vbench.eval.leaderboard import build, render_markdown
from t2vbench.eval.results import code_version
from t2vbench.judge.model import LoadedJudge
from t2vbench.train import checkpoint as ckpt
from t2vbench.train import config as C
from t2vbench.train.distributed import Dist, average_gradients, barrier, broadcast_state, cleanup, setup
from t2vbench.train.model import TextToVideoModel, TrainBatch, check_model
from t2vbench.train.samples import write_grid

CKPT_FORMAT = 2  # 2: optimiser and scaler states by name ({"g": ..., "d": ...})
# Log key: the share of an interval's steps that mixed precision skipped. Under AMP an fp16 overflow in
# the forward pass can make one step's loss inf while the GradScalers skip its update, which is not
# divergence; such a step (its weights checked, once) is counted here instead of stopping the run.
AMP_SKIPPED = "amp_skipped"


def mix_seed(*parts) -> int:
    """A 63-bit seed from any parts, stable across processes and Python runs (no hash randomisation)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little") >> 1


def log(msg: str) -> None:
    print(f"t2vbench: {msg}", file=sys.stderr, flush=True)


def nonfinite(logs: dict) -> list[str]:
    """The log entries that are not finite numbers. Logs are floats already (synchronised by the model
    to make them), so checking them every step costs nothing on a GPU."""
    bad = []
    for k, v in logs.items():
        try:
            if not math.isfinite(v):
                bad.append(k)
        except TypeError:
            pass
    return bad


def nonfinite_tensors(state: dict) -> list[str]:
    """The floating-point tensors of a state dict holding NaN or inf: one device sync for all of them
    (called before a checkpoint is written, not per step)."""
    floats = [(k, v) for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point() and v.numel()]
    if not floats or bool(torch.stack([torch.isfinite(v).all() for _, v in floats]).all()):
        return []
    return [k for k, v in floats if not bool(torch.isfinite(v).all())]


@contextlib.contextmanager
def rng_kept():
    """Leave the global torch RNG as it was: checks before training must not change what it trains."""
    state = torch.get_rng_state()
    try:
        yield
    finally:
        torch.set_rng_state(state)


# ---------------------------------------------------------------- data

class TrainData:
    """The train split held in memory as uint8, plus caption meaning keys for mismatch sampling."""

    def __init__(self, dataset: DatasetHandle | str | Path):
        dataset = open_dataset(dataset)
        self.dataset = dataset
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
    """The fixed caption set for sample grids: the first k test captions of distinct meaning (train
    captions for a dataset without test videos: a run with --no-eval needs no test split, and the grids
    are for looking at, not for scoring)."""
    split = "test" if dataset.has_split("test") and dataset.count("test") > 0 else "train"
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

def build_model(cfg: dict, vocab_size: int, channels: int) -> TextToVideoModel:
    """`cfg["impl"]`'s class built from the config, checked against `TextToVideoModel`."""
    name, impl = cfg["name"], cfg["impl"]
    try:
        module, attr = impl.split(":")
        cls = getattr(importlib.import_module(module), attr)
    except (ValueError, ImportError, AttributeError) as e:
        raise UserError(f"model '{name}': cannot import its impl '{impl}' ({e})") from None
    try:
        model = cls(cfg, vocab_size, channels)
    except (KeyError, ValueError, TypeError) as e:
        raise UserError(f"the config of model '{name}' is invalid: {type(e).__name__}: {e}") from None
    return check_model(model, f"model '{name}'")


def write_samples(model, tokens, captions, path, per_caption: int, fps: int) -> None:
    k = len(captions)
    toks = tokens.repeat_interleave(per_caption, 0)
    seeds = torch.tensor([1000 + j for _ in range(k) for j in range(per_caption)])
    videos = model.generate(toks, seeds)
    write_grid(path, videos.numpy(), [c for c in captions for _ in range(per_caption)], per_caption, fps)


def _dry_run(model, data, d) -> None:
    """Generate two clips and score them, in eval mode, leaving every random state as it was: a config
    that builds but cannot run (a zero width, a mismatched shape) fails now, not after stage 1."""
    was_training = model.training
    model.eval()
    try:
        with rng_kept(), torch.no_grad():
            tokens = data.tokens[:2].to(d.device)
            video = model.generate(tokens, torch.arange(2))
            if model.video_text_logit is not None:
                model.video_text_logit(video.to(d.device), tokens)
    except (RuntimeError, ValueError, IndexError) as e:
        raise UserError(f"the model cannot run with this config ({str(e).splitlines()[0][:200]}); "
                        "check the --set values") from None
    finally:
        model.train(was_training)


def _check_evaluation(dataset, judge):
    """The evaluation's judge and dataset, checked before training rather than after it -> the judge.
    Building the judge draws from the global RNG; `rng_kept` makes the run's training not depend on it."""
    try:
        with rng_kept():
            return dataset_and_judge(dataset, judge)[1]
    except UserError as e:
        raise UserError(f"{e} (or train without the evaluation: --no-eval)") from None


# ---------------------------------------------------------------- the run as data

def run_name(model: str, dataset: str, budget: str, seed: int) -> str:
    return f"{model}-{dataset}-{budget}-seed{seed}"


def leaderboard_name(model: str, budget: str) -> str:
    """The model's name on the leaderboard: the budget is part of it except for `paper`, so smoke and
    quick rows are marked as such and never replace a full-budget row."""
    return model if budget == "paper" else f"{model}@{budget}"


@dataclasses.dataclass
class RunSpec:
    """What to run: `t2vbench run`'s command line as data."""

    model: str
    dataset: DatasetHandle  # or its folder (prepare opens it)
    budget: str = "quick"
    seed: int = 0
    out: Path = Path("runs")
    resume: bool = False
    overrides: tuple[str, ...] = ()
    device: str | None = None  # cpu or cuda; None: cuda when present
    progress: bool = True  # progress bars and information lines on stderr (warnings and errors always)
    evaluate: bool = True
    judge: str | Path | None = None  # judge file for the evaluation; None: the dataset's shipped judge


@dataclasses.dataclass
class Run:
    """A prepared run, what the phases share. It holds the torchrun process group, if any, until
    `close()`: use it as `with prepare(spec) as run: ...`."""

    spec: RunSpec
    cfg: dict
    config_sha256: str
    dist: Dist
    data: TrainData
    dir: Path
    identity: dict  # config.json
    model: TextToVideoModel
    judge: LoadedJudge | None  # the evaluation's, checked by prepare; None without the evaluation
    grid_tokens: torch.Tensor  # the fixed captions of the sample grids
    grid_captions: list
    t_start: float
    step: int = 0  # the last step trained (train sets it)
    train_time: float = 0.0  # seconds of training, over every resumed part

    @property
    def iters(self) -> int:
        return int(self.cfg["train"]["iters"])

    @property
    def dataset(self) -> DatasetHandle:
        return self.data.dataset

    def close(self) -> None:
        cleanup(self.dist)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run(model_name: str, dataset, *, budget: str = "quick", seed: int = 0, out="runs", resume: bool = False,
        overrides=(), device: str | None = None, progress: bool = True, evaluate: bool = True,
        judge=None) -> Path:
    """Train `model_name` on `dataset` (a folder or a `DatasetHandle`) for `budget`, then (unless
    `evaluate=False`) evaluate it and rebuild OUT's leaderboard; return the run folder."""
    return execute(RunSpec(model_name, open_dataset(dataset), budget=budget, seed=seed, out=Path(out),
                           resume=resume, overrides=tuple(overrides), device=device, progress=progress,
                           evaluate=evaluate, judge=judge))


def execute(spec: RunSpec) -> Path:
    """Every phase of `spec`, as `t2vbench run` does them (under torchrun on every rank). A failed read
    or write (a full disk) is one line naming the file; every file a run writes is written atomically,
    so the run can be resumed once the cause is fixed."""
    try:
        with prepare(spec) as r:
            train(r)
            save_model(r)
            if r.dist.main:
                if spec.evaluate:
                    evaluate_run(r)
                    build_leaderboard(r.dir.parent)
                if spec.progress:
                    log(f"done: {r.dir} (train {r.train_time:.0f} s, total {time.time() - r.t_start:.0f} s)")
            return r.dir
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) or not e.filename:
            raise ckpt.write_failed(e.filename or spec.out, e) from None
        raise UserError(f"cannot use {e.filename}: {e.strerror or e}; fix that, then re-run the same command with "
                        "--resume") from None


def check_seed(seed) -> int:
    """A training seed is a non-negative integer: `-seed-1` in a folder name would read as seed 1."""
    try:
        if isinstance(seed, bool):
            raise TypeError
        value = operator.index(seed)
    except TypeError:
        raise UserError(f"the training seed must be an integer >= 0 (got {seed!r})") from None
    if value < 0:
        raise UserError(f"the training seed must be >= 0 (got {value}); run folders are named ...-seed<S>")
    return value


# ---------------------------------------------------------------- phase 1: set-up

def _prepare_run_dir(run_dir: Path, identity: dict, resume: bool) -> bool:
    """Check an existing folder against this run; return True when there is state to resume."""
    cfg_path = run_dir / "config.json"
    if not cfg_path.exists():
        if run_dir.exists() and any(run_dir.iterdir()) and not resume:
            raise UserError(f"{run_dir} exists and is not a t2vbench run; choose another --out")
        return False
    if not resume:
        raise UserError(f"{run_dir} already holds a run; add --resume to continue it, or choose another --out or "
                        "--seed")
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


def prepare(spec: RunSpec) -> Run:
    """Resolve the config, join the torchrun group (if any), load the data, build the model, and check
    everything a config or an argument can get wrong (dry run, the evaluation's judge) before the run
    folder is written: a folder with a config.json would refuse the corrected command line."""
    t_start = time.time()
    check_seed(spec.seed)
    cfg = C.resolve(spec.model, spec.budget, spec.overrides)
    chash = C.config_hash(cfg)
    d = setup(spec.device)
    try:
        data = TrainData(spec.dataset)
        ident = data.identity()
        run_dir = Path(spec.out) / run_name(spec.model, ident["name"], spec.budget, spec.seed)
        identity = {"config": cfg, "config_sha256": chash, "seed": spec.seed, "dataset": ident,
                    "world_size": d.world, "global_batch": int(cfg["train"]["batch"]) * d.world,
                    "code_version": code_version(), "torch": torch.__version__, "device": d.device.split(":")[0]}
        has_state = _prepare_run_dir(run_dir, identity, spec.resume)  # read-only on every rank: all fail alike
        if spec.resume and not has_state and d.main:  # a launcher may always pass --resume: go on, but say so
            log(f"--resume: {run_dir} holds no run yet; starting it from step 0")
        torch.manual_seed(mix_seed(spec.seed, "init"))
        model = build_model(cfg, data.vocab_size, data.channels).to(d.device)
        data.indices(spec.seed, 0, int(cfg["train"]["batch"]), d)
        _dry_run(model, data, d)
        judge = _check_evaluation(data.dataset, spec.judge) if spec.evaluate else None
        tokens, captions = sample_captions(data.dataset, int(cfg["samples"]["captions"]))
        barrier(d)
        if d.main:
            try:
                run_dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise UserError(f"cannot create {run_dir} ({e.strerror or e}); choose another --out") from None
            if not has_state:  # first: a folder holding anything else is a run (killed here: an empty one)
                write_json_atomic(run_dir / "config.json", identity)
            (run_dir / "samples").mkdir(exist_ok=True)
            with atomic_file(run_dir / "samples" / "captions.txt", "w") as f:
                f.write("".join(c + "\n" for c in captions))
        barrier(d)
        if d.active:
            broadcast_state(model)
    except BaseException:
        cleanup(d)
        raise
    return Run(spec, cfg, chash, d, data, run_dir, identity, model, judge, tokens, captions, t_start)


# ---------------------------------------------------------------- phase 2: train

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


def _pretrain(r: Run, stage, jlog: JsonlLog) -> None:
    """Stage 1; its result is saved once (<stage.name>.pt) and reused on resume."""
    d, data, seed = r.dist, r.data, r.spec.seed
    path = r.dir / f"{stage.name}.pt"
    if path.exists():
        fix = f"delete it (and {ckpt.record_path(path).name}) to train stage 1 again, then resume"
        stage.load_state_dict(ckpt.load(path, map_location=d.device, fix=fix)["state"])
        if r.spec.progress and d.main:
            log(f"stage 1: loaded {path}")
        return
    iters, batch, lr = stage.schedule(len(data), d.world)
    pre = stage.module().to(d.device)
    opt = torch.optim.Adam(pre.parameters(), lr=lr)
    every = int(r.cfg["train"]["log_every"])
    acc: dict = {}
    pre.train()
    with tqdm(range(iters), desc=f"stage 1 {stage.name}", disable=not (r.spec.progress and d.main),
              file=sys.stderr, smoothing=0.1) as bar:
        for step in bar:
            video, tokens = data.batch(data.indices(mix_seed(seed, "stage1"), step, batch, d), d.device)
            loss, logs = pre.loss(video, tokens)
            bad = nonfinite(logs)
            if bad:
                raise UserError(f"stage 1 ({stage.name}) diverged at step {step + 1}: {bad[0]} = {logs[bad[0]]} "
                                "(not finite); nothing of stage 1 is saved and no result is written. Lower "
                                f"text.pretrain.lr (--set) and start again with another --out (or delete {r.dir})")
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
    n = min(len(data), 4096)
    logs, lines = stage.finish(data.tokens[:n].to(d.device), data.keys[:n])
    jlog.write({"stage": 1, "step": iters, **logs})
    if d.main:
        for line in lines:
            if r.spec.progress or line.startswith("warning"):
                log(line)
        state = stage.state_dict()
        bad = nonfinite_tensors(state)
        if bad:
            raise UserError(f"stage 1 ({stage.name}) diverged: {bad[0]} is not finite after step {iters}; nothing of "
                            f"stage 1 is saved. Lower text.pretrain.lr (--set) and start again with another --out "
                            f"(or delete {r.dir})")
        ckpt.save(path, {"format": CKPT_FORMAT, "kind": stage.name, "iters": iters, "state": state})


def use_amp(tcfg: dict, device: str) -> bool:
    """Mixed precision: train.amp, on CUDA only."""
    return bool(tcfg.get("amp")) and device.startswith("cuda")


def train(r: Run, until_step: int | None = None) -> int:
    """Stage 1 when the model has one, then the training loop from the last checkpoint (resume) or step
    0 up to `until_step` (default: the budget's train.iters); returns the step reached.

    Stopping at `until_step` is stopping as a user would: checkpoints only on their schedule
    (train.ckpt_every), nothing saved beyond it, so the same run with resume=True continues exactly.
    """
    spec, d, model, data, tcfg = r.spec, r.dist, r.model, r.data, r.cfg["train"]
    seed, iters, batch = spec.seed, r.iters, int(tcfg["batch"])
    stop = iters if until_step is None else min(iters, int(until_step))
    jlog = JsonlLog(r.dir / "log.jsonl", d.main)
    last = r.dir / "checkpoints" / "last.pt"
    fix = f"delete it (and {ckpt.record_path(last).name}) to train from step 0 again"
    state = ckpt.load(last, map_location=d.device, fix=fix) if spec.resume and last.exists() else None
    if state is not None and (state.get("config_sha256") != r.config_sha256 or state["format"] != CKPT_FORMAT):
        raise UserError(f"{last} belongs to another config or t2vbench version; delete it or use another --out")
    start = int(state["step"]) if state else 0

    stage = model.pretraining()
    stage1_done = stage is not None and (r.dir / f"{stage.name}.pt").exists()
    if d.main:
        jlog.truncate(lambda row: (row.get("stage") == 1 and stage1_done)
                      or (row.get("stage") == 2 and row["step"] <= start))
    if stage is not None:
        _pretrain(r, stage, jlog)
        barrier(d)
        stage.freeze()

    opts = model.optimizers()
    amp = use_amp(tcfg, d.device)
    scalers = {name: torch.amp.GradScaler("cuda") for name in opts} if amp else None
    acc, elapsed = {}, 0.0
    if state is None:  # a fresh stage 2 starts from its own seed, whether or not stage 1 ran in this process
        torch.manual_seed(mix_seed(seed, "stage2"))
    else:
        model.load_state_dict(state["model"])
        for name, opt in opts.items():
            opt.load_state_dict(state["optimizers"][name])
        if amp and state.get("scalers"):
            for name, s in scalers.items():
                s.load_state_dict(state["scalers"][name])
        torch.set_rng_state(state["rng"].cpu())
        acc, elapsed = dict(state["log_acc"]), float(state["elapsed"])
    if spec.resume and d.main and spec.progress:
        log(f"resuming {r.dir.name} at step {start}/{iters}" if state else
            f"resuming {r.dir.name}: no checkpoint yet, training from step 0")
    saved = start if state else None  # the step of the last good checkpoint on disk

    def diverged(what: str, done: int) -> UserError:
        kept = (f"the last good checkpoint, {last} (step {saved}), is kept" if saved is not None
                else "no checkpoint was written before it")
        return UserError(f"training diverged at step {done}: {what} (not finite); no result is written and {kept}. "
                         f"Lower the learning rates (--set train.lr_g=..., train.lr_d=...) and start again with "
                         f"another --out (or delete {r.dir})")

    reduce = (lambda ps: average_gradients(ps, d.world)) if d.active else None
    near = float(tcfg.get("near_mismatch", 0.0))
    every, sample_every, ckpt_every = int(tcfg["log_every"]), int(tcfg["sample_every"]), int(tcfg["ckpt_every"])
    s_cfg = r.cfg["samples"]
    model.train()
    t0 = t_log = time.time()
    with tqdm(total=iters, initial=start, desc=f"{spec.model} {spec.budget}", file=sys.stderr, smoothing=0.05,
              disable=not (spec.progress and d.main)) as bar:  # closed before an error's line is printed
        for step in range(start, stop):
            idx = data.indices(seed, step, batch, d)
            real, tokens = data.batch(idx, d.device)
            g = torch.Generator().manual_seed(mix_seed(seed, "step", step, d.rank))
            mismatched = data.tokens[data.mismatch.sample(idx, g, near)].to(d.device)
            logs = model.train_step(TrainBatch(real, tokens, mismatched, g), opts, scalers=scalers, reduce_grads=reduce)
            bad = nonfinite(logs)
            if bad:
                if not amp or nonfinite_tensors(model.state_dict()):
                    raise diverged(f"{bad[0]} = {logs[bad[0]]}", step + 1)
                logs = {AMP_SKIPPED: 1.0}  # an fp16 overflow: the scalers skipped the update, the weights are intact
            for k, v in logs.items():
                acc[k] = acc.get(k, 0.0) + v
            bar.update(1)
            done = step + 1
            if done % every == 0 or done == iters:
                n = every if done % every == 0 else done % every
                kept = n - acc.get(AMP_SKIPPED, 0.0)  # the steps whose losses were added
                row = {k: v / (n if k == AMP_SKIPPED else max(kept, 1)) for k, v in acc.items()}
                now = time.time()
                jlog.write({"stage": 2, "step": done, "it_per_s": round(n / max(now - t_log, 1e-9), 3), **row})
                bar.set_postfix({k: f"{v:.2f}" for k, v in row.items() if k.endswith("loss")})
                acc, t_log = {}, now
            if d.main and done % sample_every == 0:
                write_samples(model, r.grid_tokens.to(d.device), r.grid_captions,
                              r.dir / "samples" / f"step-{done:07d}.gif", int(s_cfg["per_caption"]), int(s_cfg["fps"]))
            if d.main and (done % ckpt_every == 0 or done == iters):
                weights = model.state_dict()
                bad = nonfinite_tensors(weights)
                if bad:
                    raise diverged(f"the weights {bad[0]} are", done)
                ckpt.save(last, {"format": CKPT_FORMAT, "kind": "train", "config_sha256": r.config_sha256,
                                 "step": done, "model": weights,
                                 "optimizers": {name: opt.state_dict() for name, opt in opts.items()},
                                 "scalers": {name: s.state_dict() for name, s in scalers.items()} if amp else None,
                                 "rng": torch.get_rng_state(), "log_acc": acc,
                                 "elapsed": elapsed + time.time() - t0})
                saved = done
    r.step = max(start, stop)
    r.train_time = elapsed + time.time() - t0
    return r.step


# ---------------------------------------------------------------- phase 3: final weights and samples

def save_model(r: Run) -> Path | None:
    """After the last step: the model's `finish_training`, then model.pt and samples/final.gif (rank 0;
    every rank waits here for the others first). Returns model.pt's path (None on other ranks)."""
    if r.step < r.iters:
        raise UserError(f"{r.dir} stopped at step {r.step} of {r.iters}; train it to the end first (resume it)")
    barrier(r.dist)
    if not r.dist.main:
        return None
    model, device = r.model, r.dist.device
    model.finish_training(r.data.tokens, torch.Generator().manual_seed(mix_seed(r.spec.seed, "bn")))
    model.eval()
    path = r.dir / "model.pt"
    weights = model.state_dict()
    bad = nonfinite_tensors(weights)
    if bad:
        raise UserError(f"the final weights of {r.dir} are not finite ({bad[0]}); no model.pt or result is written. "
                        "Lower the learning rates (--set train.lr_g=..., train.lr_d=...) and start again with another "
                        "--out")
    ckpt.save(path, {"format": CKPT_FORMAT, "kind": "model", "config_sha256": r.config_sha256,
                     "run_json": json.dumps(r.identity), "model": weights})
    s_cfg = r.cfg["samples"]
    write_samples(model, r.grid_tokens.to(device), r.grid_captions, r.dir / "samples" / "final.gif",
                  int(s_cfg["per_caption"]), int(s_cfg["fps"]))
    return path


# ---------------------------------------------------------------- phase 4: evaluate

def evaluate_run(r: Run) -> dict:
    """Evaluate the trained model under the frozen protocol (t2vbench.eval.evaluate) into
    <run>/results.json, with the run's dataset handle and judge."""
    spec, d = r.spec, r.dist
    info = {"budget": spec.budget, "smoke": spec.budget == "smoke", "train_seed": spec.seed,
            "config_sha256": r.config_sha256, "iterations": r.iters,
            "global_batch": int(r.cfg["train"]["batch"]) * d.world, "world_size": d.world,
            "train_wall_time_s": round(r.train_time, 1), "run": r.dir.name, "device": d.device.split(":")[0]}
    model = r.model

    def generate(tokens, captions, seeds):
        return model.generate(tokens, seeds)

    try:
        return evaluate(generate, r.dataset, model=leaderboard_name(r.cfg["name"], spec.budget),
                        discriminator=model.video_text_logit, discriminator_output="logit",
                        n_samples=r.cfg["eval"]["n_samples"], batch_size=int(r.cfg["eval"]["batch_size"]),
                        train_seed=spec.seed, info=info, out=r.dir / "results.json", judge=r.judge,
                        progress=spec.progress)
    except UserError as e:  # the trained run is saved: say so, and how to evaluate it later
        raise UserError(f"training finished ({r.dir}) but evaluation failed: {e}. Fix that, then re-run the "
                        "same command with --resume to evaluate") from None


# ---------------------------------------------------------------- phase 5: leaderboard

def build_leaderboard(out_dir) -> list | None:
    """OUT/leaderboard.csv (the record) and leaderboard.md from every OUT/*/results.json."""
    files = sorted(Path(out_dir).glob("*/results.json"))
    if not files:
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
        state = ckpt.load(final, device, fix=f"delete it (and {ckpt.record_path(final).name}) and re-run the "
                                             "training command with --resume to write it again")
    elif last.exists():
        state = ckpt.load(last, device, fix="delete it and train the run again")
        log(f"{run_dir} has not finished; sampling from its last checkpoint (step {state['step']})")
    else:
        raise UserError(f"{run_dir} has no model.pt or checkpoint yet; train it first")
    ds = identity["dataset"]
    model = build_model(identity["config"], len(Vocabulary(ds["vocabulary"])), ds["channels"]).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    return model, identity
