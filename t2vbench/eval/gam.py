"""GAM, the Generative Adversarial Metric of Im et al. (2016), as IRC-GAN and TGANs-C used it.

For models M1 = (G1, D1) and M2 = (G2, D2), with err() the fraction a discriminator misclassifies
(real target: real; sample target: fake):

    r_test   = err(D1 on x_test) / err(D2 on x_test)
    r_sample = err(D1 on G2 samples) / err(D2 on G1 samples)

M1 wins if r_sample < 1 and r_test ~ 1; M2 wins if r_sample > 1 and r_test ~ 1; otherwise no
decision (IRC-GAN, Table 1). "r_test ~ 1" means: the bootstrap CI of r_test contains 1. These are
ratios of *error rates*, the paper's form; the official `battle.py` prints ratios of accuracies and
calls the winner the other way round, so we report the raw error rates too and name the winner.
Denominators are floored at eps = 1e-3 and zero-error cases are flagged. Bootstrap: the real videos and the
samples are resampled (paired across the two discriminators) with a fixed seed.
"""
from __future__ import annotations

import numpy as np
import torch

from t2vbench.data.handle import open_dataset
from t2vbench.eval.protocol import PROTOCOL
from t2vbench.eval.samples import check_dataset, check_seed, generate_samples
from t2vbench.judge.model import as_float_video

IMPL = {"name": "t2vbench.gam_im2016", "version": "1"}


def scores(discriminator, batches) -> np.ndarray:
    """Run D over (videos float (B, T, C, H, W), tokens (B, L)) batches -> (N,) float64 raw outputs."""
    out = []
    with torch.no_grad():
        for videos, tokens in batches:
            s = discriminator(videos, tokens)
            s = torch.as_tensor(s).detach().float().cpu().reshape(-1)
            if len(s) != len(videos):
                raise ValueError(f"discriminator returned {len(s)} scores for {len(videos)} videos; it must "
                                 "return one real-probability or logit per video")
            out.append(s.numpy().astype(np.float64))
    return np.concatenate(out) if out else np.zeros(0)


def resolve_output(mode: str, *score_arrays) -> str:
    """'prob' or 'logit'. 'auto': probabilities iff every score lies in [0, 1] (say which in the result)."""
    if mode in ("prob", "logit"):
        return mode
    if mode != "auto":
        raise ValueError(f"discriminator output must be 'auto', 'prob' or 'logit', not {mode!r}")
    allv = np.concatenate([np.ravel(a) for a in score_arrays])
    return "prob" if len(allv) and allv.min() >= 0.0 and allv.max() <= 1.0 else "logit"


def said_real(s: np.ndarray, mode: str) -> np.ndarray:
    g = PROTOCOL["gam"]
    return s >= (g["threshold_prob"] if mode == "prob" else g["threshold_logit"])


def errors(real_scores: np.ndarray, sample_scores: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-item misclassification indicators: real called fake, sample called real."""
    return ~said_real(real_scores, mode), said_real(sample_scores, mode)


def _ratio(a, b, eps):
    """a / b with b floored at eps (adding eps instead would pull every ratio below 1, so two equal
    discriminators would never show r_test ~ 1)."""
    return a / np.maximum(b, eps)


def ratios(e1_test, e2_test, e1_on_s2, e2_on_s1, *, eps=None, n_boot=None, ci=None, seed=None) -> dict:
    """GAM ratios with the raw error rates and percentile bootstrap CIs, from per-item indicators
    (e1_test/e2_test over the same real videos; e1_on_s2/e2_on_s1 over samples of the same index)."""
    g = PROTOCOL["gam"]
    eps = g["eps"] if eps is None else eps
    n_boot = g["bootstrap"] if n_boot is None else n_boot
    ci = g["ci"] if ci is None else ci
    seed = g["bootstrap_seed"] if seed is None else seed
    e1t, e2t = np.asarray(e1_test, float), np.asarray(e2_test, float)
    e1s, e2s = np.asarray(e1_on_s2, float), np.asarray(e2_on_s1, float)
    rng = np.random.default_rng(seed)
    it = rng.integers(0, len(e1t), (n_boot, len(e1t)))
    js = rng.integers(0, len(e1s), (n_boot, len(e1s)))
    bt = _ratio(e1t[it].mean(1), e2t[it].mean(1), eps)
    bs = _ratio(e1s[js].mean(1), e2s[js].mean(1), eps)
    lo, hi = (1 - ci) / 2, 1 - (1 - ci) / 2
    out = {
        "err_d1_test": float(e1t.mean()), "err_d2_test": float(e2t.mean()),
        "err_d1_on_g2": float(e1s.mean()), "err_d2_on_g1": float(e2s.mean()),
        "r_test": float(_ratio(e1t.mean(), e2t.mean(), eps)),
        "r_sample": float(_ratio(e1s.mean(), e2s.mean(), eps)),
        "r_test_ci": [float(np.quantile(bt, lo)), float(np.quantile(bt, hi))],
        "r_sample_ci": [float(np.quantile(bs, lo)), float(np.quantile(bs, hi))],
        "zero_error": [k for k, v in (("d1_test", e1t), ("d2_test", e2t), ("d1_on_g2", e1s), ("d2_on_g1", e2s))
                       if v.sum() == 0],
    }
    test_ok = out["r_test_ci"][0] <= 1.0 <= out["r_test_ci"][1]
    if not test_ok:
        out["winner"] = "none"
        out["reason"] = "r_test is not ~1 (its CI excludes 1): the discriminators differ on real data"
    elif out["r_sample"] < 1:
        out["winner"], out["reason"] = "model1", "r_test ~ 1 and r_sample < 1"
    elif out["r_sample"] > 1:
        out["winner"], out["reason"] = "model2", "r_test ~ 1 and r_sample > 1"
    else:
        out["winner"], out["reason"] = "none", "r_sample = 1"
    out["r_sample_ci_excludes_1"] = not (out["r_sample_ci"][0] <= 1.0 <= out["r_sample_ci"][1])
    return out


def battle(model1: dict, model2: dict, dataset, *, seed: int | None = None, n_real: int | None = None,
           n_samples: int | None = None, batch_size: int = 64, output: str = "auto") -> dict:
    """GAM battle. A model is {'name', 'generate', 'discriminator'} (the `evaluate` signatures).
    Both generators get the same captions and per-sample seeds (a paired comparison). `batch_size` is
    the generation batch only: discriminators score in the protocol's batches (gam.d_batch_size).
    The test shards it reads are checked against the manifest first (`samples.check_dataset`)."""
    seed = PROTOCOL["eval_seed"] if seed is None else check_seed("the eval seed", seed)
    dataset = open_dataset(dataset)
    check_dataset(dataset)
    g = PROTOCOL["gam"]
    n_real, n_samples = n_real or g["n_real"], n_samples or g["n_samples"]
    test = dataset.test_columns(limit=n_real)
    real = test["video"][:n_real]
    real_tok = test["tokens"][:n_real]
    samples = {}
    for key, m in (("1", model1), ("2", model2)):
        samples[key], tok = generate_samples(m["generate"], dataset, n_samples, seed=seed,
                                             batch_size=batch_size, progress=False)
    bs = g["d_batch_size"]

    def batches(videos, tokens):
        for i in range(0, len(videos), bs):
            yield as_float_video(videos[i:i + bs]), torch.as_tensor(tokens[i:i + bs]).long()

    raw = {}
    for a, m in (("1", model1), ("2", model2)):
        other = "2" if a == "1" else "1"
        raw[a] = (scores(m["discriminator"], batches(real, real_tok)),
                  scores(m["discriminator"], batches(samples[other], tok)))
    modes = {a: resolve_output(output if output != "auto" else getattr(m["discriminator"], "output", "auto"), *raw[a])
             for a, m in (("1", model1), ("2", model2))}
    e1t, e1s = errors(*raw["1"], modes["1"])
    e2t, e2s = errors(*raw["2"], modes["2"])
    out = ratios(e1t, e2t, e1s, e2s)
    out.update({"model1": model1.get("name", "model1"), "model2": model2.get("name", "model2"),
                "n_real": int(len(real)), "n_samples": int(n_samples), "eval_seed": int(seed),
                "discriminator_output": modes, "metric_impl": IMPL, "protocol_version": PROTOCOL["version"]})
    winner = out["winner"]
    out["winner_name"] = {"model1": out["model1"], "model2": out["model2"]}.get(winner, "none")
    return out
