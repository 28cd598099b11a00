"""Cut KTH videos into labelled clips: decode, window the annotated ranges, judge direction, resize.

Windowing rule (documented in the README via the builder): frame numbers are 1-based and inclusive as
in `00sequences.txt`. Each range is clamped to the decoded frame count (ranges that start past the
end are dropped), then tiled from its first frame into consecutive, non-overlapping windows of
`frames` frames taken every `step` frames (span = (frames - 1) * step + 1); a window that would run
past the range end is not made. Ranges are processed in file order, and a window sharing any frame
with a window already taken from the same video is dropped, so no frame is used twice (this absorbs
the shared boundaries and overlaps of the real file).

Pixels: decoded BGR -> gray with cv2.cvtColor (KTH decodes to three equal channels), then each frame
is squashed from 160x120 to size x size with cv2.INTER_AREA (no crop; the aspect ratio changes, as in
SVG, SAVP and MCnet). Frames outside the annotated ranges (and, for walking/running, outside an even
sample of 51 frames for the background model) are only grabbed, never converted. Everything is
deterministic: the same files give the same bytes, with any number of worker processes (and the same
OpenCV version: its decoder and resize are part of the pipeline; the provenance records it).

Direction of a walking/running clip: judged on the clip's own frames (direction.py), then checked
against its whole pass (the annotated range). The clip is left out when its pass is decided the other
way ("disagrees with the direction of its pass"), and also when the pass is undecided because its two
cues disagree or the person is not detected in enough of it ("pass uncertain: ..."): then the
measurements themselves are unreliable in that range, and a clip that happens to pass its own checks
there could carry a wrong label. A pass that is undecided only because the person turns around or
walks too slowly (a property of the motion, not of the measurement) keeps the clips that are decided
on their own frames: telling the two halves of a turn apart is what the per-clip decision is for.

A decode error mid-file is an error naming the file; a file that simply ends early (truncated) makes
the ranges past its end clamped or dropped, counted in the provenance and warned about by name. The
errors FFmpeg reports while it conceals damage (`ac-tex damaged at 3 5`, written to the process's
stderr with no file name) are caught per video and warned about with the file's name.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from t2vbench.errors import UserError

LOCOMOTION = ("walking", "running")
# an undecided pass with one of these reasons makes its clips unreliable too (see the module docstring)
UNRELIABLE_PASS = ("centroid and flow disagree", "person not detected in enough frames")
RESIZE_POLICY = "gray (cv2 BGR2GRAY), squash full frame to size x size with cv2.INTER_AREA, no crop"


def windows(ranges, n_frames: int, frames: int, step: int = 1):
    """[(subseq_index, first_frame_1based)] of the clips of one video, plus notes on clamping."""
    span = (frames - 1) * step + 1
    used = np.zeros(n_frames + 2, bool)
    out, notes = [], []
    for k, (a, b) in enumerate(ranges):
        if a > n_frames:
            notes.append(f"range {a}-{b} starts after the last decoded frame {n_frames}: dropped")
            continue
        if b > n_frames:
            notes.append(f"range {a}-{b} clamped to {a}-{n_frames} (decoded length)")
            b = n_frames
        for s in range(a, b - span + 2, span):
            frames_1b = np.arange(s, s + span, step)
            if used[frames_1b].any():
                continue
            used[frames_1b] = True
            out.append((k, s))
    return out, notes


TRUNCATED_BY = 2  # frames the header may overstate (usual for KTH); beyond that the file was cut


FFMPEG_ERROR = 16  # AV_LOG_ERROR: FFmpeg's errors, not its warnings (e.g. DivX's "packed B frames")
# OpenCV reads this once, when its FFmpeg backend first starts (fixture.py sets it too): FFmpeg's lines
# then carry their level, "[OPENCV:FFMPEG:16] ac-tex damaged at 3 5"; untagged lines, "[mpeg4 @ 0x5..]
# ...", are FFmpeg's own, where the backend had started before
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", str(FFMPEG_ERROR))
_TAGGED = re.compile(r"\[OPENCV:FFMPEG:(\d+)\]\s*(.*)")
_UNTAGGED = re.compile(r"\[\w+ @ 0x[0-9a-fA-F]+\]\s*(.*)")


def _decoder_error(line: str) -> str | None:
    m = _TAGGED.search(line)
    if m:
        return m.group(2) if int(m.group(1)) <= FFMPEG_ERROR else ""
    m = _UNTAGGED.match(line)
    return m.group(1) if m else None


@contextmanager
def _native_output(lines: list):
    """Collect what native code (FFmpeg via OpenCV's log, on stdout or stderr) writes to file descriptors
    1 and 2 meanwhile into `lines`."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            for fd, old in zip((1, 2), saved):
                os.dup2(old, fd)
                os.close(old)
            tmp.seek(0)
            lines += tmp.read().decode(errors="replace").splitlines()


def decode(path, keep=None, decoder_errors: list | None = None):
    """Decode `path` to the end; return (n_frames, ids, gray) where gray[k] (H, W) uint8 is frame ids[k]
    (0-based) for every frame in `keep` (all when None). Other frames are grabbed but not converted.
    `keep` may be a function of the container's frame-count hint (never trusted as the length). A file
    that decodes more than TRUNCATED_BY frames short of its header was cut: its last decoded frame is
    dropped (a clamped range then names the file in the run's warning). `decoder_errors`: a list that
    receives the errors FFmpeg reported while decoding (it conceals damage and goes on)."""
    import cv2

    native: list = []
    try:
        with _native_output(native):
            return _decode(cv2, path, keep)
    except cv2.error as e:
        why = (str(e).strip().splitlines() or ["cv2.error"])[-1][:120]
        raise UserError(f"{path}: OpenCV cannot decode it ({why}); re-extract it from the KTH zip") from None
    finally:
        found = [_decoder_error(ln) for ln in native]
        if decoder_errors is not None:
            decoder_errors += [e for e in found if e]
        other = [ln for ln, e in zip(native, found) if e is None]
        if other:  # not the decoder's: pass it on
            print("\n".join(other), file=sys.stderr)


def _decode(cv2, path, keep):
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise UserError(f"OpenCV cannot open {path}; is it a complete KTH AVI? (re-extract it from the zip)")
    hint = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)  # a capacity hint only; frames are counted by decoding
    if callable(keep):
        keep = keep(hint)
    capacity = max(16, (hint + 8) if keep is None else min(len(keep), hint + 8))
    ids, gray, bgr = [], None, None
    n = 0
    try:
        while cap.grab():
            if keep is None or n in keep:
                ok, bgr = cap.retrieve(bgr)
                if not ok:  # grab() said a frame is there: this is a decode error, not the end
                    raise UserError(f"{path}: OpenCV cannot decode frame {n + 1} (the file is damaged); "
                                    "re-extract it from the KTH zip")
                if gray is None:
                    gray = np.empty((capacity, *bgr.shape[:2]), np.uint8)
                elif len(ids) == len(gray):
                    gray = np.concatenate([gray, np.empty_like(gray)])
                if bgr.ndim == 3:
                    cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY, dst=gray[len(ids)])
                else:
                    gray[len(ids)] = bgr
                ids.append(n)
            n += 1
    finally:
        cap.release()
    if n == 0:
        raise UserError(f"{path} has no decodable frames; re-extract it from the KTH zip")
    if hint - n > TRUNCATED_BY and n > 1:  # a cut file's last decoded frame is often part garbage
        n -= 1
        if ids and ids[-1] == n:
            ids.pop()
    if gray is None:
        gray = np.zeros((0, 120, 160), np.uint8)
    return n, np.array(ids, np.int64), gray[: len(ids)]


def _take(ids, gray, wanted) -> np.ndarray:
    """Frames `wanted` (0-based ids, all decoded) as one (len(wanted), H, W) array."""
    wanted = np.asarray(wanted, np.int64)
    if len(wanted) == 0:
        return np.zeros((0, *gray.shape[1:]), np.uint8)
    return gray[np.searchsorted(ids, wanted)]


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W) -> (N, size, size) uint8, INTER_AREA, one call on the stacked frames (rows of one frame
    never mix with the next one's because H / size is the same for every frame)."""
    import cv2

    n, h, w = frames.shape
    if n == 0:
        return np.zeros((0, size, size), np.uint8)
    return cv2.resize(frames.reshape(n * h, w), (size, n * size), interpolation=cv2.INTER_AREA).reshape(n, size, size)


@dataclass
class VideoTask:
    path: str
    stem: str
    action: str
    ranges: tuple
    frames: int
    step: int
    size: int
    pixels: bool = True  # False: labels only (no resized clips)


@dataclass
class VideoResult:
    stem: str
    n_frames: int
    starts: list  # 1-based first frame of each kept clip
    subseq: list
    direction: list  # +1, -1, 0 (in place)
    v_c: list
    v_f: list
    clips: np.ndarray | None  # (K, T, size, size) uint8
    excluded: list = field(default_factory=list)  # (first_frame, subseq, reason)
    passes: list = field(default_factory=list)  # (subseq, direction, v_c, v_f, reason)
    notes: list = field(default_factory=list)
    past_end: list = field(default_factory=list)  # ranges (a, b) starting after the decoded end: dropped
    clamped: list = field(default_factory=list)  # ranges (a, b) ending after it: cut at n_frames
    decoder_errors: list = field(default_factory=list)  # what FFmpeg reported while concealing damage


def _background_sample(n_hint: int) -> set:
    from t2vbench.generators.kth.direction import BACKGROUND_FRAMES

    return set(np.linspace(0, max(n_hint, 1) - 1, BACKGROUND_FRAMES).round().astype(int).tolist())


def process_video(task: VideoTask) -> VideoResult:
    """Clips and labels of one video (run_tasks calls it, in worker processes when asked)."""
    loco = task.action in LOCOMOTION
    keep = set()
    for a, b in task.ranges:
        keep.update(range(a - 1, b))
    sample: set = set()

    def with_background(hint):  # locomotion: plus an even sample of the whole video for the background
        sample.update(_background_sample(hint) if hint > 0 else ())
        return keep | sample if hint > 0 else None

    decoder_errors: list = []
    n, ids, gray = decode(task.path, with_background if loco else keep, decoder_errors)
    wins, notes = windows(task.ranges, n, task.frames, task.step)
    offsets = np.arange(task.frames) * task.step
    res = VideoResult(task.stem, n, [], [], [], [], [], None, notes=notes,
                      past_end=[(a, b) for a, b in task.ranges if a > n],
                      clamped=[(a, b) for a, b in task.ranges if a <= n < b], decoder_errors=decoder_errors)
    if loco:
        from t2vbench.generators.kth.direction import Motion

        motion = Motion(gray, ids, sample or None)
        by_pass: dict = {}
        for k, s in wins:
            by_pass.setdefault(k, []).append(s)
        for k, starts in sorted(by_pass.items()):
            clip_dec = {s: motion.decide(s - 1 + offsets) for s in starts}
            a, b = task.ranges[k]
            pairs = [p for s in starts for p in motion.flow_pairs(s - 1 + offsets)]
            whole = motion.decide(np.arange(a - 1, min(b, n)), pairs=pairs)
            res.passes.append((k, whole.direction, whole.v_c, whole.v_f, whole.reason))
            for s in starts:
                d = clip_dec[s]
                if d.direction == 0:
                    res.excluded.append((s, k, d.reason))
                elif whole.direction not in (0, d.direction):
                    res.excluded.append((s, k, "disagrees with the direction of its pass"))
                elif whole.direction == 0 and whole.reason in UNRELIABLE_PASS:
                    res.excluded.append((s, k, f"pass uncertain: {whole.reason}"))
                else:
                    res.starts.append(s), res.subseq.append(k), res.direction.append(d.direction)
                    res.v_c.append(d.v_c), res.v_f.append(d.v_f)
    else:
        for k, s in wins:
            res.starts.append(s), res.subseq.append(k), res.direction.append(0)
            res.v_c.append(float("nan")), res.v_f.append(float("nan"))
    if task.pixels:
        stack = _take(ids, gray, [s - 1 + o for s in res.starts for o in offsets])
        res.clips = resize_frames(stack, task.size).reshape(len(res.starts), task.frames, task.size, task.size)
    return res


def _init_worker():
    import cv2

    cv2.setNumThreads(1)


def run_tasks(tasks: list[VideoTask], workers: int = 1, progress: bool = True) -> list[VideoResult]:
    """Process videos in `workers` processes; results in task order (so output never depends on it)."""
    from tqdm import tqdm

    results: list = [None] * len(tasks)
    bar = tqdm(total=len(tasks), unit="video", desc="kth4 extract", disable=not progress, file=sys.stderr)
    try:
        if workers <= 1 or len(tasks) <= 1:
            import cv2

            old = cv2.getNumThreads()
            cv2.setNumThreads(1)
            try:
                for i, t in enumerate(tasks):
                    results[i] = process_video(t)
                    bar.update(1)
            finally:
                cv2.setNumThreads(old)
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            # longest files first, so one big walking video does not finish last on its own
            order = sorted(range(len(tasks)), key=lambda i: -os.path.getsize(tasks[i].path))
            with ProcessPoolExecutor(min(workers, len(tasks)), mp.get_context("spawn"), _init_worker) as pool:
                futures = {pool.submit(process_video, tasks[i]): i for i in order}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.update(1)
    finally:
        bar.close()
    return results


def find_files(root, match) -> list[Path]:
    """Files under root (recursive, sorted) whose name satisfies `match`. Symlinked folders are followed
    (KTH is often unpacked elsewhere and linked in; Path.rglob skips them), each folder once (no loops),
    and a file reached by two paths is listed once, under its first path in sorted order."""
    out, seen_dirs, seen_files = [], set(), set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen_dirs:
            dirs[:] = []
            continue
        seen_dirs.add(real)
        dirs.sort()
        out += [Path(folder) / f for f in files if match(f)]
    unique = []
    for p in sorted(out):
        real = os.path.realpath(p)
        if real not in seen_files and os.path.isfile(real):
            seen_files.add(real)
            unique.append(p)
    return unique


def find_videos(root) -> dict:
    """stem -> path of every `personPP_ACTION_dS_uncomp.avi` under root (recursive: one folder per zip
    or all in one). Raises UserError on duplicates."""
    from t2vbench.generators.kth.sequences import parse_name

    found: dict = {}
    for p in find_files(root, lambda f: f.endswith("_uncomp.avi")):
        name = parse_name(p.name)
        if name is None:
            continue
        if name.stem in found:
            raise UserError(f"{name.filename} appears twice ({found[name.stem]} and {p}); keep one copy")
        found[name.stem] = p
    return found
