"""Faults on the evaluation side, one table row each: damaged or edited data is named before anything
is scored (a flipped byte, a shard of another dataset, an edited manifest), unusable datasets and bad
seeds or samples-file attributes are refused with one line, departures from the protocol are warned
about, `judge train` refuses an untrained or mismatched recipe, and `review-kth` never drops a
person's answers. Then the same checks from Python (nothing generated or scored first) and property
tests of what users feed the evaluation: captions and samples-file attributes."""
from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass

import h5py
import numpy as np
import pytest
from cli_cases import Case, run_case
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from t2vbench.data.dataset import read_split
from t2vbench.data.format import sha256_file, sha256_json, write_json_atomic
from t2vbench.errors import UserError
from t2vbench.judge import model as judges

pytestmark = pytest.mark.skipif(not judges.shipped_judges(), reason="no shipped judges")

TEST_SHARD, TRAIN_SHARD = "test-00000-of-00001.h5", "train-00000-of-00001.h5"


@dataclass(frozen=True)
class FaultCase(Case):
    after: Callable | None = None  # after(err=..., **paths): what the command must have left (or kept)


# ---------------------------------------------------------------- setups: fault injection

def flip_byte(name):
    def setup(data, **_):
        p = data / name
        b = bytearray(p.read_bytes())
        b[len(b) // 2] ^= 0x01
        p.write_bytes(bytes(b))
    return setup


def edit_manifest(edit):
    def setup(data, **_):
        m = json.loads((data / "manifest.json").read_text())
        edit(m, data)
        write_json_atomic(data / "manifest.json", m)
    return setup


def swap_test_shard(fit_manifest: bool):
    """The test shard replaced by smnist2's (same shapes and count: `info` without --verify takes it);
    `fit_manifest`: the manifest's sha256 and size edited to match it too."""
    def setup(data, smnist2, **_):
        shutil.copyfile(smnist2 / TEST_SHARD, data / TEST_SHARD)
        if fit_manifest:
            edit_manifest(lambda m, d: m["splits"]["test"]["shards"][0].update(
                sha256=sha256_file(d / TEST_SHARD), bytes=(d / TEST_SHARD).stat().st_size))(data)
    return setup


def samples(source="data", **attrs):
    """tmp/s.h5: the real test videos of `source` with their captions, plus root attributes."""
    def setup(tmp, **paths):
        test = read_split(paths[source], "test", columns=["video", "caption"])
        with h5py.File(tmp / "s.h5", "w") as f:
            f["video"] = test["video"]
            f.create_dataset("caption", data=np.array(test["caption"], dtype=object), dtype=h5py.string_dtype())
            for k, v in attrs.items():
                f.attrs[k] = v
    return setup


def both(*setups):
    def setup(**paths):
        for s in setups:
            s(**paths)
    return setup


def review_form(seed=0, per_scenario=2, answer="y"):
    """A review-kth form made earlier, its `correct` column filled in by hand."""
    def setup(kth, tmp, **_):
        from t2vbench.generators.kth.review import direction_sheet

        direction_sheet(kth, tmp / "kth4-review.png", per_scenario=per_scenario, seed=seed)
        _fill(tmp / "kth4-review.csv", answer)
    return setup


def _fill(form, answer):
    rows = list(csv.DictReader(open(form, newline="")))
    with open(form, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows({**r, "correct": answer} for r in rows)


def _clips(form) -> dict:
    return {(r["source_file"], r["first_frame"], r["last_frame"], r["caption"]): r["correct"]
            for r in csv.DictReader(open(form, newline=""))}


def edit_shard(name, edit):
    """A shard edited in place (`edit(h5py.File)`), the manifest's sha256 and size edited to fit it."""
    def setup(data, **_):
        with h5py.File(data / name, "a") as f:
            edit(f)
        edit_manifest(lambda m, d: [e.update(sha256=sha256_file(d / e["file"]), bytes=(d / e["file"]).stat().st_size)
                                    for s in m["splits"].values() for e in s["shards"] if e["file"] == name])(data)
    return setup


def _shard_attr(name, key, value):
    return edit_shard(name, lambda f: f.attrs.__setitem__(key, value))


def _next_digit(f):
    f["label/digit"][0] = (f["label/digit"][0] + 1) % 10


# ---------------------------------------------------------------- after: what must hold afterwards

def warned(*fragments):
    """In the results' info["warnings"] and on stderr."""
    def after(err, tmp, **_):
        res = json.loads((tmp / "r.json").read_text())
        for frag in fragments:
            assert any(frag in w for w in res["info"]["warnings"]), (frag, res["info"])
            assert any(ln.startswith("warning:") and frag in ln for ln in err.splitlines()), (frag, err)
    return after


def written(name):
    def after(tmp, **_):
        assert (tmp / name).is_file()
    return after


def answers_kept(same_clips: bool):
    """Every clip of the new form that the earlier (seed 0) form answered keeps its answer, the others
    are blank; `same_clips`: the new form shows exactly the earlier one's clips."""
    def after(tmp, **_):
        new = _clips(tmp / "kth4-review.csv")
        shared = set(new) & set(EARLIER)
        assert all(new[k] == "y" for k in shared) and all(new[k] == "" for k in set(new) - shared)
        assert (set(new) == set(EARLIER)) == same_clips and shared, (len(new), len(shared))
    return after


EARLIER: dict = {}  # the clips of a seed-0, two-per-scenario form (filled by the `sources` fixture)


def form_unchanged(tmp, **_):
    assert set(_clips(tmp / "kth4-review.csv").values()) == {"y"}


# ---------------------------------------------------------------- the table

D, Q, OUT = "{data}", "-q", ["--out", "{tmp}/r.json"]
REAL = ["eval", "--real", "--dataset", D, Q, *OUT]
SAMPLES = ["eval", "--samples", "{tmp}/s.h5", "--dataset", D, Q, *OUT]
R = ["{tmp}/r.json"]
JUDGE = ["judge", "train", D, "--out", "{tmp}/j.pt", Q]
REVIEW = ["review-kth", "{kth}", "--per-scenario", "2"]

CASES = [
    # item 3: the test shards, the reference's train shards and the manifest are checked before scoring
    FaultCase("eval --real on an intact dataset (neighbour)", REAL, 0, "", after=written("r.json")),
    FaultCase("eval --real, a flipped byte in the test shard", REAL, 2, f"{TEST_SHARD} does not match its sha256",
              absent=R, setup=flip_byte(TEST_SHARD)),
    FaultCase("eval --samples, a flipped byte in the test shard", SAMPLES, 2, "does not match its sha256",
              absent=R, setup=both(samples(), flip_byte(TEST_SHARD))),
    FaultCase("eval --real, a flipped byte in the reference's train shard", REAL, 2,
              f"{TRAIN_SHARD} does not match its sha256", absent=R, setup=flip_byte(TRAIN_SHARD)),
    FaultCase("eval --samples, a flipped byte in a train shard", SAMPLES, 2, f"{TRAIN_SHARD} does not match",
              absent=R, setup=both(samples(), flip_byte(TRAIN_SHARD))),
    FaultCase("eval --real, the test shard swapped for another dataset's", REAL, 2, "does not match its sha256",
              absent=R, setup=swap_test_shard(fit_manifest=False)),
    FaultCase("eval --real, another dataset's test shard, the manifest's sha256 edited to fit", REAL, 2,
              "is not a test shard of this dataset: its dataset is 'smnist2', the manifest's 'smnist4'", absent=R,
              setup=swap_test_shard(fit_manifest=True)),
    FaultCase("eval --real, a shard of another config of the same dataset", REAL, 2,
              "its config_sha256 is 'x'", absent=R, setup=_shard_attr(TEST_SHARD, "config_sha256", "x")),
    FaultCase("eval --real, the train shard renamed as the test shard", REAL, 2,
              "its split is 'train', the manifest's 'test'", absent=R,
              setup=_shard_attr(TEST_SHARD, "split", "train")),
    FaultCase("eval --real, a test label edited, the manifest's sha256 edited to fit", REAL, 2,
              "video 0 is captioned", absent=R, setup=edit_shard(TEST_SHARD, _next_digit)),
    FaultCase("eval --samples, a train label edited, the manifest's sha256 edited to fit", SAMPLES, 2,
              f"{TRAIN_SHARD}: video 0 is captioned", absent=R,
              setup=both(samples(), edit_shard(TRAIN_SHARD, _next_digit))),
    FaultCase("eval --real, the manifest's config edited", REAL, 2, "does not match its config_sha256", absent=R,
              setup=edit_manifest(lambda m, d: m["config"].update(speed_max=5))),
    FaultCase("eval --real, the manifest's test count edited", REAL, 2, "its count is 16, the manifest's 8",
              absent=R, setup=edit_manifest(lambda m, d: (m["splits"]["test"].update(count=8),
                                                          m["splits"]["test"]["shards"][0].update(count=8)))),
    FaultCase("eval --real, the test shard missing", REAL, 2, f"{TEST_SHARD} is missing", absent=R,
              setup=lambda data, **_: (data / TEST_SHARD).unlink()),
    # item 6: the samples file's attributes are validated before scoring
    FaultCase("eval --samples, an array-valued 'model' attribute", SAMPLES, 2,
              "attribute 'model' must be a non-empty string (got an array of shape (2,))", absent=R,
              setup=samples(model=np.array([1, 2]))),
    FaultCase("eval --samples, train_seed='abc'", SAMPLES, 2,
              "attribute 'train_seed' must be a non-negative integer (got 'abc')", absent=R,
              setup=samples(train_seed="abc")),
    FaultCase("eval --samples, a negative eval_seed attribute", SAMPLES, 2,
              "attribute 'eval_seed' must be a non-negative integer (got -1)", absent=R,
              setup=samples(eval_seed=-1)),
    FaultCase("eval --samples, an empty 'model' attribute", SAMPLES, 2, "attribute 'model' must be a non-empty",
              absent=R, setup=samples(model="")),
    FaultCase("eval --samples, an array-valued attribute it does not read (neighbour)", SAMPLES, 0, "",
              setup=samples(notes=np.arange(3), train_seed=3), after=written("r.json")),
    FaultCase("eval --samples --model ''", [*SAMPLES, "--model", ""], 2, "model name must be a non-empty string",
              absent=R, setup=samples()),
    # item 10: a dataset without test videos (or with too few train videos) cannot be evaluated
    FaultCase("eval --real on a dataset made with --n-test 0", ["eval", "--real", "--dataset", "{no_test}", Q, *OUT],
              2, "has no test videos", absent=R),
    FaultCase("eval --samples on a dataset made with --n-test 0",
              ["eval", "--samples", "{tmp}/s.h5", "--dataset", "{no_test}", Q, *OUT], 2, "--n-test 2048",
              absent=R, setup=samples()),
    FaultCase("judge train on a dataset made with --n-test 0 (neighbour)",
              ["judge", "train", "{no_test}", "--out", "{tmp}/j.pt", Q], 2, "has no test videos",
              absent=["{tmp}/j.pt"]),
    FaultCase("eval --real on a dataset with one train video", ["eval", "--real", "--dataset", "{one_train}", Q, *OUT],
              2, "has 1 train video(s); the Fréchet reference", absent=R),
    # item 12: judge train refuses an untrained judge and another family's recipe
    FaultCase("judge train --steps 0", [*JUDGE, "--steps", "0"], 2, "--steps must be positive (got 0)",
              absent=["{tmp}/j.pt"]),
    FaultCase("judge train --frame-steps 0", [*JUDGE, "--frame-steps", "0"], 2, "--frame-steps must be positive",
              absent=["{tmp}/j.pt"]),
    FaultCase("judge train --steps -1 (neighbour)", [*JUDGE, "--steps", "-1"], 2, "must be positive (got -1)",
              absent=["{tmp}/j.pt"]),
    FaultCase("judge train --recipe dmnist4 on smnist4 data", [*JUDGE, "--recipe", "dmnist4"], 2,
              "--recipe dmnist4 is the recipe of a dmnist4 judge, and this dataset is smnist4", absent=["{tmp}/j.pt"]),
    FaultCase("judge train --recipe a dmnist2 judge's metadata file", [*JUDGE, "--recipe", "{tmp}/meta.json"], 2,
              "is the recipe of a dmnist2 judge", absent=["{tmp}/j.pt"],
              setup=lambda tmp, **_: (tmp / "meta.json").write_text(json.dumps(
                  {"dataset": "dmnist2", "recipe": judges.shipped_judges()["dmnist2"]["recipe"]}))),
    FaultCase("judge train --recipe smnist4 on smnist4 data (neighbour)",
              [*JUDGE, "--recipe", "smnist4", "--steps", "2", "--frame-steps", "2", "--max-train-videos", "32"],
              0, "", after=written("j.pt")),
    # item 13: seeds are non-negative; fewer videos than the protocol's are warned about
    FaultCase("eval --samples --train-seed -1", [*SAMPLES, "--train-seed", "-1"], 2, "-1 is not in the range x>=0",
              absent=R, setup=samples()),
    FaultCase("eval --samples --eval-seed -1", [*SAMPLES, "--eval-seed", "-1"], 2, "'--eval-seed'", absent=R,
              setup=samples()),
    FaultCase("eval --real on 16 test videos and 48 train videos warns", REAL, 0, "",
              after=warned("16 real test videos, the protocol uses 2048",
                           "the Fréchet reference holds 48 train videos, the protocol uses the first 2048")),
    FaultCase("eval --samples on a 48-video train split warns", SAMPLES, 0, "", setup=samples(),
              after=warned("16 samples, the protocol uses 2048", "the Fréchet reference holds 48 train videos")),
    FaultCase("eval --out a folder (neighbour)", ["eval", "--real", "--dataset", D, Q, "--out", "{tmp}"], 2,
              "is a directory"),
    # item 8: review-kth keeps a person's answers
    FaultCase("review-kth re-run keeps the answers of the clips it shows", REVIEW, 0, "", setup=review_form(),
              after=answers_kept(True)),
    FaultCase("review-kth re-run that would drop answers is refused", [*REVIEW, "--seed", "1"], 2,
              "filled-in answer(s) for clips (with their captions) this sheet", setup=review_form(),
              after=form_unchanged),
    FaultCase("review-kth --overwrite drops the answers of clips it does not show", [*REVIEW, "--seed", "1",
              "--overwrite"], 0, "", setup=review_form(), after=answers_kept(False)),
    FaultCase("review-kth, a .csv there that is not a form", REVIEW, 2, "is not a review-kth form",
              setup=lambda tmp, **_: (tmp / "kth4-review.csv").write_text("my,own\n1,2\n"),
              after=lambda tmp, **_: (tmp / "kth4-review.csv").read_text() == "my,own\n1,2\n"),
    # item 11: review-kth --out a folder: one line naming it, no temp file (the cwd is tmp)
    FaultCase("review-kth --out a folder", [*REVIEW, "--out", "{tmp}/sheets"], 2,
              "sheets is a folder; give the sheet a file name",
              setup=lambda tmp, **_: (tmp / "sheets").mkdir()),
    FaultCase("review-kth --out a .csv", [*REVIEW, "--out", "{tmp}/r.csv"], 2, "must name a .png file",
              absent=["{tmp}/r.csv"]),
    FaultCase("review-kth --out under a file", [*REVIEW, "--out", "{tmp}/f/r.png"], 2, "is a file, not a folder",
              setup=lambda tmp, **_: (tmp / "f").write_text("")),
]


def _kth_review_data(root, n=64):
    """A tiny kth4-shaped test split with what review-kth reads: actions, directions, scenarios, source
    files and frame ranges (blank videos: the sheet is drawn, not judged)."""
    from t2vbench.data.format import canonical_json
    from t2vbench.data.vocab import Vocabulary
    from t2vbench.data.writer import write_shard

    root.mkdir(parents=True)
    actions = ["walking from left to right", "walking from right to left", "running from left to right",
               "running from right to left", "waving hands", "boxing"]
    rng = np.random.default_rng(0)
    action, scenario = rng.integers(0, 6, n), np.arange(n) % 4
    captions = [f"a person is {actions[a]}" for a in action]
    vocab = Vocabulary(sorted({w for c in captions for w in c.split()}))
    cfg = {"dataset": "kth4", "frames": 4, "size": 16, "channels": 1}
    entry = write_shard(root / TEST_SHARD, {
        "video": np.zeros((n, 4, 16, 16, 1), np.uint8), "caption": captions, "tokens": vocab.encode_batch(captions, 9),
        "label/action": action[:, None], "label/direction": np.where(action < 4, action % 2, 2)[:, None],
        "label/scenario": scenario[:, None], "label/person": np.zeros((n, 1), np.int64),
        "source_file": np.array([f"person{i:02d}_walking_d{s + 1}_uncomp.avi" for i, s in enumerate(scenario)], "S"),
        "frame_range": np.stack([np.arange(n) * 10, np.arange(n) * 10 + 6], 1).astype(np.int32)},
        {"format_version": 1, "dataset": "kth4", "split": "test", "count": n, "start": 0,
         "config_json": canonical_json(cfg),
         "config_sha256": sha256_json(cfg)})
    write_json_atomic(root / "manifest.json", {
        "format_version": 1, "dataset": "kth4", "config": cfg, "config_sha256": sha256_json(cfg),
        "vocabulary": vocab.words[4:],
        "splits": {"test": {"count": n, "shards": [{**entry, "start": 0}]}},
        "labels": {"action": actions, "direction": ["left to right", "right to left", "none"]}})
    return root


@pytest.fixture(scope="module")
def sources(make, tmp_path_factory):
    from t2vbench.generators.kth.review import direction_sheet

    kth = _kth_review_data(tmp_path_factory.mktemp("kth") / "kth4")
    form = tmp_path_factory.mktemp("form") / "f.png"  # which clips a seed-0 form shows, to compare re-runs with
    direction_sheet(kth, form, per_scenario=2, seed=0)
    EARLIER.update(_clips(form.with_suffix(".csv")))
    return {"smnist4": make("smnist4", n=48, n_test=16), "smnist2": make("smnist2", n=48, n_test=16),
            "no_test": make("smnist4", n=48, n_test=0), "one_train": make("smnist4", n=1, n_test=16), "kth": kth}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_fault(case, sources, tmp_path, capsys, monkeypatch):
    data = tmp_path / "smnist4"
    shutil.copytree(sources["smnist4"], data)  # each case damages its own copy
    monkeypatch.chdir(tmp_path)  # where a command would leave a temp file "in the current folder"
    paths = {"data": data, "tmp": tmp_path, **{k: v for k, v in sources.items() if k != "smnist4"}}
    err = run_case(case, capsys, **paths)
    if case.after is not None:
        assert case.after(err=err, **paths) is not False, case.name
    left = [str(p) for p in tmp_path.rglob("*") if ".tmp-" in p.name or ".t2vbench-write-test-" in p.name]
    assert not left, f"{case.name}: temp files left: {left}"


def test_review_answers_survive_a_second_rerun_and_the_pairing_is_by_clip(sources, tmp_path):
    """Answers are matched by clip and caption, not by row number: a form whose rows were sorted by hand
    keeps each answer on its clip."""
    from t2vbench.generators.kth.review import direction_sheet

    png = tmp_path / "kth4-review.png"
    direction_sheet(sources["kth"], png, per_scenario=2)
    form = png.with_suffix(".csv")
    rows = list(csv.DictReader(open(form, newline="")))
    rows = sorted(rows, key=lambda r: r["caption"], reverse=True)
    for k, r in enumerate(rows):
        r["correct"] = "y" if k % 2 else "n"
    with open(form, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    want = _clips(form)
    direction_sheet(sources["kth"], png, per_scenario=2)
    direction_sheet(sources["kth"], png, per_scenario=2)
    assert _clips(form) == want and set(want.values()) == {"y", "n"}


# ---------------------------------------------------------------- from Python: refused before any work

@pytest.fixture
def damaged(sources, tmp_path):
    data = tmp_path / "smnist4"
    shutil.copytree(sources["smnist4"], data)
    flip_byte(TEST_SHARD)(data)
    return data


def test_evaluate_and_battle_check_the_dataset_before_generating(damaged):
    from t2vbench.eval import api, gam

    calls = []

    def generate(tokens, captions, seeds):
        calls.append(len(seeds))
        return np.zeros((len(seeds), 16, 64, 64, 1), np.uint8)

    model = {"name": "m", "generate": generate, "discriminator": lambda v, t: v.mean(dim=(1, 2, 3, 4))}
    for run in (lambda: api.evaluate(generate, damaged, model="m", n_samples=16, progress=False),
                lambda: api.evaluate_real(damaged, progress=False),
                lambda: gam.battle(model, model, damaged, n_real=16, n_samples=16)):
        with pytest.raises(UserError, match="does not match its sha256"):
            run()
    assert calls == []


def test_bad_seeds_and_attributes_fail_before_scoring(sources, tmp_path, monkeypatch):
    from t2vbench.eval import api

    def scored(*a, **k):
        raise AssertionError("scored before the input was checked")

    monkeypatch.setattr(api, "score_videos", scored)
    data = sources["smnist4"]
    samples(train_seed="abc")(tmp=tmp_path, data=data)
    with pytest.raises(UserError, match="train_seed"):
        api.evaluate_file(tmp_path / "s.h5", data, progress=False)
    for kwargs, says in (({"seed": -1}, "eval seed"), ({"train_seed": -2}, "train_seed"),
                         ({"train_seed": 1.5}, "train_seed"), ({"n_samples": 1}, "at least 2"),
                         ({"model": ""}, "model name")):
        with pytest.raises(UserError, match=says):
            api.evaluate(lambda *a: None, data, **{"model": "m", **kwargs}, progress=False)


def test_only_the_shards_read_are_verified(make, tmp_path):
    """The reference is the first 2,048 train videos: `check_dataset(ds, n)` verifies the train shards
    holding the first n (here 16 of 48, in shards of 16), and all of them for `None` (the caption index
    of `eval --samples` reads every train shard)."""
    from t2vbench.data.handle import open_dataset
    from t2vbench.eval.samples import check_dataset

    data = tmp_path / "d"
    shutil.copytree(make("smnist4", n=48, n_test=16, shard_size=16), data)
    flip_byte("train-00002-of-00003.h5")(data)
    ds = open_dataset(data)
    check_dataset(ds, 16)
    check_dataset(ds, 0)
    for n in (None, 2048):
        with pytest.raises(UserError, match="train-00002-of-00003.h5 does not match"):
            check_dataset(ds, n)


# ---------------------------------------------------------------- properties of what users feed the evaluation

def _parser(n_motions: int):
    from t2vbench.eval.caption import CaptionParser
    from t2vbench.generators.mnist.captions import MOTIONS

    return CaptionParser({"labels": {"digit": [str(d) for d in range(10)], "motion": list(MOTIONS[n_motions])}})


FRAGMENTS = ["digit ", "digit", " is moving ", "is", " ", "3", "٣", "10", "left then right", "up and down",
             "left", " and digit ", " and ", "then", "\n", "é"]


def _near_captions():
    """Captions near the grammar: other digits (Unicode ones too), motions of the other family, slot counts."""
    from t2vbench.generators.mnist.captions import MOTIONS

    digit = st.one_of(st.sampled_from("0123456789"), st.sampled_from(["٣", "𝟑", "10", "x", ""]))
    part = st.builds("digit {} is moving {}".format, digit,
                     st.sampled_from([*MOTIONS[4], *MOTIONS[2], "left", "sideways"]))
    return st.lists(part, min_size=1, max_size=2).map(" and ".join)


@example("digit ٣ is moving left then right", 4, 1)
@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join),
                 _near_captions(), _near_captions()),
       st.sampled_from([2, 4]), st.sampled_from([1, 2]))
def test_any_caption_string_parses_or_raises_user_error(caption, n_motions, slots):
    """Only UserError (one line); what parses is the grammar's caption of its labels, up to whitespace."""
    from t2vbench.generators.mnist.captions import captions

    try:
        labels = _parser(n_motions).labels_for([caption], slots)
    except UserError as e:
        assert "\n" not in str(e)
        return
    assert " ".join(caption.split()) == captions(labels["digit"], labels["motion"], n_motions)[0]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([2, 4]), st.integers(1, 2), st.data())
def test_every_grammatical_caption_parses_to_its_labels(n_motions, slots, data):
    from t2vbench.generators.mnist.captions import captions

    n = data.draw(st.integers(1, 6))
    digits = np.array(data.draw(st.lists(st.lists(st.integers(0, 9), min_size=slots, max_size=slots),
                                         min_size=n, max_size=n)))
    motions = np.array(data.draw(st.lists(st.lists(st.integers(0, n_motions - 1), min_size=slots, max_size=slots),
                                          min_size=n, max_size=n)))
    labels = _parser(n_motions).labels_for(captions(digits, motions, n_motions), slots)
    assert np.array_equal(labels["digit"], digits) and np.array_equal(labels["motion"], motions)


ATTRIBUTE_VALUES = st.one_of(
    st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=True), st.booleans(), st.text(max_size=20),
    st.binary(max_size=20), st.lists(st.integers(-5, 5), min_size=1, max_size=3).map(np.array),
    st.lists(st.text(max_size=5), min_size=1, max_size=3))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["model", "train_seed", "eval_seed", "other"]), ATTRIBUTE_VALUES)
def test_samples_attributes_are_valid_or_refused_with_one_line(name, value):
    """Written to an HDF5 file and read back as `eval --samples` reads it: a valid attribute comes out as
    what it says, anything else is one UserError line naming it; attributes it does not read never fail."""
    from t2vbench.eval.samples import samples_attributes

    with h5py.File("attrs.h5", "w", driver="core", backing_store=False) as f:
        try:
            f.attrs[name] = value
        except (TypeError, ValueError):  # h5py cannot store it (e.g. a NUL in a string): nothing to read
            return
        try:
            out = samples_attributes("s.h5", f.attrs)
        except UserError as e:
            assert name in str(e) and "\n" not in str(e)
            assert name != "other"
            ok = False
        else:
            ok = True
    one = value[0] if isinstance(value, list) and len(value) == 1 else value  # h5py stores a list as an array
    if isinstance(one, np.ndarray):
        one = one.reshape(()).item() if one.size == 1 else None
    if name in ("train_seed", "eval_seed"):
        valid = isinstance(one, int) and not isinstance(one, bool) and one >= 0
        assert ok == valid, (value, ok)
        if ok:
            assert out[name] == one and type(out[name]) is int
    elif name == "model":
        if isinstance(one, str):
            assert ok == bool(one.strip()), (value, ok)
        elif not isinstance(one, bytes):  # bytes: h5py drops trailing NULs; a non-empty decoded str is valid
            assert not ok, value
        if ok:
            assert isinstance(out["model"], str) and out["model"].strip()
    else:
        assert ok and out == {}
