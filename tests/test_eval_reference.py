"""The on-disk reference cache: used on the second call, recomputed when damaged, keyed on the judge,
the protocol version, the count and the dataset config."""
import hashlib
import json

import numpy as np
import pytest

from t2vbench.data.handle import open_dataset
from t2vbench.eval import reference as rc


class Counting:
    """compute() for the cache: counts its calls; arrays of several dtypes and shapes."""

    def __init__(self, seed=0):
        self.calls, self.seed = 0, seed

    def __call__(self):
        self.calls += 1
        rng = np.random.default_rng(self.seed)
        return {"video_feat": rng.normal(size=(32, 8)).astype(np.float32), "frame_feat": rng.normal(size=(32, 4, 6)),
                "codes": np.arange(32, dtype=np.int64), "flag": np.array(True), "threshold": np.array(0.25),
                "memo": rng.random((16, 10)).astype(np.float16)}


@pytest.fixture(scope="module")
def dataset(make):
    return open_dataset(make("smnist4", n=32, n_test=8))


JUDGE_A, JUDGE_B = "a" * 64, "b" * 64


def _only_file(folder):
    files = sorted((folder / "reference").glob("*.npz"))
    assert len(files) == 1, files
    return files[0]


def _same(a: dict, b: dict):
    assert set(a) == set(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(a[k], b[k])


def test_second_call_reads_the_cache(dataset, tmp_path, capsys):
    compute = Counting()
    first = rc.reference_features(dataset, JUDGE_A, compute, cache_dir=tmp_path)
    second = rc.reference_features(dataset, JUDGE_A, compute, cache_dir=tmp_path)
    assert compute.calls == 1
    _same(first, second)
    _same(second, Counting()())
    assert capsys.readouterr().err == ""
    path = _only_file(tmp_path)
    digest, name = (path.parent / (path.name + ".sha256")).read_text().split()
    assert name == path.name and digest == hashlib.sha256(path.read_bytes()).hexdigest()  # sha256sum -c format
    with np.load(path) as z:
        key = json.loads(str(z["_key"]))
    assert key == rc.cache_key(dataset, JUDGE_A)
    assert key["config_sha256"] == dataset.config_sha256 and key["judge_sha256"] == JUDGE_A
    assert {"protocol_version", "count", "dataset", "contents", "format"} <= set(key)


@pytest.mark.parametrize("damage", ["flip", "truncate", "sidecar", "no_sidecar"])
def test_a_damaged_cache_is_recomputed_with_one_warning(dataset, tmp_path, capsys, damage):
    compute = Counting()
    rc.reference_features(dataset, JUDGE_A, compute, cache_dir=tmp_path)
    path = _only_file(tmp_path)
    side = path.parent / (path.name + ".sha256")
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[:100]))
    elif damage == "sidecar":
        side.write_text("0" * 64 + "  " + path.name + "\n")
    else:
        side.unlink()
    got = rc.reference_features(dataset, JUDGE_A, compute, cache_dir=tmp_path)
    assert compute.calls == 2
    _same(got, Counting()())
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("t2vbench: warning: reference cache") and "recomputing" in err[0]
    rc.reference_features(dataset, JUDGE_A, compute, cache_dir=tmp_path)  # rewritten: valid again
    assert compute.calls == 2 and capsys.readouterr().err == ""


def test_keyed_on_judge_protocol_count_and_contents(dataset, tmp_path):
    compute = Counting()
    rc.reference_features(dataset, JUDGE_A, compute, cache_dir=tmp_path)
    other = Counting(seed=1)
    got = rc.reference_features(dataset, JUDGE_B, other, cache_dir=tmp_path)
    assert other.calls == 1 and compute.calls == 1
    _same(got, Counting(seed=1)())  # the other judge's arrays, not the first's
    for kw in ({"protocol_version": "9.9"}, {"count": 7}, {"contents": "diversity:2"}):
        before = compute.calls
        rc.reference_features(dataset, JUDGE_A, compute, cache_dir=tmp_path, **kw)
        assert compute.calls == before + 1, kw
    assert len(list((tmp_path / "reference").glob("*.npz"))) == 5
    rc.reference_features(dataset, JUDGE_A, compute, cache_dir=tmp_path)
    rc.reference_features(dataset, JUDGE_B, other, cache_dir=tmp_path)
    assert compute.calls == 4 and other.calls == 1  # all still there


def test_a_loaded_judge_keys_by_its_sha256(dataset, tmp_path):
    from t2vbench.judge.model import judge_for

    judge = judge_for(dataset.manifest)
    compute = Counting()
    rc.reference_features(dataset, judge, compute, cache_dir=tmp_path)
    rc.reference_features(dataset, judge.sha256, compute, cache_dir=tmp_path)
    assert compute.calls == 1


def test_keyed_on_the_dataset_config(make, dataset, tmp_path):
    other = open_dataset(make("smnist4", n=33, n_test=8))
    assert other.config_sha256 != dataset.config_sha256
    compute = Counting()
    rc.reference_features(dataset, JUDGE_A, compute, cache_dir=tmp_path)
    rc.reference_features(other, JUDGE_A, compute, cache_dir=tmp_path)
    assert compute.calls == 2


def test_a_file_under_another_key_is_not_used(dataset, tmp_path, capsys):
    compute = Counting()
    rc.reference_features(dataset, JUDGE_A, compute, cache_dir=tmp_path)
    a = _only_file(tmp_path)
    b = rc.cache_path(rc.cache_key(dataset, JUDGE_B), tmp_path)
    b.write_bytes(a.read_bytes())  # a valid file with its sha256, copied to another key's name
    (b.parent / (b.name + ".sha256")).write_text((a.parent / (a.name + ".sha256")).read_text())
    rc.reference_features(dataset, JUDGE_B, compute, cache_dir=tmp_path)
    assert compute.calls == 2
    assert "recorded key" in capsys.readouterr().err


def test_environment_folder_and_unwritable_folder(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("T2VBENCH_CACHE", str(tmp_path / "env"))
    compute = Counting()
    rc.reference_features(dataset, JUDGE_A, compute)
    assert _only_file(tmp_path / "env").exists()
    rc.reference_features(dataset, JUDGE_A, compute)
    assert compute.calls == 1
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    got = rc.reference_features(dataset, JUDGE_A, compute, cache_dir=blocker)  # cannot hold a cache
    assert compute.calls == 2
    _same(got, Counting()())
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write the reference cache" in err[0]


def test_no_config_sha256_means_no_cache(dataset, tmp_path):
    class NoSha:
        name, config_sha256 = dataset.name, None

    compute = Counting()
    rc.reference_features(NoSha(), JUDGE_A, compute, cache_dir=tmp_path)
    rc.reference_features(NoSha(), JUDGE_A, compute, cache_dir=tmp_path)
    assert compute.calls == 2 and not (tmp_path / "reference").exists()


def test_object_arrays_are_refused(dataset, tmp_path):
    with pytest.raises(ValueError, match="Python objects"):
        rc.reference_features(dataset, JUDGE_A, lambda: {"x": np.array([{"a": 1}], dtype=object)}, cache_dir=tmp_path)
