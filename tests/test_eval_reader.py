"""The crop reader of two-digit judges: detection, crops, frame choice, the vote, exact decoding, and
a tiny recipe run that trains it (see t2vbench/eval/reader.py)."""
import itertools

import numpy as np
import pytest
import torch

from t2vbench.errors import UserError
from t2vbench.judge import model as judges
from t2vbench.judge import reader as rd


def _heat_for(pos, size=64, digit=28, cells=8):
    """Centre logits and offsets that put a confident detection at each true top-left corner."""
    M, S = pos.shape[:2]
    heat = torch.full((M, cells, cells), -8.0)
    offset = torch.full((M, 2, cells, cells), 0.5)
    stride = size / cells
    for m in range(M):
        for s in range(S):
            cx, cy = (pos[m, s].float() + digit / 2) / stride
            heat[m, int(cy), int(cx)] = 8.0
            offset[m, 0, int(cy), int(cx)] = cx - int(cx)
            offset[m, 1, int(cy), int(cx)] = cy - int(cy)
    return heat, offset


def test_detect_recovers_corners_and_locate_loss_is_low_there():
    g = torch.Generator().manual_seed(0)
    pos = torch.stack([torch.randint(0, 9, (32, 1, 2), generator=g),  # one digit top-left ...
                       torch.randint(27, 37, (32, 1, 2), generator=g)], dim=1)[:, :, 0]  # ... one bottom-right
    heat, offset = _heat_for(pos)
    got, conf = rd.detect(heat, offset, 2, 64, 28)
    match = [sorted(map(tuple, got[m].tolist())) == sorted(map(tuple, pos[m].tolist())) for m in range(32)]
    assert all(match) and bool((conf > 0.99).all())
    good = rd.locate_loss(heat, offset, pos, 64, 28)
    moved = rd.locate_loss(heat, offset, (pos + 8).clamp(0, 36), 64, 28)
    assert good < 0.05 < moved


def test_crop_is_the_slice_at_the_corner():
    frames = torch.rand(3, 1, 64, 64)
    pos = torch.tensor([[0, 0], [36, 5], [17, 36]])
    out = rd.crop(frames, pos, 28)
    for m, (x, y) in enumerate(pos.tolist()):
        assert torch.equal(out[m], frames[m, :, y:y + 28, x:x + 28])


def test_true_images_are_the_least_ink_at_the_true_corners():
    g = torch.Generator().manual_seed(2)
    video = torch.randint(0, 256, (3, 5, 64, 64, 1), generator=g, dtype=torch.uint8)
    traj = torch.randint(0, 37, (3, 2, 5, 2), generator=g)
    idx, slot = torch.tensor([2, 0, 2]), torch.tensor([1, 0, 0])
    got = rd.true_images(video, traj, idx, slot, 28)
    for m in range(3):
        n, s = int(idx[m]), int(slot[m])
        crops = [video[n, t, y:y + 28, x:x + 28, 0] for t, (x, y) in enumerate(traj[n, s].tolist())]
        assert torch.equal(got[m, 0], torch.stack(crops).amin(dim=0).float() / 255)


def test_least_ink_recovers_a_digit_that_the_other_crosses_in_every_frame():
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (28, 28)) * (rng.random((28, 28)) < 0.3) for _ in range(2))
    T = 6
    traj = torch.tensor([[[18, 10]] * T, [[x, 20] for x in (0, 7, 14, 22, 29, 36)]])  # b slides across a
    frames = np.zeros((T, 64, 64), np.int64)
    for t in range(T):
        for img, (x, y) in ((a, traj[0, t].tolist()), (b, traj[1, t].tolist())):
            frames[t, y:y + 28, x:x + 28] += img
    video = torch.from_numpy(np.minimum(frames, 255).astype(np.uint8))[None, ..., None]  # saturating sum
    assert bool((rd.box_overlap(traj.transpose(0, 1), 28) > 0).all())  # b covers part of a's box in every frame
    first = rd.crop(video[0, :1].permute(0, 3, 1, 2), traj[0, :1], 28)[0, 0]
    a01 = torch.from_numpy(a / 255.0).float()
    assert not torch.equal(first.float() / 255, a01)  # ... so no single crop is a
    assert torch.allclose(rd.true_images(video, traj[None], torch.tensor([0]), torch.tensor([0]), 28)[0, 0], a01)


def test_least_overlap_frames_are_where_the_digits_stand_apart():
    pos = torch.zeros(1, 6, 2, 2, dtype=torch.long)
    pos[0, :, 1, 0] = torch.tensor([0, 10, 30, 2, 28, 5])  # horizontal distance between the digits
    assert rd.least_overlap_frames(pos, 3, 28).tolist() == [[2, 4, 1]]
    assert rd.box_overlap(pos[0, 2], 28) == 0.0 and rd.box_overlap(pos[0, 0], 28) == 1.0


def test_digit_vote_ignores_which_detection_is_which_and_follows_confidence():
    g = torch.Generator().manual_seed(1)
    logp = torch.log_softmax(torch.randn(4, 3, 2, 10, generator=g) * 3, dim=-1)
    conf = torch.rand(4, 3, 2, generator=g)
    vote = rd.digit_vote(logp, conf)
    assert torch.allclose(vote, rd.digit_vote(logp.flip(2), conf.flip(2)))  # detections swapped
    assert torch.allclose(vote, vote.transpose(1, 2))
    # confident crops reading 3 and 7 in every frame: the pair {3, 7} wins
    sure = torch.full((1, 3, 2, 10), -20.0)
    sure[:, :, 0, 3] = sure[:, :, 1, 7] = 0.0
    v = rd.digit_vote(sure, torch.ones(1, 3, 2) * 0.999)
    assert divmod(int(v.flatten(1).argmax()), 10) in ((3, 7), (7, 3))
    # detections with no confidence say nothing: a flat vote
    flat = rd.digit_vote(sure, torch.zeros(1, 3, 2))
    assert torch.allclose(flat, flat.flatten()[0].expand_as(flat))
    one = rd.digit_vote(logp[:, :, :1], conf[:, :, :1])
    assert one.shape == (4, 10)


def test_read_decode_is_exact():
    g = torch.Generator().manual_seed(0)
    for slots, n, K in ((1, 20, 10), (2, 40, 10), (2, 20, 10)):
        cell = torch.randn(5, n, slots + 1, generator=g) * 3
        raw = torch.randn(5, *([K] * slots), generator=g) * 4
        vote = raw if slots == 1 else raw + raw.transpose(1, 2)
        got = judges.decode_multiset_read(cell, vote, slots, 0.7)
        lc = torch.log_softmax(cell, -1)
        for b in range(5):  # brute force over every multiset of `slots` cells
            def score(ms):
                cnt = np.bincount(ms, minlength=n)
                values = tuple(c // (n // K) for c in ms)
                return float(sum(lc[b, c, cnt[c]] - lc[b, c, 0] for c in range(n)) + 0.7 * vote[b][values])
            best = max(itertools.combinations_with_replacement(range(n), slots), key=score)
            assert tuple(got[b].tolist()) == best
        if slots == 2:  # weight 0: the cells alone
            assert torch.equal(judges.decode_multiset_read(cell, vote, 2, 0.0), judges.decode_multiset(cell, 2))


READER = {"slots": [2], "width": 8, "steps": 120, "batch_size": 32, "locate_batch_size": 16,
          "rotate_deg": 10.0, "scale": 0.1, "shift_px": 1.0, "radius": 3, "match": 0.1, "vote": 1.0}


def _one_reader_more(path, meta, before, meta_before):
    """A judge file made from `before` (loaded model, its metadata) by training one more crop reader:
    format 6, the new reader's loss falls, every other weight and loss is `before`'s, and the new reader
    differs from the last one. -> the loaded model."""
    after = judges.load_judge(path).model
    n = len(after.readers)
    assert torch.load(path, weights_only=False)["format"] == 6 and n == len(before.readers) + 1
    first, last = meta["loss_first_last"][f"read_{n - 1}"]
    assert last < first * 0.9 and {k: v for k, v in meta["loss_first_last"].items() if k != f"read_{n - 1}"} == \
        meta_before["loss_first_last"]
    kept = before.state_dict()
    assert all(torch.equal(v, kept[k]) for k, v in after.state_dict().items()
               if not k.startswith(f"extra_readers.{n - 2}."))
    assert not torch.equal(after.readers[-2].out.weight, after.readers[-1].out.weight)
    return after


def test_recipe_trains_the_reader_of_two_digit_judges(make, tmp_path):
    from t2vbench.judge.train import train_judge

    tiny = {"frame_steps": 40, "frame_batch_size": 32, "steps": 4, "batch_size": 8, "warmup_steps": 5,
            "max_train_videos": 256, "arch": {"width": 16, "hidden": 16}, "reader": READER}
    root = make("dmnist2", n=256, n_test=64)
    a = train_judge(root, tmp_path / "a.pt", recipe=tiny, progress=False, log=lambda m: None)
    for k in ("locate", "read"):
        first, last = a["loss_first_last"][k]
        assert last < first * 0.9, (k, first, last)
    # stages 1-2 alone (no reader), then stage 3 on top of that file: the very bytes of the full run
    plain = train_judge(root, tmp_path / "plain.pt", recipe={**tiny, "reader": {"slots": []}}, progress=False,
                        log=lambda m: None)
    b = train_judge(root, tmp_path / "b.pt", recipe=tiny, stages_from=tmp_path / "plain.pt", progress=False,
                    log=lambda m: None)
    assert a["sha256"] == b["sha256"] != plain["sha256"]
    with pytest.raises(UserError, match="differs in frame_steps"):
        train_judge(root, tmp_path / "x.pt", recipe={**tiny, "frame_steps": 41}, stages_from=tmp_path / "plain.pt",
                    progress=False, log=lambda m: None)
    # a recipe that changes only how the judge reads (version 5): --stages-from takes all three stages,
    # and the file is the full run's
    v5 = {**tiny, "reader": {**READER, "layers": {"gate": 12, "beam": 4},
                             "vote_distance": {"pivot": 16.0, "doubling": 6.5}}}
    full = train_judge(root, tmp_path / "full.pt", recipe=v5, progress=False, log=lambda m: None)
    taken = train_judge(root, tmp_path / "taken.pt", recipe=v5, stages_from=tmp_path / "a.pt", progress=False,
                        log=lambda m: None)
    assert taken["sha256"] == full["sha256"] != a["sha256"]
    assert taken["loss_first_last"] == a["loss_first_last"]
    five = judges.load_judge(tmp_path / "taken.pt").model
    assert torch.load(tmp_path / "taken.pt", weights_only=False)["format"] == 5
    assert five.arch["reader_layer_speed"] == 6  # dmnist2's speed_max
    assert all(torch.equal(x, y) for x, y in zip(five.state_dict().values(),
                                                 judges.load_judge(tmp_path / "a.pt").model.state_dict().values()))
    # version 6, a second crop reader (stage 4): from a version-5 file only stage 4 is trained, and the
    # file is the full run's; its first reader and locator are version 5's, its own reader learns
    v6 = {**v5, "reader": {**v5["reader"], "readers": 2}}
    full6 = train_judge(root, tmp_path / "full6.pt", recipe=v6, progress=False, log=lambda m: None)
    taken6 = train_judge(root, tmp_path / "taken6.pt", recipe=v6, stages_from=tmp_path / "full.pt", progress=False,
                         log=lambda m: None)
    assert taken6["sha256"] == full6["sha256"] != full["sha256"]
    six = _one_reader_more(tmp_path / "full6.pt", full6, five, full)
    said = []  # everything taken: nothing is trained, and the train split is not even read
    again = train_judge(root, tmp_path / "again6.pt", recipe=v6, stages_from=tmp_path / "full6.pt", progress=False,
                        log=said.append)
    assert again["sha256"] == full6["sha256"] and again["loss_first_last"] == full6["loss_first_last"]
    assert again["train_videos"] == full6["train_videos"] == 256
    assert not any("loading" in m for m in said), said
    # three crop readers: from the two-reader file only the third one is trained
    v7 = {**v6, "reader": {**v6["reader"], "readers": 3}}
    taken7 = train_judge(root, tmp_path / "taken7.pt", recipe=v7, stages_from=tmp_path / "full6.pt", progress=False,
                         log=lambda m: None)
    _one_reader_more(tmp_path / "taken7.pt", taken7, six, full6)
    # the second reader from other draws (reader.draws): --stages-from retrains it alone, as a full run
    # would, and back under the default draws the file is full6's again
    drawn = {**v6, "reader": {**v6["reader"], "draws": [5]}}
    d5 = train_judge(root, tmp_path / "d5.pt", recipe=drawn, stages_from=tmp_path / "full6.pt", progress=False,
                     log=lambda m: None)
    assert d5["sha256"] == train_judge(root, tmp_path / "d5full.pt", recipe=drawn, progress=False,
                                       log=lambda m: None)["sha256"]
    five_plus = _one_reader_more(tmp_path / "d5.pt", d5, five, full)
    assert not torch.equal(five_plus.readers[1].out.weight, six.readers[1].out.weight)
    back = train_judge(root, tmp_path / "back.pt", recipe=v6, stages_from=tmp_path / "d5.pt", progress=False,
                       log=lambda m: None)
    assert back["sha256"] == full6["sha256"]
    long6 = {**v6, "reader": {**v6["reader"], "extra_steps": 180}}  # and for more steps (reader.extra_steps)
    longer = train_judge(root, tmp_path / "longer.pt", recipe=long6, stages_from=tmp_path / "full6.pt",
                         progress=False, log=lambda m: None)
    _one_reader_more(tmp_path / "longer.pt", longer, five, full)
    assert longer["loss_first_last"]["read_1"] != full6["loss_first_last"]["read_1"]
    warp6 = {**v6, "reader": {**v6["reader"], "extra_elastic": {"alpha": 36.0, "sigma": 6.0}}}  # elastic warps
    warped = train_judge(root, tmp_path / "warped.pt", recipe=warp6, stages_from=tmp_path / "full6.pt",
                         progress=False, log=lambda m: None)
    _one_reader_more(tmp_path / "warped.pt", warped, five, full)
    assert warped["loss_first_last"]["read_1"] != full6["loss_first_last"]["read_1"]
    with pytest.raises(UserError, match="reader.draws names 2 draws for 1 readers"):
        train_judge(root, tmp_path / "x.pt", recipe={**v6, "reader": {**v6["reader"], "draws": [1, 2]}},
                    stages_from=tmp_path / "full6.pt", progress=False, log=lambda m: None)
    loaded = judges.load_judge(tmp_path / "a.pt")
    assert torch.load(tmp_path / "a.pt", weights_only=False)["format"] == 4
    assert loaded.model.reader is not None and loaded.model.arch["digit_size"] == 28
    one = make("smnist2", n=256, n_test=64)  # one digit per video: no reader, format 3
    c = train_judge(one, tmp_path / "c.pt", recipe=tiny, progress=False, log=lambda m: None)
    assert "locate" not in c["loss_first_last"]
    assert judges.load_judge(tmp_path / "c.pt").model.reader is None


def test_stage_2b_trains_the_clip_head_again_and_leaves_the_readers(make, tmp_path):
    """Stage 2b (recipe clip_extra, version 8): --stages-from a judge without it trains 2b alone and
    makes the full run's file; the crop readers and locator are the ones made without 2b (stages 3-4
    do not depend on stages 1-2), the clip head is not, and its loss falls."""
    from t2vbench.judge.train import train_judge

    tiny = {"frame_steps": 40, "frame_batch_size": 32, "steps": 4, "batch_size": 8, "warmup_steps": 5,
            "max_train_videos": 256, "arch": {"width": 16, "hidden": 16}, "reader": {**READER, "steps": 40}}
    tiny = {**tiny, "clip_extra": None}
    more = {**tiny, "clip_extra": {"slots": [2], "times": 8, "lr": 1e-3}}
    root = make("dmnist2", n=256, n_test=64)
    quiet = {"progress": False, "log": lambda m: None}
    plain = train_judge(root, tmp_path / "plain.pt", recipe=tiny, **quiet)
    full = train_judge(root, tmp_path / "full.pt", recipe=more, **quiet)
    taken = train_judge(root, tmp_path / "taken.pt", recipe=more, stages_from=tmp_path / "plain.pt", **quiet)
    assert taken["sha256"] == full["sha256"] != plain["sha256"]
    first, last = full["loss_first_last"]["video_extra"]
    assert last < first
    assert {k: v for k, v in full["loss_first_last"].items() if k != "video_extra"} == plain["loss_first_last"]
    a, b = judges.load_judge(tmp_path / "plain.pt").model, judges.load_judge(tmp_path / "full.pt").model
    readers = ("locator.", "reader.", "extra_readers.")
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(v, sb[k]) for k, v in sa.items() if k.startswith(readers))
    assert not all(torch.equal(v, sb[k]) for k, v in sa.items() if not k.startswith(readers))
    again = train_judge(root, tmp_path / "again.pt", recipe=more, stages_from=tmp_path / "full.pt", **quiet)
    assert again["sha256"] == full["sha256"]  # everything taken
    with pytest.raises(UserError, match="differs in clip_extra"):
        train_judge(root, tmp_path / "x.pt", recipe={**more, "clip_extra": {**more["clip_extra"], "times": 9}},
                    stages_from=tmp_path / "full.pt", **quiet)
    one = make("smnist2", n=256, n_test=64)  # one digit per video: clip_extra lists two-digit judges only
    c = train_judge(one, tmp_path / "c.pt", recipe=more, **quiet)
    assert "video_extra" not in c["loss_first_last"]


def test_elastic_warp_is_smooth_scaled_and_off_leaves_the_affine_draws():
    x = torch.from_numpy(np.stack([_centred_blob(np.random.default_rng(i)) for i in range(64)]) / 255).float()[:, None]
    f1 = rd.elastic_field(64, 28, 1.0, 6.0, torch.Generator().manual_seed(3))
    f2 = rd.elastic_field(64, 28, 36.0, 6.0, torch.Generator().manual_seed(3))
    assert f1.shape == (64, 28, 28, 2) and torch.allclose(f2, 36 * f1, rtol=1e-5, atol=1e-6)
    a, b = f2[:, :, :-1].flatten(), f2[:, :, 1:].flatten()  # neighbouring pixels move together
    assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.95 and 0.3 < f2.std() < 3
    raw = torch.corrcoef(torch.stack([x[:, :, :, :-1].flatten(), x[:, :, :, 1:].flatten()]))[0, 1]
    assert raw < 0.5  # the blobs themselves are not smooth: the smoothing is the field's

    def warp(elastic):
        g = torch.Generator().manual_seed(5)
        return rd.affine_jitter(x, 10.0, 0.1, 1.0, g, elastic), torch.rand(1, generator=g)

    (plain, after), (zero, _) = warp(None), warp({"alpha": 0.0, "sigma": 6.0})
    assert torch.equal(plain, zero)  # the affine draws come first, the same with or without the field
    bent, after_bent = warp({"alpha": 36.0, "sigma": 6.0})
    assert not torch.equal(after, after_bent)  # and the field draws come after them
    moved = (bent - plain).abs().sum() / plain.sum()
    assert 0.05 < moved < 1.5 and abs(bent.sum() / plain.sum() - 1) < 0.1  # ink bends, about as much


def _centred_blob(rng):
    """A random 28 x 28 'digit' whose centre of ink is exactly the crop's middle (14, 14), as MNIST's."""
    half = (rng.random((27, 27)) < 0.2) * rng.integers(128, 256, (27, 27))
    img = np.zeros((28, 28))
    img[1:, 1:] = np.maximum(half, half[::-1, ::-1])  # symmetric about (14, 14)
    return img


def _pair_video(seed):
    """Two blobs that never stand 14 px apart, moving differently, composed by saturating sum, in [0, 1]:
    (T, 1, 64, 64) and the true corners (T, 2, 2) as (x, y)."""
    rng = np.random.default_rng(seed)
    a, b = _centred_blob(rng), _centred_blob(rng)
    T = 8
    corners = torch.tensor([[[4 + 3 * t, 18], [12, 30 - 2 * t]] for t in range(T)])
    frames = np.zeros((T, 64, 64))
    for t in range(T):
        for img, (x, y) in zip((a, b), corners[t].tolist()):
            frames[t, y:y + 28, x:x + 28] += img
    return torch.from_numpy(np.minimum(frames, 255) / 255).float()[:, None], corners


def test_two_layers_follow_digits_that_never_stand_apart():
    """The first path follows one digit exactly, the path in the ink it leaves the other; anchored at
    detections a pixel off and centred by their ink, the corners move exactly as the digits do and lie
    within a pixel of the truth (the other digit's leftovers can move a centre of ink by one)."""
    for seed in range(3):
        video, true = _pair_video(seed)
        assert int((true[:, 0] - true[:, 1]).abs().amax(dim=-1).max()) < 14  # the boxes overlap in every frame
        ink = video.sum(dim=1)
        path_a, image_a = rd.follow_layer(ink, speed=4, beam=4, reach=36)
        path_b, _ = rd.follow_layer((ink - rd.moved(image_a, path_a)).clamp(min=0), speed=4, beam=4, reach=36)
        moves = {tuple(map(tuple, (true[:, s] - true[0, s]).tolist())) for s in range(2)}
        assert {tuple(map(tuple, path_a.tolist())), tuple(map(tuple, path_b.tolist()))} == moves
        ref = 7
        det = true[ref].flip(0) + torch.tensor([[1, -1], [0, 1]])  # the other order, a pixel off
        got = rd.layer_corners(video, det, ref, 28, speed=4, beam=4)
        if (got[0, 0] - true[0, 0]).abs().max() > (got[0, 0] - true[0, 1]).abs().max():
            got = got.flip(1)
        assert torch.equal(got - got[0], true - true[0])
        assert int((got - true).abs().max()) <= 1


def test_format_5_reading_is_format_4_where_the_digits_stand_apart():
    """Layers only replace the tracker below the gate, and the distance scaling multiplies the vote by
    2 ** ((g - pivot) / doubling), g the reference frame's detections' Chebyshev distance."""
    torch.manual_seed(0)
    locator, reader = rd.Locator(1).eval(), rd.DigitReader(1, 8, 10).eval()
    video = torch.cat([_pair_video(s)[0][None] for s in range(2)])
    args = (locator, reader, video, 2, 28, 1, 0.1)
    with torch.no_grad():
        plain = rd.read_digits(*args)
        assert torch.equal(rd.read_digits(*args, layers={"gate": 0, "speed": 4, "beam": 4}), plain)
        scaled = rd.read_digits(*args, vote_distance={"pivot": 16.0, "doubling": 6.5})
        heat, offset = locator(video.flatten(0, 1))
        pos, conf = rd.detect(heat, offset, 2, 64, 28)
        pos, conf = pos.view(2, 8, 2, 2), conf.view(2, 8, 2)
        ref = rd.least_overlap_frames(pos, 1, 28, conf)[:, 0]
        gap = (pos[[0, 1], ref, 0] - pos[[0, 1], ref, 1]).abs().amax(dim=-1).float()
        assert torch.allclose(scaled, plain * torch.exp2((gap - 16.0) / 6.5)[:, None, None])
        layered = rd.read_digits(*args, layers={"gate": 64, "speed": 4, "beam": 4})
        blank = rd.read_digits(locator, reader, torch.zeros(1, 8, 1, 64, 64), 2, 28, 1, 0.1,
                               layers={"gate": 64, "speed": 4, "beam": 4})  # no ink to follow: no error
    assert layered.shape == plain.shape and not torch.equal(layered, plain)
    assert bool(torch.isfinite(blank).all())


def test_format_6_readers_add_their_log_probabilities(monkeypatch):
    """Several crop readers read as a product of experts: the log-probabilities that reach `digit_vote`
    are their sum, and one reader in a list reads exactly as that reader alone."""
    torch.manual_seed(0)
    locator, r1, r2 = rd.Locator(1).eval(), rd.DigitReader(1, 8, 10).eval(), rd.DigitReader(1, 8, 10).eval()
    video = torch.cat([_pair_video(s)[0][None] for s in range(2)])
    seen, vote = [], rd.digit_vote
    monkeypatch.setattr(rd, "digit_vote", lambda logp, conf: seen.append(logp) or vote(logp, conf))
    with torch.no_grad():
        alone = rd.read_digits(locator, r1, video, 2, 28, 1, 0.1)
        assert torch.equal(rd.read_digits(locator, [r1], video, 2, 28, 1, 0.1), alone)
        rd.read_digits(locator, [r2], video, 2, 28, 1, 0.1)
        both = rd.read_digits(locator, [r1, r2], video, 2, 28, 1, 0.1)
    assert torch.allclose(seen[3], seen[0] + seen[2]) and not torch.allclose(both, alone)


class _Sizes(torch.nn.Module):
    """Records the batch sizes it is called with; the output depends on the whole batch (a mean)."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def forward(self, x):
        self.sizes.append(len(x))
        return x - x.mean(), x.sum(dim=(1, 2, 3))


def test_chunked_inference_is_bit_identical_and_whole_batch_in_training():
    """`by_chunks` runs the shipped judge's convs a few frames at a time only for speed: every output,
    the digit vote included, is the same bits as one whole-batch call. In training mode it makes one
    call, since BatchNorm's batch statistics belong to the recipe."""
    judge = judges.load_judge(judges.SHIPPED_DIR / "dmnist4.pt").model.eval()
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(300, 1, 64, 64, generator=g)
    with torch.no_grad():
        for module in (judge.encoder, judge.locator):
            whole, chunked = module(frames), rd.by_chunks(module, frames, 128)
            pairs = zip(whole if isinstance(whole, tuple) else [whole],
                        chunked if isinstance(chunked, tuple) else [chunked])
            for a, b in pairs:
                assert torch.equal(a, b)
        video = torch.rand(5, 16, 1, 64, 64, generator=g) * (torch.rand(5, 16, 1, 64, 64, generator=g) < 0.2)
        fast = judge(video)
        old = rd.FRAME_CHUNK, rd.VIDEO_CHUNK
        try:
            rd.FRAME_CHUNK, rd.VIDEO_CHUNK = 10 ** 6, 10 ** 6
            slow = judge(video)
        finally:
            rd.FRAME_CHUNK, rd.VIDEO_CHUNK = old
    assert fast.keys() == slow.keys() and all(torch.equal(fast[k], slow[k]) for k in fast)
    rec = _Sizes()
    rd.by_chunks(rec.eval(), frames, 128)
    rd.by_chunks(rec.train(), frames, 128)
    assert rec.sizes == [128, 128, 44, 300]


def test_clear_digits_in_chunks_is_the_same():
    video = torch.cat([_pair_video(s)[0][None] for s in range(3)])
    pos = torch.cat([_pair_video(s)[1][None] for s in range(3)])
    conf = torch.ones(3, 8, 2)
    whole = rd.clear_digits(video, pos, conf, 28, 1, 0.1)
    old = rd.VIDEO_CHUNK
    try:
        rd.VIDEO_CHUNK = 1
        single = rd.clear_digits(video, pos, conf, 28, 1, 0.1)
    finally:
        rd.VIDEO_CHUNK = old
    assert torch.equal(whole[0], single[0]) and torch.equal(whole[1], single[1])


def test_match_picks_the_corner_missing_the_least_reference_ink():
    """Against the definition, corner by corner: cost = sum(relu(ref - crop)) / sum(ref) over every
    corner within `radius` of every centre."""
    g = torch.Generator().manual_seed(3)
    M, S, Kc, d, r = 4, 2, 3, 28, 2
    ink = torch.rand(M, 64, 64, generator=g)
    centre = torch.randint(0, 37, (M, S, Kc, 2), generator=g)
    ref = torch.rand(M, S, d, d, generator=g)
    got, cost = rd._match(ink, centre, ref, d, r)
    for m, s in itertools.product(range(M), range(S)):
        best = None
        for k, dy, dx in itertools.product(range(Kc), range(-r, r + 1), range(-r, r + 1)):
            x0, y0 = centre[m, s, k].tolist()
            x, y = x0 + dx, y0 + dy
            pad = torch.nn.functional.pad(ink[m], (r, r, r, r))
            window = pad[y + r:y + r + d, x + r:x + r + d]
            c = float((ref[m, s] - window).clamp(min=0).sum() / ref[m, s].sum())
            if best is None or c < best[0]:
                best = (c, min(max(x, 0), 36), min(max(y, 0), 36))
        assert got[m, s].tolist() == [best[1], best[2]] and cost[m, s].item() == pytest.approx(best[0], rel=1e-5)
