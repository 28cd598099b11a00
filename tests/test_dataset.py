"""The PyTorch Dataset: items, and DataLoader workers under fork and spawn."""
from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from t2vbench import VideoTextDataset
from t2vbench.data.dataset import read_split


def test_item_layout(make):
    root = make("dmnist4", n=1500, n_test=500)
    ds = VideoTextDataset(root, "test")
    assert len(ds) == 500
    item = ds[3]
    assert item["video"].shape == (16, 1, 64, 64) and item["video"].dtype == torch.float32
    assert 0.0 <= item["video"].min() and item["video"].max() <= 1.0
    raw = read_split(root, "test", columns=["video", "caption", "label/digit"])
    back = (item["video"] * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
    assert torch.equal(back, torch.from_numpy(raw["video"][3]))
    assert item["caption"] == raw["caption"][3] and ds.vocab.decode(item["tokens"]) == item["caption"]
    assert item["labels"]["digit"].tolist() == raw["label/digit"][3].tolist()
    assert ds[-1]["index"] == 499
    with pytest.raises(IndexError):
        ds[500]
    flipped = VideoTextDataset(root, "test", transform=lambda v: v.flip(-1))
    assert torch.equal(flipped[3]["video"], item["video"].flip(-1))
    raw8 = VideoTextDataset(root, "test", video_dtype="uint8")[3]["video"]
    assert raw8.dtype == torch.uint8 and torch.equal(raw8.float().div_(255), item["video"])


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_dataloader_workers(make, method):
    root = make("smnist4", n=3000, n_test=1000)
    ds = VideoTextDataset(root, "train")
    ds[0]  # open handles in the parent: a forked worker must not reuse them
    loader = DataLoader(ds, batch_size=64, num_workers=2, multiprocessing_context=mp.get_context(method),
                        shuffle=False)
    seen, captions = [], []
    for batch in loader:
        seen.append(batch["index"])
        captions += batch["caption"]
        assert batch["video"].shape[1:] == (16, 1, 64, 64)
    assert torch.cat(seen).tolist() == list(range(3000))
    assert captions == read_split(root, "train", columns=["caption"])["caption"]
    raw = read_split(root, "train", columns=["video"], limit=64)["video"]
    first = next(iter(loader))["video"]
    assert np.array_equal((first * 255).round().byte().permute(0, 1, 3, 4, 2).numpy(), raw)


def test_corrupt_shard_gives_a_clear_error(make, tmp_path):
    import shutil

    from t2vbench.errors import UserError

    root = tmp_path / "smnist4"
    shutil.copytree(make("smnist4", n=3000, n_test=1000), root)
    shard = root / "test-00000-of-00001.h5"
    shard.write_bytes(shard.read_bytes()[:5000])
    with pytest.raises(UserError, match="does not match its sha256 in the manifest"):
        VideoTextDataset(root, "test")[0]
    with pytest.raises(UserError, match="corrupt shard"):  # unchecked, the read itself fails cleanly
        VideoTextDataset(root, "test", verify=False)[0]
    with pytest.raises(UserError, match="no split"):
        VideoTextDataset(root, "valid")


def test_a_dropped_dataset_keeps_no_descriptors(make):
    import gc
    import os

    root = make("smnist4", n=3000, n_test=16)  # two train shards
    fds = lambda: len(os.listdir("/proc/self/fd"))  # noqa: E731
    VideoTextDataset(root, "train")[0]  # warm imports and caches
    gc.collect()
    before = fds()
    for _ in range(5):
        ds = VideoTextDataset(root, "train")
        ds[0], ds[-1]
        del ds
        gc.collect()
    assert fds() <= before


def test_manifest_path_or_parent_folder_as_root(make, capsys):
    from t2vbench.errors import UserError

    root = make("smnist4", n=64, n_test=16)
    assert len(VideoTextDataset(root / "manifest.json", "test")) == 16
    assert len(read_split(root / "manifest.json", "test", columns=["caption"])["caption"]) == 16
    with pytest.raises(UserError, match=f"holds datasets, it is not one: pass {root}"):
        VideoTextDataset(root.parent, "test")
