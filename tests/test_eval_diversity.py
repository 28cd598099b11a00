"""Diversity metrics: real data scores as diverse as real data, a collapsed generator does not, copies
of training videos are flagged; and the pieces are exact where they have a known answer."""
import numpy as np
import pytest

from t2vbench.data.handle import open_dataset
from t2vbench.eval import diversity as dv
from t2vbench.eval import frechet
from t2vbench.eval import reference as refcache
from t2vbench.judge.model import judge_for, run_judge

N_REF = 512  # the Fréchet reference of these tests (the protocol's is 2,048)


# -- exact pieces ------------------------------------------------------------------------------------
def test_meanings_are_multisets_of_cells():
    attrs, sizes = ["digit", "motion"], [10, 4]
    labels = {"digit": np.array([[3, 7], [7, 3], [3, 7], [3, 3]]), "motion": np.array([[0, 2], [2, 0], [2, 0], [0, 2]])}
    c = dv.meaning_codes(labels, attrs, sizes)
    assert c[0] == c[1]  # 'digit 3 left.. and digit 7 up..' == 'digit 7 up.. and digit 3 left..'
    assert len({int(c[0]), int(c[2]), int(c[3])}) == 3  # the pairing and the digits count
    one = dv.meaning_codes({"digit": np.array([[1], [1], [2]]), "motion": np.array([[0], [1], [0]])}, attrs, sizes)
    assert len(set(one.tolist())) == 3


def test_block_means_are_block_averages_and_nest():
    rng = np.random.default_rng(0)
    v = rng.integers(0, 256, (5, 3, 64, 64, 1), dtype=np.uint8)
    want = v[..., 0].astype(np.float64).reshape(5, 3, 8, 8, 8, 8).mean(axis=(3, 5)).reshape(5, -1) / 255
    got = dv.block_means(v, 8, chunk=2)
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(dv.coarser(got, 3, 8, 2), dv.block_means(v, 4), atol=1e-6)


def test_fd_gram_is_the_frechet_distance():
    rng = np.random.default_rng(1)
    for n1, n2, d in ((51, 40, 128), (6, 9, 64), (300, 200, 12)):
        a = rng.normal(size=(n1, d)) @ rng.normal(size=(d, d))
        b = rng.normal(size=(n2, d)) * 0.7 + 0.3
        assert dv.fd_gram(a, b) == pytest.approx(frechet.distance(a, b), rel=1e-7)


def test_manifolds_of_gaussians():
    rng = np.random.default_rng(2)
    real, same = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    m = dv.manifold(same, real)
    assert m["precision_video"] > 0.8 and m["recall_video"] > 0.8 and m["coverage_video"] > 0.8
    assert 0.7 < m["density_video"] < 1.3
    collapsed = np.repeat(rng.normal(size=(10, 8)), 40, axis=0)  # 10 prototypes
    c = dv.manifold(collapsed, real)
    assert c["recall_video"] < 0.05 and c["coverage_video"] < 0.2
    off = dv.manifold(same + 4.0, real)  # far away: neither precise nor covering
    assert off["precision_video"] < 0.05 and off["coverage_video"] < 0.05


def test_intra_metrics_skip_small_meanings():
    rng = np.random.default_rng(3)
    x, codes = rng.normal(size=(20, 4)), np.repeat(np.arange(10), 2)  # 2 per meaning
    assert dv.manifold_intra(x, codes, x, codes) == ({}, 0)
    fd, n = dv.fd_intra(x, codes, x, codes)
    assert n == 0 and np.isnan(fd)
    fd, n = dv.fd_intra(x, codes, x, codes, min_count=2)
    assert n == 10 and fd == pytest.approx(0.0, abs=1e-9)


def test_ratios_leave_out_meanings_without_a_real_spread():
    values = {"meaning": np.array([1, 2, 3]), "start_std": np.array([2.0, 1.0, np.nan])}
    real = {"meaning": np.array([1, 2, 3, 4]), "start_std": np.array([4.0, 0.0, 1.0, 1.0])}
    assert dv.ratio_by_meaning(values, real) == (0.5, 1)
    values = {"meaning": np.array([1, 3]), "start_std": np.array([2.0, 3.0])}
    assert dv.ratio_by_meaning(values, real) == (1.0, 2)  # (2 + 3) / (4 + 1): weighted by the real spread
    assert dv.ratio_by_meaning({"meaning": np.array([9]), "x": np.array([1.0])}, real)[1] == 0


# -- on a dataset, with the shipped judge ------------------------------------------------------------
@pytest.fixture(scope="module")
def world(make, torch_one_thread, tmp_path_factory):
    h = open_dataset(make("smnist4", n=1024, n_test=512))
    judge = judge_for(h.manifest)
    j = judge.model

    def judged(v):
        return run_judge(j, (v[i:i + 128] for i in range(0, len(v), 128)), read=False)

    test = h.test_columns()
    traj = h.read("test", columns=["trajectory"])["trajectory"]
    train = h.read("train", columns=["video", "label/digit", "label/motion"], limit=N_REF)
    t_out, r_out = judged(test["video"]), judged(train["video"])

    def compute():
        stats = dv.real_statistics(h, j.attributes, j.sizes, N_REF)
        return {"frame_feat": r_out["frame_feat"], "video_feat": r_out["video_feat"], **stats}

    # the protocol's reference, as score_videos will get it: through the cache (and back from the .npz)
    cache = tmp_path_factory.mktemp("cache")
    refcache.reference_features(h, judge, compute, cache_dir=cache, count=N_REF)
    ref = refcache.reference_features(h, judge, lambda: pytest.fail("not cached"), cache_dir=cache, count=N_REF)
    train_labels = {"digit": train["label/digit"].reshape(-1, 1), "motion": train["label/motion"].reshape(-1, 1)}
    return {"h": h, "j": j, "judged": judged, "test": test, "traj": traj, "train": train, "train_labels": train_labels,
            "t_out": t_out, "r_out": r_out, "ref": ref}


def _take(d: dict, idx) -> dict:
    return {k: (_take(v, idx) if isinstance(v, dict) else np.asarray(v)[idx]) for k, v in d.items()}


def _score(w, video, labels, out, ref=None):
    m, impl, skipped = dv.metrics(video, labels, out, w["ref"] if ref is None else ref, w["j"].attributes, w["j"].sizes)
    assert set(impl) == set(m) and not set(m) & set(skipped)
    for k, v in impl.items():
        assert v["name"] == dv.IMPL["name"] and v["version"] == dv.IMPL["version"], k
    return m, skipped


def _codes(w, labels):
    return dv.meaning_codes(labels, w["j"].attributes, w["j"].sizes)


def test_real_halves_score_as_diverse_as_the_data(world):
    w = world
    test, n = w["test"], len(w["test"]["video"])
    a, b = np.arange(n) % 2 == 0, np.arange(n) % 2 == 1
    half = _take(test["labels"], b)
    real = dv.real_arrays(test["video"][b], half, half, w["ref"]["div_memo_train"], w["j"].attributes, w["j"].sizes,
                          single_digit=True)
    ref = {"frame_feat": w["t_out"]["frame_feat"][b], "video_feat": w["t_out"]["video_feat"][b], **real}
    m, skipped = _score(w, test["video"][a], _take(test["labels"], a), _take(w["t_out"], a), ref)
    assert 0.85 < m["diversity_within"] < 1.15
    assert 0.85 < m["diversity_within_appearance"] < 1.15
    assert m["recall_video"] > 0.7 and m["precision_video"] > 0.7 and m["coverage_video"] > 0.7
    assert 0.7 < m["com_start_spread_ratio"] < 1.3 and 0.7 < m["com_speed_spread_ratio"] < 1.3
    assert m["memorised_frac"] < 0.1 and 0.8 < m["nn_train_ratio"] < 1.25  # a 1% quantile of 256: noisy
    assert "fd_video_intra" in m or "fd_video_intra" in skipped


def test_real_test_videos_against_the_train_reference(world):
    w = world
    m, _ = _score(w, w["test"]["video"], w["test"]["labels"], w["t_out"])
    assert m["diversity_within"] == pytest.approx(1.0)  # the test videos are the denominator
    assert m["com_start_spread_ratio"] == pytest.approx(1.0) and m["com_speed_spread_ratio"] == pytest.approx(1.0)
    assert 0.85 < m["diversity_within_appearance"] < 1.15
    assert m["recall_video"] > 0.7 and m["coverage_video"] > 0.7 and m["recall_video_intra"] > 0.6
    assert m["memorised_frac"] <= 0.03  # the 1st percentile of their own nearest-train distances


def test_copies_of_one_video_per_caption_collapse(world):
    w = world
    codes = _codes(w, w["test"]["labels"])
    first = {c: int(np.flatnonzero(codes == c)[0]) for c in np.unique(codes)}
    idx = np.array([first[c] for c in codes])  # every sample: the first test video of its meaning
    real, _ = _score(w, w["test"]["video"], w["test"]["labels"], w["t_out"])
    m, _ = _score(w, w["test"]["video"][idx], w["test"]["labels"], _take(w["t_out"], idx))
    assert m["diversity_within"] < 0.02 and m["diversity_within_appearance"] < 0.02
    assert m["recall_video"] < 0.1 and m["coverage_video"] < 0.5 * real["coverage_video"]
    assert m["recall_video_intra"] < 0.1
    assert m["fd_video_intra"] > 3 * real["fd_video_intra"]
    assert m["com_start_spread_ratio"] < 0.02 and m["com_speed_spread_ratio"] < 0.02
    assert m["memorised_frac"] < 0.05  # test videos, not train videos: nothing memorised
    assert m["precision_video"] > 0.7  # each copy is a realistic video: precision does not see collapse


def _glyph_and_path(video, traj):
    """A single-digit video's 28 px glyph (cut from frame 0; its canvas is black elsewhere) and its
    path (T, 2) of top-left (x, y)."""
    x, y = (int(round(float(c))) for c in traj[0, 0])
    return video[0, y:y + 28, x:x + 28, 0], np.rint(traj[0]).astype(int)


def _paste(glyph, path, like):
    out = np.zeros_like(like)
    for t, (x, y) in enumerate(path):
        out[t, y:y + 28, x:x + 28, 0] = glyph
    return out


def test_one_glyph_per_caption_is_seen_in_judge_space_not_in_pixels(world):
    """One glyph per meaning moved along every real path: positions are as diverse as the data, so
    `diversity_within` stays high, but the appearance diversity and the intra-meaning recall drop;
    one path per meaning with every glyph: the other way round."""
    w = world
    n = 256
    video, traj, labels = w["test"]["video"][:n], w["traj"][:n], _take(w["test"]["labels"], np.arange(n))
    np.testing.assert_array_equal(_paste(*_glyph_and_path(video[0], traj[0]), video[0]), video[0])
    codes = _codes(w, labels)
    first = {c: int(np.flatnonzero(codes == c)[0]) for c in np.unique(codes)}
    glyph = np.stack([_paste(_glyph_and_path(video[first[c]], traj[first[c]])[0], np.rint(traj[i, 0]).astype(int),
                             video[i]) for i, c in enumerate(codes)])
    path = np.stack([_paste(_glyph_and_path(video[i], traj[i])[0], np.rint(traj[first[c], 0]).astype(int), video[i])
                     for i, c in enumerate(codes)])
    real, _ = _score(w, video, labels, _take(w["t_out"], np.arange(n)))
    g, _ = _score(w, glyph, labels, w["judged"](glyph))
    p, _ = _score(w, path, labels, w["judged"](path))
    assert g["diversity_within"] > 0.8  # blind to one glyph per caption ...
    assert g["diversity_within_appearance"] < 0.6 * real["diversity_within_appearance"]  # ... this is not
    assert g["com_start_spread_ratio"] > 0.8
    assert p["diversity_within"] < 0.6 and p["com_start_spread_ratio"] < 0.1
    assert p["diversity_within_appearance"] > 0.8


def test_training_videos_are_flagged_as_memorised(world):
    w = world
    rng = np.random.default_rng(0)
    codes, tcodes = _codes(w, w["test"]["labels"]), _codes(w, w["train_labels"])
    idx = np.array([rng.choice(np.flatnonzero(tcodes == c)) for c in codes])  # a train video of the same caption
    m, _ = _score(w, w["train"]["video"][idx], w["test"]["labels"], _take(w["r_out"], idx))
    assert m["memorised_frac"] > 0.95 and m["nn_train_ratio"] < 0.05
    assert m["diversity_within"] > 0.7  # real videos: diverse, and realistic ...
    assert m["recall_video"] > 0.5  # ... only the memorisation check sees them


def test_memorisation_needs_the_copied_videos_in_its_set(world):
    """Copies of train videos after the first `memo_count` are not seen (the documented limit)."""
    w = world
    h, j = w["h"], w["j"]
    small = {**w["ref"], **dv.real_statistics(h, j.attributes, j.sizes, N_REF, memo_count=128)}
    assert len(small["div_memo_train"]) == 128
    copies = w["train"]["video"][256:512]
    labels = _take(w["train_labels"], np.arange(256, 512))
    m, _ = _score(w, copies, labels, _take(w["r_out"], np.arange(256, 512)), small)
    assert m["memorised_frac"] < 0.1
    m, _ = _score(w, copies, labels, _take(w["r_out"], np.arange(256, 512)))
    assert m["memorised_frac"] > 0.95


def test_metric_impl_names_the_judge_for_judge_space_metrics_only(world):
    w = world
    m, impl, _ = dv.metrics(w["test"]["video"][:64], _take(w["test"]["labels"], np.arange(64)),
                            _take(w["t_out"], np.arange(64)), w["ref"], w["j"].attributes, w["j"].sizes,
                            judge_version="smnist4:abc")
    assert set(m) <= set(dv.JUDGE_METRICS) | set(dv.PIXEL_METRICS)
    for k, v in impl.items():
        assert (v.get("judge") == "smnist4:abc") == (k in dv.JUDGE_METRICS), k
    assert impl["recall_video"]["k_precision_recall"] == dv.K_PR and impl["memorised_frac"]["n_train"] == 1024


def test_the_protocol_records_the_module_s_parameters():
    from t2vbench.eval.protocol import PROTOCOL

    if "diversity" in PROTOCOL:  # protocol 1.1 on
        assert PROTOCOL["version"] != "1.0" and PROTOCOL["diversity"] == dv.PROTOCOL_ENTRY
    assert dv.PROTOCOL_ENTRY["memorisation"]["count"] == dv.MEMO_COUNT


def test_two_digit_references_skip_the_centre_of_mass_check(world):
    w = world
    ref = {**w["ref"], "div_single_digit": np.array(False)}
    ref = {k: v for k, v in ref.items() if not k.startswith("div_com_")}
    m, skipped = _score(w, w["test"]["video"][:64], _take(w["test"]["labels"], np.arange(64)),
                        _take(w["t_out"], np.arange(64)), ref)
    assert "com_start_spread_ratio" in skipped and "com_speed_spread_ratio" in skipped
    assert "diversity_within" in m
