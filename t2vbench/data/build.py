"""Write a dataset as shards plus a manifest: planning, resume, worker processes, cluster slices.

A builder (`t2vbench.data.builder.DatasetBuilder`, one per dataset in `generators/`) supplies the
resolved config, the vocabulary, the source provenance, the number of videos per split, and
`render(cfg, split, start, stop)`, the columns of videos [start, stop).
"""
from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from t2vbench import __version__
from t2vbench.data.format import (FORMAT_VERSION, MANIFEST, canonical_json, fsync_dir, sha256_file, sha256_json,
                                  shard_filename, write_json_atomic)
from t2vbench.data.writer import is_own_file, remove_stale_temps, write_shard
from t2vbench.errors import UserError


@dataclass(frozen=True)
class ShardJob:
    split: str
    index: int
    of: int
    start: int
    stop: int

    @property
    def file(self) -> str:
        return shard_filename(self.split, self.index, self.of)


MAX_SHARDS = 99_999  # shard names carry 5-digit numbers (format.shard_name)


def plan_shards(counts: dict, shard_size: int) -> list[ShardJob]:
    jobs = []
    for split, n in counts.items():
        k = -(-n // shard_size)
        if k > MAX_SHARDS:
            raise UserError(f"{n} {split} videos make {k} shards of {shard_size}; a split holds at most "
                            f"{MAX_SHARDS} shards: use a larger --shard-size or fewer videos")
        jobs += [ShardJob(split, i, k, i * shard_size, min(n, (i + 1) * shard_size)) for i in range(k)]
    return jobs


def _check_memory(builder, cfg: dict, counts: dict, shard_size: int) -> None:
    """A shard is rendered whole in memory: refuse one that cannot fit, before any work."""
    shape = builder.video_shape(cfg)
    if shape is None or not hasattr(os, "sysconf"):
        return
    videos = min(shard_size, max(counts.values(), default=0))
    need = videos * math.prod(shape) * int(cfg.get("channels", 1))
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return
    if need > ram // 2:
        raise UserError(f"a shard of {videos} videos of {' x '.join(map(str, shape))} px needs "
                        f"{need / 2**30:.1f} GiB of memory, this machine has {ram / 2**30:.0f} GiB: use a smaller "
                        "--shard-size or --size")


def shard_attrs(builder, cfg: dict) -> dict:
    """Attributes every shard of this config shares; computed once, in the parent process."""
    return {
        "format_version": FORMAT_VERSION,
        "dataset": builder.name,
        "generator": type(builder).__module__,
        "generator_version": builder.version,
        "t2vbench_version": __version__,
        "seed": int(cfg.get("seed", 0)),
        "config_json": canonical_json(cfg),
        "config_sha256": sha256_json(cfg),
        "source_json": canonical_json(builder.source(cfg)),
    }


def _job_attrs(base: dict, job: ShardJob) -> dict:
    return dict(base, split=job.split, shard_index=job.index, num_shards=job.of, start=job.start,
                count=job.stop - job.start)


class _Buffers:
    """One reusable render buffer per process, for builders whose render() accepts `out`."""
    array = None

    @classmethod
    def get(cls, shape: tuple):
        n = shape[0]
        if cls.array is None or cls.array.shape[1:] != shape[1:] or len(cls.array) < n:
            import numpy as np

            cls.array = np.empty(shape, np.uint8)
        return cls.array[:n]


def render_job(builder, cfg: dict, base: dict, job: ShardJob, root: Path, level: int, threads: int | None = None) -> dict:
    shape = builder.video_shape(cfg)
    out = _Buffers.get((job.stop - job.start, *shape)) if shape else None
    columns = builder.render(cfg, job.split, job.start, job.stop, **({"out": out} if shape else {}))
    return write_shard(root / job.file, columns, _job_attrs(base, job), level=level, threads=threads)


def _worker_init():
    import signal

    import numba

    numba.set_num_threads(1)  # processes, not threads, carry the parallelism here
    # Ctrl-C reaches the whole process group: the parent alone stops the run; a worker that caught it
    # would report one failed shard and go on with the next
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker(builder, cfg: dict, base: dict, job: ShardJob, root: str, level: int) -> dict:
    return render_job(builder, cfg, base, job, Path(root), level, threads=1)


def _shard_matches(path: Path, base: dict, job: ShardJob) -> bool:
    """A finished shard can be kept only if it is whole and was made by this config and this code."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return (all(f.attrs.get(k) == base[k] for k in ("config_sha256", "generator_version", "format_version"))
                    and int(f.attrs.get("count", -1)) == job.stop - job.start
                    and f["video"].shape[0] == job.stop - job.start)
    except (OSError, KeyError):
        return False


def _manifest_intact(root: Path) -> bool:
    try:
        m = json.loads((root / MANIFEST).read_text())
        return all((root / e["file"]).is_file() and (root / e["file"]).stat().st_size == e["bytes"]
                   for s in m["splits"].values() for e in s["shards"])
    except (OSError, ValueError, KeyError):
        return False


def _check_output(root: Path, base: dict, overwrite: bool, jobs: list[ShardJob]) -> str:
    """Decide what to do with an existing output folder: 'fresh', 'resume' or 'complete'.

    Only t2vbench's own names (shards, manifest, temp files) are ever touched; anything else in the
    folder makes us refuse, with or without --overwrite, so no user file is lost.
    """
    if not root.exists() or not any(root.iterdir()):
        return "fresh"
    foreign = sorted(p.name for p in root.iterdir() if not (p.is_file() and is_own_file(p.name)))
    if foreign:
        raise UserError(f"{root} holds files that are not part of a t2vbench dataset ({', '.join(foreign[:3])}); "
                        "choose another --out")
    if overwrite:
        for p in root.iterdir():
            p.unlink()
        return "fresh"
    cfg_hash = base["config_sha256"]
    if (root / MANIFEST).exists():
        try:
            same = json.loads((root / MANIFEST).read_text()).get("config_sha256") == cfg_hash
        except ValueError:
            same = False
        if not same:
            raise UserError(f"{root} already holds a dataset with another config; add --overwrite to replace it "
                            "or choose another --out")
        if _manifest_intact(root):
            return "complete"
    names = {j.file for j in jobs}
    by_name = {j.file: j for j in jobs}
    for p in sorted(root.glob("*.h5")):
        if p.name not in names or not _shard_matches(p, base, by_name[p.name]):
            raise UserError(f"{root} holds shards of another config or layout ({p.name}); add --overwrite to replace "
                            "them or choose another --out")
    return "resume"


def build_dataset(builder, cfg: dict, out, *, shard_size: int = 2048, workers: int = 1, shard_index: int = 0,
                  num_shards: int = 1, finalize: bool = False, overwrite: bool = False, level: int = 1,
                  progress: bool = True, log=lambda msg: print(msg, file=sys.stderr)) -> dict:
    """Write (or resume, or finalize) dataset `builder.name` under OUT/NAME; return the manifest."""
    if shard_size <= 0:
        raise UserError("--shard-size must be positive")
    if workers <= 0:
        raise UserError("--workers must be at least 1")
    if num_shards <= 0 or not 0 <= shard_index < num_shards:
        raise UserError(f"--shard-index must be in [0, --num-shards) (got {shard_index} of {num_shards})")
    if overwrite and (num_shards > 1 or finalize):
        raise UserError("--overwrite cannot be combined with --num-shards/--finalize: one slice would delete the "
                        "others' shards; clear the output folder once before starting the slices")
    if not builder.parallel_render:
        workers = 1
    root = Path(out) / builder.name
    base = shard_attrs(builder, cfg)
    cfg_hash = base["config_sha256"]
    counts = builder.counts(cfg)
    jobs = plan_shards(counts, shard_size)
    _check_memory(builder, cfg, counts, shard_size)
    if root.exists() and not root.is_dir():
        raise UserError(f"{root} is a file; the dataset needs a folder there: choose another --out")
    state = _check_output(root, base, overwrite, jobs)
    if state == "complete":
        log(f"{root} is already complete (same config {cfg_hash[:12]}); nothing to do (--overwrite rebuilds it)")
        return json.loads((root / MANIFEST).read_text())
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {root} ({e.strerror or e}); choose another --out") from None

    entries: dict[str, dict] = {}
    mine = [] if finalize else [j for n, j in enumerate(jobs) if n % num_shards == shard_index]
    if remove_stale_temps(root, [j.file for j in mine]):  # only our own slice's: other slices may be writing
        log(f"removed temp files of an interrupted run in {root}")
    todo = []
    for job in mine:
        path = root / job.file
        if path.exists() and _shard_matches(path, base, job):
            continue
        todo.append(job)
    if len(todo) < len(mine):
        log(f"resuming: {len(mine) - len(todo)} of {len(mine)} shards already written")

    from tqdm import tqdm

    total = sum(j.stop - j.start for j in todo)
    if todo:
        builder.prepare(cfg)  # compile / load caches once, in the parent, before any worker starts
    with tqdm(total=total, unit="video", desc=f"{builder.name}", disable=not progress or total == 0,
              file=sys.stderr, smoothing=0.1) as bar:
        if workers == 1 or len(todo) <= 1:
            for job in todo:
                entries[job.file] = render_job(builder, cfg, base, job, root, level)
                bar.update(job.stop - job.start)
        else:
            with ProcessPoolExecutor(min(workers, len(todo)), mp.get_context("spawn"), _worker_init) as pool:
                futures = {pool.submit(_worker, builder, cfg, base, job, str(root), level): job for job in todo}
                try:
                    for fut in as_completed(futures):
                        job = futures[fut]
                        entries[job.file] = fut.result()
                        bar.update(job.stop - job.start)
                except BaseException:  # Ctrl-C or a failed shard: drop the queue, let running shards land
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise

    missing = [j.file for j in jobs if not (root / j.file).exists()]
    if missing and num_shards > 1 and not finalize:
        log(f"wrote slice {shard_index} of {num_shards}; {len(missing)} shards still missing. When all slices "
            "are done, run the same command with --finalize to write the manifest")
        return {}
    if missing:
        raise UserError(f"cannot finalize {root}: {len(missing)} shards are missing (first: {missing[0]}); "
                        "run the remaining --shard-index slices first")
    for job in jobs:
        if job.file not in entries:
            path = root / job.file
            if not _shard_matches(path, base, job):
                raise UserError(f"{path} does not belong to this config or is corrupt; delete it and re-run")
            entries[job.file] = {"file": job.file, "count": job.stop - job.start, "bytes": path.stat().st_size,
                                 "sha256": sha256_file(path)}
    manifest = {
        "format_version": FORMAT_VERSION,
        "dataset": builder.name,
        "generator": type(builder).__module__,
        "generator_version": builder.version,
        "t2vbench_version": __version__,
        "config": cfg,
        "config_sha256": cfg_hash,
        "source": json.loads(base["source_json"]),
        "vocabulary": builder.vocabulary(cfg),
        "labels": builder.label_names(cfg),
        "caption_semantics": builder.semantics(cfg),
        "splits": {
            split: {"count": counts[split],
                    "shards": [dict(entries[j.file], start=j.start) for j in jobs if j.split == split]}
            for split in counts
        },
    }
    write_json_atomic(root / MANIFEST, manifest)
    fsync_dir(root)
    return manifest


DATASET_OPTIONS = {"n", "n_test", "seed", "frames", "size", "holdout", "digits", "speed_min", "speed_max",
                   "kth_dir", "kth_split", "caption_style"}


def make_dataset(name: str, out, *, shard_size: int = 2048, workers: int = 1, overwrite: bool = False,
                 progress: bool = False, **opts) -> Path:
    """Python twin of `t2vbench make-dataset NAME`: build OUT/NAME and return that folder.

    `opts` are the command's options with underscores (n, n_test, seed, frames, size, holdout, digits...).
    """
    from t2vbench.registry import dataset_builder

    unknown = sorted(set(opts) - DATASET_OPTIONS)
    if unknown:
        raise UserError(f"make_dataset: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(DATASET_OPTIONS))}")
    builder = dataset_builder(name)
    cfg = builder.resolve(dict(opts, workers=workers))
    build_dataset(builder, cfg, out, shard_size=shard_size, workers=workers, overwrite=overwrite,
                  progress=progress, log=lambda msg: None)
    return Path(out) / name
