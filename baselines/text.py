"""Caption encoders shared by the baselines, and IRC-GAN's stage-1 text pre-training.

TGANs-C and IRC-GAN both describe the same encoder: word embedding -> bi-LSTM (contextual word
states) -> LSTM sentence encoder whose final state is the caption code. IRC-GAN pre-trains it as a
seq2seq auto-encoder (Dai & Le 2015) plus a "Q-style" term that predicts the code from the video.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from t2vbench.baselines.layers import ConvStack, dcgan_init


def token_lengths(tokens: torch.Tensor) -> torch.Tensor:
    """Number of non-pad tokens per caption (pad id 0; captions end with <eos>), at least 1."""
    return (tokens != 0).sum(1).clamp_min(1)


class TextEncoder(nn.Module):
    """tokens (B, L) -> z_text (B, d_text).

    The code is rescaled to unit RMS (norm sqrt(d_text)) [choice]: the stage-1 Q term and the info
    loss are MSEs to z_text, and a free scale would let them be met by shrinking the code.
    With `whiten`, a frozen encoder's codes are ZCA-whitened over the meanings after stage 1
    (`fit_whitening`) [choice]: the auto-encoder spreads motions far apart but digits only ~0.1 RMS,
    and a generator fed such codes learns the motion and never the digit.
    """

    def __init__(self, vocab_size: int, emb: int = 128, bilstm: int = 128, hidden: int = 256,
                 d_text: int = 128, normalize: bool = True, whiten: bool = False):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, emb, padding_idx=0)
        self.bilstm = nn.LSTM(emb, bilstm, batch_first=True, bidirectional=True)
        self.encoder = nn.LSTM(2 * bilstm, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, d_text)
        self.d_text = d_text
        self.normalize = normalize
        if whiten:
            self.register_buffer("white_mean", torch.zeros(d_text))
            self.register_buffer("white_map", torch.eye(d_text))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        lengths = token_lengths(tokens).cpu()
        x = self.embed(tokens)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        ctx, _ = self.bilstm(packed)  # contextual word states, still packed
        _, (h, _) = self.encoder(ctx)  # h: state after each caption's last real token
        z = self.fc(h[-1])
        if self.normalize:
            z = z * (math.sqrt(self.d_text) / z.norm(dim=1, keepdim=True).clamp_min(1e-6))
        if hasattr(self, "white_map"):
            z = (z - self.white_mean) @ self.white_map
        return z

    @torch.no_grad()
    def fit_whitening(self, tokens: torch.Tensor, keys, floor: float = 1e-4) -> None:
        """ZCA map from the mean code of each meaning (each meaning weighs the same, however common):
        afterwards every direction the meanings span has unit variance. Eigenvalues below `floor` x the
        largest are raised to it, so directions that carry no meaning are not blown up."""
        if not hasattr(self, "white_map"):
            raise RuntimeError("fit_whitening needs an encoder built with whiten=True")
        self.white_mean.zero_()
        self.white_map.copy_(torch.eye(self.d_text, device=self.white_map.device))
        was = self.training
        self.eval()
        z = self(tokens).double()
        self.train(was)
        cent = meaning_centroids(z, keys)
        mean = cent.mean(0)
        cov = (cent - mean).T @ (cent - mean) / max(1, len(cent) - 1)
        val, vec = torch.linalg.eigh(cov)
        val = val.clamp_min(floor * float(val.max()))
        self.white_mean.copy_(mean.float())
        self.white_map.copy_((vec @ torch.diag(val.rsqrt()) @ vec.T).float())


class TextDecoder(nn.Module):
    """Stage-1 seq2seq decoder: reconstructs the caption from z_text with teacher forcing."""

    def __init__(self, vocab_size: int, d_text: int, emb: int = 128, hidden: int = 256):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, emb, padding_idx=0)
        self.init = nn.Linear(d_text, 2 * hidden)
        self.lstm = nn.LSTM(emb + d_text, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, z: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of reconstructing `tokens` (pad ignored) from z."""
        B, L = tokens.shape
        bos = torch.ones(B, 1, dtype=tokens.dtype, device=tokens.device)  # <bos> = 1
        inp = torch.cat([bos, tokens[:, :-1]], 1)
        h0, c0 = torch.tanh(self.init(z)).chunk(2, dim=1)
        x = torch.cat([self.embed(inp), z[:, None, :].expand(B, L, z.shape[1])], -1)
        out, _ = self.lstm(x, (h0[None].contiguous(), c0[None].contiguous()))
        return F.cross_entropy(self.out(out).reshape(B * L, -1), tokens.reshape(-1), ignore_index=0)


class VideoQ(nn.Module):
    """Stage-1 introspective network: a small 3D conv net predicting z_text from a real video."""

    def __init__(self, channels: int, d_text: int, width: int = 32):
        super().__init__()
        self.trunk = ConvStack(channels, [width, 2 * width, 4 * width, 8 * width], dim=3)
        self.fc = nn.Linear(8 * width, d_text)
        dcgan_init(self)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        f = self.trunk(video.transpose(1, 2))  # (B, C, T, H, W) -> (B, 8w, 1, 4, 4)
        return self.fc(f.mean((2, 3, 4)))


class TextPretrainer(nn.Module):
    """IRC-GAN stage 1: loss = CE(auto-encoder reconstruction) + q_weight · MSE(Q(video), z_text).

    Only the encoder survives stage 1; decoder and Q are thrown away (paper, section 2.4).
    """

    def __init__(self, encoder: TextEncoder, vocab_size: int, channels: int, cfg: dict):
        super().__init__()
        self.encoder = encoder
        self.decoder = TextDecoder(vocab_size, encoder.d_text, cfg.get("emb", 128), cfg.get("hidden", 256))
        self.q_weight = float(cfg.get("q_weight", 0.1))
        self.q = VideoQ(channels, encoder.d_text, cfg.get("q_width", 32)) if self.q_weight > 0 else None

    def loss(self, video: torch.Tensor, tokens: torch.Tensor):
        z = self.encoder(tokens)
        rec = self.decoder(z, tokens)
        logs = {"ae_ce": rec.item()}
        loss = rec
        if self.q is not None:
            # plain MSE to the unit-RMS code, weighted low [choice]: dividing by the codes' batch variance
            # (an earlier choice) let the encoder drop what the small Q cannot read yet, the digit: codes
            # of captions differing only in the digit ended 0.006 RMS apart, against 0.5 for two motions
            q = F.mse_loss(self.q(video).float(), z.float())
            loss = loss + self.q_weight * q
            logs["ae_q"] = q.item()
        return loss, logs


def meaning_centroids(z: torch.Tensor, keys) -> torch.Tensor:
    """Mean code of each caption meaning (M, d), in the order of the sorted meaning keys."""
    keys = torch.as_tensor(keys, device=z.device)
    return torch.stack([z[keys == k].mean(0) for k in torch.unique(keys)])


@torch.no_grad()
def code_separation(encoder: TextEncoder, tokens: torch.Tensor, keys) -> dict:
    """How far apart the codes of different meanings are: the smallest and the mean distance between
    per-meaning mean codes, in units of the code's RMS (codes are unit RMS: 0 = two meanings the
    generator cannot tell apart). Logged after stage 1; a collapsed encoder dooms stage 2."""
    was = encoder.training
    encoder.eval()
    z = encoder(tokens).float()
    encoder.train(was)
    cent = meaning_centroids(z, keys)
    if len(cent) < 2:
        return {"code_min_dist": float("nan"), "code_mean_dist": float("nan")}
    dist = torch.cdist(cent, cent) / math.sqrt(z.shape[1])
    off = dist[~torch.eye(len(cent), dtype=torch.bool)]
    return {"code_min_dist": round(float(off.min()), 4), "code_mean_dist": round(float(off.mean()), 4)}
