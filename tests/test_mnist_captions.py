"""Every caption is checked against the pixels, on thousands of videos, without the renderer's help."""
from __future__ import annotations

import numpy as np
import pytest
from checks import centre_of_mass, check_track, parse_caption

from t2vbench.data.dataset import read_split
from t2vbench.data.format import read_manifest
from t2vbench.digits import load_digits


def _paint(shape, patch, track) -> np.ndarray:
    out = np.zeros(shape, np.int32)
    for t, (x, y) in enumerate(track):
        out[t, y: y + 28, x: x + 28] = patch
    return out


def _crops(frames, track) -> np.ndarray:
    return np.stack([frames[t, y: y + 28, x: x + 28] for t, (x, y) in enumerate(track)])


def separate(video: np.ndarray, pos: np.ndarray, rounds: int = 20):
    """Recover the two digit images of a saturating-sum video from their tracks, or None if the pixels
    do not determine them. Bounds: P_s >= video - U_o everywhere, and P_s <= video - L_o wherever the sum
    did not saturate; tightening both in turn converges to P_s when the motion reveals every pixel."""
    v = video.astype(np.int32)
    upper = [_crops(v, pos[s]).min(0) for s in range(2)]
    lower = [np.zeros((28, 28), np.int32)] * 2
    for _ in range(rounds):
        for s in (0, 1):
            o = 1 - s
            lower[s] = np.maximum(lower[s], _crops(v - _paint(v.shape, upper[o], pos[o]), pos[s]).max(0))
            ceiling = np.where(v < 255, v - _paint(v.shape, lower[o], pos[o]), 10 ** 6)
            upper[s] = np.minimum(upper[s], _crops(ceiling, pos[s]).min(0))
        if all(np.array_equal(lo, up) for lo, up in zip(lower, upper)):
            return upper
    return None


def _tight(img: np.ndarray) -> bytes:
    ys, xs = np.nonzero(img)
    return img[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1].tobytes()


@pytest.fixture(scope="module")
def pool_lookup(mnist_dir):
    """Per split, the tight ink crop of every MNIST image -> its labels (from the IDX files, not the
    renderer): train videos must show training digits, test videos test digits."""
    d = load_digits(mnist_dir)
    tables = {}
    for split in ("train", "test"):
        images, labels = d.split(split)
        table = tables[split] = {}
        for img, lab in zip(images, labels):
            table.setdefault(_tight(img), set()).add(int(lab))
    return tables


@pytest.mark.parametrize("name", ["smnist4", "smnist2"])
def test_single_digit_captions_match_centre_of_mass(make, name, pool_lookup):
    root = make(name, n=3000, n_test=1000)
    for split in ("train", "test"):
        data = read_split(root, split, columns=["video", "caption"])
        videos = data["video"][..., 0]
        assert len(videos) == (3000 if split == "train" else 1000)
        for video, caption in zip(videos, data["caption"]):
            (digit, first, link, second), = parse_caption(caption)
            mass = video.reshape(len(video), -1).sum(1, dtype=np.int64)
            assert np.all(mass == mass[0]), f"ink lost at the edge: {caption}"
            check_track(centre_of_mass(video), first, link, second)
            assert digit in pool_lookup[split].get(_tight(video[0]), ()), \
                f"frame 0 is no {split} MNIST {digit}: {caption}"


@pytest.mark.parametrize("name", ["dmnist4", "dmnist2"])
def test_double_digit_pixels_are_the_captioned_digits_on_the_captioned_tracks(make, name, pool_lookup):
    """Two digits: the frames must equal the saturating sum of two rigid MNIST digits of the captioned
    classes, placed on the stored trajectories (so the trajectories are facts of the pixels), and each
    trajectory must do what its slot of the caption says.

    A saturating sum is >= each part, with equality wherever the other digit has no ink, so each digit is
    recovered as the minimum over frames of the crops along its track.
    """
    root = make(name, n=1500, n_test=500)
    for split in ("train", "test"):
        _check_double(read_split(root, split, columns=["video", "caption", "trajectory"]), pool_lookup[split])


def _check_double(data, lookup):
    T, H, W = data["video"].shape[1:4]
    unresolved = saturated = 0
    for video, caption, traj in zip(data["video"][..., 0], data["caption"], data["trajectory"]):
        slots = parse_caption(caption)
        assert len(slots) == 2
        pos = traj.astype(int)  # (S, T, 2) top-left (x, y)
        assert pos.min() >= 0 and pos[..., 0].max() <= W - 28 and pos[..., 1].max() <= H - 28
        for s, (_, first, link, second) in enumerate(slots):
            check_track(pos[s].astype(float), first, link, second)
        patches = separate(video, pos)
        if patches is None:
            unresolved += 1  # digits locked together: the pixels cannot tell their images apart
            continue
        for (digit, *_), patch in zip(slots, patches):
            assert digit in lookup.get(_tight(patch.astype(np.uint8)), set()), f"not an MNIST {digit}: {caption}"
        a, b = (_paint(video.shape, p, pos[s]) for s, p in enumerate(patches))
        assert np.array_equal(np.minimum(a + b, 255), video), f"frames are not the saturating sum: {caption}"
        saturated += int(np.count_nonzero((a + b > 255) & (a > 0) & (b > 0)))
    # ~4% of pairs overlap in ink in every frame (same axis, similar tracks): their split is not in the pixels
    assert unresolved < 0.06 * len(data["caption"]), f"{unresolved} videos not resolved into two MNIST digits"
    assert saturated > 0, "no overlap of two digits ever saturated: the compositing rule went unchecked"


@pytest.mark.parametrize("motions", [4, 2])
def test_trajectories_keep_the_promise_for_any_frames_and_size(motions):
    """The parameter sweep the defaults never reach: every (frames, size) a user may ask for."""
    from t2vbench.generators.mnist.captions import MOTIONS
    from t2vbench.generators.mnist.trajectories import draw, valid_speeds

    labels = np.repeat(np.arange(10), 10)
    checked = 0
    for frames in range(6, 33):
        for size in (32, 40, 48, 64, 80, 96):
            cfg = dict(seed=1, frames=frames, size=size, digit_size=28, motions=motions, digits_per_video=2,
                       speed_min=1, speed_max=12, holdout="none")
            if len(valid_speeds(cfg)) == 0:
                continue
            p = draw(cfg, "train", 0, 100, labels)
            R = size - 28
            assert p["pos"].min() >= 0 and p["pos"].max() <= R
            for pos, m in zip(p["pos"].reshape(-1, frames, 2), p["motion"].reshape(-1)):
                first, link, second = MOTIONS[motions][m].split()
                check_track(pos.astype(float), first, link, second)
                if motions == 4:  # after frame 0 it never touches the far wall
                    axis, far = (0 if first in ("left", "right") else 1), (R if first in ("left", "up") else 0)
                    assert not np.any(pos[1:, axis] == far)
            checked += 1
    assert checked > 100


MOTION_NAMES = {4: ["left then right", "right then left", "up then down", "down then up"],
                2: ["left and right", "up and down"]}


@pytest.mark.parametrize("name,motions,n", [("dmnist4", 4, 2000), ("smnist2", 2, 1000), ("dmnist2", 2, 1000)])
def test_holdout_captions_only_in_test(make, name, motions, n):
    root = make(name, n=n, n_test=n, holdout="captions")
    names = MOTION_NAMES[motions]

    def combos(split):
        data = read_split(root, split, columns=["caption", "heldout"])
        rule = []
        for c in data["caption"]:
            slots = parse_caption(c)
            total = sum(d + names.index(f"{a} {l} {b}") for d, a, l, b in slots)
            rule.append(total % motions == 0)
        return np.array(rule), data["heldout"]
    rule_train, flag_train = combos("train")
    rule_test, flag_test = combos("test")
    assert not rule_train.any() and not flag_train.any()
    assert np.array_equal(rule_test, flag_test)
    share = 1 / motions  # a quarter of the combinations with four motions, half with two
    assert share - 0.07 < rule_test.mean() < share + 0.07
    semantics = read_manifest(root)["caption_semantics"]
    assert semantics.startswith(f"'X {'then' if motions == 4 else 'and'} Y'") and "Held out" in semantics


@pytest.mark.parametrize("name,motions", [("smnist4", 4), ("smnist2", 2)])
def test_manifest_describes_the_datasets_own_motions(make, name, motions):
    semantics = read_manifest(make(name, n=64, n_test=16))["caption_semantics"]
    assert semantics.startswith(f"'X {'then' if motions == 4 else 'and'} Y'")
    assert ("'X and Y'" in semantics) == (motions == 2) and "Held out" not in semantics


def test_all_digits_and_motions_occur(make):
    root = make("smnist4", n=3000, n_test=1000)
    data = read_split(root, "train", columns=["label/digit", "label/motion", "caption"])
    assert set(np.unique(data["label/digit"])) == set(range(10))
    assert set(np.unique(data["label/motion"])) == {0, 1, 2, 3}
    names = ["left then right", "right then left", "up then down", "down then up"]
    for c, d, m in zip(data["caption"], data["label/digit"][:, 0], data["label/motion"][:, 0]):
        assert c == f"digit {d} is moving {names[m]}"
