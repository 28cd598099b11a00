"""`t2vbench judge train`: the fixed, deterministic recipe that makes a judge from a dataset's real
train split, and the real-test accuracy that certifies it.

Determinism: one seed for init and batch order, `torch.use_deterministic_algorithms(True)` and one
thread (a thread count can change float summation order). Same data + same recipe + same torch build +
same CPU instruction set => same weights and the same sha256. The instruction set matters: torch's and
oneDNN's float kernels round differently per instruction set, and training amplifies it (a tiny recipe
gives three different sha256 under AVX2, ATEN_CPU_CAPABILITY=default and ONEDNN_MAX_CPU_ISA=SSE41), so
the certificate records `cpu_capability`. The recipe is data; its sha256 is recorded with the judge.
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from t2vbench.data.format import sha256_json
from t2vbench.data.handle import DatasetHandle, open_dataset
from t2vbench.errors import UserError
from t2vbench.eval import caption as cap
from t2vbench.judge.model import Judge, load_judge, run_judge, save_judge
from t2vbench.judge.recipe import READER_DECODING, RECIPE, complete


def load_labelled(dataset, split: str, labels: dict, limit: int | None = None):
    """uint8 videos (N, T, H, W, C) and {attr: (N, S) int64} of a split of a dataset (handle or folder)."""
    cols = open_dataset(dataset).read(split, columns=["video", *[f"label/{n}" for n in labels]], limit=limit)
    video = cols["video"]
    lab = {}
    for n in labels:
        a = np.asarray(cols[f"label/{n}"], dtype=np.int64)
        lab[n] = a.reshape(len(a), -1)
    return video, lab


def load_column(dataset, split: str, name: str, limit: int) -> np.ndarray:
    return open_dataset(dataset).read(split, columns=[name], limit=limit)[name]


def real_accuracy(judge: Judge, video: np.ndarray, labels: dict, batch_size: int = 128) -> dict:
    """Per-attribute and exact accuracy of the judge on labelled videos (the judge's certificate)."""
    batches = (video[i:i + batch_size] for i in range(0, len(video), batch_size))
    out = run_judge(judge, batches)
    return cap.accuracy(out["cells"], labels, judge.attributes, judge.sizes)


def test_data_sha256(video: np.ndarray, labels: dict) -> str:
    """sha256 of a split's pixels and labels: a shard file's sha256 also covers its metadata (the
    config, `n` included), so `--n 64 --n-test 2048` and `--n 60000` write other test shards that
    hold the same videos."""
    import hashlib

    h = hashlib.sha256(np.ascontiguousarray(video).tobytes())
    for name in sorted(labels):
        h.update(name.encode())
        h.update(np.ascontiguousarray(labels[name], dtype=np.int64).tobytes())
    return h.hexdigest()


def certify(judge: Judge, dataset) -> dict:
    """The certificate: the judge's accuracy on the dataset's real test split, what it was measured on
    and the instruction set torch's kernels used."""
    dataset = open_dataset(dataset)
    manifest = dataset.manifest
    video, lab = load_labelled(dataset, "test", judge.labels)
    return {"real_test_accuracy": real_accuracy(judge, video, lab), "test_videos": int(len(video)),
            "test_data_sha256": test_data_sha256(video, lab),
            "test_shards_sha256": [s["sha256"] for s in manifest["splits"]["test"]["shards"]],
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def lr_at(step: int, total: int, recipe: dict) -> float:
    w = recipe["warmup_steps"]
    if step < w:
        return recipe["lr"] * (step + 1) / w
    p = (step - w) / max(1, total - w)
    return recipe["lr"] * 0.5 * (1 + math.cos(math.pi * p))


def count_loss(logits: torch.Tensor, ids: torch.Tensor, n: int) -> torch.Tensor:
    """Loss of count logits (M, n, S + 1) against (M, S) ids. One slot: softmax over the n cells on the
    score logit[1] - logit[0] (the same score `decode_multiset` ranks by), which learns much faster than
    n independent binary terms. Two slots: cross-entropy of each cell's count, summed over cells."""
    if ids.shape[1] == 1:
        return F.cross_entropy(logits[..., 1] - logits[..., 0], ids[:, 0].long())
    ones = torch.ones_like(ids, dtype=torch.long)
    counts = torch.zeros(ids.shape[0], n, dtype=torch.long).scatter_add_(1, ids.long(), ones)
    k = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, k), counts.reshape(-1), reduction="sum") / len(ids)


def video_losses(judge: Judge, out: dict, cells: torch.Tensor, frame_ids: torch.Tensor, recipe: dict):
    cell_loss = count_loss(out["cell_logits"], cells, judge.n_cells)
    T = out["frame_logits"].shape[1]
    frame_loss = count_loss(out["frame_logits"].flatten(0, 1), frame_ids.repeat_interleave(T, 0), judge.sizes[0])
    return cell_loss + recipe["frame_loss_weight"] * frame_loss, cell_loss.item(), frame_loss.item()


def augment_frames(x: torch.Tensor, aug: dict | None, g: torch.Generator) -> torch.Tensor:
    """Random small affine warps of frames (M, C, H, W) in [0, 1], drawn from `g` (deterministic).
    Off (None or p <= 0): no random draws at all, so the batch order is that of a recipe without it."""
    if not aug or aug.get("p", 0) <= 0:
        return x
    M = x.shape[0]
    u = torch.rand(M, 4, generator=g) * 2 - 1  # rotation, scale, shear in [-1, 1]; last: apply?
    apply = (u[:, 3] + 1) / 2 < aug["p"]
    a = u[:, 0] * math.radians(aug["rotate_deg"])
    s = 1 + u[:, 1] * aug["scale"]
    sh = u[:, 2] * aug["shear"]
    cos, sin = torch.cos(a) / s, torch.sin(a) / s  # output -> input coordinates, so divide by scale
    theta = torch.zeros(M, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin + sh * cos
    theta[:, 1, 0], theta[:, 1, 1] = sin, cos + sh * sin
    sel = apply.nonzero()[:, 0]
    if len(sel) == 0:
        return x
    grid = F.affine_grid(theta[sel], [len(sel), *x.shape[1:]], align_corners=False)
    x = x.clone()
    x[sel] = F.grid_sample(x[sel], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return x


def frame_step_loss(judge: Judge, frames: torch.Tensor, frame_ids: torch.Tensor) -> torch.Tensor:
    """Stage 1: single frames from many videos, so the encoder sees many digits per step."""
    _, logits = judge.frame_logits(judge.encoder(frames))
    return count_loss(logits, frame_ids, judge.sizes[0])


def read_step_loss(reader, video_t, traj, digit_ids, rc: dict, digit: int, g: torch.Generator,
                   elastic: dict | None = None):
    """A crop reader on each digit's least ink over the clip at its true corners (`reader.true_images`),
    under a small random affine warp (and an elastic one, stage 4's `extra_elastic`)."""
    from t2vbench.judge import reader as rd

    idx = torch.randint(0, video_t.shape[0], (rc["batch_size"],), generator=g)
    s = torch.randint(0, traj.shape[1], (len(idx),), generator=g)
    x = rd.true_images(video_t, traj, idx, s, digit)
    x = rd.affine_jitter(x, rc["rotate_deg"], rc["scale"], rc["shift_px"], g, elastic)
    return F.cross_entropy(reader(x), digit_ids[idx, s])


def reader_step_loss(judge: Judge, video_t, traj, digit_ids, rc: dict, g: torch.Generator):
    """Stage 3: the locator on uniformly drawn frames, then the first crop reader (`read_step_loss`)."""
    from t2vbench.judge import reader as rd

    N, T, H, W, C = video_t.shape
    d = int(judge.arch["digit_size"])
    idx = torch.randint(0, N, (rc["locate_batch_size"],), generator=g)
    t = torch.randint(0, T, (len(idx),), generator=g)
    frames = video_t[idx, t].permute(0, 3, 1, 2).float().div_(255.0)
    heat, offset = judge.locator(frames)
    loss_loc = rd.locate_loss(heat, offset, traj[idx, :, t], H, d)
    return loss_loc, read_step_loss(judge.reader, video_t, traj, digit_ids, rc, d, g)


def round_to_stored(module: torch.nn.Module) -> None:
    """Round every float weight and buffer to float16 precision (what `save_judge` stores), so stage 3
    starts from exactly what a stored stage-1/2 judge holds: `--stages-from` then makes the same bytes
    as a full run."""
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            if t.is_floating_point():
                t.copy_(t.half().float())


def train_reader(judge: Judge, video_t, traj, digit_ids, recipe: dict, bar=None) -> dict:
    """Stage 3: train the judge's locator and crop reader, everything else frozen (BatchNorm included).
    Draws from its own generator (seed, 3), so it does not depend on how stages 1-2 were reached.
    Returns the loss histories."""
    rc = recipe["reader"]
    round_to_stored(judge)
    g = torch.Generator().manual_seed(int(np.random.SeedSequence((recipe["seed"], 3)).generate_state(1)[0]))
    judge.eval()
    judge.locator.train()
    judge.reader.train()
    params = [*judge.locator.parameters(), *judge.reader.parameters()]
    opt = torch.optim.AdamW(params, lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    history = {"locate": [], "read": []}
    for step in range(rc["steps"]):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, rc["steps"], recipe)
        loss_loc, loss_read = reader_step_loss(judge, video_t, traj, digit_ids, rc, g)
        opt.zero_grad(set_to_none=True)
        (loss_loc + loss_read).backward()
        opt.step()
        history["locate"].append(loss_loc.item())
        history["read"].append(loss_read.item())
        if bar is not None:
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(locate=f"{np.mean(history['locate'][-50:]):.3f}",
                                read=f"{np.mean(history['read'][-50:]):.3f}")
    judge.eval()
    return history


def reader_draws(rc: dict) -> list:
    """The stage-4 draw number of each crop reader after the first: reader["draws"], else 1, 2, ..."""
    n = int(rc.get("readers", 1))
    draws = [int(k) for k in rc.get("draws", range(1, n))]
    if len(draws) != n - 1:
        raise UserError(f"recipe: reader.draws names {len(draws)} draws for {n - 1} readers after the first; "
                        "give one draw number per extra reader")
    return draws


def stage4_plan(rc: dict) -> list:
    """How each crop reader after the first is trained: (draw number, steps, elastic warp); steps
    reader["extra_steps"], else stage 3's; warp reader["extra_elastic"], else none."""
    steps = int(rc.get("extra_steps", rc["steps"]))
    elastic = rc.get("extra_elastic")
    return [(k, steps, elastic) for k in reader_draws(rc)]


def train_extra_readers(judge: Judge, video_t, traj, digit_ids, recipe: dict, start: int = 1, bar=None) -> dict:
    """Stage 4: the crop readers after the first (`judge.extra_readers`) from number `start` on, each
    alone and from its own draws (seed, 4, draw), `reader_draws`, so a reader does not depend on the
    others or on how stages 1-3 were reached. Same batches, warps and schedule as stage 3's reader, for
    reader["extra_steps"] steps (default: stage 3's). Returns the loss histories ("read_1", ...)."""
    rc = recipe["reader"]
    d = int(judge.arch["digit_size"])
    plan = stage4_plan(rc)
    history = {}
    for number, reader in enumerate(judge.readers):
        if number < max(start, 1):
            continue
        draw, steps, elastic = plan[number - 1]
        round_to_stored(reader)  # its initial weights, as a full run's stage 3 left them
        g = torch.Generator().manual_seed(
            int(np.random.SeedSequence((recipe["seed"], 4, draw)).generate_state(1)[0]))
        reader.train()
        opt = torch.optim.AdamW(reader.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
        losses = history[f"read_{number}"] = []
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = lr_at(step, steps, recipe)
            loss = read_step_loss(reader, video_t, traj, digit_ids, rc, d, g, elastic)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if bar is not None:
                bar.update(1)
                if step % 50 == 0:
                    bar.set_postfix(**{f"read_{number}": f"{np.mean(losses[-50:]):.3f}"})
        reader.eval()
    return history


def clip_extra_steps(recipe: dict, slots: int) -> int:
    """Stage 2b's steps for judges of `slots` digits per video: recipe["clip_extra"]["times"] x stage 2's
    (so a smoke run's --steps shortens both), 0 where it does not apply."""
    ce = recipe.get("clip_extra")
    return int(round(float(ce["times"]) * recipe["steps"])) if ce and slots in ce.get("slots", []) else 0


def clip_steps(judge: Judge, params, video_t, frame_all, cells_all, recipe: dict, steps: int, lr: float,
               g: torch.Generator, bar=None, name: str = "cell") -> list:
    """`steps` AdamW steps on batches of whole clips in an order drawn from g (reshuffled when it runs
    out), warmup and cosine to 0 from peak `lr`: stage 2 and 2b. Returns the cell losses."""
    N = video_t.shape[0]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=recipe["weight_decay"])
    sched = {**recipe, "lr": lr}
    order, pos, losses = torch.randperm(N, generator=g), 0, []
    for step in range(steps):
        if pos + recipe["batch_size"] > N:
            order, pos = torch.randperm(N, generator=g), 0
        idx = order[pos:pos + recipe["batch_size"]]
        pos += recipe["batch_size"]
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, sched)
        x = video_t[idx].permute(0, 1, 4, 2, 3).float().div_(255.0)
        loss, lc, lf = video_losses(judge, judge(x, read=False), torch.from_numpy(cells_all[idx.numpy()]),
                                    torch.from_numpy(frame_all[idx.numpy()]), recipe)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(lc)
        if bar is not None:
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(**{name: f"{np.mean(losses[-50:]):.3f}"}, frame=f"{lf:.3f}")
    return losses


def train_clip_extra(judge: Judge, video_t, frame_all, cells_all, recipe: dict, bar=None) -> dict:
    """Stage 2b: the clip stage again from stage 2's weights as stored (float16), with its own warmup
    and cosine (a warm restart), `clip_extra_steps` steps at recipe["clip_extra"]'s peak lr, and its own
    draws (seed, 5).
    Stage 2's one pass over fewer clips than the train split holds leaves the clip head unconverged;
    the crop readers are not touched, and stages 3-4 do not depend on it. -> {"video_extra": losses}."""
    ce = recipe["clip_extra"]
    round_to_stored(judge)
    g = torch.Generator().manual_seed(int(np.random.SeedSequence((recipe["seed"], 5)).generate_state(1)[0]))
    judge.train()
    params = [p for k, p in judge.named_parameters() if not k.startswith(("locator.", "reader.", "extra_readers."))]
    losses = clip_steps(judge, params, video_t, frame_all, cells_all, recipe, clip_extra_steps(recipe, judge.slots),
                        float(ce["lr"]), g, bar, "cell_extra")
    judge.eval()
    return {"video_extra": losses}


def train_stages12(judge: Judge, video_t, frame_all, cells_all, recipe: dict, bar) -> dict:
    """Stages 1 and 2 of the recipe (the frame encoder, then the clip head); returns the loss histories."""
    N, T = video_t.shape[:2]
    g = torch.Generator().manual_seed(recipe["seed"])
    history = {"frame": [], "video": []}
    judge.train()
    # Stage 1: the frame encoder learns to read digits from single frames of many videos.
    opt = torch.optim.AdamW(judge.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    fb = recipe["frame_batch_size"]
    for step in range(recipe["frame_steps"]):
        idx = torch.randint(0, N, (fb,), generator=g)
        t = torch.randint(0, T, (fb,), generator=g)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, recipe["frame_steps"], recipe)
        x = video_t[idx, t].permute(0, 3, 1, 2).float().div_(255.0)
        x = augment_frames(x, recipe.get("frame_aug"), g)
        loss = frame_step_loss(judge, x, torch.from_numpy(frame_all[idx.numpy()]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history["frame"].append(loss.item())
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix(frame=f"{np.mean(history['frame'][-50:]):.3f}")
    # Stage 2: whole clips; the temporal head learns motion while the frame loss keeps the digits.
    history["video"] = clip_steps(judge, judge.parameters(), video_t, frame_all, cells_all, recipe, recipe["steps"],
                                  recipe["lr"], g, bar)
    return history


STAGE12_KEYS = ("seed", "threads", "arch", "max_train_videos", "frame_steps", "frame_batch_size", "frame_aug",
                "steps", "batch_size", "optimizer", "lr", "weight_decay", "warmup_steps", "schedule",
                "frame_loss_weight")


def _stage3_training(recipe: dict) -> dict:
    """What stages 3 and 4 learn from: not how the judge reads, nor the readers stage 4 adds (each one is
    trained alone from its own draws, so `load_stages` compares them one by one, `stage4_plan`)."""
    stage4 = ("readers", "draws", "extra_steps", "extra_elastic")
    return {k: v for k, v in (recipe.get("reader") or {}).items() if k not in (*READER_DECODING, *stage4)}


def load_stages(judge: Judge, source, recipe: dict, dataset: DatasetHandle) -> tuple:
    """Stages 1-2 (and 2b, when its recipe had the same) from a judge file made by the same recipe's
    stages on the same dataset (checked):
    copies its encoder and clip head into `judge`, and its locator and crop readers too when its stages
    3-4 were trained the same way (recipes that differ only in READER_DECODING or the number of
    readers). -> (its loss summary of the
    stages taken, the number of crop readers taken: 0 when stage 3 was not)."""
    src = load_judge(source)
    theirs = complete(src.meta.get("recipe") or {})
    differ = [k for k in STAGE12_KEYS if theirs.get(k) != recipe.get(k)]
    if differ:
        raise UserError(f"--stages-from {source}: its recipe differs in {', '.join(differ)}; pass a judge made "
                        "by this recipe's stages 1-2 (e.g. the shipped one with --recipe FAMILY)")
    if src.meta.get("dataset_config_sha256") != dataset.config_sha256:
        raise UserError(f"--stages-from {source} was trained on another dataset config than {dataset.root}")
    if theirs.get("clip_extra") not in (None, recipe.get("clip_extra")):
        raise UserError(f"--stages-from {source}: its recipe differs in clip_extra (stage 2b); pass a judge made "
                        "by this recipe's stages 1-2, with or without stage 2b")
    same3 = src.model.reader is not None and _stage3_training(theirs) == _stage3_training(recipe)
    readers = 0
    if same3:  # the first reader, then the extra ones while their draws and steps agree
        pairs = zip(stage4_plan(theirs["reader"]), stage4_plan(recipe["reader"]))
        readers = min(len(src.model.readers), len(judge.readers),
                      1 + next((i for i, (a, b) in enumerate(pairs) if a != b), len(judge.readers)))
    # what is not taken starts from its own initial weights
    untaken = ("locator.", "reader.", "extra_readers.") if not same3 else \
        tuple(f"extra_readers.{i - 1}." for i in range(readers, len(judge.readers)))
    state = {k: v for k, v in src.model.state_dict().items() if not k.startswith(untaken)}
    missing, unexpected = judge.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(untaken) for k in missing):
        raise UserError(f"--stages-from {source}: its network is not this recipe's ({(unexpected or missing)[0]})")
    taken = ("frame", "video", "video_extra", *(("locate", "read", *(f"read_{i}" for i in range(1, readers)))
                                               if same3 else ()))
    return {k: v for k, v in src.meta.get("loss_first_last", {}).items() if k in taken}, readers


def train_judge(dataset, out, *, recipe: dict | None = None, progress: bool = True, stages_from=None,
                log=lambda m: print(m, file=sys.stderr)) -> dict:
    """Train a judge on the dataset's train split (its folder or a `DatasetHandle`), certify it on the
    test split, write it to OUT.
    `stages_from`: a judge file whose stages 1-2 (same recipe, same dataset) are reused; only stages
    3-4 are trained (or taken too, `load_stages`), and the file is the same as a full run's.
    Returns the metadata: sha256, real-test accuracy, recipe, dataset (the file itself stores the part
    known before certification: dataset, recipe, losses)."""
    from tqdm import tqdm

    recipe = complete(recipe or {})
    for key in ("frame_steps", "steps", "batch_size", "frame_batch_size"):  # 0 steps: an untrained judge
        if not isinstance(recipe[key], int) or isinstance(recipe[key], bool) or recipe[key] <= 0:
            raise UserError(f"recipe: {key} must be a positive integer (got {recipe[key]!r})")
    dataset = open_dataset(dataset)
    root, manifest = dataset.root, dataset.manifest
    labels = cap.promised_labels(manifest)
    if "test" not in manifest["splits"] or manifest["splits"]["test"]["count"] == 0:
        raise UserError(f"{root} has no test videos: a judge is certified on the real test split; "
                        "make the dataset with --n-test > 0")
    threads_before = torch.get_num_threads()
    det_before = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(recipe["threads"])
    torch.use_deterministic_algorithms(True)
    t0 = time.time()
    try:
        video, lab = load_labelled(dataset, "train", labels, limit=1)  # the shapes; the split once it trains
        count = int(manifest["splits"]["train"]["count"])
        N = min(count, recipe["max_train_videos"] or count)
        _, T, H, W, C = video.shape
        slots = lab[next(iter(labels))].shape[1]
        arch = {"in_channels": C, "frames": T, "size": H, **recipe["arch"]}
        vote = float((recipe.get("frame_vote") or {}).get(str(slots), 0.0))
        if vote > 0:
            arch["frame_vote"] = vote
        rc = recipe.get("reader") or {}
        use_reader = slots in rc.get("slots", [])
        if use_reader:
            digit = int((manifest.get("config") or {}).get("digit_size", 0))
            if not digit:
                raise UserError(f"{root}: the crop reader needs the digits' size (config digit_size); "
                                "it reads MNIST-family datasets")
            arch.update({"reader_width": rc["width"], "reader_radius": rc["radius"],
                         "reader_match": float(rc["match"]), "reader_vote": float(rc["vote"]), "digit_size": digit})
            reader_draws(rc)  # a bad list fails now, not after stages 1-3
            if int(rc.get("readers", 1)) > 1:
                arch["reader_count"] = int(rc["readers"])
            if rc.get("layers"):
                speed = int((manifest.get("config") or {}).get("speed_max", 0))
                if not speed:
                    raise UserError(f"{root}: following digits as layers needs the dataset's speed_max (config); "
                                    "it reads MNIST-family datasets")
                arch.update({"reader_layer_gate": float(rc["layers"]["gate"]), "reader_layer_speed": speed,
                             "reader_layer_beam": int(rc["layers"]["beam"])})
            if rc.get("vote_distance"):
                arch.update({"reader_vote_pivot": float(rc["vote_distance"]["pivot"]),
                             "reader_vote_doubling": float(rc["vote_distance"]["doubling"])})
        if stages_from is not None and not use_reader:
            raise UserError(f"--stages-from: the recipe adds nothing to stages 1-2 for {slots}-digit videos "
                            "(stage 3 reads two-digit ones); train the judge without it")
        torch.manual_seed(recipe["seed"])
        judge = Judge(arch, labels, slots)
        first_last, taken = load_stages(judge, stages_from, recipe, dataset) if stages_from else ({}, 0)
        extra_steps = clip_extra_steps(recipe, slots)
        pending_2b = extra_steps > 0 and "video_extra" not in first_last
        history = {}
        if not stages_from or pending_2b or (use_reader and taken < len(judge.readers)):  # else it takes every stage
            log(f"judge: loading {root.name} train split")
            video, lab = load_labelled(dataset, "train", labels, limit=N)
            video_t, frame_all = torch.from_numpy(video), lab[judge.attributes[0]]
            reader_steps = ((0 if taken else rc["steps"]) + sum(n for _, n, _ in stage4_plan(rc)[max(taken, 1) - 1:])
                            if use_reader else 0)
            bar = tqdm(total=(0 if stages_from else recipe["frame_steps"] + recipe["steps"]) + reader_steps
                       + (extra_steps if pending_2b else 0),
                       desc=f"judge {manifest['dataset']}", disable=not progress, leave=False)
            cells_all = cap.cells_of(lab, judge.attributes, judge.sizes)
            if not stages_from:
                history = train_stages12(judge, video_t, frame_all, cells_all, recipe, bar)
            if pending_2b:
                history.update(train_clip_extra(judge, video_t, frame_all, cells_all, recipe, bar))
            if use_reader:
                traj = torch.from_numpy(np.rint(load_column(dataset, "train", "trajectory", N)).astype(np.int64))
                digit_ids = torch.from_numpy(frame_all)
                if not taken:  # Stage 3: locator and crop reader on the frozen judge
                    history.update(train_reader(judge, video_t, traj, digit_ids, recipe, bar))
                # Stage 4: the other crop readers
                history.update(train_extra_readers(judge, video_t, traj, digit_ids, recipe, taken, bar))
            bar.close()
            del video, video_t
        judge.eval()
        train_s = time.time() - t0
        meta = {
            "dataset": manifest["dataset"],
            "dataset_config_sha256": manifest.get("config_sha256"),
            "dataset_config": manifest.get("config"),
            "recipe": recipe,
            "recipe_sha256": sha256_json(recipe),
            "train_videos": int(N),
            "loss_first_last": {**first_last, **{k: [float(np.mean(v[:w])), float(np.mean(v[-w:]))]
                                for k, v in history.items() if v for w in [max(1, min(50, len(v) // 4))]}},
            "torch_version": torch.__version__,
        }
        sha = save_judge(judge, out, meta)  # float16 weights: certify the shipped artifact, not the float32 one
        # what the certificate was measured on, so a later reading can tell a changed test split from a
        # changed judge or decoder (the dataset config sha256 names parameters, not pixels)
        cert = certify(load_judge(out).model, dataset)
        acc = cert["real_test_accuracy"]
        meta.update({"sha256": sha, "file": Path(out).name, "bytes": Path(out).stat().st_size,
                     "parameters": int(sum(p.numel() for p in judge.parameters())), **cert,
                     "train_seconds": round(train_s, 1)})
        log(f"judge: {manifest['dataset']} real-test accuracy " +
            ", ".join(f"{k} {v:.4f}" for k, v in acc.items()) + f"; {sha[:12]}; {train_s:.0f} s")
        return meta
    finally:
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(det_before)


def ship(meta: dict, judge_file, dataset_command: str) -> None:
    """Copy a trained MNIST judge into the package (t2vbench/judge/weights/<family>.pt) and record it in
    judges.json (file, sha256, real-test accuracy, recipe, dataset config and how it was made)."""
    import json
    import shutil

    from t2vbench.data.format import sha256_file, write_json_atomic
    from t2vbench.judge.model import SHIPPED_DIR, SHIPPED_META

    family = meta["dataset"]
    SHIPPED_DIR.mkdir(parents=True, exist_ok=True)
    dest = SHIPPED_DIR / f"{family}.pt"
    shutil.copyfile(judge_file, dest)
    if sha256_file(dest) != meta["sha256"]:
        raise RuntimeError(f"{dest} does not match the sha256 recorded at training")
    entries = json.loads(SHIPPED_META.read_text()) if SHIPPED_META.exists() else {}
    flags = {"frame_steps": "--frame-steps", "steps": "--steps", "max_train_videos": "--max-train-videos"}
    extra = "".join(f" {flag} {meta['recipe'][k]}" for k, flag in flags.items() if meta["recipe"][k] != RECIPE[k])
    entries[family] = {**meta, "file": dest.name, "dataset_command": dataset_command,
                       "judge_command": f"t2vbench judge train DATA/{family} --out {family}.pt{extra}"}
    write_json_atomic(SHIPPED_META, entries)


def recertify(roots: dict, reasons: dict) -> dict:
    """Re-measure shipped judges' certificates with today's code, {family: ROOT} with ROOT's real test
    split, and record them in judges.json (one write, so the code version recorded is the one measured
    with, before the file changes). ROOT must hold the recorded dataset config (`n`, the train size,
    may differ: it does not change the test videos). The training run's own figures stay in the entry as
    `training_run_accuracy`, with the family's reason and the code that re-measured them, so nothing is
    hidden. Returns the updated entries."""
    import datetime
    import json

    from t2vbench.data.format import write_json_atomic
    from t2vbench.eval.results import code_version
    from t2vbench.judge.model import SHIPPED_DIR, SHIPPED_META

    entries = json.loads(SHIPPED_META.read_text())
    code, today = code_version(), datetime.date.today().isoformat()
    datasets = {family: open_dataset(root) for family, root in roots.items()}
    for family, dataset in datasets.items():
        if family not in entries:
            raise UserError(f"no shipped judge {family!r} (shipped: {', '.join(sorted(entries))})")
        entry = entries[family]
        config = dataset.config or {}
        differ = sorted(k for k in {*config, *entry["dataset_config"]} - {"n"}
                        if config.get(k) != entry["dataset_config"].get(k))
        if differ:
            raise UserError(f"{dataset.root} is not {family}'s certification data: its config differs in "
                            f"{', '.join(differ)}; make it with: {entry['dataset_command']}")
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        for family, dataset in datasets.items():
            entry = entries[family]
            torch.set_num_threads(int(entry["recipe"]["threads"]))  # as when it was trained and certified
            cert = certify(load_judge(SHIPPED_DIR / entry["file"]).model, dataset)
            entry.setdefault("training_run_accuracy", entry["real_test_accuracy"])
            entry.update(cert)
            entry["recertified"] = {"reason": reasons[family], "code": code, "date": today}
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det)
    write_json_atomic(SHIPPED_META, entries)
    return {family: entries[family] for family in roots}
