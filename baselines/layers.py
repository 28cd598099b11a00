"""Building blocks shared by the GAN baselines: DCGAN init, conv stacks, the per-channel LSTM memory.

Videos inside models are float tensors (B, T, C, H, W) in [-1, 1] (tanh range); the runner converts
from the dataset's [0, 1].
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al. 2016): conv weights N(0, 0.02), BN gamma N(1, 0.02), beta 0.

    Linear and LSTM layers keep PyTorch's defaults: the DCGAN recipe says nothing about them, and the
    uniform fan-in init keeps recurrent units stable.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d, nn.BatchNorm1d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def widths(base: int, n: int) -> list[int]:
    """DCGAN channel ladder: base, 2·base, 4·base, ... (n entries)."""
    return [base * 2 ** k for k in range(n)]


class ConvStack(nn.Module):
    """Strided k4 s2 p1 convolutions (2D or 3D), LeakyReLU 0.2, BN from the second layer (DCGAN D trunk)."""

    def __init__(self, in_ch: int, chans: list[int], dim: int = 2):
        super().__init__()
        Conv = nn.Conv3d if dim == 3 else nn.Conv2d
        BN = nn.BatchNorm3d if dim == 3 else nn.BatchNorm2d
        layers = []
        for k, out in enumerate(chans):
            layers.append(Conv(in_ch, out, 4, 2, 1, bias=k == 0))
            if k > 0:
                layers.append(BN(out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            in_ch = out
        self.net = nn.Sequential(*layers)
        self.out_channels = in_ch

    def forward(self, x):
        return self.net(x)


class TextJoin(nn.Module):
    """Reed-style conditioning of a D feature map: replicate the text code over the map, concatenate,
    1×1 conv with BN + LReLU. Works for 2D (B, C, H, W) and 3D (B, C, T, H, W) maps."""

    def __init__(self, feat_ch: int, d_text: int, dim: int = 2):
        super().__init__()
        Conv = nn.Conv3d if dim == 3 else nn.Conv2d
        BN = nn.BatchNorm3d if dim == 3 else nn.BatchNorm2d
        self.net = nn.Sequential(Conv(feat_ch + d_text, feat_ch, 1, bias=False), BN(feat_ch),
                                 nn.LeakyReLU(0.2, inplace=True))

    def forward(self, feat, text):
        shape = (text.shape[0], text.shape[1]) + (1,) * (feat.dim() - 2)
        t = text.reshape(shape).expand(-1, -1, *feat.shape[2:])
        return self.net(torch.cat([feat, t], 1))


class QHead(nn.Module):
    """InfoGAN-style introspection head: penultimate D features -> FC 256 -> text-code estimate."""

    def __init__(self, in_features: int, d_text: int, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.LeakyReLU(0.2, inplace=True),
                                 nn.Linear(hidden, d_text))

    def forward(self, feat):
        return self.net(feat)


class ChannelMemory(nn.Module):
    """IRC-GAN's LSTM memory unit M_i: one LSTM per channel over the flattened H·W map, fed the text code
    too, its state carried across frames; weights shared across channels.

    "Per channel" is run as ONE batched `nn.LSTM` whose batch is B × C and whose sequence is the T
    frames: the layer's input at frame t does not depend on this unit's output at frame t, so all
    frames of a layer can be computed first and the recurrence run as one fused call (no Python loop
    over channels or frames).
    """

    def __init__(self, hw: int, d_text: int):
        super().__init__()
        self.hw = hw
        self.lstm = nn.LSTM(hw + d_text, hw, batch_first=True)

    def forward(self, feat, text, T: int):
        # feat: (B*T, C, H, W) frames of one layer; text: (B, d_text)
        BT, C, H, W = feat.shape
        B = BT // T
        x = feat.reshape(B, T, C, H * W).permute(0, 2, 1, 3).reshape(B * C, T, H * W)
        t = text[:, None, None, :].expand(B, C, T, text.shape[1]).reshape(B * C, T, -1)
        out, _ = self.lstm(torch.cat([x, t.to(x.dtype)], -1))
        return out.reshape(B, C, T, H, W).permute(0, 2, 1, 3, 4).reshape(BT, C, H, W)


def bce_logits(logit, target: float):
    return F.binary_cross_entropy_with_logits(logit.float(), torch.full_like(logit.float(), target))
