"""Write a dataset as shards plus a manifest: planning, resume, worker processes, cluster slices.

A builder (`t2vbench.data.builder.DatasetBuilder`, one per dataset in `generators/`) supplies the
resolved config, the vocabulary, the source provenance, the number of videos per split, and
`render(cfg, split, start, stop)`, the columns of videos [start, stop).
"""
from __future__ import annotations

import hashlib
import json
import math
import multiprocessing as mp
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from t2vbench import __version__
from t2vbench.data.format import (
    FORMAT_VERSION,
    LOCK,
    MANIFEST,
    SHARD_NAME,
    SLICE_NAME,
    attr_value,
    cannot_write,
    canonical_json,
    dangling,
    fsync_dir,
    is_own_name,
    os_reason,
    sha256_file,
    sha256_json,
    shard_filename,
    temp_of,
    write_json_atomic,
)
from t2vbench.data.lock import FolderLock
from t2vbench.data.writer import remove_stale_temps, shard_image, write_shard
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


def render_job(builder, cfg: dict, base: dict, job: ShardJob, root: Path, level: int, threads: int | None = None,
               check: bool = False) -> dict:
    """Render one shard and write it; with `check`, compare it with the shard already at its name instead
    (a shard is kept only if it is byte for byte what this config renders)."""
    shape = builder.video_shape(cfg)
    out = _Buffers.get((job.stop - job.start, *shape)) if shape else None
    columns = builder.render(cfg, job.split, job.start, job.stop, **({"out": out} if shape else {}))
    path = root / job.file
    if not check:
        return write_shard(path, columns, _job_attrs(base, job), level=level, threads=threads)
    image = shard_image(columns, _job_attrs(base, job), level=level, threads=threads)
    try:
        same = path.read_bytes() == image
    except OSError as e:
        raise UserError(f"cannot read {path} ({os_reason(e)}); delete it and re-run the same command") from None
    if not same:
        raise UserError(f"{path} is not what this config renders (edited, damaged, or written with another --level); "
                        "delete it and re-run the same command, or add --overwrite to rebuild the dataset")
    return {"file": job.file, "count": job.stop - job.start, "bytes": len(image),
            "sha256": hashlib.sha256(image).hexdigest()}


def _worker_init():
    import signal

    import numba

    numba.set_num_threads(1)  # processes, not threads, carry the parallelism here
    # Ctrl-C reaches the whole process group: the parent alone stops the run; a worker that caught it
    # would report one failed shard and go on with the next
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker(builder, cfg: dict, base: dict, job: ShardJob, root: str, level: int, check: bool) -> dict:
    return render_job(builder, cfg, base, job, Path(root), level, threads=1, check=check)


_HEADER = ("format_version", "dataset", "generator", "config_sha256")


def _shard_header(path: Path):
    """('ours', root attributes, rows) for an HDF5 file with t2vbench's root attributes; ('damaged', why)
    for a file HDF5 cannot read; ('foreign', what it is) for any other file or link."""
    import h5py

    if not path.is_file():
        return "foreign", dangling(path) or f"{path} is not a regular file"
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: attr_value(v) for k, v in f.attrs.items()}
            rows = f["video"].shape[0] if isinstance(f.get("video"), h5py.Dataset) else None
    except OSError as e:
        first = (str(e).splitlines() or ["unreadable"])[0]
        inner = re.search(r"\(([^()]+)\)", first)  # HDF5: 'Unable to ... (file signature not found)'
        return "damaged", (inner.group(1) if inner else first)[:120]
    if any(attrs.get(k) is None for k in _HEADER):
        return "foreign", f"{path} has no t2vbench shard attributes"
    return "ours", attrs, rows


def _own_manifest(root: Path):
    """The folder's manifest as a dict if it is a t2vbench manifest; None if there is none; else the
    reason it is not one."""
    path = root / MANIFEST
    if not path.exists() and not path.is_symlink():
        return None
    try:
        m = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        return f"cannot read it: {str(e)[:100]}"
    if not isinstance(m, dict) or not all(k in m for k in ("format_version", "dataset", "splits", "config_sha256")):
        return "not a t2vbench manifest"
    return m


def _own_record(path: Path) -> dict | None:
    """A cluster slice's record (`_write_record`), or None if `path` is not one."""
    try:
        r = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(r, dict) and r.get("t2vbench_slice") == 1 and isinstance(r.get("shards"), list)
    return r if ok else None


def _manifest_intact(root: Path, m: dict) -> bool:
    try:
        return all((root / e["file"]).is_file() and (root / e["file"]).stat().st_size == e["bytes"]
                   for s in m["splits"].values() for e in s["shards"])
    except (OSError, KeyError, TypeError, AttributeError):
        return False


def _listed(m) -> dict:
    """{file: entry} of a manifest's shards."""
    if not isinstance(m, dict):
        return {}
    try:
        return {e["file"]: e for s in m["splits"].values() for e in s["shards"]}
    except (KeyError, TypeError, AttributeError):
        return {}


def _deletable(root: Path, p: Path, manifest) -> str | None:
    """None when t2vbench can show it wrote `p` (so --overwrite may delete it), else why it cannot."""
    name = p.name
    if not p.is_file():
        return dangling(p) or "not a regular file"
    final = temp_of(name)
    if final is not None:
        return None  # temp_name's exact form, for one of our names (is_own_name)
    if name == MANIFEST:
        return None if isinstance(manifest, dict) else f"{manifest}: delete it yourself if it is not yours"
    if SLICE_NAME.fullmatch(name):
        return None if _own_record(p) else "not a t2vbench slice record"
    entry = _listed(manifest).get(name)
    if entry is not None and p.stat().st_size == entry.get("bytes") and sha256_file(p) == entry.get("sha256"):
        return None
    head = _shard_header(p)
    if head[0] == "ours":
        return None
    return f"{head[1]}; it may be damaged or someone else's: move or delete it yourself"


def _check_output(root: Path, name: str, cfg_hash: str, overwrite: bool) -> str:
    """Decide what to do with an existing output folder: 'fresh', 'resume' or 'complete'. Runs before
    any rendering or extraction, so a clash is reported first.

    Only t2vbench's own names are ever touched; anything else in the folder makes us refuse, with or
    without --overwrite, and --overwrite deletes only what t2vbench can show it wrote.
    """
    present = sorted((p for p in root.iterdir() if p.name != LOCK), key=lambda p: p.name)
    if not present:
        return "fresh"
    foreign = [p.name for p in present if not is_own_name(p.name) or (p.is_dir() and not p.is_symlink())]
    if foreign:
        raise UserError(f"{root} holds files that are not part of a t2vbench dataset ({', '.join(foreign[:3])}); "
                        "choose another --out")
    manifest = _own_manifest(root)
    if overwrite:
        for p in present:
            why = _deletable(root, p, manifest)
            if why is not None:
                raise UserError(f"--overwrite deletes only files t2vbench wrote, and {root / p.name} is not one "
                                f"({why}); or choose another --out")
        for p in present:
            p.unlink(missing_ok=True)
        fsync_dir(root)
        return "fresh"
    if isinstance(manifest, str):
        raise UserError(f"{root / MANIFEST} is {manifest}; delete it (the shards are checked again) and re-run the "
                        "same command, or choose another --out")
    if manifest is not None:
        if manifest.get("config_sha256") != cfg_hash:
            raise UserError(f"{root} already holds a dataset with another config; add --overwrite to replace it "
                            "or choose another --out")
        if _manifest_intact(root, manifest):
            return "complete"
    for p in present:
        if SHARD_NAME.fullmatch(p.name):
            head = _shard_header(p)
            if head[0] == "damaged":
                raise UserError(f"{p} is damaged (HDF5 cannot read it: {head[1]}); delete it and re-run the same "
                                "command (it renders what is missing)")
            if head[0] == "foreign":
                raise UserError(f"{head[1]}, though it is named like a shard; move it, or choose another --out")
            if head[1]["config_sha256"] != cfg_hash or head[1]["dataset"] != name:
                raise UserError(f"{root} holds shards of another config ({p.name}); add --overwrite to replace "
                                "them or choose another --out")
        elif SLICE_NAME.fullmatch(p.name):
            record = _own_record(p)
            if record is not None and record.get("config_sha256") != cfg_hash:
                raise UserError(f"{root} holds cluster slices of another config ({p.name}); add --overwrite to "
                                "replace them or choose another --out")
    return "resume"


def _check_layout(root: Path, jobs: list[ShardJob]) -> None:
    names = {j.file: j for j in jobs}
    for p in sorted(root.iterdir()):
        if SHARD_NAME.fullmatch(p.name):
            job = names.get(p.name)
            head = _shard_header(p) if job is not None else None
            if job is None or head[0] != "ours" or int(head[1].get("count", -1)) != job.stop - job.start \
                    or head[2] != job.stop - job.start:
                raise UserError(f"{root} holds shards of another layout ({p.name}), e.g. of another --shard-size; "
                                "use that run's --shard-size, or add --overwrite to replace them")


def _records(root: Path, cfg_hash: str) -> dict:
    """{file: sha256} that t2vbench recorded for this config's shards when it wrote them: in a manifest
    of this config and in the cluster slices' records. A shard whose bytes match is kept unread."""
    out = {}
    for p in sorted(root.glob("slice-*.json")):
        r = _own_record(p) if SLICE_NAME.fullmatch(p.name) else None
        if r is not None and r.get("config_sha256") == cfg_hash:
            out.update({e["file"]: e["sha256"] for e in r["shards"] if isinstance(e, dict) and "file" in e})
    m = _own_manifest(root)
    if isinstance(m, dict) and m.get("config_sha256") == cfg_hash:
        out.update({f: e.get("sha256") for f, e in _listed(m).items()})
    return out


def _record_path(root: Path, index: int, of: int) -> Path:
    return root / f"slice-{index:05d}-of-{of:05d}.json"


def _write_record(path: Path, name: str, cfg_hash: str, entries: list) -> None:
    try:
        write_json_atomic(path, {"t2vbench_slice": 1, "dataset": name, "config_sha256": cfg_hash, "shards": entries})
    except OSError as e:
        raise cannot_write(path, e) from None


def _claim_slice(root: Path, name: str, cfg_hash: str, index: int, of: int) -> Path:
    """Write this slice's (empty) record, then look for a slice of another config: of two slices of
    different configs started together, at most one goes on (each sees the other's record, or the one
    that wrote first saw none and the other sees it)."""
    path = _record_path(root, index, of)
    mine = _own_record(path)
    _write_record(path, name, cfg_hash, mine["shards"] if mine and mine.get("config_sha256") == cfg_hash else [])
    for p in sorted(root.glob("slice-*.json")):
        r = _own_record(p) if p != path else None
        if r is not None and r.get("config_sha256") != cfg_hash:
            path.unlink(missing_ok=True)
            raise UserError(f"a cluster slice of another config is writing {root} ({p.name}); wait for it, or "
                            "choose another --out")
    return path


def _make_root(root: Path) -> bool:
    """Create the output folder; return whether it was made now."""
    link = dangling(root)
    if link:
        raise UserError(f"{link}; remove the link, or choose another --out")
    if root.exists() and not root.is_dir():
        raise UserError(f"{root} is a file; the dataset needs a folder there: choose another --out")
    if root.is_dir():
        return False
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise cannot_write(root, e) from None
    return True


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
    made = _make_root(root)
    try:
        with FolderLock(root, shared=num_shards > 1 or finalize, log=log):
            return _build(builder, cfg, root, shard_size, workers, shard_index, num_shards, finalize, overwrite,
                          level, progress, log)
    except BaseException:
        if made:  # the folder this run made goes again if nothing landed in it
            try:
                root.rmdir()
            except OSError:
                pass
        raise


def _build(builder, cfg, root: Path, shard_size, workers, shard_index, num_shards, finalize, overwrite, level,
           progress, log) -> dict:
    cfg_hash = sha256_json(cfg)
    state = _check_output(root, builder.name, cfg_hash, overwrite)  # before counts(): kth4 extracts there
    if state == "complete":
        log(f"{root} is already complete (same config {cfg_hash[:12]}); nothing to do (--overwrite rebuilds it)")
        return json.loads((root / MANIFEST).read_text())
    counts = builder.counts(cfg)
    jobs = plan_shards(counts, shard_size)
    _check_memory(builder, cfg, counts, shard_size)
    _check_layout(root, jobs)
    base = shard_attrs(builder, cfg)
    sliced = num_shards > 1 and not finalize
    record = _claim_slice(root, builder.name, cfg_hash, shard_index, num_shards) if sliced else None
    recorded = _records(root, cfg_hash)

    mine = [] if finalize else [j for n, j in enumerate(jobs) if n % num_shards == shard_index]
    own_temps = [j.file for j in mine] + ([] if sliced or finalize else [MANIFEST])
    if remove_stale_temps(root, own_temps):  # only our own slice's: other slices may be writing
        log(f"removed temp files of an interrupted run in {root}")
    if finalize:
        missing = [j.file for j in jobs if not (root / j.file).exists()]
        if missing:
            raise UserError(f"cannot finalize {root}: {len(missing)} shards are missing (first: {missing[0]}); "
                            "run the remaining --shard-index slices first")
    entries: dict[str, dict] = {}
    todo = []  # (job, check): render it, or render it and compare with the shard already there
    for job in (jobs if finalize else mine):
        path = root / job.file
        if not (path.exists() or path.is_symlink()):
            todo.append((job, False))
        elif recorded.get(job.file) == sha256_file(path):
            entries[job.file] = _entry(path, job)
        else:
            todo.append((job, True))
    checked = sum(1 for _, check in todo if check)
    kept = len(entries) + checked

    from tqdm import tqdm

    total = sum(j.stop - j.start for j, _ in todo)
    if todo:
        builder.prepare(cfg)  # compile / load caches once, in the parent, before any worker starts
    with tqdm(total=total, unit="video", desc=f"{builder.name}", disable=not progress or total == 0,
              file=sys.stderr, smoothing=0.1) as bar:
        if workers == 1 or len(todo) <= 1:
            for job, check in todo:
                entries[job.file] = render_job(builder, cfg, base, job, root, level, check=check)
                bar.update(job.stop - job.start)
        else:
            with ProcessPoolExecutor(min(workers, len(todo)), mp.get_context("spawn"), _worker_init) as pool:
                futures = {pool.submit(_worker, builder, cfg, base, job, str(root), level, check): job
                           for job, check in todo}
                try:
                    for fut in as_completed(futures):
                        job = futures[fut]
                        entries[job.file] = fut.result()
                        bar.update(job.stop - job.start)
                except BaseException:  # Ctrl-C or a failed shard: drop the queue, let running shards land
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    if kept:  # said once they are known good: a refused shard is the run's one line
        log(f"resumed: kept {kept} of {len(mine) or len(jobs)} shards already written"
            + (f" ({checked} of them checked against a fresh render)" if checked else ""))
    if record is not None:
        _write_record(record, builder.name, cfg_hash, [entries[j.file] for j in mine])

    missing = [j for j in jobs if not (root / j.file).exists()]
    if missing and sliced:
        log(f"wrote slice {shard_index} of {num_shards}; {len(missing)} shards still missing. When all slices "
            "are done, run the same command with --finalize to write the manifest")
        return {}
    if missing:
        raise UserError(f"{root}: {len(missing)} shards are missing (first: {missing[0].file}); re-run the same "
                        "command")
    m = _own_manifest(root)
    if sliced and isinstance(m, dict) and m.get("config_sha256") == cfg_hash and _manifest_intact(root, m):
        return m  # another slice finished last and wrote it
    recorded = _records(root, cfg_hash)  # the other slices' records, written meanwhile
    for job in jobs:
        if job.file not in entries:  # another slice's shard
            path = root / job.file
            entries[job.file] = (_entry(path, job) if recorded.get(job.file) == sha256_file(path)
                                 else render_job(builder, cfg, base, job, root, level, check=True))
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
    try:
        write_json_atomic(root / MANIFEST, manifest)
    except OSError as e:
        raise cannot_write(root / MANIFEST, e) from None
    for p in root.glob("slice-*.json"):  # the manifest now records every shard
        if SLICE_NAME.fullmatch(p.name) and _own_record(p) is not None:
            p.unlink(missing_ok=True)
    fsync_dir(root)
    return manifest


def _entry(path: Path, job: ShardJob) -> dict:
    return {"file": job.file, "count": job.stop - job.start, "bytes": path.stat().st_size,
            "sha256": sha256_file(path)}


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
        raise UserError(f"make_dataset: unknown option(s) {', '.join(unknown)}; "
                        f"known: {', '.join(sorted(DATASET_OPTIONS))}")
    builder = dataset_builder(name)
    cfg = builder.resolve(dict(opts, workers=workers))
    build_dataset(builder, cfg, out, shard_size=shard_size, workers=workers, overwrite=overwrite,
                  progress=progress, log=lambda msg: None)
    return Path(out) / name
