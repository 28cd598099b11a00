"""`evaluate(generate, dataset, ...)`: the protocol end to end, for any generator.

1. Captions: sample i uses test caption i (cycling); noise seed `eval_seed * 1_000_003 + i`
   (`protocol.sample_seeds`), handed to `generate` per sample, so batch size cannot change results.
2. Videos are quantised to uint8 (B, T, H, W, C), the shard layout, exactly as if they had been saved,
   so `evaluate()` and `t2vbench eval --samples` give the same numbers for the same videos.
3. The dataset family's judge reads them: caption accuracy (exact and per attribute, held-out captions
   separately), temporal consistency, Fréchet distances against the first 2,048 *train* videos (so the
   real test videos are not compared with themselves), the analytic centre-of-mass motion check
   (single-digit MNIST) and, given a discriminator, its GAM error rates.

Before any of that, the seeds, the samples file's attributes and the dataset are checked
(`samples.check_dataset`: the test shards and the reference's train shards against the manifest's
sha256 and attributes), so bad input fails in a second and is never scored. Departures from the
protocol that still give numbers (fewer samples or test videos, a smaller Fréchet reference) are
listed in the results' info["warnings"].
"""
from __future__ import annotations

import time
from pathlib import Path

import h5py
import numpy as np
import torch

from t2vbench.data.handle import open_dataset
from t2vbench.errors import UserError
from t2vbench.eval import caption as cap
from t2vbench.eval import frechet, gam, motion
from t2vbench.eval.protocol import PROTOCOL, caption_indices
from t2vbench.eval.results import check_writable, make_results, write_results
from t2vbench.eval.samples import check_dataset, check_seed, generate_samples, samples_attributes
from t2vbench.judge.model import as_float_video, check_compatible, judge_for, run_judge

REAL_MODEL = "real-data"
_REFERENCE_CACHE: dict = {}  # (root, config sha, judge sha, n) -> judge outputs of the reference videos


def _judge_batches(video: np.ndarray, batch_size: int):
    for i in range(0, len(video), batch_size):
        yield video[i:i + batch_size]


def judge_outputs(judge, video: np.ndarray, progress: bool = False, desc: str = "judge", read: bool = True) -> dict:
    bs = PROTOCOL["judge_batch_size"]
    return run_judge(judge.model, _judge_batches(video, bs), progress=progress, total=len(video), desc=desc,
                     read=read)


def reference_outputs(dataset, judge, progress: bool = False) -> dict:
    """Judge outputs of the Fréchet reference (the first 2,048 train videos), cached per process."""
    ref = PROTOCOL["frechet_reference"]
    key = (str(dataset.root.resolve()), dataset.config_sha256, judge.sha256, ref["count"])
    if key not in _REFERENCE_CACHE:
        video = dataset.read(ref["split"], columns=["video"], limit=ref["count"])["video"]
        _REFERENCE_CACHE.clear()
        # features only: the reference's readings are never scored
        _REFERENCE_CACHE[key] = judge_outputs(judge, video, progress, desc="judge (reference)", read=False)
    return _REFERENCE_CACHE[key]


def _check_shape(video: np.ndarray, manifest: dict) -> None:
    cfg = manifest["config"]
    want = [cfg.get("frames"), cfg.get("size"), cfg.get("size"), cfg.get("channels")]
    got = list(video.shape[1:])
    if video.ndim != 5 or any(w is not None and int(w) != g for w, g in zip(want, got)):
        raise UserError(f"videos have shape (T, H, W, C) = {tuple(got)}, the dataset's are "
                        f"{tuple(w for w in want)}; generate videos of the dataset's shape")


def score_videos(video: np.ndarray, labels: dict, heldout, dataset, judge, *,
                 progress: bool = True) -> tuple[dict, dict, dict]:
    """All judge-based metrics of uint8 videos with their promised labels -> (metrics, impl, skipped)."""
    manifest = dataset.manifest
    _check_shape(video, manifest)
    j = judge.model
    out = judge_outputs(judge, video, progress, desc="judge (samples)")
    judge_impl = {"name": "t2vbench.judge", "version": f"{judge.meta.get('dataset', '?')}:{judge.sha256[:12]}"}
    metrics, impl, skipped = {}, {}, {}
    acc = cap.accuracy(out["cells"], labels, j.attributes, j.sizes)
    metrics.update(acc)
    for k in acc:
        impl[k] = {**cap.IMPL, "judge": judge_impl["version"]}
    if heldout is not None and not np.asarray(heldout).any():
        skipped["caption_acc_heldout"] = "no sample's caption is one of the dataset's held-out captions"
    elif heldout is not None:
        heldout = np.asarray(heldout, dtype=bool)
        for tag, mask in (("heldout", heldout), ("seen", ~heldout)):
            for k, v in cap.accuracy(out["cells"], labels, j.attributes, j.sizes, mask).items():
                metrics[f"{k}_{tag}"] = v
                impl[f"{k}_{tag}"] = impl[k]
    else:
        how = " (make it with --holdout captions)" if "holdout" in manifest.get("config", {}) else ""
        skipped["caption_acc_heldout"] = f"the dataset has no held-out captions{how}"
    # temporal consistency of the per-frame reading of the first attribute (digit / action)
    fr = np.sort(out["frame_reading"], axis=2)  # (N, T, S)
    same = np.all(fr == fr[:, :1], axis=(1, 2))
    truth = np.sort(np.asarray(labels[j.frame_attribute]), axis=1)[:, None, :]
    metrics["temporal_consistency"] = float(same.mean())
    metrics[f"frame_{j.frame_attribute}_acc"] = float(np.all(fr == truth, axis=2).mean())
    tc_impl = {"name": "t2vbench.temporal_consistency", "version": "1", "judge": judge_impl["version"]}
    impl["temporal_consistency"] = impl[f"frame_{j.frame_attribute}_acc"] = tc_impl
    # Fréchet distances against the train reference
    ref = reference_outputs(dataset, judge, progress)
    for k, v in frechet.judge_distances(out, ref).items():
        metrics[k] = v
        impl[k] = {**frechet.IMPL, "judge": judge_impl["version"], "n_reference": int(len(ref["video_feat"]))}
    # analytic motion check: single digit, motion labels
    if "motion" in labels and np.asarray(labels["motion"]).shape[1] == 1 and "digit" in labels:
        metrics["motion_com_acc"] = float(motion.check(video, labels["motion"], manifest["labels"]["motion"]).mean())
        impl["motion_com_acc"] = motion.IMPL_V1
    else:
        skipped["motion_com_acc"] = "needs one digit per video with motion labels (centres of two digits mix)"
    return metrics, impl, skipped


def _gam_self(discriminator, video, tokens, test, output: str, progress: bool) -> tuple[dict, dict]:
    """The model's discriminator on real test videos and on its own samples: the error rates a GAM
    battle is built from (the battle itself needs two models: `t2vbench.eval.gam.battle`)."""
    g = PROTOCOL["gam"]
    n_real, n_s = min(g["n_real"], len(test["video"])), min(g["n_samples"], len(video))
    bs = g["d_batch_size"]

    def batches(v, t):
        for i in range(0, len(v), bs):
            yield as_float_video(v[i:i + bs]), torch.as_tensor(np.asarray(t[i:i + bs])).long()

    real = gam.scores(discriminator, batches(test["video"][:n_real], test["tokens"][:n_real]))
    fake = gam.scores(discriminator, batches(video[:n_s], tokens[:n_s]))
    mode = gam.resolve_output(output if output != "auto" else getattr(discriminator, "output", "auto"), real, fake)
    e_real, e_fake = gam.errors(real, fake, mode)
    metrics = {"gam_d_err_real": float(e_real.mean()), "gam_d_err_own_samples": float(e_fake.mean())}
    impl = {k: {**gam.IMPL, "discriminator_output": mode, "n_real": int(n_real), "n_samples": int(n_s)}
            for k in metrics}
    return metrics, impl


def evaluate(generate, dataset, *, model: str, discriminator=None, n_samples: int | None = None,
             batch_size: int = 64, seed: int | None = None, info: dict | None = None, out=None,
             judge=None, train_seed: int | None = None, discriminator_output: str = "auto",
             progress: bool = True) -> dict:
    """Evaluate a text-to-video generator under the frozen protocol; return the results dict (and write
    it atomically to `out` if given).

    `generate(tokens LongTensor (B, L), captions list[str], seeds LongTensor (B,))` returns videos:
    uint8 (B, T, H, W, C) or float (B, T, C, H, W) in [0, 1]. It gets one seed *per sample*, derived from
    (eval seed, sample index), not one per batch, so results do not depend on `batch_size`; seed your
    noise from them, e.g. `torch.Generator().manual_seed(int(s))` for each sample.
    `discriminator(videos float (B, T, C, H, W), tokens (B, L))` -> (B,) real-probability or logit
    (optional; `discriminator_output` or an `output` attribute says which, else 'auto' decides).
    `dataset`: its folder or a `DatasetHandle` (`t2vbench.data.handle.open_dataset`).
    `judge`: a judge file (needed for KTH-4, whose judge the user trains); default: the shipped one.
    """
    t0 = time.time()
    _check_model(model)
    seed = PROTOCOL["eval_seed"] if seed is None else check_seed("the eval seed", seed)
    train_seed = check_seed("train_seed", train_seed)
    n = _check_count(n_samples)
    _check_out(out)
    dataset, loaded = dataset_and_judge(dataset, judge)
    video, tokens = generate_samples(generate, dataset, n, seed=seed, batch_size=batch_size, progress=progress)
    test = dataset.test_columns(video=discriminator is not None)
    idx = caption_indices(n, len(test["caption"]))
    labels = {k: v[idx] for k, v in test["labels"].items()}
    heldout = test["heldout"][idx] if "heldout" in test else None
    metrics, impl, skipped = score_videos(video, labels, heldout, dataset, loaded, progress=progress)
    if discriminator is not None:
        m, i = _gam_self(discriminator, video, tokens, test, discriminator_output, progress)
        metrics.update(m)
        impl.update(i)
    else:
        skipped["gam"] = "no discriminator given (GAM needs the model's discriminator)"
    warnings = [*_count_departure(n, "samples"), *_reference_departure(dataset)]
    return _finish(model, dataset.manifest, loaded, metrics, impl, skipped, seed, train_seed, n, t0, info,
                   warnings, out)


def _check_out(out) -> None:
    if out is not None:
        check_writable(out)


def _check_model(model) -> None:
    if not isinstance(model, str) or not model.strip():
        raise UserError(f"the model name must be a non-empty string (got {model!r})")


def _check_count(n_samples) -> int:
    n = PROTOCOL["n_samples"] if n_samples is None else n_samples
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 2:
        raise UserError(f"n_samples must be an integer of at least 2 (got {n!r}); the protocol uses "
                        f"{PROTOCOL['n_samples']}")
    return int(n)


def dataset_and_judge(dataset, judge, train_videos: int | None = PROTOCOL["frechet_reference"]["count"]):
    """The dataset (a `DatasetHandle`, opened here if given as a folder), checked to be the one its
    manifest describes (its test shards and the shards of its first `train_videos` train videos, None:
    all, `samples.check_dataset`), and the judge that reads it (shipped, or the user's file), checked
    to fit."""
    dataset = open_dataset(dataset)
    check_dataset(dataset, train_videos)
    loaded = judge_for(dataset.manifest, judge)
    check_compatible(loaded.model, dataset.manifest)
    return dataset, loaded


def _count_departure(n: int, what: str) -> list[str]:
    want = PROTOCOL["n_samples"]
    if n == want:
        return []
    return [f"{n} {what}, the protocol uses {want}: Fréchet distances are not comparable across sample counts"]


def _reference_departure(dataset) -> list[str]:
    """The Fréchet reference is the first 2,048 train videos; a smaller train split gives fewer."""
    want = PROTOCOL["frechet_reference"]["count"]
    n = min(dataset.count(PROTOCOL["frechet_reference"]["split"]), want)
    if n == want:
        return []
    return [f"the Fréchet reference holds {n} train videos, the protocol uses the first {want}: Fréchet distances "
            f"are not comparable with a reference of {want} (make the dataset with --n {want} or more)"]


def _finish(model, manifest, loaded, metrics, impl, skipped, seed, train_seed, n, t0, info, warnings,
            out) -> dict:
    info = dict(info or {})
    if warnings or "warnings" in info:
        info["warnings"] = [*warnings, *info.get("warnings", [])]
    res = make_results(model=model, manifest=manifest, judge=loaded, metrics=metrics, metric_impl=impl,
                       skipped=skipped, eval_seed=seed, train_seed=train_seed, n_samples=n,
                       wall_time_s=time.time() - t0, info=info, protocol=PROTOCOL)
    if out is not None:
        write_results(out, res)
    return res


def evaluate_real(dataset, *, n_samples: int | None = None, judge=None, info: dict | None = None,
                  out=None, progress: bool = True) -> dict:
    """The ceiling row: the real test videos scored as if a model had generated them ("real-data")."""
    t0 = time.time()
    n = _check_count(n_samples)
    _check_out(out)
    dataset, loaded = dataset_and_judge(dataset, judge)
    test = dataset.test_columns(limit=n)
    n = len(test["caption"])
    if n < 2:
        raise UserError(f"{dataset.root} has {n} test video; scoring real videos needs at least 2 (the protocol "
                        f"uses {PROTOCOL['n_samples']}): make the dataset with --n-test {PROTOCOL['n_samples']}")
    heldout = test.get("heldout")
    metrics, impl, skipped = score_videos(test["video"], test["labels"], heldout, dataset, loaded,
                                          progress=progress)
    skipped["gam"] = "real data has no discriminator"
    warnings = [*_count_departure(n, "real test videos"), *_reference_departure(dataset)]
    return _finish(REAL_MODEL, dataset.manifest, loaded, metrics, impl, skipped, PROTOCOL["eval_seed"], None, n, t0,
                   {"note": "real test videos evaluated as samples: the ceiling", **(info or {})}, warnings, out)


def evaluate_file(samples_path, dataset, *, model: str | None = None, judge=None, info: dict | None = None,
                  out=None, eval_seed: int | None = None, train_seed: int | None = None,
                  progress: bool = True) -> dict:
    """`t2vbench eval --samples FILE.h5`: videos any code generated, with their captions (the shard
    layout: `video` uint8 (N, T, H, W, C), `caption`). Labels come from the captions by the dataset's
    grammar. Discriminator metrics are skipped (and say so). `model`, `eval_seed` and `train_seed`
    default to the file's attributes of those names (then the file name, the protocol's seed, none);
    those attributes must be a non-empty string and non-negative integers, other attributes are not read.
    Departures from the protocol (sample count, captions other than the test captions in order, a
    smaller Fréchet reference) are listed in the results' info["warnings"].
    The whole train split is checked, not only the reference's shards: the caption index reads every
    train shard's captions and labels."""
    t0 = time.time()
    if model is not None:
        _check_model(model)
    eval_seed, train_seed = check_seed("eval_seed", eval_seed), check_seed("train_seed", train_seed)
    _check_out(out)
    dataset, loaded = dataset_and_judge(dataset, judge, train_videos=None)
    path = Path(samples_path)
    try:
        with h5py.File(path, "r") as f:
            if "video" not in f or "caption" not in f:
                raise UserError(f"{path} needs datasets 'video' (N, T, H, W, C) uint8 and 'caption'; it has "
                                f"{', '.join(f.keys())}")
            for name in ("video", "caption"):
                if not isinstance(f[name], h5py.Dataset):
                    raise UserError(f"{path}: '{name}' is an HDF5 group; it must be a dataset (array)")
            attrs = samples_attributes(path, f.attrs)
            video = f["video"][:]
            if f["caption"].dtype.kind not in "SOU":
                raise UserError(f"{path}: 'caption' holds {f['caption'].dtype} values; it must hold strings "
                                "(e.g. h5py.string_dtype())")
            captions = [str(c) for c in f["caption"].asstr()[:]]
    except OSError as e:
        raise UserError(f"cannot read {path} as HDF5: {e}") from None
    if video.dtype != np.uint8 or video.ndim != 5:
        raise UserError(f"{path}: 'video' must be uint8 (N, T, H, W, C), got {video.dtype} {video.shape}")
    if len(captions) != len(video):
        raise UserError(f"{path}: {len(video)} videos but {len(captions)} captions")
    if len(video) < 2:
        raise UserError(f"{path} holds {len(video)} video(s); the protocol needs {PROTOCOL['n_samples']}")
    parser = cap.CaptionParser.from_dataset(dataset, loaded.model.attributes)
    labels = parser.labels_for(captions, loaded.model.slots)
    heldout_map = _heldout_map(dataset)
    heldout = np.array([heldout_map.get(c, False) for c in captions]) if heldout_map else None
    metrics, impl, skipped = score_videos(video, labels, heldout, dataset, loaded, progress=progress)
    skipped["gam"] = "needs the model's discriminator; not available for videos read from a file"
    name = model or attrs.get("model", path.stem)
    seed = attrs.get("eval_seed", PROTOCOL["eval_seed"]) if eval_seed is None else eval_seed
    train_seed = attrs.get("train_seed") if train_seed is None else train_seed
    warnings = [*_protocol_departures(dataset, captions), *_reference_departure(dataset)]
    return _finish(name, dataset.manifest, loaded, metrics, impl, skipped, seed, train_seed, len(video), t0,
                   {"samples_file": path.name, **(info or {})}, warnings, out)


def _protocol_departures(dataset, captions: list[str]) -> list[str]:
    """How a samples file departs from the protocol: sample i should show test caption i (cycling)."""
    n = len(captions)
    out = _count_departure(n, "samples")
    test = dataset.test_columns(video=False)["caption"]
    expected = [test[i] for i in caption_indices(n, len(test))]
    differ = sum(a != b for a, b in zip(captions, expected))
    if differ:
        out.append(f"{differ} of {n} captions are not the protocol's (sample i shows test caption i, in "
                   "order): the results are not comparable with runs under the protocol")
    return out


def _heldout_map(dataset) -> dict:
    """caption -> held out? from the dataset's test split (empty if it has no held-out captions)."""
    cols = dataset.test_columns(video=False)
    if "heldout" not in cols:
        return {}
    return {c: bool(h) for c, h in zip(cols["caption"], cols["heldout"])}
