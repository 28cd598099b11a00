"""Fréchet distance: exact on cases with a known answer, and equal to the scipy-sqrtm formula."""
import numpy as np
import pytest

from t2vbench.eval import frechet


def _features(n=600, d=12, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d))
    return rng.normal(size=(n, d)) @ a  # correlated dimensions


def test_distance_of_a_set_with_itself_is_zero():
    x = _features()
    assert frechet.distance(x, x) == pytest.approx(0.0, abs=1e-6)


def test_mean_shift_adds_its_squared_length_exactly():
    x = _features()
    shift = np.zeros(x.shape[1])
    previous = 0.0
    for delta in (0.5, 1.0, 2.0, 4.0):
        shift[3] = delta
        d = frechet.distance(x, x + shift)
        assert d == pytest.approx(delta ** 2, rel=1e-6, abs=1e-6)  # covariance unchanged
        assert d > previous
        previous = d


def test_scaling_the_spread_raises_the_distance():
    x = _features()
    mu = x.mean(0)
    ds = [frechet.distance(x, mu + (x - mu) * s) for s in (1.0, 1.2, 1.5, 2.0)]
    assert ds[0] == pytest.approx(0.0, abs=1e-6)
    assert ds == sorted(ds) and ds[1] > 0.01


def test_matches_the_scipy_sqrtm_formula():
    linalg = pytest.importorskip("scipy.linalg")
    a, b = _features(seed=1), _features(seed=2) * 0.7 + 0.3
    mu1, s1 = frechet.gaussian(a)
    mu2, s2 = frechet.gaussian(b)
    covmean = linalg.sqrtm(s1 @ s2).real
    ref = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean)
    assert frechet.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-6)


def test_rank_deficient_covariances_do_not_produce_nan():
    x = np.zeros((50, 8))
    x[:, 0] = np.arange(50)
    assert np.isfinite(frechet.distance(x, x + 1.0))
    assert frechet.distance(x, x + 1.0) == pytest.approx(8.0, rel=1e-6)
