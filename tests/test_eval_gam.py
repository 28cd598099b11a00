"""GAM: the paper's ratios of error rates, the winner rule, and a self-battle near 1."""
import numpy as np
import pytest

from t2vbench.eval import gam


def test_ratios_are_error_ratios_in_the_papers_direction():
    # D1 errs on 10% of real, D2 on 10%: r_test = 1. D1 is fooled by G2 20%, D2 by G1 40%:
    # r_sample = 0.2 / 0.4 < 1 -> G1 fools D2 more -> model 1 wins.
    n = 1000
    e_test = np.zeros(n, bool)
    e_test[:100] = True
    e1s, e2s = np.zeros(n, bool), np.zeros(n, bool)
    e1s[:200] = True
    e2s[:400] = True
    r = gam.ratios(e_test, e_test.copy(), e1s, e2s)
    assert r["err_d1_test"] == pytest.approx(0.1) and r["err_d2_on_g1"] == pytest.approx(0.4)
    assert r["r_test"] == pytest.approx(1.0)
    assert r["r_sample"] == pytest.approx(0.5)
    assert r["winner"] == "model1" and r["r_sample_ci_excludes_1"]
    assert r["r_sample_ci"][0] < r["r_sample"] < r["r_sample_ci"][1]
    # swap the models: the other one wins
    assert gam.ratios(e_test, e_test, e2s, e1s)["winner"] == "model2"


def test_no_decision_when_the_discriminators_disagree_on_real_data():
    n = 1000
    e1t, e2t = np.zeros(n, bool), np.zeros(n, bool)
    e1t[:50] = True
    e2t[:300] = True
    es = np.zeros(n, bool)
    es[:100] = True
    r = gam.ratios(e1t, e2t, es, es)
    assert r["winner"] == "none" and "r_test" in r["reason"]


def test_zero_errors_are_flagged_not_divided_by_zero():
    z = np.zeros(100, bool)
    r = gam.ratios(z, z, z, z)
    assert r["r_test"] == 0.0 and set(r["zero_error"]) == {"d1_test", "d2_test", "d1_on_g2", "d2_on_g1"}


def test_output_kind_detection():
    assert gam.resolve_output("auto", np.array([0.1, 0.9])) == "prob"
    assert gam.resolve_output("auto", np.array([-2.0, 0.9])) == "logit"
    real, fake = np.array([0.7, 0.4]), np.array([0.6, 0.2])
    e_real, e_fake = gam.errors(real, fake, "prob")
    assert e_real.tolist() == [False, True] and e_fake.tolist() == [True, False]


class Toy:
    """A 'model': G returns a train video plus seeded noise of random strength; D calls a video
    real when it is not too bright on average (noise brightens it)."""

    def __init__(self, train_video, offset):
        self.train, self.offset = train_video, offset

    def generate(self, tokens, captions, seeds):
        out = []
        for s in seeds.tolist():
            rng = np.random.default_rng(s + self.offset)
            v = self.train[rng.integers(len(self.train))].astype(np.float32)
            v = v + rng.uniform(0, 12) * rng.random(v.shape)
            out.append(np.clip(v, 0, 255).astype(np.uint8))
        return np.stack(out)

    @staticmethod
    def discriminator(videos, tokens):
        return 9.0 - videos.mean(dim=(1, 2, 3, 4)) * 255.0  # logits; real videos average ~6/255


def test_self_battle_gives_ratios_near_one(make):
    from t2vbench.data.dataset import read_split

    root = make("smnist4", n=256, n_test=256)
    train = read_split(root, "train", columns=["video"])["video"]
    a, b = Toy(train, 0), Toy(train, 7)  # the same model, independent noise draws
    r = gam.battle({"name": "a", "generate": a.generate, "discriminator": a.discriminator},
                   {"name": "b", "generate": b.generate, "discriminator": b.discriminator},
                   root, n_real=256, n_samples=256, batch_size=64)
    assert r["r_test"] == pytest.approx(1.0)  # the same D on the same real videos
    assert 0.05 < r["err_d1_test"] < 0.95 and 0.1 < r["err_d1_on_g2"] < 0.9  # a non-trivial discriminator
    assert abs(r["r_sample"] - 1.0) < 0.25
    assert r["r_sample_ci"][0] <= 1.0 <= r["r_sample_ci"][1]
    assert r["discriminator_output"] == {"1": "logit", "2": "logit"}


def test_battle_does_not_depend_on_the_generation_batch_size(make):
    """A discriminator with batch statistics sees the protocol's batches, not the caller's."""
    from t2vbench.data.dataset import read_split

    root = make("smnist4", n=256, n_test=256)
    train = read_split(root, "train", columns=["video"])["video"]
    a, b = Toy(train, 0), Toy(train, 7)

    def batch_norm_d(videos, tokens):  # brightness relative to the batch: depends on who else is in it
        m = videos.mean(dim=(1, 2, 3, 4))
        return (m.mean() - m) / (m.std() + 1e-6)

    def run(bs):
        return gam.battle({"name": "a", "generate": a.generate, "discriminator": batch_norm_d},
                          {"name": "b", "generate": b.generate, "discriminator": batch_norm_d},
                          root, n_real=100, n_samples=100, batch_size=bs, output="logit")

    small, large = run(5), run(64)
    assert small["err_d1_test"] == large["err_d1_test"] and small["r_sample"] == large["r_sample"]
