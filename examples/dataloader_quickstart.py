"""Make a small captioned Moving MNIST-4 set and read it with a PyTorch DataLoader.

    python examples/dataloader_quickstart.py [--digits ../shared/data/mnist]
"""
import argparse

from torch.utils.data import DataLoader

from t2vbench import VideoTextDataset, make_dataset
from t2vbench.video import caption_grid, save_gif

ap = argparse.ArgumentParser()
ap.add_argument("--digits", default=None, help="MNIST IDX folder (default: cache, download or offline subset)")
ap.add_argument("--out", default="data/quickstart")
args = ap.parse_args()

root = make_dataset("smnist4", args.out, n=2048, n_test=256, digits=args.digits)
train = VideoTextDataset(root, "train")
loader = DataLoader(train, batch_size=8, shuffle=True, num_workers=2, persistent_workers=True)
batch = next(iter(loader))
print(batch["video"].shape, batch["tokens"].shape)  # (8, 16, 1, 64, 64) and (8, L)
for caption, digit, motion in zip(batch["caption"], batch["labels"]["digit"], batch["labels"]["motion"]):
    print(f"{caption!r:45}  digit={digit.tolist()} motion={motion.tolist()}")
videos = (batch["video"] * 255).round().byte().permute(0, 1, 3, 4, 2).numpy()  # back to (N, T, H, W, C) uint8
save_gif(caption_grid(videos, batch["caption"]), "batch.gif")
print("wrote batch.gif")
