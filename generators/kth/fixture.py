"""Synthetic KTH: videos in the exact KTH layout, with known truth, for tests and for newcomers.

Real KTH cannot be redistributed or downloaded in CI, so the KTH-4 extractor is tested on this. Each
video is 160x120, 25 fps, gray stored as 3 equal channels in an MPEG-4 Part 2 AVI (XVID fourcc; the
real files are DivX), named `personPP_ACTION_dS_uncomp.avi`, with a `00sequences.txt` that repeats
the real file's irregular lines (kth.md 3.2). A stick figure with swinging limbs (walking 1.5-2.5,
running 3.5-5 px/frame) crosses a textured, noisy background; it turns around off-screen between
passes; boxing and handwaving stay in place. Scenarios: d1 plain; d2 slow zoom about the centre plus,
when `ambiguous`, one slow oblique pass (towards the camera); d3 low-contrast "coat"; d4 indoors with
+-15% lighting flicker plus, when `ambiguous`, one pass that turns around inside its range.

`make_fixture` returns the truth: per video the ranges as written in 00sequences.txt, the frame
count, and per frame the figure's x velocity (`vx`, px/frame, 0 = in place) and visible fraction, so a
test can say which 16-frame clip is clearly moving which way.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from t2vbench.errors import UserError

# FFmpeg's log lines with their level (extract.py reads them; OpenCV reads this once, at its first video)
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "16")
W, H, FPS = 160, 120, 25
LOCOMOTION = ("walking", "running", "jogging")
DEFAULT_ACTIONS = ("walking", "running", "handwaving", "boxing")
SYNTHETIC_MARKER = "Synthetic copy written by t2vbench make-fixture kth: NOT the real KTH data."
HEADER = f"""
This database contains sequences of six classes of actions performed by
25 subjects in four different conditions (see below).
{SYNTHETIC_MARKER}

In our experiments (Schuldt, Laptev and Caputo, ICPR 2004) we used the
following subdivision of sequences with respect to the subject:

Training:   person11, 12, 13, 14, 15, 16, 17, 18
Validation: person19, 20, 21, 23, 24, 25, 01, 04
Test:       person22, 02, 03, 05, 06, 07, 08, 09, 10 


"""


def _rng(seed: int, *key) -> np.random.Generator:
    return np.random.default_rng([seed, *[int(k) for k in key]])


def _background(rng, scenario: int) -> np.ndarray:
    """Smooth random texture (upsampled noise) with a darker ground band; d4 is a brighter, flatter room."""
    import cv2

    coarse = rng.uniform(-1, 1, (8, 11)).astype(np.float32)
    tex = cv2.resize(coarse, (W, H), interpolation=cv2.INTER_CUBIC)
    fine = cv2.resize(rng.uniform(-1, 1, (30, 40)).astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
    base, amp = (165.0, 12.0) if scenario == 4 else (135.0, 22.0)
    bg = base + amp * tex + 6.0 * fine
    bg[int(H * 0.78):] -= 25.0  # ground
    return bg


class _Figure:
    """A stick figure: circle head, ellipse torso, straight line limbs with a gait phase."""

    def __init__(self, height: float, intensity: float, coat: float):
        self.h, self.intensity, self.coat = height, intensity, coat

    def half_width(self, scale: float = 1.0) -> float:
        return 0.3 * self.h * scale

    def draw(self, img, cx, ground, scale, action, phase, facing):
        import cv2

        h = self.h * scale
        c = float(self.intensity)
        th = max(2, int(round(0.075 * h)))
        head_r = 0.085 * h
        neck, hip, shoulder = ground - 0.8 * h, ground - 0.47 * h, ground - 0.76 * h
        lean = 0.0
        if action in LOCOMOTION:
            lean = facing * (0.12 if action == "running" else 0.04) * h
        hx = cx + lean
        cv2.circle(img, (int(round(hx)), int(round(neck - head_r))), int(round(head_r)), c, -1)
        cv2.ellipse(img, (int(round(cx + lean / 2)), int(round((neck + hip) / 2))),
                    (max(2, int(round(0.09 * h * self.coat))), int(round((hip - neck) / 2 + 1))), 0, 0, 360, c, -1)

        def limb(x0, y0, length, angle):  # angle from straight down, positive = towards +x
            x1, y1 = x0 + length * math.sin(angle), y0 + length * math.cos(angle)
            cv2.line(img, (int(round(x0)), int(round(y0))), (int(round(x1)), int(round(y1))), c, th)

        s = math.sin(phase)
        if action in LOCOMOTION:
            amp = 0.65 if action == "running" else 0.4
            limb(cx, hip, 0.47 * h, amp * s)
            limb(cx, hip, 0.47 * h, -amp * s)
            limb(cx + lean * 0.7, shoulder, 0.36 * h, -0.8 * amp * s)
            limb(cx + lean * 0.7, shoulder, 0.36 * h, 0.8 * amp * s)
        else:
            limb(cx, hip, 0.47 * h, 0.12)
            limb(cx, hip, 0.47 * h, -0.12)
            if action == "handwaving":  # both arms above the head, swinging out and in
                a = math.pi - (0.35 + 0.55 * (1 + s) / 2)
                limb(cx, shoulder, 0.38 * h, a)
                limb(cx, shoulder, 0.38 * h, -a)
            elif action == "handclapping":
                a = 1.2 + 0.3 * s
                limb(cx, shoulder, 0.3 * h, a)
                limb(cx, shoulder, 0.3 * h, -a)
            else:  # boxing: the arms punch forward in turn
                for k in (0, 1):
                    reach = 0.18 + 0.2 * max(0.0, math.sin(phase + k * math.pi))
                    x1 = cx + facing * reach * h
                    y1 = shoulder + 0.04 * h
                    cv2.line(img, (int(round(cx)), int(round(shoulder))), (int(round(x1)), int(round(y1))), c, th)
                    cv2.circle(img, (int(round(x1)), int(round(y1))), max(2, int(0.05 * h)), c, -1)


def _locomotion_plan(rng, action, n_passes, fig, ambiguous_kind):
    """Per-frame (x, vx, scale) and the annotated ranges (1-based inclusive) of a locomotion video."""
    speed = rng.uniform(1.5, 2.5) if action == "walking" else rng.uniform(3.5, 5.0) if action == "running" \
        else rng.uniform(2.5, 3.2)
    margin = fig.half_width() + 3
    direction = 1 if rng.random() < 0.5 else -1
    xs, vs, ss, ranges, kinds = [], [], [], [], []
    special = int(rng.integers(0, n_passes)) if ambiguous_kind else -1
    lead = int(rng.integers(0, 4))  # frames before the first pass
    for _ in range(lead):
        xs.append(-1e3), vs.append(0.0), ss.append(1.0)
    for p in range(n_passes):
        first = len(xs) + 1
        if p == special and ambiguous_kind == "turn":  # enters, turns around mid-frame, leaves where it came in
            x = -margin if direction > 0 else W + margin
            turn_at = W * rng.uniform(0.45, 0.6)
            while (x < turn_at) if direction > 0 else (x > W - turn_at):
                xs.append(x), vs.append(direction * speed), ss.append(1.0)
                x += direction * speed
            for _ in range(3):
                xs.append(x), vs.append(0.0), ss.append(1.0)
            while -margin <= x <= W + margin:
                xs.append(x), vs.append(-direction * speed), ss.append(1.0)
                x -= direction * speed
            kinds.append("turn")
            direction = -direction  # it left on the side it came from; the next pass starts there
        elif p == special and ambiguous_kind == "slow":  # walks obliquely towards the camera: tiny dx
            x = W * rng.uniform(0.35, 0.65)
            n = 64
            for k in range(n):
                xs.append(x), vs.append(direction * 0.2), ss.append(0.8 + 0.35 * k / n)
                x += direction * 0.2
            kinds.append("slow")
        else:
            x = -margin if direction > 0 else W + margin
            while -margin <= x <= W + margin:
                xs.append(x), vs.append(direction * speed), ss.append(1.0)
                x += direction * speed
            kinds.append("clear")
        ranges.append((first, len(xs)))
        for _ in range(int(rng.integers(10, 31))):  # off-screen: turning around
            xs.append(-1e3), vs.append(0.0), ss.append(1.0)
        direction = -direction
    return np.array(xs), np.array(vs), np.array(ss), ranges, kinds, speed


def _inplace_plan(rng, n_segments, seg_len):
    lengths = [int(rng.integers(seg_len[0], seg_len[1] + 1)) for _ in range(n_segments)]
    ranges, t = [], 1
    for n in lengths:
        ranges.append((t, t + n - 1))
        t += n
    total = t - 1 + int(rng.integers(0, 6))
    x0 = W * rng.uniform(0.4, 0.6)
    return np.full(total, x0), np.zeros(total), np.ones(total), ranges


def render_video(person: int, action: str, scenario: int, seed: int = 0, passes: int = 4,
                 ambiguous: bool = True, segments: int = 4, segment_frames=(60, 110)):
    """Frames (T, 120, 160) uint8 plus truth for one synthetic KTH video."""
    import cv2

    key = (person, ("boxing", "handclapping", "handwaving", "jogging", "running", "walking").index(action), scenario)
    rng = _rng(seed, *key)
    prng = _rng(seed, person)  # person traits shared across that person's videos
    height = prng.uniform(44, 58)
    dark = prng.random() < 0.75
    bg = _background(_rng(seed, *key, 1), scenario)
    level = float(np.median(bg))
    contrast = (35.0 if scenario == 3 else prng.uniform(70, 95)) * (-1 if dark else 1)
    fig = _Figure(height, np.clip(level + contrast, 5, 250), 1.8 if scenario == 3 else 1.0)
    kind = None
    if ambiguous and scenario == 2:
        kind = "slow"
    elif ambiguous and scenario == 4:
        kind = "turn"
    if action in LOCOMOTION:
        kind = kind if action != "jogging" else None
        xs, vs, ss, ranges, kinds, speed = _locomotion_plan(rng, action, passes, fig, kind)
        omega = (0.55 if action == "running" else 0.32) * speed / 2.0  # gait phase per frame
    else:
        xs, vs, ss, ranges = _inplace_plan(rng, segments, segment_frames)
        kinds, omega = ["inplace"] * len(ranges), 0.35 if action == "handwaving" else 0.5
    n = len(xs)
    ground = H * rng.uniform(0.82, 0.9)
    facing0 = 1 if rng.random() < 0.5 else -1
    phase0 = rng.uniform(0, 2 * math.pi)
    frames = np.empty((n, H, W), np.uint8)
    visible = np.zeros(n, np.float32)
    noise_rng = _rng(seed, *key, 2)
    for t in range(n):
        img = bg.copy()
        if scenario == 4:
            img *= 1.0 + 0.15 * math.sin(2 * math.pi * t / 37.0)
        x = xs[t]
        if x > -500:
            facing = int(np.sign(vs[t])) or facing0
            sway = 0.0 if action in LOCOMOTION else 1.0 * math.sin(0.2 * t)
            fig.draw(img, x + sway, ground, ss[t], action, phase0 + omega * t, facing)
            hw = fig.half_width(ss[t])
            visible[t] = max(0.0, min(x + hw, W) - max(x - hw, 0)) / (2 * hw)
        if scenario == 2:  # slow zoom in and out about the centre
            z = 1.0 + 0.12 * (1 - math.cos(2 * math.pi * t / 300.0)) / 2
            m = cv2.getRotationMatrix2D((W / 2, H / 2), 0.0, z)
            img = cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        img += noise_rng.standard_normal((H, W), dtype=np.float32) * 3.0
        frames[t] = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    truth = {"frames": n, "ranges": [list(r) for r in ranges], "pass_kinds": kinds,
             "vx": np.round(vs, 4).tolist(), "visible": np.round(visible, 3).tolist()}
    return frames, truth


def write_avi(path, frames: np.ndarray, codec: str = "XVID") -> None:
    """Write gray frames as a 3-channel AVI (like KTH), atomically. OpenCV's writer drops frames it
    cannot write with no error (a full disk): the file's frame count is read back before it is kept."""
    import cv2

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.avi")
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # not one warning per lost frame
    try:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*codec), FPS, (W, H), True)
        if not writer.isOpened():
            tmp.touch()  # says why when the folder is the cause (an OSError), else it is the codec
            raise UserError(f"OpenCV cannot write {codec} AVIs here; try codec 'FFV1' or 'MJPG'")
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
        writer.release()
        cap = cv2.VideoCapture(str(tmp))
        written = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        cap.release()
        if written != len(frames):
            raise UserError(f"cannot write {path}: OpenCV wrote {written} of its {len(frames)} frames (is the disk "
                            "full?); free space on that disk or choose another --out")
        os.replace(tmp, path)
    finally:
        cv2.utils.logging.setLogLevel(level)
        if tmp.exists():
            tmp.unlink()


def _sequence_lines(videos: dict, irregular: bool, missing_stem: str | None, unlisted: set) -> list[str]:
    """Data lines in KTH's style; with `irregular`, the real file's quirks spread over the videos."""
    lines, last_person = [], None
    stems = sorted(set(videos) | ({missing_stem} if missing_stem else set()))
    k = 0
    for stem in stems:
        person = stem[:8]
        if last_person is not None and person != last_person:
            lines.append("")
        last_person = person
        if stem == missing_stem:
            lines.append(f"{stem}\t*missing*")
            continue
        if stem in unlisted:
            continue
        ranges = [tuple(r) for r in videos[stem]["written"]]
        sep = "\t" if len(stem) >= 24 else "\t\t"
        tail = ", ".join(f"{a}-{b}" for a, b in ranges)
        line = f"{stem}{sep}frames\t{tail}"
        if irregular:
            if k % 3 == 1:
                line = f"{stem}    {sep}frames\t{tail}"  # spaces before the TABs
            if k % 5 == 2:
                line += "  "  # trailing spaces
            if k % 7 == 3:
                line += "\r"  # CRLF on this line (the writer adds the LF)
        lines.append(line)
        k += 1
    return lines


def make_fixture(out, persons=(1, 17), actions=DEFAULT_ACTIONS, scenarios=(1, 2, 3, 4), seed: int = 0,
                 passes: int = 4, ambiguous: bool = True, irregular: bool = True, layout: str = "flat",
                 codec: str = "XVID", distractors: bool = True, segments: int = 4, segment_frames=(60, 110),
                 progress: bool = False) -> dict:
    """Write a synthetic KTH folder at `out`; return the truth dict (also saved as fixture_truth.json).

    With `irregular`, 00sequences.txt gets the real file's quirks: a `*missing*` entry, a 3-range line
    (the first boxing video), ranges out of order and a range past the end of the video (the first
    locomotion video), a shared boundary frame and an overlap (in-place videos), spaces before TABs,
    trailing spaces, a CRLF line, and one video with no line at all (last video: reported, skipped).
    `distractors` adds a jogging and a handclapping video, which KTH-4 must ignore.
    """
    if layout not in ("flat", "by-action"):
        raise UserError(f"layout must be 'flat' or 'by-action' (got {layout!r})")
    bad = [p for p in persons if not 1 <= int(p) <= 25]
    if bad:
        raise UserError(f"persons must be in 1..25 (got {bad[0]})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(int(p), a, int(s)) for p in sorted(set(persons)) for a in actions for s in scenarios]
    if distractors:
        p0 = min(int(p) for p in persons)
        jobs += [(p0, "jogging", 1), (p0, "handclapping", 1)]
    videos: dict = {}
    from tqdm import tqdm

    first_box = next((j for j in jobs if j[1] == "boxing"), None)
    first_loco = next((j for j in jobs if j[1] in ("walking", "running")), None)
    inplace = [j for j in jobs if j[1] in ("boxing", "handwaving")]
    for person, action, scenario in tqdm(jobs, desc="kth fixture", unit="video", disable=not progress):
        segs = 3 if irregular and (person, action, scenario) == first_box else segments
        frames, truth = render_video(person, action, scenario, seed, passes, ambiguous, segs, segment_frames)
        stem = f"person{person:02d}_{action}_d{scenario}"
        folder = out / action if layout == "by-action" else out
        folder.mkdir(exist_ok=True)
        write_avi(folder / f"{stem}_uncomp.avi", frames, codec)
        written = [list(r) for r in truth["ranges"]]
        if irregular and (person, action, scenario) == first_loco and len(written) >= 2:
            written[-1][1] = truth["frames"] + 15  # past the end of the video
            written[-2], written[-1] = written[-1], written[-2]  # out of order
        if irregular and inplace and (person, action, scenario) == inplace[0] and len(written) >= 2:
            written[1][0] = written[0][1]  # shared boundary frame
        if irregular and len(inplace) > 1 and (person, action, scenario) == inplace[1] and len(written) >= 2:
            written[1][0] = written[0][1] - 5  # true overlap
        truth["written"] = written
        truth["file"] = str((folder / f"{stem}_uncomp.avi").relative_to(out))
        videos[stem] = truth
    missing = unlisted = None
    if irregular:
        p = min(int(x) for x in persons)
        missing = f"person{p:02d}_handclapping_d3"
        unlisted = sorted(videos)[-1]
    lines = _sequence_lines(videos, irregular, missing, {unlisted} if unlisted else set())
    text = HEADER + "\n".join(lines) + "\n"
    tmp = out / f".00sequences.txt.tmp-{os.getpid()}"
    tmp.write_bytes(text.encode())
    os.replace(tmp, out / "00sequences.txt")
    truth = {"seed": seed, "videos": videos, "missing_entry": missing, "unlisted": unlisted,
             "layout": layout, "codec": codec}
    tmp = out / f".fixture_truth.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(truth, sort_keys=True))
    os.replace(tmp, out / "fixture_truth.json")
    return truth
