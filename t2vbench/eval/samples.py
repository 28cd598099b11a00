"""What an evaluation takes in, checked before any work, and the protocol's samples.

- `check_dataset`: the shards an evaluation reads are the dataset its manifest describes;
- `check_seed`, `samples_attributes`: seeds and a samples file's attributes, valid or refused;
- `generate_samples`: sample i shows test caption i (cycling) with the per-sample seed
  `protocol.sample_seeds(eval_seed, i)`, so neither the batch size nor the batch order changes a video.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from t2vbench.errors import UserError
from t2vbench.eval.protocol import PROTOCOL, caption_indices, sample_seeds
from t2vbench.judge.model import to_uint8_video


def check_dataset(dataset, train_videos: int | None = 0) -> None:
    """Refuse a dataset whose shards are not the ones its manifest describes, before anything is generated
    or scored: evaluation must never score damaged or edited data as if it were the dataset, and a bad
    dataset should fail in a second, not after the work.

    The manifest's own consistency (`data.verify.check_manifest`); a test split with videos (and a train
    split, when read, with at least the two a Fréchet distance needs); and every test shard and the train
    shards holding the first `train_videos` train videos against the manifest: sha256, size, root
    attributes, rows (`data.verify.check_shard`), so a shard of another dataset is named even where the
    manifest was edited to fit it. A shard is verified whole: its sha256 covers the whole file.
    The shards whose captions and labels are read, the test split's and, for `train_videos=None` (the
    caption index of `evaluate_file`), every train shard, also get the column checks: captions against
    their tokens and labels, so an edited label is named even where the manifest's sha256 was edited
    to fit it. The Fréchet reference reads only videos."""
    from t2vbench.data.format import split_shards
    from t2vbench.data.verify import check_manifest, check_shard

    root, m = dataset.root, dataset.manifest
    check_manifest(root, m)
    if not dataset.has_split("test") or dataset.count("test") == 0:
        raise UserError(f"{root} has no test videos (made with --n-test 0?): evaluation scores the test split's "
                        f"captions; make the dataset with --n-test {PROTOCOL['n_samples']}, the protocol's count")
    shards = [("test", e, True) for e in split_shards(m, "test")]
    if train_videos != 0:
        n_train = dataset.count("train")
        if n_train < 2:
            raise UserError(f"{root} has {n_train} train video(s); the Fréchet reference (the first "
                            f"{PROTOCOL['frechet_reference']['count']} train videos) needs at least 2: make the "
                            "dataset with a larger --n")
        shards += [("train", e, train_videos is None) for e in split_shards(m, "train")
                   if train_videos is None or int(e.get("start", 0)) < train_videos]
    for split, entry, columns in shards:
        check_shard(root, m, split, entry, columns=columns)


def check_seed(name: str, value) -> int | None:
    """A seed as an int: a non-negative integer (or None: not given), else one line naming it."""
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise UserError(f"{name} must be a non-negative integer (got {value!r})")
    return int(value)


def samples_attributes(path, attrs) -> dict:
    """The attributes of a samples file that fill in the evaluation's options, validated before any
    scoring: `model` a non-empty string, `train_seed` and `eval_seed` non-negative integers (also where
    an option overrides one: a malformed file is refused, not half read). Other attributes are not read."""
    out = {}
    if "model" in attrs:
        v = attrs["model"]
        if isinstance(v, np.ndarray) and v.size == 1:
            v = v.reshape(()).item()
        if isinstance(v, bytes):
            v = v.decode(errors="replace")
        if not isinstance(v, str) or not v.strip():
            raise UserError(f"{path}: attribute 'model' must be a non-empty string (got {_shown(v)}); fix it, e.g. "
                            "f.attrs['model'] = 'mymodel'")
        out["model"] = v
    for name in ("train_seed", "eval_seed"):
        if name in attrs:
            try:
                out[name] = check_seed(name, attrs[name])
            except UserError:
                raise UserError(f"{path}: attribute '{name}' must be a non-negative integer (got "
                                f"{_shown(attrs[name])}); fix it, e.g. f.attrs['{name}'] = 0") from None
    return out


def _shown(v) -> str:
    if isinstance(v, np.ndarray):
        return f"an array of shape {v.shape}"
    return repr(v.item() if isinstance(v, np.generic) else v)[:60]


def generate_samples(generate, dataset, n: int, *, seed: int, batch_size: int = 64, progress: bool = True):
    """Call `generate(tokens, captions, seeds)` over the first n protocol captions of `dataset` (a
    `DatasetHandle`); return uint8 videos (n, T, H, W, C) and the tokens used."""
    if batch_size <= 0:
        raise UserError(f"batch_size must be positive (got {batch_size})")
    test = dataset.test_columns(video=False)
    if not test.get("caption"):
        raise UserError(f"{dataset.root} has an empty test split; the protocol samples its captions")
    idx = caption_indices(n, len(test["caption"]))
    tokens = np.asarray(test["tokens"])[idx]
    captions = [test["caption"][i] for i in idx]
    seeds = sample_seeds(seed, np.arange(n))
    out = None
    for s in tqdm(range(0, n, batch_size), desc="generate", unit="batch", disable=not progress, leave=False):
        e = min(n, s + batch_size)
        v = generate(torch.from_numpy(tokens[s:e].astype(np.int64)), captions[s:e], torch.from_numpy(seeds[s:e]))
        v = to_uint8_video(v)
        if len(v) != e - s:
            raise UserError(f"generate returned {len(v)} videos for a batch of {e - s} captions")
        if out is None:
            out = np.empty((n, *v.shape[1:]), np.uint8)
        elif v.shape[1:] != out.shape[1:]:
            raise UserError(f"generate returned videos of shape {v.shape[1:]}, earlier {out.shape[1:]}")
        out[s:e] = v
    return out, tokens
