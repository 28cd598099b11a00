"""KTH-4 end to end on synthetic KTH (generators/kth/fixture.py): parsing, clip counts, captions,
direction accuracy, exclusion of ambiguous passes, mirror symmetry, pixels, same bytes, errors."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from t2vbench.errors import UserError
from t2vbench.generators.kth.builder import CLASSES, KTH4
from t2vbench.generators.kth.extract import VideoTask, decode, find_videos, process_video
from t2vbench.generators.kth.fixture import make_fixture, render_video, write_avi
from t2vbench.generators.kth.sequences import parse_name, read_sequences

SMALL = dict(persons=(1, 17), scenarios=(1, 2, 3, 4), passes=2, segments=3, segment_frames=(40, 60))
# lossless, tiny: for exact pixels and layout independence
LOSSLESS = dict(persons=(2, 18), actions=("walking", "boxing"), scenarios=(1, 2), passes=2, segments=2,
                segment_frames=(40, 56), codec="FFV1", distractors=False)


@pytest.fixture(scope="module")
def kth(tmp_path_factory):
    root = tmp_path_factory.mktemp("kth")
    truth = make_fixture(root, **SMALL)
    return root, truth


@pytest.fixture(scope="module")
def built(kth, tmp_path_factory):
    from t2vbench.data.build import build_dataset

    root, _ = kth
    b = KTH4()
    cfg = b.resolve({"kth_dir": str(root), "frames": 16, "size": 64, "seed": 0, "n": None})
    out = tmp_path_factory.mktemp("out")
    manifest = build_dataset(b, cfg, out, shard_size=64, progress=False)
    return out / "kth4", manifest, b, cfg


def read(root, split):
    from t2vbench.data.dataset import read_split

    return read_split(root, split)


def build(kth_dir, out, **opts):
    from t2vbench.data.build import build_dataset

    b = KTH4()
    cfg = b.resolve({"kth_dir": str(kth_dir), **opts})
    manifest = build_dataset(b, cfg, out, shard_size=16, progress=False, log=lambda msg: None)
    return Path(out) / "kth4", manifest


def drop_lines(seq_file: Path, stems) -> None:
    """Remove the 00sequences.txt lines of `stems` (their videos become 'without ranges')."""
    lines = seq_file.read_bytes().split(b"\n")
    seq_file.write_bytes(b"\n".join(x for x in lines if not x.startswith(tuple(s.encode() for s in stems))))


def clip_truth(vx, start, frames=16):
    """('clear', sign) when every frame moves one way at >= 1 px/frame, ('mixed', 0) when at least a
    quarter of the frames move each way, else ('other', majority sign)."""
    v = np.asarray(vx[start - 1: start - 1 + frames])
    pos, neg = int((v > 0.5).sum()), int((v < -0.5).sum())
    if (pos == frames or neg == frames) and (np.abs(v) >= 1).all():
        return "clear", 1 if pos else -1
    if min(pos, neg) >= frames // 4:
        return "mixed", 0
    return "other", 1 if pos > neg else -1 if neg > pos else 0


def loco_results(root, truth, stems=None):
    """stem -> process_video result (labels only) for the walking/running videos listed in 00sequences."""
    seq = read_sequences(root / "00sequences.txt")
    out = {}
    for stem, v in sorted(truth["videos"].items()):
        name = parse_name(stem)
        if name.action in ("walking", "running") and stem in seq.entries and (stems is None or stem in stems):
            out[stem] = process_video(VideoTask(str(root / v["file"]), stem, name.action, seq.entries[stem].ranges,
                                                16, 1, 64, pixels=False))
    return seq, out


def test_fixture_sequences_parse_to_the_truth(kth):
    root, truth = kth
    seq = read_sequences(root / "00sequences.txt")
    assert truth["missing_entry"] in seq.entries and seq.entries[truth["missing_entry"]].missing
    assert truth["unlisted"] not in seq.entries
    for stem, v in truth["videos"].items():
        if stem == truth["unlisted"]:
            continue
        assert [list(r) for r in seq.entries[stem].ranges] == v["written"], stem
    text = (root / "00sequences.txt").read_bytes()
    assert b"\r\n" in text and b"    \t" in text  # the real file's quirks are there
    kinds = " ".join(seq.notes)
    assert "out of order" in kinds and "overlap" in kinds and "share frame" in kinds and "3 ranges" in kinds


def test_direction_accuracy_and_ambiguous_passes_left_out(kth):
    root, truth = kth
    seq, results = loco_results(root, truth)
    decided = wrong = clear_full = clear_found = slow_passes = 0
    reasons = set()
    for stem, res in results.items():
        v = truth["videos"][stem]
        emitted = dict(zip(res.starts, res.direction))
        for _, _, why in res.excluded:
            reasons.add(why)
        vis = np.asarray(v["visible"])
        for s in list(emitted) + [s for s, _, _ in res.excluded]:
            kind, sign = clip_truth(v["vx"], s)
            d = emitted.get(s)
            if d is not None:
                decided += 1
                assert kind != "mixed", f"{stem} clip at frame {s} turns around but was labelled {d}"
                against = int((np.asarray(v["vx"][s - 1: s + 15]) * d < -0.5).sum())
                assert against <= 1, f"{stem} clip at frame {s}: {against} frames move against its label {d}"
                wrong += d != sign
            if kind == "clear" and (vis[s - 1: s + 15] >= 0.99).all():
                clear_full += 1
                clear_found += d is not None
        # passes are matched to the truth by their first frame (file order may differ from generation order)
        kind_by_start = {r[0]: k for r, k in zip(v["ranges"], v["pass_kinds"])}
        ranges = seq.entries[stem].ranges
        assert sorted(kind_by_start) == sorted(a for a, _ in ranges), stem
        for k, *_ in res.passes:
            if kind_by_start[ranges[k][0]] == "slow":  # the slow oblique pass (d2): no clip of it may be labelled
                slow_passes += 1
                assert not [s for s, kk in zip(res.starts, res.subseq) if kk == k], stem
    assert decided > 40 and wrong == 0
    assert clear_found >= 0.9 * clear_full, (clear_found, clear_full)
    assert slow_passes >= 2 and "too slow" in reasons  # the oblique passes were seen and left out


def test_mirrored_videos_get_opposite_labels(kth, tmp_path):
    """Mirror the decoded frames of every walking video (all scenarios; running is covered by the same code)
    into a lossless AVI with the same name and run the whole extraction on both folders: each decided clip must
    get the opposite direction and the same clips must be left out, for the same reasons. No tolerance on
    labels: the mirrored pixels are exactly the original decoded ones, flipped, and every decision step is
    mirror-symmetric (ties are broken towards the image centre). The centroid speed must negate to float
    precision; the flow speed is not bit-symmetric (Farneback's float arithmetic: up to ~0.3 px/frame apart
    here, median ~0.01), which is why it is checked through the labels only."""
    import cv2

    root, truth = kth
    walking = {s for s in truth["videos"] if "_walking_" in s}
    seq, original = loco_results(root, truth, walking)
    mirror_truth = {"videos": {}}
    for stem in original:
        _, _, gray = decode(root / truth["videos"][stem]["file"])  # every frame, in order
        # HuffYUV: lossless for the 3-channel frames write_avi stores, and 3x faster to write than FFV1
        write_avi(tmp_path / f"{stem}_uncomp.avi", np.stack([cv2.flip(f, 1) for f in gray]), codec="HFYU")
        mirror_truth["videos"][stem] = {"file": f"{stem}_uncomp.avi"}
    assert np.array_equal(decode(tmp_path / f"{stem}_uncomp.avi")[2], gray[:, :, ::-1])  # exactly mirrored
    shutil.copy(root / "00sequences.txt", tmp_path / "00sequences.txt")
    _, mirrored = loco_results(tmp_path, mirror_truth)
    assert mirrored.keys() == original.keys()
    decided = 0
    for stem, a in original.items():
        b = mirrored[stem]
        assert a.n_frames == b.n_frames
        assert sorted(a.excluded) == sorted(b.excluded), stem
        assert a.starts == b.starts and a.subseq == b.subseq, stem
        assert b.direction == [-d for d in a.direction], stem
        assert np.allclose(b.v_c, -np.asarray(a.v_c), atol=1e-3), stem
        assert [(k, -d, r) for k, d, _, _, r in a.passes] == [(k, d, r) for k, d, _, _, r in b.passes], stem
        decided += len(a.starts)
    assert decided > 30 and len(original) >= 7


def spliced(frames, order, path):
    """Write frames[order] (a list of frame indices) as a lossless AVI."""
    write_avi(path, frames[np.asarray(order)], codec="FFV1")


def test_clip_against_its_pass(tmp_path):
    """Two exclusions that only the pass can justify, on videos spliced from one rendered walk:
    a clip going one way inside a pass going the other way, and a clear clip inside a range where the
    person is mostly not visible (the pass is undecided because nothing is detected)."""
    frames, t = render_video(1, "walking", 1, seed=0, passes=1, ambiguous=False)
    vis, vx = np.asarray(t["visible"]), np.asarray(t["vx"])
    full = np.flatnonzero(vis >= 0.99)
    v0, v1 = int(full[0]), int(full[-1])
    off = int(np.flatnonzero(vis == 0)[-1])
    sign = int(np.sign(vx[v0]))
    assert v1 - v0 >= 60 and (np.sign(vx[v0: v1 + 1]) == sign).all()  # one clear crossing, fully in view
    # A: 30 empty frames, 16 frames of the walk played backwards, the walk forwards at half speed, 30 empty
    back = list(range(v0 + 16, v0, -1))
    forward = [i for i in range(v0, v1 + 1) for _ in (0, 1)]
    order_a = [off] * 30 + back + forward + [off] * 30
    spliced(frames, order_a, tmp_path / "a.avi")
    ranges_a = ((31, 30 + len(back) + len(forward)),)
    res = process_video(VideoTask(str(tmp_path / "a.avi"), "a", "walking", ranges_a, 16, 1, 64, pixels=False))
    assert [p[1] for p in res.passes] == [sign]
    assert (31, 0, "disagrees with the direction of its pass") in res.excluded
    assert 31 not in res.starts and len(res.starts) >= 4 and set(res.direction) == {sign}
    # B: the same 16 clear frames twice; first inside a 112-frame range that is mostly empty, then alone
    seg = list(range(v0 + 20, v0 + 36))
    order_b = [off] * 60 + seg + [off] * 60 + seg + [off] * 10
    ranges_b = ((13, 124), (137, 152))  # the first range's windows: 13, 29, 45, 61 (= seg), 77, 93, 109
    spliced(frames, order_b, tmp_path / "b.avi")
    res = process_video(VideoTask(str(tmp_path / "b.avi"), "b", "walking", ranges_b, 16, 1, 64, pixels=False))
    passes = {k: (d, why) for k, d, _, _, why in res.passes}
    assert passes[0] == (0, "person not detected in enough frames") and passes[1] == (sign, "")
    assert (61, 0, "pass uncertain: person not detected in enough frames") in res.excluded
    assert res.starts == [137] and res.direction == [sign]  # the same frames, judged alone: kept


def test_a_turn_in_the_last_frames_leaves_the_clip_out(tmp_path):
    """13 frames one way, then 3 frames back: each half's slope still points one way, and the median
    flow too; only the flow of the last frames sees the turn (the clip used to be captioned)."""
    frames, t = render_video(1, "running", 1, seed=0, passes=1, ambiguous=False)
    vis = np.asarray(t["visible"])
    full = np.flatnonzero(vis >= 0.99)
    v0, off = int(full[0]), int(np.flatnonzero(vis == 0)[-1])
    order = [off] * 10 + list(range(v0, v0 + 13)) + [v0 + 11, v0 + 10, v0 + 9] + [off] * 10
    spliced(frames, order, tmp_path / "t.avi")
    res = process_video(VideoTask(str(tmp_path / "t.avi"), "t", "running", ((11, 26),), 16, 1, 64, pixels=False))
    assert res.starts == [] and (11, 0, "direction changes within the clip") in res.excluded, res.excluded


def test_dataset_contents(built, kth):
    root, manifest, b, cfg = built
    _, truth = kth
    assert manifest["config"]["kth_split"] == "mcnet" and manifest["labels"]["action"] == list(CLASSES)
    src = manifest["source"]
    assert len(src["sha256"]) == 64 and src["frame_step"] == 1 and "INTER_AREA" in src["resize"]
    assert src["opencv"]  # same bytes hold per OpenCV version
    names = {f[0] for f in src["files"]}
    assert "00sequences.txt" in names and not any("jogging" in n or "handclapping" in n for n in names)
    assert truth["unlisted"] in src["videos_without_ranges"]
    counts = {s: manifest["splits"][s]["count"] for s in ("train", "test")}
    assert counts == b.counts(cfg) and min(counts.values()) > 30
    vocab = manifest["vocabulary"]
    per_file: dict = {}
    for split, persons in (("train", {1}), ("test", {17})):
        cols = read(root, split)
        n = counts[split]
        assert cols["video"].shape == (n, 16, 64, 64, 1) and cols["video"].dtype == np.uint8
        assert set((cols["label/person"][:, 0] + 1).tolist()) == persons
        caps = cols["caption"]
        act = cols["label/action"][:, 0]
        assert all(c == "a person is " + CLASSES[a] for c, a in zip(caps, act))
        assert set(w for c in caps for w in c.split()) <= set(vocab)
        direction = cols["label/direction"][:, 0]
        assert ((direction == 2) == (act >= 4)).all() and ((direction == 0) == np.isin(act, [0, 2])).all()
        files = cols["source_file"].astype(str)
        fr = cols["frame_range"]
        assert (fr[:, 1] - fr[:, 0] == 15).all()
        for i in range(n):
            stem = files[i].replace("_uncomp.avi", "")
            v = truth["videos"][stem]
            assert parse_name(stem).scenario - 1 == cols["label/scenario"][i, 0]
            assert parse_name(stem).person == cols["label/person"][i, 0] + 1
            assert any(a <= fr[i, 0] and fr[i, 1] <= min(b, v["frames"]) for a, b in v["written"])
            per_file.setdefault(stem, []).extend(range(fr[i, 0], fr[i, 1] + 1))
        tokens = cols["tokens"]
        from t2vbench.data.vocab import Vocabulary

        assert [Vocabulary(vocab).decode(t) for t in tokens[:5]] == caps[:5]
    for stem, used in per_file.items():
        assert len(used) == len(set(used)), f"{stem}: a frame is used by two clips"
    assert all(counts_ > 0 for counts_ in src["extraction"]["clips"]["train"].values())
    assert src["extraction"]["videos_not_alternating"] == []  # the fixture's walkers always turn around
    assert src["extraction"]["ranges_clamped"] >= 1  # the fixture's range past the end of its video


def test_hand_written_ranges_full_run(tmp_path, capsys):
    """The windowing rule on ranges written by hand, through make-dataset: expected starts by hand."""
    frames, t = render_video(2, "boxing", 1, seed=0, segments=3, segment_frames=(60, 60))
    assert len(frames) >= 170
    write_avi(tmp_path / "person02_boxing_d1_uncomp.avi", frames[:170], codec="FFV1")
    write_avi(tmp_path / "person18_boxing_d1_uncomp.avi", frames[:40], codec="FFV1")
    (tmp_path / "00sequences.txt").write_text(
        "person02_boxing_d1\t\tframes\t1-40, 40-75, 70-117, 200-260, 130-180\n"
        "person18_boxing_d1\t\tframes\t1-40\n")
    # 1-40: 1, 17 (33-48 passes 40) | 40-75: 40, 56 (40-55 shares no frame with 17-32) | 70-117: 70-85
    # overlaps 56-71, so 86, 102 (ends on 117 exactly) | 200-260: starts after frame 170, dropped |
    # 130-180: clamped to 130-170: 130, 146 (162-177 would pass 170)
    root, manifest = build(tmp_path, tmp_path / "out", kth_split="2/18")
    cols = read(root, "train")
    assert set(cols["source_file"].astype(str)) == {"person02_boxing_d1_uncomp.avi"}
    starts = sorted(int(a) for a in cols["frame_range"][:, 0])
    assert starts == [1, 17, 40, 56, 86, 102, 130, 146]
    ex = manifest["source"]["extraction"]
    assert ex["ranges_past_end"] == 1 and ex["ranges_clamped"] == 1 and ex["videos_cut_short"] == ["person02_boxing_d1"]
    err = capsys.readouterr().err
    assert "warning" in err and "person02_boxing_d1_uncomp.avi" in err and "person18" not in err.split("warning")[1]
    assert any("200-260 starts after" in n for n in ex["notes"]) and any("clamped to 130-170" in n for n in ex["notes"])


@pytest.fixture(scope="module")
def lossless(tmp_path_factory):
    """The same FFV1 fixture twice: flat, and copied into one folder per action. Two more lines are taken
    out of 00sequences.txt so that the videos without ranges sort differently by folder than by name."""
    flat = tmp_path_factory.mktemp("flat")
    truth = make_fixture(flat, **LOSSLESS)
    drop_lines(flat / "00sequences.txt", ["person02_walking_d1", "person18_boxing_d1"])
    nested = tmp_path_factory.mktemp("nested")
    for stem, v in truth["videos"].items():
        (nested / parse_name(stem).action).mkdir(exist_ok=True)
        shutil.copy(flat / v["file"], nested / parse_name(stem).action / v["file"])
    shutil.copy(flat / "00sequences.txt", nested / "00sequences.txt")
    built_flat = build(flat, tmp_path_factory.mktemp("flat-out"))
    return flat, nested, truth, built_flat


def test_layout_does_not_change_the_bytes(lossless, tmp_path):
    flat, nested, _, (root1, m1) = lossless
    root2, m2 = build(nested, tmp_path)
    assert m1["source"]["videos_without_ranges"] == ["person02_walking_d1", "person18_boxing_d1",
                                                     "person18_walking_d2"]
    digest = lambda m: [(s["file"], s["sha256"]) for sp in m["splits"].values() for s in sp["shards"]]
    assert len(digest(m1)) >= 2 and digest(m1) == digest(m2)
    assert hashlib.sha256((root1 / "manifest.json").read_bytes()).digest() == \
        hashlib.sha256((root2 / "manifest.json").read_bytes()).digest()


def test_clip_pixels_match_the_rendered_frames(lossless):
    """Each clip = the fixture's own rendered frames [first-1 : last], squashed to 64x64 with
    cv2.INTER_AREA frame by frame here (FFV1 is lossless, so decoding changes nothing)."""
    import cv2

    _, _, truth, (root, _) = lossless
    rendered = {}
    checked = 0
    for split in ("train", "test"):
        cols = read(root, split)
        for i, (f, (a, b)) in enumerate(zip(cols["source_file"].astype(str), cols["frame_range"])):
            stem = f.replace("_uncomp.avi", "")
            if stem not in rendered:
                v, name = truth["videos"][stem], parse_name(stem)
                frames, t = render_video(name.person, name.action, name.scenario, seed=truth["seed"],
                                         passes=LOSSLESS["passes"], segments=len(v["ranges"]),
                                         segment_frames=LOSSLESS["segment_frames"])
                assert t["ranges"] == v["ranges"] and len(frames) == v["frames"]  # the same video
                rendered[stem] = frames
            want = np.stack([cv2.resize(fr, (64, 64), interpolation=cv2.INTER_AREA)
                             for fr in rendered[stem][a - 1: b]])
            assert np.array_equal(cols["video"][i, ..., 0], want), (stem, a, b)
            checked += 1
    assert checked > 20 and any("walking" in s for s in rendered) and any("boxing" in s for s in rendered)


def test_passes_alternate_with_an_undecided_pass_between(tmp_path):
    """Four passes; in d2 one is slow (undecided). Neighbours around it go the same way (the walker
    turned twice), which is not a failure to alternate. Removing a decided middle pass's line is."""
    make_fixture(tmp_path, persons=(1, 17), actions=("walking",), scenarios=(2,), passes=4, seed=0,
                 irregular=False, distractors=False)
    truth = json.loads((tmp_path / "fixture_truth.json").read_text())
    middle_slow = [s for s, v in truth["videos"].items() if "slow" in v["pass_kinds"][1:3]]
    assert middle_slow, "the seed should put a slow pass between two others"
    b = KTH4()
    cfg = b.resolve({"kth_dir": str(tmp_path), "kth_split": "1/17"})
    b.counts(cfg)
    ex = b.source(cfg)["extraction"]
    assert ex["passes"]["uncertain"] >= 1 and ex["videos_not_alternating"] == []
    # take out one clear pass between two clear passes (1 and 3, or 0 and 2) of the first video
    stem = sorted(truth["videos"])[0]
    kinds = truth["videos"][stem]["pass_kinds"]
    k = next(i for i in (1, 2) if kinds[i - 1] == kinds[i] == kinds[i + 1] == "clear")
    rng = truth["videos"][stem]["ranges"]
    lines = (tmp_path / "00sequences.txt").read_text().split("\n")
    i = next(i for i, x in enumerate(lines) if x.startswith(stem))
    lines[i] = lines[i].replace(f", {rng[k][0]}-{rng[k][1]}", "")  # k is 1 or 2: never the first range
    assert lines[i].count("-") == 3 + stem.count("-")  # three ranges left
    (tmp_path / "00sequences.txt").write_text("\n".join(lines))
    b = KTH4()
    cfg = b.resolve({"kth_dir": str(tmp_path), "kth_split": "1/17"})
    b.counts(cfg)
    assert b.source(cfg)["extraction"]["videos_not_alternating"] == [stem]


def test_info_lists_every_column(built, capsys):
    from t2vbench.cli import main

    root = built[0]
    assert main(["info", str(root)]) == 0
    out = capsys.readouterr().out
    for col in ("video", "caption", "tokens", "label/action", "label/direction", "label/person",
                "label/scenario", "source_file", "frame_range", "subsequence", "velocity"):
        assert f"  {col} " in out, col


def test_same_bytes_with_workers_and_person_captions(built, kth, tmp_path):
    from t2vbench.data.build import build_dataset

    root1, manifest1, _, _ = built
    b = KTH4()
    cfg = b.resolve({"kth_dir": str(kth[0]), "workers": 2})
    m2 = build_dataset(b, cfg, tmp_path, shard_size=64, workers=2, progress=False)
    shards = lambda m: [(s["file"], s["sha256"]) for sp in m["splits"].values() for s in sp["shards"]]
    assert shards(m2) == shards(manifest1)
    b = KTH4()
    cfg = b.resolve({"kth_dir": str(kth[0]), "caption_style": "person", "kth_split": "1/17"})
    assert cfg["kth_split"] == "1/17"
    b.counts(cfg)
    cols = b.render(cfg, "test", 0, 10)
    assert all(c.startswith("person 17 is ") for c in cols["caption"])
    assert any(c.endswith(("left to right", "right to left")) and "from" not in c for c in cols["caption"])


def test_symlinked_folders_are_followed(kth, tmp_path):
    root, truth = kth
    elsewhere = tmp_path / "elsewhere" / "boxing"
    elsewhere.mkdir(parents=True)
    for stem in ("person01_boxing_d1", "person17_boxing_d1"):
        shutil.copy(root / truth["videos"][stem]["file"], elsewhere)
    seqdir = tmp_path / "elsewhere" / "meta"
    seqdir.mkdir()
    (seqdir / "00sequences.txt").write_text("person01_boxing_d1\t\tframes\t1-40\nperson17_boxing_d1\tframes\t1-40\n")
    kthdir = tmp_path / "kth"
    kthdir.mkdir()
    os.symlink(elsewhere, kthdir / "boxing")
    os.symlink(seqdir, kthdir / "meta")
    os.symlink(elsewhere, kthdir / "boxing-again")  # the same files by a second path: not duplicates
    os.symlink(kthdir, kthdir / "meta" / "loop")  # a loop must not hang the search
    found = find_videos(kthdir)
    assert sorted(found) == ["person01_boxing_d1", "person17_boxing_d1"]
    assert found["person01_boxing_d1"] == kthdir / "boxing" / "person01_boxing_d1_uncomp.avi"
    b = KTH4()
    cfg = b.resolve({"kth_dir": str(kthdir), "kth_split": "1/17"})
    assert b.counts(cfg) == {"train": 2, "test": 2}


def test_decode_error_mid_file_names_the_file(kth, monkeypatch):
    """A frame that grab() reports but retrieve() cannot decode is an error, not the end of the video."""
    import cv2

    root, truth = kth
    path = root / truth["videos"]["person01_boxing_d1"]["file"]
    real = cv2.VideoCapture

    class Broken:
        def __init__(self, p):
            self.cap, self.n = real(p), 0

        def __getattr__(self, name):
            return getattr(self.cap, name)

        def grab(self):
            self.n += 1
            return self.cap.grab()

        def retrieve(self, *a):
            return (False, None) if self.n == 30 else self.cap.retrieve(*a)

    monkeypatch.setattr(cv2, "VideoCapture", Broken)
    with pytest.raises(UserError, match=r"person01_boxing_d1_uncomp\.avi.*frame 30"):
        decode(path)
    monkeypatch.setattr(cv2, "VideoCapture", real)
    assert decode(path)[0] == truth["videos"]["person01_boxing_d1"]["frames"]


def test_fixture_is_deterministic():
    a, ta = render_video(3, "walking", 1, seed=5, passes=2)
    b, tb = render_video(3, "walking", 1, seed=5, passes=2)
    c, _ = render_video(3, "walking", 1, seed=6, passes=2)
    assert np.array_equal(a, b) and ta == tb and not (a.shape == c.shape and np.array_equal(a, c))
    assert a.shape[1:] == (120, 160) and a.dtype == np.uint8
    vx = np.asarray(ta["vx"])
    assert 1.5 <= np.abs(vx[vx != 0]).min() <= np.abs(vx).max() <= 2.5  # KTH-like walking speed


def test_user_errors(tmp_path, kth):
    b = KTH4()
    with pytest.raises(UserError, match="not a KTH folder"):
        b.resolve({"kth_dir": str(tmp_path)})
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match="not a KTH folder"):
        b.resolve({"kth_dir": str(tmp_path)})
    with pytest.raises(UserError, match="not a folder"):
        b.resolve({"kth_dir": str(tmp_path / "nope")})
    with pytest.raises(UserError, match="--digits does not apply"):
        b.resolve({"kth_dir": str(kth[0]), "digits": "x"})
    with pytest.raises(UserError, match="needs --kth-dir"):
        b.resolve({})
    with pytest.raises(UserError, match="no usable video of the test persons"):
        b.resolve({"kth_dir": str(kth[0]), "kth_split": "svg"})  # fixture has persons 1 and 17 only
    with pytest.raises(UserError, match="unknown --kth-split"):
        b.resolve({"kth_dir": str(kth[0]), "kth_split": "random"})
    only = tmp_path / "videos"
    only.mkdir()
    src = kth[0] / kth[1]["videos"]["person01_boxing_d1"]["file"]
    (only / src.name).write_bytes(src.read_bytes())
    with pytest.raises(UserError, match="no 00sequences.txt"):
        b.resolve({"kth_dir": str(only)})
    (only / "00sequences.txt").write_text("person01_boxing_d1\t\tframes\t1-20, x\n")
    with pytest.raises(UserError, match="line 1"):
        b.resolve({"kth_dir": str(only)})
    (only / "00sequences.txt").write_text("person01_boxing_d1\t\tframes\t1-20\n")
    (only / "person02_walking_d1_uncomp.avi").write_bytes(b"not a video")
    (only / "00sequences.txt").write_text("person01_boxing_d1\t\tframes\t1-20\nperson02_walking_d1\tframes\t1-50\n"
                                          "person17_boxing_d1\tframes\t1-20\n")
    (only / "person17_boxing_d1_uncomp.avi").write_bytes(src.read_bytes())
    cfg = b.resolve({"kth_dir": str(only)})
    with pytest.raises(UserError, match="person02_walking_d1_uncomp.avi"):
        b.counts(cfg)


def test_make_fixture_cli_and_overwrite(tmp_path):
    """--overwrite replaces an earlier fixture, atomically, and never touches anything else."""
    from t2vbench.cli import main

    root = tmp_path / "fx"
    args = ["make-fixture", "kth", "--out", str(root), "--persons", "2", "--scenarios", "1", "--passes", "1",
            "--regular", "--no-ambiguous"]
    assert main(args + ["--codec", "FFV1", "--layout", "by-action"]) == 0
    assert (root / "walking" / "person02_walking_d1_uncomp.avi").exists()
    truth = json.loads((root / "fixture_truth.json").read_text())
    assert truth["missing_entry"] is None and truth["codec"] == "FFV1"
    assert main(["make-fixture", "kth", "--out", str(root)]) == 2  # not empty, no --overwrite
    assert main(args + ["--overwrite"]) == 0  # flat XVID replaces the by-action FFV1 fixture
    assert json.loads((root / "fixture_truth.json").read_text())["codec"] == "XVID"
    actions = ("boxing", "handclapping", "handwaving", "jogging", "running", "walking")
    assert sorted(p.name for p in root.iterdir()) == ["00sequences.txt", "fixture_truth.json"] + [
        f"person02_{a}_d1_uncomp.avi" for a in actions]
    assert [p.name for p in tmp_path.iterdir()] == ["fx"]  # no temp folder left beside it
    # a real AVI beside the fixture, or a real KTH folder: refused, nothing deleted
    real = root / "person03_walking_d1_uncomp.avi"
    real.write_bytes(b"real data")
    before = sorted(p.name for p in root.iterdir())
    assert main(args + ["--overwrite"]) == 2
    assert sorted(p.name for p in root.iterdir()) == before and real.read_bytes() == b"real data"
    kth = tmp_path / "kth"
    kth.mkdir()
    (kth / "person01_walking_d1_uncomp.avi").write_bytes(b"real data")
    (kth / "00sequences.txt").write_text("person01_walking_d1\t\tframes\t1-75\n")
    assert main(["make-fixture", "kth", "--out", str(kth), "--overwrite"]) == 2
    assert sorted(p.name for p in kth.iterdir()) == ["00sequences.txt", "person01_walking_d1_uncomp.avi"]
    # a fixture_truth.json that lists only the real file does not make the folder a fixture either
    (kth / "fixture_truth.json").write_text(json.dumps({"videos": {"x": {"file": "person01_walking_d1_uncomp.avi"}}}))
    assert main(["make-fixture", "kth", "--out", str(kth), "--overwrite"]) == 2
    assert (kth / "person01_walking_d1_uncomp.avi").read_bytes() == b"real data"


def test_review_sheet(built, tmp_path):
    import csv

    from t2vbench.generators.kth.review import direction_sheet

    png = direction_sheet(built[0], tmp_path / "sheet.png", per_scenario=2)
    rows = list(csv.DictReader(open(png.with_suffix(".csv"))))
    assert png.exists() and 2 <= len(rows) <= 8
    assert all(r["caption"].startswith(("a person is walking", "a person is running")) for r in rows)


def test_a_cut_file_keeps_only_intact_frames(kth, tmp_path):
    """A file cut short decodes fewer frames than its header says; the last one it does decode is often
    part garbage and is not used. Every frame kept equals the uncut file's."""
    root, truth = kth
    path = root / truth["videos"]["person01_walking_d1"]["file"]
    n_full, _, full = decode(path)
    data = path.read_bytes()
    cut = tmp_path / path.name
    cut.write_bytes(data[: int(len(data) * 0.6)])
    n, ids, gray = decode(cut)
    assert 0 < n < n_full - 2 and list(ids) == list(range(n))
    assert np.array_equal(gray, full[:n])
