"""IRC-GAN (Deng et al., IJCAI 2019): Introspective Recurrent Convolutional GAN.

Reads like section 2 of the paper:
- 2.1 text encoder (baselines/text.py), stage 1: seq2seq auto-encoder + Q term, then frozen;
- 2.2 recurrent transconvolutional generator: an LSTM feature generator turns [z_text, z] into one
  feature vector per frame; five 2D transposed convolutions (shared over frames) decode each frame;
  after each of the first four (configurable), an LSTM memory unit runs per channel over the
  flattened map with z_text, its state carried across frames, and its output is concatenated back;
- 2.3 D1 (3D, text-conditioned, matching-aware) and D2 (2D, frame-wise with feature differences),
  both with Q heads for mutual-information introspection;
- 2.4 losses, eq. 5-13.
RCGAN-c is this model with lambda_info = 0 and no Q heads (configs/rcgan-c.json).

model.d2_text (quick budget only) adds TGANs-C's caption-conditioned frame head on D2's trunk: the
paper's only caption-conditioned D is the 3D D1, which at quick budgets reads the motion and never the
digit (research/probe_discriminators.py), so without it the quick samples ignore the digit.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from t2vbench.baselines.discriminators import FrameMotionD, FrameTextHead, VideoTextD
from t2vbench.baselines.gan import TextToVideoGAN, d_matching_loss, g_loss_nonsat
from t2vbench.baselines.layers import ChannelMemory, dcgan_init


class RecurrentTransconvGenerator(nn.Module):
    """(z_text (B, d_text), z (B, d_noise)) -> video (B, T, C, 64, 64) in [-1, 1]."""

    def __init__(self, d_text: int, d_noise: int, channels: int, ngf: int, feature_hidden: int,
                 memory_layers, frames: int = 16):
        super().__init__()
        self.frames = frames
        self.features = nn.LSTM(d_text + d_noise, feature_hidden, batch_first=True)  # G_f
        chans = [8 * ngf, 4 * ngf, 2 * ngf, ngf, channels]
        self.memory_layers = sorted(int(k) for k in memory_layers)
        if any(k not in (1, 2, 3, 4) for k in self.memory_layers):
            raise ValueError("memory_layers must be a subset of [1, 2, 3, 4] (after TransConv2D_1..4)")
        self.convs = nn.ModuleList()
        self.memories = nn.ModuleDict()
        cin = feature_hidden
        for k, cout in enumerate(chans, start=1):
            first = k == 1
            conv = nn.ConvTranspose2d(cin, cout, 4, 1 if first else 2, 0 if first else 1, bias=k == 5)
            block = [conv, nn.Tanh()] if k == 5 else [conv, nn.BatchNorm2d(cout), nn.ReLU(True)]
            self.convs.append(nn.Sequential(*block))
            if k in self.memory_layers:
                side = 4 * 2 ** (k - 1)
                self.memories[str(k)] = ChannelMemory(side * side, d_text)
                cout *= 2  # memory output concatenated in the channel dim
            cin = cout

    def forward(self, z_text, z):
        B, T = z.shape[0], self.frames
        code = torch.cat([z_text.to(z.dtype), z], 1)
        y, _ = self.features(code[:, None, :].expand(B, T, code.shape[1]))  # (B, T, d_f): y_1..y_T
        x = y.reshape(B * T, -1, 1, 1)
        for k, conv in enumerate(self.convs, start=1):
            x = conv(x)
            if str(k) in self.memories:
                x = torch.cat([x, self.memories[str(k)](x, z_text, T).to(x.dtype)], 1)
        return x.reshape(B, T, *x.shape[1:])


class IRCGAN(TextToVideoGAN):
    def __init__(self, cfg: dict, vocab_size: int, channels: int):
        super().__init__(cfg, vocab_size, channels)
        m = cfg["model"]
        self.lambda_info = float(m["lambda_info"])
        q = bool(m["q_heads"])
        if self.lambda_info > 0 and not q:
            raise ValueError("lambda_info > 0 needs q_heads = true")
        self.generator = RecurrentTransconvGenerator(self.d_text, self.d_noise, channels, m["ngf"],
                                                     m["feature_hidden"], m["memory_layers"], self.frames)
        self.discriminators = nn.ModuleDict({
            "d1": VideoTextD(channels, m["ndf"], self.d_text, q),
            "d2": FrameMotionD(channels, m["ndf"], self.d_text, q, m.get("d2_mode", "features")),
        })
        if m.get("d2_text"):  # [deviation] a caption-conditioned frame head on D2's trunk (TGANs-C's frame D)
            if m.get("d2_mode", "features") != "features":
                raise ValueError("model.d2_text needs model.d2_mode = features (the head reads D2's frame features)")
            self.discriminators["d2_text"] = FrameTextHead(self.discriminators["d2"].trunk.out_channels, self.d_text)
        self.mismatch_weight = float(m.get("mismatch_weight", 0.5))
        self.q = q
        dcgan_init(self.generator)
        dcgan_init(self.discriminators)

    def designated_logit(self, video, z_text):
        d1 = self.discriminators["d1"]
        return d1.logit(d1.features(video), z_text)

    def d_loss(self, real, fake, c, c_mis):
        d1, d2 = self.discriminators["d1"], self.discriminators["d2"]
        f1_real, f1_fake = d1.features(real), d1.features(fake)
        loss_d1 = d_matching_loss(d1.logit(f1_real, c), d1.logit(f1_fake, c), d1.logit(f1_real, c_mis),
                                  self.mismatch_weight)  # eq. 6
        f2_real, f2_fake = d2.features(real), d2.features(fake)
        loss_d2 = d_matching_loss(d2.logit(f2_real), d2.logit(f2_fake))  # eq. 7
        loss = loss_d1 + loss_d2
        logs = {"d1": float(loss_d1.detach()), "d2": float(loss_d2.detach())}
        if "d2_text" in self.discriminators:
            h = self.discriminators["d2_text"]
            l_text = d_matching_loss(h(f2_real, c).mean(1), h(f2_fake, c).mean(1), h(f2_real, c_mis).mean(1),
                                     self.mismatch_weight)
            loss = loss + l_text
            logs["d2_text"] = float(l_text.detach())
        if self.q:  # eq. 8-9: Q heads fitted on real pairs
            target = c.detach().float()
            lq = F.mse_loss(d1.introspect(f1_real).float(), target) + F.mse_loss(d2.introspect(f2_real).float(), target)
            loss = loss + (self.lambda_info if self.lambda_info > 0 else 1.0) * lq  # lambda 0: diagnostic only
            logs["q_real"] = float(lq.detach())
        return loss, logs

    def g_loss(self, fake, c):
        d1, d2 = self.discriminators["d1"], self.discriminators["d2"]
        f1, f2 = d1.features(fake), d2.features(fake)
        lg1, lg2 = g_loss_nonsat(d1.logit(f1, c)), g_loss_nonsat(d2.logit(f2))  # eq. 11-12
        loss = lg1 + lg2
        logs = {"g1": float(lg1.detach()), "g2": float(lg2.detach())}
        if "d2_text" in self.discriminators:
            lt = g_loss_nonsat(self.discriminators["d2_text"](f2, c).mean(1))
            loss = loss + lt
            logs["g2_text"] = float(lt.detach())
        if self.q and self.lambda_info > 0:  # eq. 13
            target = c.float()
            info = F.mse_loss(d1.introspect(f1).float(), target) + F.mse_loss(d2.introspect(f2).float(), target)
            loss = loss + self.lambda_info * info
            logs["info"] = float(info.detach())
        return loss, logs


__all__ = ["IRCGAN", "RecurrentTransconvGenerator"]
