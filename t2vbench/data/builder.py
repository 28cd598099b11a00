"""The interface of a dataset: one `DatasetBuilder` subclass per dataset, registered by name in
`t2vbench.registry.DATASETS`; `t2vbench.data.build.make_dataset` writes any builder's shards.

A builder is pickled into worker processes. `render` must depend only on (cfg, split, index range),
never on the shard layout, so that any shard size, worker count or cluster slicing gives the same bytes.
"""
from __future__ import annotations

import numpy as np


class DatasetBuilder:
    name: str  # the dataset's name, as in `t2vbench make-dataset NAME`
    version: str  # the generator's version, recorded in every shard and the manifest
    parallel_render: bool = True  # False: render in the parent process (e.g. one decoder for all videos)

    def resolve(self, opts: dict) -> dict:
        """The user's options (None = default) -> the full config, hashed and stored in every shard;
        a bad option raises UserError."""
        raise NotImplementedError

    def counts(self, cfg: dict) -> dict:
        """{split: number of videos}."""
        raise NotImplementedError

    def prepare(self, cfg: dict) -> None:
        """Load or check what rendering needs (sources), once, before any shard."""

    def video_shape(self, cfg: dict) -> tuple | None:
        """(T, H, W) when `render` can fill a reused buffer passed as `out=`; None otherwise."""
        return None

    def source(self, cfg: dict) -> dict:
        """Provenance of the source data (files, sha256), recorded in the manifest."""
        raise NotImplementedError

    def vocabulary(self, cfg: dict) -> list[str]:
        """The caption words, in token-id order."""
        raise NotImplementedError

    def label_names(self, cfg: dict) -> dict:
        """{label: value names} of the label/<name> columns."""
        raise NotImplementedError

    def semantics(self, cfg: dict) -> str:
        """What a caption promises about the pixels, in words (the manifest's caption_semantics)."""
        raise NotImplementedError

    def captions_of(self, cfg: dict, labels: dict) -> list[str] | None:
        """The captions that label columns {name: (N, S) ints} stand for, so `info --verify` can check
        labels against captions; None: this dataset's captions cannot be told from its labels."""
        return None

    def render(self, cfg: dict, split: str, start: int, stop: int, out: np.ndarray | None = None) -> dict:
        """Columns of videos [start, stop) of `split`: video uint8 (N, T, H, W, C), caption, tokens,
        label/<name>, and any extra columns."""
        raise NotImplementedError
