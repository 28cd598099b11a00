"""kth4: captioned 16-frame clips cut from the real KTH videos (IRC-GAN's KTH-4, rebuilt reproducibly).

Input: `--kth-dir` with any subset of `personPP_ACTION_dS_uncomp.avi` and `00sequences.txt`
(searched recursively, into symlinked folders too). Walking, running, handwaving and boxing videos
are used; jogging and handclapping are ignored. Six classes, as in IRC-GAN: walking / running from
left to right / right to left (direction inferred from the pixels, `direction.py`), waving hands, boxing.

Shard columns (N clips):
- `video` uint8 (N, T, S, S, 1): T = --frames consecutive frames (frame step 1, 25 fps), gray,
  squashed 160x120 -> SxS with cv2.INTER_AREA (no crop).
- `caption` str: plain (default) `a person is walking from left to right`, `a person is waving hands`,
  `a person is boxing`; `--caption-style person` (Sync-DRAW): `person 3 is walking left to right`.
- `tokens` int32 (N, L).
- `label/action` (N, 1): index into the six classes (manifest labels.action).
- `label/direction` (N, 1): 0 left to right, 1 right to left, 2 none (in place).
- `label/person` (N, 1): person number - 1 (labels.person = person01..person25).
- `label/scenario` (N, 1): KTH scenario - 1 (d1 outdoors, d2 scale variation, d3 clothes, d4 indoors).
- `source_file` bytes (N,): the AVI's file name; `frame_range` int32 (N, 2): first and last frame
  of the clip in that file, 1-based inclusive (the numbering of 00sequences.txt);
  `subsequence` int32 (N,): which range of the file's line (0-based, file order) it came from;
  `velocity` float32 (N, 2): the two direction cues (centroid, flow) in source px/frame, NaN in place.

Split by person (`--kth-split`): `mcnet` (default; persons 1-16 train, 17-25 test: MCnet, SAVP), `svg`
(1-20 / 21-25: SVG, DVG), `official` (Schuldt et al. 2004: train+validation 1, 4, 11-21, 23-25 / test
2, 3, 5-10, 22), or an explicit `TRAIN/TEST` list such as `1-12,14/13,15-25`. The seed only shuffles
the clip order within each split. Clips whose direction is uncertain, on their own frames or from their
pass (extract.py), are left out and counted in the manifest (`source.extraction`), as are annotated
ranges cut by the decoded length. Same inputs and same OpenCV version give the same bytes.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from t2vbench.data.builder import DatasetBuilder
from t2vbench.data.vocab import Vocabulary
from t2vbench.errors import UserError
from t2vbench.generators.kth.sequences import parse_numbers

USED_ACTIONS = ("walking", "running", "handwaving", "boxing")
CLASSES = ("walking from left to right", "walking from right to left", "running from left to right",
           "running from right to left", "waving hands", "boxing")
_CLASS_PARTS = (("walking", 1), ("walking", -1), ("running", 1), ("running", -1), ("handwaving", 0), ("boxing", 0))
DIRECTIONS = ("left to right", "right to left", "none")
SCENARIOS = ("d1 outdoors", "d2 outdoors, scale variation", "d3 outdoors, different clothes", "d4 indoors")
NAMED_SPLITS = {
    "mcnet": (tuple(range(1, 17)), tuple(range(17, 26))),
    "svg": (tuple(range(1, 21)), tuple(range(21, 26))),
    "official": ((1, 4) + tuple(range(11, 22)) + (23, 24, 25), (2, 3, 5, 6, 7, 8, 9, 10, 22)),
}
DEFAULT_SPLIT = "mcnet"
FRAME_STEP = 1
KTH_URL = "https://www.csc.kth.se/cvap/actions/"


def parse_split(text: str | None):
    """Named split or 'TRAIN/TEST' person lists -> (name, train persons, test persons). The name is
    canonical: person lists equal to a named split take its name, others are written as ranges
    ('1-3,5/17-25'), so one set of persons has one config whatever way it was typed."""
    name = (text or DEFAULT_SPLIT).strip()
    if name.lower() in NAMED_SPLITS:
        train, test = NAMED_SPLITS[name.lower()]
        return name.lower(), list(train), list(test)
    m = re.fullmatch(r"([\d,\-\s]+)/([\d,\-\s]+)", name)
    if not m:
        raise UserError(f"unknown --kth-split {name!r}; use one of {', '.join(NAMED_SPLITS)} or person lists "
                        "'TRAIN/TEST' such as '1-16/17-25'")
    sets = [parse_numbers(part, 1, 25, "kth-split") for part in m.groups()]
    train, test = sets
    both = sorted(set(train) & set(test))
    if both:
        raise UserError(f"--kth-split puts person {both[0]} in both train and test; each person goes in one split")
    if not train or not test:
        raise UserError("--kth-split needs at least one train and one test person")
    for named, (tr, te) in NAMED_SPLITS.items():  # the same persons are the same split, the same config sha
        if (train, test) == (list(tr), list(te)):
            return named, train, test
    return f"{_span(train)}/{_span(test)}".replace(" ", ""), train, test


def _check_direction(action: str, direction: int) -> None:
    if action in ("walking", "running") and direction not in (1, -1):
        raise ValueError(f"{action} needs a decided direction (+1 or -1), got {direction!r}")


def caption(action: str, direction: int, person: int, style: str) -> str:
    _check_direction(action, direction)
    if action in ("walking", "running"):
        way = "left to right" if direction > 0 else "right to left"
        return f"person {person} is {action} {way}" if style == "person" else f"a person is {action} from {way}"
    what = "waving hands" if action == "handwaving" else "boxing"
    return f"person {person} is {what}" if style == "person" else f"a person is {what}"


def class_index(action: str, direction: int) -> int:
    _check_direction(action, direction)
    if action in ("walking", "running"):
        return (0 if action == "walking" else 2) + (0 if direction > 0 else 1)
    return 4 if action == "handwaving" else 5


@dataclass
class Clips:
    """The clips of one split, already in their final, seeded order."""
    stem: list
    person: np.ndarray
    action: np.ndarray
    direction: np.ndarray
    scenario: np.ndarray
    start: np.ndarray
    subseq: np.ndarray
    velocity: np.ndarray
    captions: list
    video: np.ndarray  # (N, T, S, S) uint8

    def __len__(self):
        return len(self.stem)


class KTH4(DatasetBuilder):
    name = "kth4"
    version = "1.2.0"  # 1.1: clips of unreliable passes left out, layout-independent provenance;
    # 1.2: a clip whose own flow goes against its direction at either end is left out (a turn in its last
    # frames); a cut file's last decoded frame is dropped
    # Extraction (in counts()) already uses --workers processes over videos; rendering shards in worker
    # processes would make each one decode its clips again, so shards are written in the parent.
    parallel_render = False

    def __init__(self):
        self._kth_dir: Path | None = None
        self._workers = 1
        self._inputs = None  # (videos {stem: path}, sequences, source files list)
        self._extracted: dict = {}  # config sha -> {split: Clips}
        self._source: dict = {}  # config sha -> source dict

    # -- config ----------------------------------------------------------------------------------
    def resolve(self, opts: dict) -> dict:
        opts = {k: v for k, v in opts.items() if v is not None}
        for key in ("n", "n_test", "holdout", "digits"):
            if key in opts:
                raise UserError(f"--{key.replace('_', '-')} does not apply to kth4 (its clips come from the KTH "
                                "videos in --kth-dir; their number follows from the annotated ranges)")
        if "kth_dir" not in opts:
            raise UserError("kth4 needs --kth-dir DIR, the folder with the KTH AVIs and 00sequences.txt "
                            f"(from {KTH_URL}; to try it without them: t2vbench make-fixture kth --out DIR)")
        style = opts.get("caption_style", "plain")
        if style not in ("plain", "person"):
            raise UserError(f"--caption-style must be 'plain' or 'person' (got {style!r})")
        frames, size, seed = int(opts.get("frames", 16)), int(opts.get("size", 64)), int(opts.get("seed", 0))
        if not 8 <= frames <= 64:
            raise UserError(f"--frames must be in 8..64 for kth4 (got {frames}): the direction of a clip is judged "
                            "on its own frames, which needs at least 8, and running passes last only 26-111 frames")
        if not 8 <= size <= 160:
            raise UserError(f"--size must be in 8..160 for kth4 (got {size}); the videos are 160x120")
        if seed < 0:
            raise UserError(f"--seed must be >= 0 (got {seed})")
        workers = int(opts.get("workers", 1))
        if workers < 1:
            raise UserError("--workers must be at least 1")
        split_name, train, test = parse_split(opts.get("kth_split"))
        self._workers = workers
        self._set_dir(opts["kth_dir"])
        videos, _, files = self._load_inputs(train + test)
        have = {int(s[6:8]) for s in videos}
        for which, persons in (("train", train), ("test", test)):
            if not have & set(persons):
                raise UserError(f"{self._kth_dir} has no usable video of the {which} persons "
                                f"({_span(persons)}) of split '{split_name}'; add them or choose another --kth-split")
        from t2vbench.data.format import sha256_json

        return {
            "dataset": self.name, "kth_split": split_name, "train_persons": train, "test_persons": test,
            "caption_style": style, "frames": frames, "size": size, "channels": 1, "frame_step": FRAME_STEP,
            "resize": "squash-inter-area", "seed": seed, "classes": list(CLASSES),
            "source_sha256": sha256_json(files),
        }

    def _set_dir(self, kth_dir) -> None:
        root = Path(kth_dir).expanduser()
        if not root.is_dir():
            raise UserError(f"--kth-dir {root} is not a folder; give the folder holding the KTH AVIs and "
                            "00sequences.txt")
        root = root.resolve()
        if root != self._kth_dir:
            self._kth_dir, self._inputs = root, None

    def _load_inputs(self, persons):
        """Find the videos and 00sequences.txt, parse it, hash the files used. Cached per folder."""
        if self._inputs is not None and self._inputs[0] == tuple(persons):
            return self._inputs[1:4]
        from t2vbench.data.format import sha256_file
        from t2vbench.generators.kth.extract import find_files, find_videos
        from t2vbench.generators.kth.sequences import SEQUENCES_FILE, read_sequences

        root = self._kth_dir
        found = find_videos(root)
        seq_files = find_files(root, lambda f: f == SEQUENCES_FILE)
        if not found and not seq_files:
            raise UserError(f"{root} is not a KTH folder: it has no personPP_ACTION_dS_uncomp.avi files and no "
                            f"{SEQUENCES_FILE} (download the zips and {SEQUENCES_FILE} from {KTH_URL}, or try "
                            "`t2vbench make-fixture kth --out DIR`)")
        if not seq_files:
            raise UserError(f"{root} has KTH videos but no {SEQUENCES_FILE}, which gives the annotated frame "
                            f"ranges; download it from {KTH_URL} into that folder")
        if len(seq_files) > 1:
            raise UserError(f"{root} holds {len(seq_files)} copies of {SEQUENCES_FILE} ({seq_files[0]}, "
                            f"{seq_files[1]}); keep one")
        seq = read_sequences(seq_files[0])
        wanted = set(persons)
        used, unlisted = {}, []
        for stem, path in sorted(found.items()):
            entry_name = stem.split("_")
            if entry_name[1] not in USED_ACTIONS or int(entry_name[0][6:]) not in wanted:
                continue
            entry = seq.entries.get(stem)
            if entry is None or entry.missing or not entry.ranges:
                unlisted.append(stem)
                continue
            used[stem] = path
        if not used:
            raise UserError(f"{root} has no {'/'.join(USED_ACTIONS)} video listed in {SEQUENCES_FILE} for the chosen "
                            f"persons (KTH-4 ignores jogging and handclapping); is this the KTH folder?")
        files = sorted([[p.name, p.stat().st_size, sha256_file(p)] for p in used.values()]
                       + [[SEQUENCES_FILE, seq_files[0].stat().st_size, sha256_file(seq_files[0])]])
        self._inputs = (tuple(persons), used, seq, files, sorted(unlisted))
        return used, seq, files

    # -- extraction ------------------------------------------------------------------------------
    def _extract(self, cfg: dict) -> dict:
        from t2vbench.data.format import sha256_json

        key = sha256_json(cfg)
        if key in self._extracted:
            return self._extracted[key]
        if self._kth_dir is None:
            raise UserError("kth4: resolve() must run before counts() (it needs --kth-dir)")
        from t2vbench.generators.kth.extract import VideoTask, run_tasks
        from t2vbench.generators.kth.sequences import parse_name

        persons = cfg["train_persons"] + cfg["test_persons"]
        used, seq, files = self._load_inputs(persons)
        if sha256_json(files) != cfg["source_sha256"]:
            raise UserError(f"the files in {self._kth_dir} changed since the config was made; run the command again")
        stems = sorted(used)
        tasks = [VideoTask(str(used[s]), s, parse_name(s).action, seq.entries[s].ranges, cfg["frames"],
                           cfg["frame_step"], cfg["size"]) for s in stems]
        results = run_tasks(tasks, self._workers, progress=None)
        splits = {"train": set(cfg["train_persons"]), "test": set(cfg["test_persons"])}
        rows = {"train": [], "test": []}
        stats = {"videos": len(stems), "frames_decoded": 0, "clips": {}, "left_out": {}, "left_out_by_scenario": {},
                 "left_out_by_action": {}, "passes": {"decided": 0, "uncertain": 0}, "videos_not_alternating": [],
                 "ranges_past_end": 0, "ranges_clamped": 0, "videos_cut_short": [], "notes": []}
        for res in results:
            name = parse_name(res.stem)
            split = "train" if name.person in splits["train"] else "test"
            stats["frames_decoded"] += res.n_frames
            stats["notes"] += [f"{res.stem}: {n}" for n in res.notes]
            stats["ranges_past_end"] += len(res.past_end)
            stats["ranges_clamped"] += len(res.clamped)
            if res.past_end or res.clamped:
                stats["videos_cut_short"].append(res.stem)
            for _, _, why in res.excluded:
                stats["left_out"][why] = stats["left_out"].get(why, 0) + 1
                d = f"d{name.scenario}"
                stats["left_out_by_scenario"][d] = stats["left_out_by_scenario"].get(d, 0) + 1
                stats["left_out_by_action"][name.action] = stats["left_out_by_action"].get(name.action, 0) + 1
            for p in res.passes:
                stats["passes"]["decided" if p[1] else "uncertain"] += 1
            if not alternates(res.passes, seq.entries[res.stem].ranges):
                stats["videos_not_alternating"].append(res.stem)
            order = np.argsort(res.starts, kind="stable")
            for j in order:
                rows[split].append((res, int(j), name))
        out = {}
        for split, items in rows.items():
            if not items:
                raise UserError(f"kth4: no clips for the {split} persons ({_span(cfg[split + '_persons'])}); "
                                "add their videos or choose another --kth-split")
            perm = np.random.default_rng([cfg["seed"], 0 if split == "train" else 1]).permutation(len(items))
            out[split] = _assemble([items[i] for i in perm], cfg)
            stats["clips"][split] = {c: int((out[split].action == k).sum()) for k, c in enumerate(CLASSES)}
        left = sum(stats["left_out"].values())
        loco = sum(v for s in stats["clips"].values() for c, v in s.items() if c.startswith(("walking", "running")))
        stats["left_out_total"] = left
        stats["left_out_rate_locomotion"] = round(left / max(1, left + loco), 4)
        self._extracted[key] = out
        self._source[key] = self._make_source(cfg, files, seq, stats)
        skipped = self._inputs[4]
        print(f"kth4: {len(out['train'])} train and {len(out['test'])} test clips from {len(stems)} videos; {left} "
              f"walking/running clips left out as uncertain ({100 * stats['left_out_rate_locomotion']:.1f}%)"
              + (f"; {len(skipped)} videos without a line in 00sequences.txt skipped" if skipped else ""),
              file=sys.stderr)
        short = stats["videos_cut_short"]
        if short:
            what = [f"{n} {'range starts' if n == 1 else 'ranges start'} after the last decoded frame (dropped)"
                    for n in [stats["ranges_past_end"]] if n]
            what += [f"{n} {'range ends' if n == 1 else 'ranges end'} after the last decoded frame (clamped)"
                     for n in [stats["ranges_clamped"]] if n]
            print(f"kth4: warning: {' and '.join(what)}, in {', '.join(s + '_uncomp.avi' for s in short[:5])}"
                  f"{f' and {len(short) - 5} more videos' if len(short) > 5 else ''}: a frame or two over is usual "
                  "for KTH, more suggests a truncated file (all in source.extraction.notes)", file=sys.stderr)
        damaged = [(r.stem, r.decoder_errors) for r in results if r.decoder_errors]
        if damaged:
            stem, errors = damaged[0]
            print(f"kth4: warning: the video decoder reported errors in {len(damaged)} file(s), whose frames it "
                  f"patched over: {', '.join(s + '_uncomp.avi' for s, _ in damaged[:5])}"
                  f"{f' and {len(damaged) - 5} more' if len(damaged) > 5 else ''} (first: {stem}_uncomp.avi: "
                  f"{errors[0]!r}, {len(errors)} errors); re-extract them from the KTH zips and run again with "
                  "--overwrite", file=sys.stderr)
        return out

    def _make_source(self, cfg, files, seq, stats) -> dict:
        import cv2

        from t2vbench.data.format import sha256_json
        from t2vbench.generators.kth import direction
        from t2vbench.generators.kth.extract import RESIZE_POLICY
        from t2vbench.generators.kth.extract import __doc__ as extract_doc

        windowing = extract_doc.split("Windowing rule (documented in the README via the builder): ")[1].split("\n\n")[0]
        return {
            "kind": "KTH human actions (Schuldt, Laptev, Caputo 2004), " + KTH_URL,
            "files": files,
            "sha256": sha256_json(files),
            "frame_step": cfg["frame_step"],
            "fps": 25,
            "resize": RESIZE_POLICY,
            "windowing": " ".join(windowing.split()),
            "direction_method": direction.METHOD,
            "direction_params": direction.PARAMS,
            "opencv": cv2.__version__,
            "sequences_irregularities": seq.notes,
            "videos_without_ranges": sorted(self._inputs[4]),
            "extraction": stats,
        }

    # -- builder protocol ------------------------------------------------------------------------
    def counts(self, cfg: dict) -> dict:
        return {split: len(c) for split, c in self._extract(cfg).items()}

    def prepare(self, cfg: dict) -> None:
        self._extract(cfg)

    def source(self, cfg: dict) -> dict:
        from t2vbench.data.format import sha256_json

        self._extract(cfg)
        return self._source[sha256_json(cfg)]

    def vocabulary(self, cfg: dict) -> list[str]:
        if cfg["caption_style"] == "person":
            return ["person", "is", "walking", "running", "left", "to", "right", "waving", "hands", "boxing"] + \
                [str(p) for p in range(1, 26)]
        return ["a", "person", "is", "walking", "running", "from", "left", "to", "right", "waving", "hands", "boxing"]

    def label_names(self, cfg: dict) -> dict:
        return {"action": list(CLASSES), "direction": list(DIRECTIONS),
                "person": [f"person{p:02d}" for p in range(1, 26)], "scenario": list(SCENARIOS)}

    def semantics(self, cfg: dict) -> str:
        return (f"Each clip is {cfg['frames']} consecutive frames (25 fps, frame step {cfg['frame_step']}) from one "
                "annotated range of one KTH video, gray, squashed to "
                f"{cfg['size']}x{cfg['size']}. 'walking'/'running from left to right' means the person's image x "
                "increases (as displayed) over the clip; the direction is inferred from the pixels of that clip by "
                "two cues that must agree (foreground centroid track and camera-compensated optical flow), and clips "
                "where they do not, where the person turns or is barely visible, or whose annotated range is judged "
                "the other way or unreliably as a whole, are left out. 'waving hands' "
                "and 'boxing' are in place. "
                + ("The person number is KTH's subject id; test persons' numbers never occur in training captions."
                   if cfg["caption_style"] == "person" else "Captions do not name the person.")
                + f" Split by person ({cfg['kth_split']}): train persons {_span(cfg['train_persons'])}, test "
                f"persons {_span(cfg['test_persons'])}. A horizontal flip of a clip swaps its direction.")

    def captions_of(self, cfg: dict, labels: dict) -> list[str]:
        """From label/action (and label/person with --caption-style person); a label/direction that
        disagrees with the action gives a caption that says so, which matches no real one."""
        out = []
        for a, d, p in zip(np.asarray(labels["action"])[:, 0].tolist(), np.asarray(labels["direction"])[:, 0].tolist(),
                           np.asarray(labels["person"])[:, 0].tolist()):
            action, sign = _CLASS_PARTS[a]
            if d != (0 if sign > 0 else 1 if sign < 0 else 2):
                out.append(f"(label/direction {d} does not go with label/action {a})")
            else:
                out.append(caption(action, sign, p + 1, cfg["caption_style"]))
        return out

    def render(self, cfg: dict, split: str, start: int, stop: int) -> dict:
        clips = self._extract(cfg)[split]
        sel = slice(start, stop)
        video = clips.video[sel]
        vocab = Vocabulary(self.vocabulary(cfg))
        caps = clips.captions[sel]
        length = max(len(caption(a, d, 25, cfg["caption_style"]).split()) for a, d in
                     (("walking", 1), ("running", -1), ("handwaving", 0), ("boxing", 0))) + 1
        first = clips.start[sel]
        return {
            "video": video[..., None],
            "caption": caps,
            "tokens": vocab.encode_batch(caps, length),
            "label/action": clips.action[sel, None],
            "label/direction": clips.direction[sel, None],
            "label/person": (clips.person[sel] - 1)[:, None],
            "label/scenario": (clips.scenario[sel] - 1)[:, None],
            "source_file": np.array([f"{s}_uncomp.avi" for s in clips.stem[sel]], dtype="S"),
            "frame_range": np.stack([first, first + (cfg["frames"] - 1) * cfg["frame_step"]], 1).astype(np.int32),
            "subsequence": clips.subseq[sel],
            "velocity": clips.velocity[sel],
        }


def _assemble(items, cfg) -> Clips:
    """Clips of one split from (VideoResult, clip index, VideoName) triples, in that order."""
    n = len(items)
    direction = np.array([r.direction[j] for r, j, _ in items], np.int64)
    T, S = cfg["frames"], cfg["size"]
    video = np.empty((n, T, S, S), np.uint8)
    for i, (r, j, _) in enumerate(items):
        video[i] = r.clips[j]
    return Clips(
        stem=[r.stem for r, _, _ in items],
        person=np.array([nm.person for _, _, nm in items], np.int32),
        action=np.array([class_index(nm.action, d) for (_, _, nm), d in zip(items, direction)], np.int32),
        direction=np.where(direction > 0, 0, np.where(direction < 0, 1, 2)).astype(np.int32),
        scenario=np.array([nm.scenario for _, _, nm in items], np.int32),
        start=np.array([r.starts[j] for r, j, _ in items], np.int32),
        subseq=np.array([r.subseq[j] for r, j, _ in items], np.int32),
        velocity=np.array([[r.v_c[j], r.v_f[j]] for r, j, _ in items], np.float32).reshape(n, 2),
        captions=[caption(nm.action, d, nm.person, cfg["caption_style"]) for (_, _, nm), d in zip(items, direction)],
        video=video,
    )


def alternates(passes, ranges) -> bool:
    """People leave, turn off-screen and come back (kth.md 5.1.6), so of two neighbouring passes (by
    start frame) that are both decided, the second must go the other way. An undecided pass says
    nothing: it neither breaks nor links the chain. `passes`: (range index, direction, ...) tuples."""
    signs = [p[1] for p in sorted(passes, key=lambda p: (ranges[p[0]][0], p[0]))]
    return not any(a == b != 0 for a, b in zip(signs, signs[1:]))


def _span(persons) -> str:
    """[1, 2, 3, 5] -> '1-3, 5'."""
    persons = sorted(persons)
    out, i = [], 0
    while i < len(persons):
        j = i
        while j + 1 < len(persons) and persons[j + 1] == persons[j] + 1:
            j += 1
        out.append(f"{persons[i]}-{persons[j]}" if j > i else f"{persons[i]}")
        i = j + 1
    return ", ".join(out)
