"""Discriminators shared by IRC-GAN and TGANs-C: a 3D video-text D, a 2D per-frame trunk with frame,
motion and frame-difference heads, each optionally with a Q (introspection) head.

Each D splits into `features(video)` (the expensive conv trunk) and heads, so a real batch's trunk is
computed once and reused for its matched and mismatched captions.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from t2vbench.baselines.layers import ConvStack, QHead, TextJoin, widths


class VideoTextD(nn.Module):
    """3D conv ndf..8ndf (T 16->1, S 64->4), caption replicated over 1×4×4 and joined by a 1×1 conv,
    then a (1, 4, 4) conv to one logit: D1 of IRC-GAN, the video discriminator of TGANs-C."""

    def __init__(self, channels: int, ndf: int, d_text: int, q: bool):
        super().__init__()
        self.trunk = ConvStack(channels, widths(ndf, 4), dim=3)
        F = self.trunk.out_channels
        self.join = TextJoin(F, d_text, dim=3)
        self.out = nn.Conv3d(F, 1, (1, 4, 4))
        self.q = QHead(F * 16, d_text) if q else None

    def features(self, video):  # (B, T, C, H, W) -> (B, F, 1, 4, 4)
        return self.trunk(video.transpose(1, 2))

    def logit(self, feat, z_text):
        return self.out(self.join(feat, z_text)).reshape(-1)

    def introspect(self, feat):
        return self.q(feat)


class FrameTrunk(nn.Module):
    """Shared 2D conv ndf..8ndf over every frame: (B, T, C, 64, 64) -> (B, T, F, 4, 4)."""

    def __init__(self, channels: int, ndf: int):
        super().__init__()
        self.net = ConvStack(channels, widths(ndf, 4), dim=2)
        self.out_channels = self.net.out_channels

    def forward(self, video):
        B, T = video.shape[:2]
        f = self.net(video.reshape(B * T, *video.shape[2:]))
        return f.reshape(B, T, *f.shape[1:])


class FrameTextHead(nn.Module):
    """Caption-conditioned logit per 4×4 map (a frame, or a motion tensor between two frames);
    returns (B, n) logits, one per map."""

    def __init__(self, F: int, d_text: int):
        super().__init__()
        self.join = TextJoin(F, d_text, dim=2)
        self.out = nn.Conv2d(F, 1, 4)

    def forward(self, maps, z_text):  # maps (B, n, F, 4, 4)
        B, n = maps.shape[:2]
        t = z_text[:, None].expand(B, n, z_text.shape[1]).reshape(B * n, -1)
        return self.out(self.join(maps.reshape(B * n, *maps.shape[2:]), t)).reshape(B, n)


class FrameMotionD(nn.Module):
    """IRC-GAN's D2: unconditional, frame-wise. mode "features" (paper, section 2.3): the per-frame
    trunk output f_t and its difference f_t - f_{t-1} go through one 1×1 conv + (4×4) conv, logits
    averaged over t; mode "pixels": the trunk runs on pixel differences v_{t+1} - v_t
    (baselines_and_metrics.md table). Q reads the time-averaged trunk features."""

    def __init__(self, channels: int, ndf: int, d_text: int, q: bool, mode: str = "features"):
        super().__init__()
        if mode not in ("features", "pixels"):
            raise ValueError(f"D2 mode must be 'features' or 'pixels', not {mode!r}")
        self.mode = mode
        self.trunk = FrameTrunk(channels, ndf)
        F = self.trunk.out_channels
        cin = 2 * F if mode == "features" else F
        self.head = nn.Sequential(nn.Conv2d(cin, F, 1, bias=False), nn.BatchNorm2d(F), nn.LeakyReLU(0.2, True),
                                  nn.Conv2d(F, 1, 4))
        self.q = QHead(F * 16, d_text) if q else None

    def features(self, video):
        if self.mode == "pixels":
            video = video[:, 1:] - video[:, :-1]
        return self.trunk(video)

    def logit(self, f):
        if self.mode == "features":
            f = torch.cat([f[:, 1:], f[:, 1:] - f[:, :-1]], 2)
        B, n = f.shape[:2]
        return self.head(f.reshape(B * n, *f.shape[2:])).reshape(B, n).mean(1)

    def introspect(self, f):
        return self.q(f.mean(1))
