"""Whether a dataset folder is the dataset its manifest describes, and the manifest the one make-dataset
wrote: the first thing found wrong is one UserError naming the file and what differs.

What is checked (`t2vbench info --verify`; `DatasetHandle.verify` does the same for one split, without
reading the columns):

- the manifest: its config against its config_sha256; each split's count against its shards' counts
  and their starts; its vocabulary and label names against what the dataset's builder gives for that
  config (when this t2vbench has the builder, at the generator version that made the dataset);
- each shard: present, its size and sha256 as the manifest records them, its root attributes
  (dataset, config sha256, split, count, start) against the manifest, its rows against its count;
- the columns (`columns=True`): each caption's tokens against the manifest's vocabulary, each label
  value within its names, and each caption against the one its labels stand for (the builder's
  `captions_of`), so that a flipped `label/digit` byte is named even where the manifest was edited to
  fit the shard's new sha256.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from t2vbench.data.format import MANIFEST, attr_value, corrupt, open_shard, sha256_file, sha256_json, split_shards
from t2vbench.data.vocab import Vocabulary, tokenize
from t2vbench.errors import UserError

REGENERATE = "regenerate the dataset with --overwrite"


def _builder(manifest: dict):
    """The builder that made this dataset, if this t2vbench has it at the same generator version."""
    from t2vbench.registry import DATASETS

    name = manifest.get("dataset")
    if name not in DATASETS:
        return None
    builder = DATASETS.load(name)()
    return builder if builder.version == manifest.get("generator_version") else None


def check_manifest(root: Path, manifest: dict) -> None:
    """The manifest's own consistency: config hash, counts and starts, vocabulary and label names."""
    where = root / MANIFEST
    if manifest.get("config_sha256") != sha256_json(manifest["config"]):
        raise UserError(f"{where}: its config does not match its config_sha256 (the manifest was edited); "
                        f"{REGENERATE}")
    for split, s in manifest["splits"].items():
        start = 0
        for e in s["shards"]:
            if int(e.get("start", start)) != start:
                raise UserError(f"{where}: {split} shard {e['file']} starts at video {e.get('start')}, after "
                                f"{start} videos in the shards before it (the manifest was edited); {REGENERATE}")
            start += int(e["count"])
        if int(s["count"]) != start:
            raise UserError(f"{where}: the {split} split's count is {s['count']}, its shards hold {start} videos "
                            f"(the manifest was edited); {REGENERATE}")
    builder = _builder(manifest)
    if builder is None:
        return
    cfg = manifest["config"]
    if list(manifest["vocabulary"]) != builder.vocabulary(cfg):
        raise UserError(f"{where}: its vocabulary is not the one {manifest['dataset']} uses with this config (the "
                        f"manifest was edited); {REGENERATE}")
    if manifest.get("labels") != builder.label_names(cfg):
        raise UserError(f"{where}: its label names are not the ones {manifest['dataset']} uses with this config (the "
                        f"manifest was edited); {REGENERATE}")


def check_shard(root: Path, manifest: dict, split: str, entry: dict, columns: bool = False) -> None:
    path = root / entry["file"]
    f = open_shard(path)  # a missing shard or a dangling link is named there
    try:
        with f:
            attrs = {k: attr_value(f.attrs.get(k)) for k in ("dataset", "config_sha256", "split", "count", "start")}
            rows = f["video"].shape[0] if "video" in f else None
            cols = _columns(f, manifest) if columns else None
    except (OSError, KeyError) as e:
        raise corrupt(path, e) from None
    if path.stat().st_size != entry.get("bytes") or sha256_file(path) != entry.get("sha256"):
        raise UserError(f"{path} does not match its sha256 in the manifest (edited or damaged); {REGENERATE}")
    want = {"dataset": manifest["dataset"], "config_sha256": manifest.get("config_sha256"), "split": split,
            "count": int(entry["count"]), "start": int(entry.get("start", attrs["start"] or 0))}
    for k, v in want.items():
        if attrs[k] != v:
            raise UserError(f"{path} is not a {split} shard of this dataset: its {k} is {attrs[k]!r}, the manifest's "
                            f"{v!r} (a shard of another dataset, or an edited manifest); {REGENERATE}")
    if rows != int(entry["count"]):
        raise UserError(f"{path} holds {rows} videos, the manifest says {entry['count']}; {REGENERATE}")
    if cols is not None:
        _check_columns(path, manifest, *cols)


def _columns(f, manifest):
    caption = [str(c) for c in f["caption"].asstr()[:]]
    tokens = f["tokens"][:] if "tokens" in f else None
    labels = {k: np.asarray(v[:]).reshape(len(caption), -1) for k, v in f["label"].items()} if "label" in f else {}
    return caption, tokens, labels


def _check_columns(path: Path, manifest: dict, caption, tokens, labels) -> None:
    vocab = Vocabulary(manifest["vocabulary"])
    for i, c in enumerate(caption):
        unknown = [w for w in tokenize(c) if w not in vocab.index]
        if unknown:
            raise UserError(f"{path}: video {i}'s caption {c!r} has the word {unknown[0]!r}, which the manifest's "
                            f"vocabulary lacks (an edited manifest or caption); {REGENERATE}")
    if tokens is not None and len(caption):
        want = vocab.encode_batch(caption, tokens.shape[1])
        bad = np.flatnonzero((want != tokens).any(1))
        if len(bad):
            i = int(bad[0])
            raise UserError(f"{path}: video {i}'s tokens are not its caption {caption[i]!r} in the manifest's "
                            f"vocabulary (an edited manifest, caption or tokens); {REGENERATE}")
    names = manifest.get("labels") or {}
    for k, v in labels.items():
        if k in names and v.size and (v.min() < 0 or v.max() >= len(names[k])):
            i = int(np.flatnonzero(((v < 0) | (v >= len(names[k]))).any(1))[0])
            raise UserError(f"{path}: video {i}'s label/{k} is {v[i].tolist()}, beyond the manifest's "
                            f"{len(names[k])} {k} names; {REGENERATE}")
    builder = _builder(manifest)
    if builder is None or not caption:
        return
    missing = sorted(set(builder.label_names(manifest["config"])) - set(labels))
    if missing:
        raise UserError(f"{path} has no label/{missing[0]} column; {REGENERATE}")
    implied = builder.captions_of(manifest["config"], labels)
    if implied is None:
        return
    for i, (c, w) in enumerate(zip(caption, implied)):
        if c != w:
            raise UserError(f"{path}: video {i} is captioned {c!r}, its labels say {w!r} (a label or caption was "
                            f"edited); {REGENERATE}")


def verify_dataset(root, manifest: dict, splits=None, columns: bool = True) -> int:
    """Check the manifest and every shard of `splits` (default all); return the number of shards."""
    root = Path(root)
    check_manifest(root, manifest)
    n = 0
    for split in splits or list(manifest["splits"]):
        for entry in split_shards(manifest, split):
            check_shard(root, manifest, split, entry, columns=columns)
            n += 1
    return n
