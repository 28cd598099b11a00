"""KTH-4 end to end on synthetic KTH (generators/kth/fixture.py): parsing, clip counts, captions,
direction accuracy, exclusion of ambiguous passes, flip symmetry, same bytes, errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from t2vbench.errors import UserError
from t2vbench.generators.kth.builder import CLASSES, KTH4
from t2vbench.generators.kth.extract import VideoTask, decode, process_video, windows
from t2vbench.generators.kth.fixture import make_fixture
from t2vbench.generators.kth.sequences import parse_name, read_sequences

SMALL = dict(persons=(1, 17), scenarios=(1, 2, 3, 4), passes=2, segments=3, segment_frames=(40, 60))


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
    seq = read_sequences(root / "00sequences.txt")
    decided = wrong = clear_full = clear_found = 0
    reasons = set()
    for stem, v in sorted(truth["videos"].items()):
        name = parse_name(stem)
        if name.action not in ("walking", "running") or stem not in seq.entries:
            continue
        res = process_video(VideoTask(str(root / v["file"]), stem, name.action, seq.entries[stem].ranges, 16, 1, 64,
                                      pixels=False))
        emitted = dict(zip(res.starts, res.direction))
        for s, _, why in res.excluded:
            reasons.add(why)
        vis = np.asarray(v["visible"])
        for s in list(emitted) + [s for s, _, _ in res.excluded]:
            kind, sign = clip_truth(v["vx"], s)
            d = emitted.get(s)
            if d is not None:
                decided += 1
                assert kind != "mixed", f"{stem} clip at frame {s} turns around but was labelled {d}"
                wrong += d != sign
            if kind == "clear" and (vis[s - 1: s + 15] >= 0.99).all():
                clear_full += 1
                clear_found += d is not None
        kinds = dict(zip(range(len(v["pass_kinds"])), v["pass_kinds"]))
        for k, _, *_ in res.passes:
            if kinds.get(k) == "slow":  # the slow oblique pass (d2): no clip of it may be labelled
                assert not [s for s, kk in zip(res.starts, res.subseq) if kk == k], stem
    assert decided > 40 and wrong == 0
    assert clear_found >= 0.9 * clear_full, (clear_found, clear_full)
    assert "too slow" in reasons  # the oblique passes were seen and left out


def test_flip_symmetry(kth):
    from t2vbench.generators.kth.direction import Motion

    root, truth = kth
    both = flips = 0
    for stem in ("person01_walking_d1", "person01_running_d3", "person17_walking_d4", "person17_walking_d2"):
        _, ids, gray = decode(root / truth["videos"][stem]["file"])
        m, mf = Motion(gray), Motion(np.ascontiguousarray(gray[:, :, ::-1]))
        wins, _ = windows(truth["videos"][stem]["ranges"], len(gray), 16)
        for _, s in wins:
            a, b = m.decide(np.arange(s - 1, s + 15)), mf.decide(np.arange(s - 1, s + 15))
            assert (a.direction == 0) == (b.direction == 0), (stem, s, a, b)
            if a.direction:
                both += 1
                flips += a.direction == -b.direction
    assert both > 10 and flips == both


def test_dataset_contents(built, kth):
    root, manifest, b, cfg = built
    _, truth = kth
    assert manifest["config"]["kth_split"] == "mcnet" and manifest["labels"]["action"] == list(CLASSES)
    src = manifest["source"]
    assert len(src["sha256"]) == 64 and src["frame_step"] == 1 and "INTER_AREA" in src["resize"]
    names = {f[0] for f in src["files"]}
    assert "00sequences.txt" in names and not any("jogging" in n or "handclapping" in n for n in names)
    assert truth["unlisted"] in src["videos_without_ranges"]
    counts = {s: manifest["splits"][s]["count"] for s in ("train", "test")}
    assert counts == b.counts(cfg) and min(counts.values()) > 30
    vocab = manifest["vocabulary"]
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
        # every clip is where its labels say: re-decode a few from the AVI and compare pixels
        files = cols["source_file"].astype(str)
        fr = cols["frame_range"]
        assert (fr[:, 1] - fr[:, 0] == 15).all()
        for i in range(0, n, max(1, n // 5)):
            stem = files[i].replace("_uncomp.avi", "")
            v = truth["videos"][stem]
            assert parse_name(stem).scenario - 1 == cols["label/scenario"][i, 0]
            assert any(a <= fr[i, 0] and fr[i, 1] <= min(b, v["frames"]) for a, b in v["written"])
            from t2vbench.generators.kth.extract import clip_pixels

            px = clip_pixels(Path(kth[0]) / v["file"], [int(fr[i, 0])], 16, 1, 64)
            assert np.array_equal(px[0], cols["video"][i, ..., 0])
        tokens = cols["tokens"]
        from t2vbench.data.vocab import Vocabulary

        assert [Vocabulary(vocab).decode(t) for t in tokens[:5]] == caps[:5]
    assert all(counts_ > 0 for counts_ in src["extraction"]["clips"]["train"].values())
    assert src["extraction"]["videos_not_alternating"] == []  # the fixture's walkers always turn around
    # in-place videos: exactly the clips of the documented windowing rule, each once
    per_file: dict = {}
    for split in ("train", "test"):
        cols = read(root, split)
        for f, (a, _) in zip(cols["source_file"].astype(str), cols["frame_range"]):
            per_file.setdefault(f, []).append(int(a))
    for stem, v in truth["videos"].items():
        if parse_name(stem).action in ("boxing", "handwaving") and stem != truth["unlisted"]:
            wins, _ = windows(v["written"], v["frames"], 16)
            assert sorted(per_file.get(f"{stem}_uncomp.avi", [])) == sorted(s for _, s in wins), stem


def test_fixture_is_deterministic():
    from t2vbench.generators.kth.fixture import render_video

    a, ta = render_video(3, "walking", 1, seed=5, passes=2)
    b, tb = render_video(3, "walking", 1, seed=5, passes=2)
    c, _ = render_video(3, "walking", 1, seed=6, passes=2)
    assert np.array_equal(a, b) and ta == tb and not (a.shape == c.shape and np.array_equal(a, c))
    assert a.shape[1:] == (120, 160) and a.dtype == np.uint8
    vx = np.asarray(ta["vx"])
    assert 1.5 <= np.abs(vx[vx != 0]).min() <= np.abs(vx).max() <= 2.5  # KTH-like walking speed


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


def test_by_action_layout_lossless_codec_and_cli(tmp_path):
    from t2vbench.cli import main

    root = tmp_path / "fx"
    assert main(["make-fixture", "kth", "--out", str(root), "--persons", "2,18", "--scenarios", "1",
                 "--passes", "1", "--codec", "FFV1", "--layout", "by-action", "--regular", "--no-ambiguous"]) == 0
    assert (root / "walking" / "person02_walking_d1_uncomp.avi").exists()
    assert main(["make-fixture", "kth", "--out", str(root)]) == 2  # not empty, no --overwrite
    truth = json.loads((root / "fixture_truth.json").read_text())
    assert truth["missing_entry"] is None and truth["codec"] == "FFV1"
    b = KTH4()
    cfg = b.resolve({"kth_dir": str(root)})
    counts = b.counts(cfg)
    assert counts["train"] > 0 and counts["test"] > 0
    cols = b.render(cfg, "train", 0, counts["train"])
    assert {"waving hands", "boxing"} <= {c[len("a person is "):] for c in cols["caption"]}


def test_review_sheet(built, tmp_path):
    import csv

    from t2vbench.generators.kth.review import direction_sheet

    png = direction_sheet(built[0], tmp_path / "sheet.png", per_scenario=2)
    rows = list(csv.DictReader(open(png.with_suffix(".csv"))))
    assert png.exists() and 2 <= len(rows) <= 8
    assert all(r["caption"].startswith(("a person is walking", "a person is running")) for r in rows)
