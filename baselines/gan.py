"""What every GAN baseline shares: `TextToVideoGAN` (the runner's model interface,
`t2vbench.train.model.TextToVideoModel`), matching-aware losses, mismatched-caption sampling and THE
training step (one D update, one G update) that all of them reuse.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from t2vbench.baselines.layers import bce_logits
from t2vbench.baselines.text import TextEncoder, TextPretrainer, code_separation
from t2vbench.errors import UserError
from t2vbench.train.model import Schedule, TrainBatch

# ---------------------------------------------------------------- mismatched captions

def meaning_keys(labels: dict | None, captions=None) -> np.ndarray:
    """One integer per video naming what its caption *means*: the multiset of per-slot label tuples.

    Two-digit captions list the same (digit, motion) pairs in either order, so slot order is
    ignored. Without labels (a dataset that has none) the normalised caption string is the meaning.
    """
    if labels:
        names = sorted(labels)
        cols = [np.asarray(labels[n]).astype(np.int64) for n in names]
        cols = [c[:, None] if c.ndim == 1 else c for c in cols]
        slot = np.zeros_like(cols[0])
        for c in cols:  # one code per slot: mixed radix over label names
            slot = slot * (int(c.max()) + 2) + (c + 1)
        slot = np.sort(slot, axis=1)  # unordered multiset of slots
        _, inv = np.unique(slot, axis=0, return_inverse=True)
        return inv.reshape(-1).astype(np.int64)
    if captions is None:
        raise ValueError("meaning_keys needs labels or captions")
    norm = [" ".join(c.lower().split()) for c in captions]
    _, inv = np.unique(np.asarray(norm, dtype=object).astype(str), return_inverse=True)
    return inv.astype(np.int64)


def one_attribute_swaps(meaning: tuple, attr: int, values, known: dict) -> list:
    """Keys (in `known`: sorted slot tuples -> key) of the meanings that differ from `meaning` in
    attribute `attr` of exactly one slot."""
    out = set()
    for s, slot in enumerate(meaning):
        for v in values:
            if v != slot[attr]:
                changed = list(meaning)
                changed[s] = slot[:attr] + (v,) + slot[attr + 1:]
                key = known.get(tuple(sorted(changed)))
                if key is not None:
                    out.add(key)
    return sorted(out)


class MismatchSampler:
    """For each video, a random *other-meaning* caption from the training set (Reed et al. 2016).

    A public IRC-GAN port discards the result of its exclusion step, so a video could be paired with
    its own caption as a "mismatch"; here a draw is rejected whenever its meaning key equals the
    video's, and redrawn (vectorised, from a caller-given generator so it is reproducible).

    Near misses: with `labels`, `sample(..., near=p)` draws a share p of the mismatches from the
    meanings that differ in exactly one attribute of one slot ("digit 5 is moving up then down" for
    "digit 3 is moving up then down"). A uniform draw over MNIST-4's 39 other meanings differs in
    the motion 30 times out of 39, so a discriminator that checks the motion alone rejects 77% of
    mismatches and never has to read the digit; near misses make every attribute pay.
    """

    def __init__(self, keys: np.ndarray, labels: dict | None = None):
        self.keys = torch.as_tensor(np.asarray(keys), dtype=torch.long)
        if len(torch.unique(self.keys)) < 2:
            raise UserError("the training split has captions of a single meaning; matching-aware losses need "
                            "at least two different captions (make a dataset with more videos)")
        self.neighbours = self.members = None
        if labels:
            self._near_tables(labels)

    def _near_tables(self, labels: dict) -> None:
        keys = self.keys.numpy()
        cols = [np.asarray(labels[n]).astype(np.int64) for n in sorted(labels)]
        slots = np.stack([c[:, None] if c.ndim == 1 else c for c in cols], axis=-1)  # (N, S, A)
        first = np.unique(keys, return_index=True)[1]
        meaning = {tuple(sorted(map(tuple, slots[i].tolist()))): int(keys[i]) for i in first}
        values = [np.unique(slots[..., a]).tolist() for a in range(slots.shape[-1])]
        n_keys = int(keys.max()) + 1
        near = [set() for _ in range(n_keys)]
        for combo, k in meaning.items():
            for a, vals in enumerate(values):
                near[k].update(one_attribute_swaps(combo, a, vals, meaning))
            near[k].discard(k)
        width = max(1, max(len(n) for n in near))
        self.neighbours = torch.full((n_keys, width), -1, dtype=torch.long)
        for k, n in enumerate(near):
            self.neighbours[k, :len(n)] = torch.tensor(sorted(n), dtype=torch.long)
        self.n_neighbours = (self.neighbours >= 0).sum(1)
        order = torch.argsort(self.keys, stable=True)  # videos grouped by meaning
        counts = torch.bincount(self.keys, minlength=n_keys)
        self.members, self.offsets, self.counts = order, torch.cumsum(counts, 0) - counts, counts

    def sample(self, index: torch.Tensor, generator: torch.Generator, near: float = 0.0) -> torch.Tensor:
        index = torch.as_tensor(index, dtype=torch.long)
        n = len(self.keys)
        own = self.keys[index]
        out = torch.randint(n, index.shape, generator=generator)
        for _ in range(1000):
            bad = self.keys[out] == own
            if not bad.any():
                break
            out[bad] = torch.randint(n, (int(bad.sum()),), generator=generator)
        else:
            raise RuntimeError("mismatch sampling did not converge")  # only if one meaning dominates totally
        if near > 0:
            if self.neighbours is None:
                raise UserError("near-miss mismatches need the dataset's labels; set train.near_mismatch 0 "
                                "for a dataset without labels")
            u = torch.rand(index.shape, generator=generator)
            pick = torch.rand(index.shape, generator=generator)
            which = torch.rand(index.shape, generator=generator)
            have = self.n_neighbours[own]
            use = (u < near) & (have > 0)
            j = (pick * have).long().clamp_max(have.clamp_min(1) - 1)
            other = self.neighbours[own, j].clamp_min(0)
            member = self.offsets[other] + (which * self.counts[other]).long().clamp_max(self.counts[other] - 1)
            out = torch.where(use, self.members[member], out)
        return out


# ---------------------------------------------------------------- losses

def d_matching_loss(real, fake, mismatched=None, mismatch_weight: float = 0.5):
    """Matching-aware D loss: real-matched -> 1; synthetic and real-mismatched -> 0.

    With `mismatched` the two negative terms are averaged (Reed-style, `mismatch_weight` 0.5)
    [choice]; without it, the plain real/fake loss.
    """
    loss = bce_logits(real, 1.0)
    if mismatched is None:
        return loss + bce_logits(fake, 0.0)
    return loss + (1 - mismatch_weight) * bce_logits(fake, 0.0) + mismatch_weight * bce_logits(mismatched, 0.0)


def g_loss_nonsat(fake):
    """Non-saturating generator loss -log D(G(z))."""
    return bce_logits(fake, 1.0)


# ---------------------------------------------------------------- the model

class TextToVideoGAN(nn.Module):
    """Base of the GAN baselines, a `TextToVideoModel`. Subclasses build `self.generator` ((z_text, z) ->
    video in [-1, 1], (B, T, C, H, W)) and `self.discriminators` (a ModuleDict), and define
    `designated_logit`, `d_loss` and `g_loss`.

    Text modes (cfg.text.mode) [choice]:
    - "pretrained": stage-1 seq2seq + Q pre-training, then frozen (IRC-GAN, its ablations, TGANs-info:
      the info loss needs a fixed target);
    - "joint": trained from scratch by the discriminator losses (TGANs-C).
    """

    frames, size = 16, 64

    def __init__(self, cfg: dict, vocab_size: int, channels: int):
        super().__init__()
        self.cfg = cfg
        self.channels = channels
        t = cfg["text"]
        self.text_mode = t.get("mode", "joint")
        if self.text_mode not in ("joint", "pretrained"):
            raise UserError(f"text.mode must be 'joint' or 'pretrained', not {self.text_mode!r}")
        self.text = TextEncoder(vocab_size, t["emb"], t["bilstm"], t["hidden"], t["d_text"],
                                t.get("normalize", True), bool(t.get("whiten", False)))
        self.d_text = t["d_text"]
        self.d_noise = int(cfg["model"]["d_noise"])
        self.vocab_size = vocab_size

    # -- text
    def pretrainer(self):
        """The stage-1 module to train before the GAN, or None."""
        if self.text_mode != "pretrained":
            return None
        return TextPretrainer(self.text, self.vocab_size, self.channels, self.cfg["text"])

    def pretraining(self):
        """Stage 1 (text.mode "pretrained"): the text encoder, pre-trained then frozen; else None."""
        return TextPretraining(self) if self.text_mode == "pretrained" else None

    def freeze_text(self):
        self.text.requires_grad_(False)
        self.text.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.text_mode == "pretrained":
            self.text.eval()  # frozen: no dropout/BN anyway, but keep it explicit
        return self

    def encode(self, tokens):
        if self.text_mode == "pretrained":
            with torch.no_grad():
                return self.text(tokens)
        return self.text(tokens)

    # -- parameters per optimiser
    def g_parameters(self):
        return list(self.generator.parameters())

    def d_parameters(self):
        ps = list(self.discriminators.parameters())
        if self.text_mode == "joint":
            ps += list(self.text.parameters())
        return ps

    def optimizers(self) -> dict:
        """Adam for G ("g") and for D and a jointly trained text encoder ("d"), from the train config."""
        t = self.cfg["train"]
        betas = tuple(t["betas"])
        return {"g": torch.optim.Adam(self.g_parameters(), lr=float(t["lr_g"]), betas=betas),
                "d": torch.optim.Adam(self.d_parameters(), lr=float(t["lr_d"]), betas=betas)}

    # -- training
    def train_step(self, batch: TrainBatch, optimizers: dict, *, scalers: dict | None = None,
                   reduce_grads=None) -> dict:
        """`gan_step` with the step's noise drawn from `batch.generator` (after the runner's draws)."""
        z = self.noise(len(batch.video), batch.generator, batch.video.device)
        return gan_step(self, batch.video, batch.tokens, batch.mismatched, z, optimizers["d"], optimizers["g"],
                        amp=scalers is not None, scalers=(scalers["d"], scalers["g"]) if scalers else (None, None),
                        reduce_grads=reduce_grads)

    @torch.no_grad()
    def finish_training(self, tokens, generator) -> None:
        """Re-estimate the generator's BatchNorm statistics as exact averages over
        `train.bn_recalibrate_batches` fresh batches of `train.batch` captions.

        Samples and evaluation run G in eval mode so that a sample does not depend on its batch; the
        running averages kept during training lag the generator, so they are recomputed at the end.
        """
        n_batches, batch = int(self.cfg["train"].get("bn_recalibrate_batches", 0)), int(self.cfg["train"]["batch"])
        bns = [m for m in self.generator.modules() if isinstance(m, _BatchNorm)]
        if not bns or n_batches <= 0:
            return
        device = next(self.parameters()).device
        momenta = [m.momentum for m in bns]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        self.generator.train()
        for _ in range(n_batches):
            idx = torch.randint(len(tokens), (batch,), generator=generator)
            self.generator(self.encode(tokens[idx].to(device)), self.noise(batch, generator, device))
        for m, mom in zip(bns, momenta):
            m.momentum = mom

    # -- sampling
    def noise(self, n: int, generator=None, device=None):
        return torch.randn(n, self.d_noise, generator=generator).to(device or "cpu")

    def noise_from_seeds(self, seeds, device=None):
        """Per-sample noise from per-sample seeds: samples do not depend on the batch they are in."""
        zs = [torch.randn(self.d_noise, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
        return torch.stack(zs).to(device or "cpu")

    @torch.no_grad()
    def generate(self, tokens, seeds):
        """tokens (B, L), seeds (B,) -> float videos (B, T, C, H, W) in [0, 1] (eval mode: batch-free)."""
        was = self.training
        self.eval()
        dev = next(self.parameters()).device
        tokens = torch.as_tensor(tokens, dtype=torch.long, device=dev)
        video = self.generator(self.text(tokens), self.noise_from_seeds(seeds, dev))
        self.train(was)
        return ((video.float() + 1) / 2).clamp_(0, 1).cpu()

    @torch.no_grad()
    def video_text_logit(self, video01, tokens):
        """GAM's designated video-text discriminator on [0, 1] videos -> logits (B,).

        D's BatchNorm uses the batch's own statistics, as in every training step (which shows D batches
        that are all real or all synthetic); its running averages mix real and synthetic batches and
        are not what D was trained with: in eval mode a trained D called ~90% of real test videos fake.
        So scores depend on the batch: pass homogeneous batches (all real, or all samples), as GAM does.
        The running statistics are left untouched.
        """
        from torch.nn.modules.batchnorm import _BatchNorm

        was = self.training
        dev = next(self.parameters()).device
        bns = [m for m in self.discriminators.modules() if isinstance(m, _BatchNorm)]
        saved = [{k: v.clone() for k, v in m.state_dict().items()} for m in bns]
        self.eval()
        self.discriminators.train()
        try:
            v = torch.as_tensor(video01, device=dev).float() * 2 - 1
            logit = self.designated_logit(v, self.text(torch.as_tensor(tokens, dtype=torch.long, device=dev)))
        finally:
            for m, st in zip(bns, saved):
                m.load_state_dict(st)
            self.train(was)
        return logit.float().cpu()

    def designated_logit(self, video, z_text):  # pragma: no cover - abstract
        raise NotImplementedError

    def d_loss(self, real, fake, c, c_mis):  # pragma: no cover - abstract
        raise NotImplementedError

    def g_loss(self, fake, c):  # pragma: no cover - abstract
        raise NotImplementedError


class TextPretraining:
    """Stage 1 of a GAN with text.mode "pretrained" (IRC-GAN, its ablations, TGANs-info): the text
    encoder trained as a seq2seq auto-encoder with a Q term (`TextPretrainer`), optionally whitened
    (text.whiten), then frozen. Only the encoder survives it (`text_encoder.pt`)."""

    name = "text_encoder"

    def __init__(self, model: TextToVideoGAN):
        self.model = model
        self.cfg = model.cfg["text"]["pretrain"]

    def module(self):
        return self.model.pretrainer()

    def schedule(self, n_train: int, world: int) -> Schedule:
        tp = self.cfg
        if tp.get("iters"):
            iters = int(tp["iters"])
        else:
            iters = max(1, math.ceil(float(tp["epochs"]) * n_train / (tp["batch"] * world)))
        return Schedule(iters, int(tp["batch"]), float(tp["lr"]))

    def finish(self, tokens, keys):
        text = self.model.text
        if self.model.cfg["text"].get("whiten"):
            text.fit_whitening(tokens, keys)
        sep = code_separation(text, tokens, keys)
        lines = [f"stage 1: caption codes of different meanings are {sep['code_min_dist']:.3f} apart at the least "
                 f"(mean {sep['code_mean_dist']:.3f}, in code RMS units)"]
        if not sep["code_min_dist"] > 0.05:
            lines.append("warning: stage 1 left two caption meanings with nearly the same code; the generator "
                         "cannot tell them apart (lower text.q_weight or raise text.pretrain.iters)")
        return sep, lines

    def state_dict(self) -> dict:
        return self.model.text.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.text.load_state_dict(state)

    def freeze(self) -> None:
        self.model.freeze_text()


# ---------------------------------------------------------------- the shared training step

def _backward_step(loss, params, opt, scaler, reduce_grads):
    opt.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
    else:
        loss.backward()
    if reduce_grads is not None:
        reduce_grads(params)
    if scaler is not None:
        scaler.step(opt)
        scaler.update()
    else:
        opt.step()


def gan_step(model: TextToVideoGAN, real, tokens, mis_tokens, z, opt_d, opt_g, *, amp: bool = False,
             scalers=(None, None), reduce_grads=None) -> dict:
    """One GAN iteration shared by every GAN baseline: encode captions, generate once, update D on
    (real-matched, synthetic, real-mismatched), then update G against the updated D.

    `real` is (B, T, C, H, W) in [-1, 1]; `reduce_grads(params)` averages gradients across DDP
    ranks (None in one process). Returns float logs.
    """
    dev_type = real.device.type
    autocast = torch.autocast(dev_type, dtype=torch.float16) if amp and dev_type == "cuda" \
        else contextlib.nullcontext()
    c_d = model.encode(tokens)
    c_mis = model.encode(mis_tokens)
    c_g = c_d.detach()
    with autocast:
        fake = model.generator(c_g, z)

    d_params = model.d_parameters()
    for p in model.discriminators.parameters():
        p.requires_grad_(True)
    with autocast:
        d_loss, logs = model.d_loss(real, fake.detach(), c_d, c_mis)
    _backward_step(d_loss, d_params, opt_d, scalers[0], reduce_grads)

    for p in model.discriminators.parameters():  # G step: no D gradients to compute
        p.requires_grad_(False)
    with autocast:
        g_loss, g_logs = model.g_loss(fake, c_g)
    _backward_step(g_loss, model.g_parameters(), opt_g, scalers[1], reduce_grads)
    for p in model.discriminators.parameters():
        p.requires_grad_(True)

    logs.update(g_logs)
    logs["d_loss"] = float(d_loss.detach())
    logs["g_loss"] = float(g_loss.detach())
    return logs
