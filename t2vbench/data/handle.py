"""A dataset opened once: its manifest, vocabulary and (cached) test columns, handed from the command
through training, sampling and evaluation, so that no layer reads the manifest or the test split again.
"""
from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

import numpy as np

from t2vbench.data.format import dataset_folder, read_manifest, split_shards
from t2vbench.data.vocab import Vocabulary
from t2vbench.errors import UserError

# Label columns a caption promises (and a judge reads); others (KTH person, scenario) are provenance.
PROMISED = ("digit", "motion", "action", "direction")


def promised_labels(manifest: dict) -> dict:
    """{attribute: value names} of what the dataset's captions promise, in manifest order."""
    labels = {k: list(v) for k, v in (manifest.get("labels") or {}).items() if k in PROMISED}
    if not labels:
        raise UserError(f"dataset '{manifest['dataset']}' has no caption labels in its manifest; a judge needs "
                        "label/<name> columns (MNIST: digit, motion; KTH-4: action, direction)")
    return labels


class DatasetHandle:
    """`open_dataset(root)`; the handle is read-only and cheap to pass around (not to pickle into
    DataLoader workers: give them `VideoTextDataset(handle.root)`)."""

    def __init__(self, root, manifest: dict | None = None):
        self.root = dataset_folder(root)
        self.manifest = read_manifest(self.root) if manifest is None else manifest
        self._test: dict = {}

    def __repr__(self) -> str:
        return f"DatasetHandle({str(self.root)!r}, {self.name})"

    def __fspath__(self) -> str:
        return str(self.root)

    # -- identity
    @property
    def name(self) -> str:
        return self.manifest["dataset"]

    @property
    def config(self) -> dict:
        return self.manifest["config"]

    @property
    def config_sha256(self) -> str | None:
        return self.manifest.get("config_sha256")

    @property
    def labels(self) -> dict:
        return self.manifest.get("labels", {})

    @property
    def promised_labels(self) -> dict:
        """{attribute: value names} the captions promise (KTH's person and scenario are not promised)."""
        return promised_labels(self.manifest)

    @cached_property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary(self.manifest["vocabulary"])

    def has_split(self, split: str) -> bool:
        return split in self.manifest["splits"]

    def count(self, split: str) -> int:
        return sum(int(s["count"]) for s in split_shards(self.manifest, split))

    def verify(self, split: str) -> None:
        """The manifest's consistency and every shard of `split` against it (sha256, size, root attributes,
        rows; `t2vbench.data.verify`): an edited or damaged shard is named (one line) before anything is
        read from it."""
        from t2vbench.data.verify import verify_dataset

        verify_dataset(self.root, self.manifest, splits=[split], columns=False)

    # -- columns
    def read(self, split: str, columns=None, limit: int | None = None) -> dict:
        """Whole columns of a split (`read_split` with this handle's manifest)."""
        from t2vbench.data.dataset import read_split

        return read_split(self.root, split, columns=columns, limit=limit, manifest=self.manifest)

    def has_column(self, split: str, name: str) -> bool:
        import h5py

        from t2vbench.data.format import open_shard

        with open_shard(self.root / split_shards(self.manifest, split)[0]["file"]) as f:
            assert isinstance(f, h5py.File)
            return name in f

    def test_columns(self, video: bool = True, limit: int | None = None) -> dict:
        """The test split's caption, tokens, promised labels {name: (N, S) int64}, `heldout` where the
        dataset has it, and `video` if asked; read once per handle (the test split is a few MB)."""
        key = "with_video" if video else "no_video"
        if key not in self._test and not (not video and "with_video" in self._test):
            names = list(self.promised_labels)
            cols = (["video"] if video else []) + ["caption", "tokens", *[f"label/{n}" for n in names]]
            if self.has_column("test", "heldout"):
                cols.append("heldout")
            out = self.read("test", columns=cols)
            out["labels"] = {n: np.asarray(out.pop(f"label/{n}"), dtype=np.int64).reshape(len(out["caption"]), -1)
                             for n in names}
            self._test[key] = out
        full = self._test.get(key) or self._test["with_video"]
        if limit is None:
            return full
        cut = {k: v[:limit] for k, v in full.items() if k != "labels"}
        cut["labels"] = {k: v[:limit] for k, v in full["labels"].items()}
        return cut


def open_dataset(dataset) -> DatasetHandle:
    """A handle for a dataset folder (or its manifest.json); a handle is returned as it is."""
    if isinstance(dataset, DatasetHandle):
        return dataset
    return DatasetHandle(Path(os.fspath(dataset)))
