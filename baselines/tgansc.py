"""TGANs-C (Pan et al., ACM MM 2017): Temporal GANs conditioning on Captions.

- generator: [z, caption code] -> 3D transposed convolutions (VGAN single stream) -> 16×64×64 video;
- video discriminator: 3D conv + caption, video-level matching-aware loss;
- frame discriminator: 2D conv per frame + caption, frame-level matching-aware loss;
- temporal coherence on the frame discriminator's features m_i = f_i - f_{i-1} of consecutive frames:
  "adversarial" (TGANs-C-A: a caption-conditioned motion discriminator, matching-aware) or
  "constraint" (TGANs-C-C: an L2 penalty on the synthetic video's m_i in the generator loss).
TGANs-info (IRC-GAN's ablation) is this model with Q heads on the video and frame discriminators and
the info loss, with the pre-trained frozen text encoder (configs/tgans-info.json).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from t2vbench.baselines.discriminators import FrameTextHead, FrameTrunk, VideoTextD
from t2vbench.baselines.gan import TextToVideoGAN, d_matching_loss, g_loss_nonsat
from t2vbench.baselines.layers import QHead, dcgan_init


class Generator3D(nn.Module):
    """(z_text, z) -> (B, 16, C, 64, 64): ConvT3d to 8ngf×(1,4,4), then k4 s2 p1 (T 1->16, S 4->64)."""

    def __init__(self, d_text: int, d_noise: int, channels: int, ngf: int):
        super().__init__()
        chans = [8 * ngf, 4 * ngf, 2 * ngf, ngf]
        layers = [nn.ConvTranspose3d(d_text + d_noise, chans[0], (1, 4, 4), bias=False),
                  nn.BatchNorm3d(chans[0]), nn.ReLU(True)]
        for cin, cout in zip(chans, chans[1:]):
            layers += [nn.ConvTranspose3d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose3d(chans[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z_text, z):
        code = torch.cat([z_text.to(z.dtype), z], 1)
        return self.net(code[:, :, None, None, None]).transpose(1, 2)  # (B, C, T, H, W) -> (B, T, C, H, W)


class TGANsC(TextToVideoGAN):
    def __init__(self, cfg: dict, vocab_size: int, channels: int):
        super().__init__(cfg, vocab_size, channels)
        m = cfg["model"]
        self.temporal = m["temporal"]
        if self.temporal not in ("adversarial", "constraint"):
            raise ValueError("model.temporal must be 'adversarial' (TGANs-C-A) or 'constraint' (TGANs-C-C)")
        self.lambda_info = float(m.get("lambda_info", 0.0))
        self.lambda_tc = float(m.get("lambda_tc", 1.0))
        self.q = bool(m.get("q_heads", False))
        if self.lambda_info > 0 and not self.q:
            raise ValueError("lambda_info > 0 needs q_heads = true")
        self.mismatch_weight = float(m.get("mismatch_weight", 0.5))
        self.generator = Generator3D(self.d_text, self.d_noise, channels, m["ngf"])
        trunk = FrameTrunk(channels, m["ndf"])
        Fc = trunk.out_channels
        ds = {"video": VideoTextD(channels, m["ndf"], self.d_text, self.q),
              "frame_trunk": trunk, "frame": FrameTextHead(Fc, self.d_text)}
        if self.temporal == "adversarial":
            ds["motion"] = FrameTextHead(Fc, self.d_text)
        if self.q:
            ds["frame_q"] = QHead(Fc * 16, self.d_text)
        self.discriminators = nn.ModuleDict(ds)
        dcgan_init(self.generator)
        dcgan_init(self.discriminators)

    def designated_logit(self, video, z_text):
        dv = self.discriminators["video"]
        return dv.logit(dv.features(video), z_text)

    @staticmethod
    def _motion(f):
        return f[:, 1:] - f[:, :-1]

    def d_loss(self, real, fake, c, c_mis):
        D = self.discriminators
        fv_real, fv_fake = D["video"].features(real), D["video"].features(fake)
        l_video = d_matching_loss(D["video"].logit(fv_real, c), D["video"].logit(fv_fake, c),
                                  D["video"].logit(fv_real, c_mis), self.mismatch_weight)
        ff_real, ff_fake = D["frame_trunk"](real), D["frame_trunk"](fake)
        l_frame = d_matching_loss(D["frame"](ff_real, c), D["frame"](ff_fake, c), D["frame"](ff_real, c_mis),
                                  self.mismatch_weight)
        loss = l_video + l_frame
        logs = {"d_video": float(l_video.detach()), "d_frame": float(l_frame.detach())}
        if self.temporal == "adversarial":
            m_real, m_fake = self._motion(ff_real), self._motion(ff_fake)
            l_motion = d_matching_loss(D["motion"](m_real, c), D["motion"](m_fake, c), D["motion"](m_real, c_mis),
                                       self.mismatch_weight)
            loss = loss + l_motion
            logs["d_motion"] = float(l_motion.detach())
        if self.q:
            target = c.detach().float()
            lq = F.mse_loss(D["video"].introspect(fv_real).float(), target) + \
                F.mse_loss(D["frame_q"](ff_real.mean(1)).float(), target)
            loss = loss + (self.lambda_info if self.lambda_info > 0 else 1.0) * lq
            logs["q_real"] = float(lq.detach())
        return loss, logs

    def g_loss(self, fake, c):
        D = self.discriminators
        fv = D["video"].features(fake)
        ff = D["frame_trunk"](fake)
        lv, lf = g_loss_nonsat(D["video"].logit(fv, c)), g_loss_nonsat(D["frame"](ff, c))
        loss = lv + lf
        logs = {"g_video": float(lv.detach()), "g_frame": float(lf.detach())}
        if self.temporal == "adversarial":
            lm = g_loss_nonsat(D["motion"](self._motion(ff), c))
            logs["g_motion"] = float(lm.detach())
        else:  # TGANs-C-C: squared distance of consecutive synthetic frames' features
            lm = self.lambda_tc * self._motion(ff).float().pow(2).mean()
            logs["g_coherence"] = float(lm.detach())
        loss = loss + lm
        if self.q and self.lambda_info > 0:
            target = c.float()
            info = F.mse_loss(D["video"].introspect(fv).float(), target) + \
                F.mse_loss(D["frame_q"](ff.mean(1)).float(), target)
            loss = loss + self.lambda_info * info
            logs["info"] = float(info.detach())
        return loss, logs
