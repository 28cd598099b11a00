"""Builders for the Moving MNIST families: smnist4, dmnist4 (four motions), smnist2, dmnist2 (two).

A builder resolves the user's options into a config (hashed, stored in every shard), then renders any
index range of a split from that config alone.
"""
from __future__ import annotations

import numpy as np

from t2vbench.data.builder import DatasetBuilder
from t2vbench.data.vocab import Vocabulary
from t2vbench.errors import UserError
from t2vbench.generators.mnist import captions as cap
from t2vbench.generators.mnist.trajectories import draw, valid_speeds

DEFAULT_SPEEDS = {4: (2, 4), 2: (3, 6)}  # px/frame; four motions need <= 4 for one bounce in 16 frames


class MovingMNIST(DatasetBuilder):
    name = "mnist"
    version = "1.0.0"
    digits_per_video = 1
    motions = 4

    def __init__(self):
        self._digits = None
        self._digits_path = None

    def __getstate__(self):  # worker processes reload the digits instead of receiving 50 MB by pickle
        state = self.__dict__.copy()
        state["_digits"] = None
        return state

    # -- config ----------------------------------------------------------------------------------
    def resolve(self, opts: dict) -> dict:
        opts = {k: v for k, v in opts.items() if v is not None}
        for key in ("kth_dir", "kth_split", "caption_style"):
            if key in opts:
                raise UserError(f"--{key.replace('_', '-')} does not apply to {self.name}")
        n, n_test = int(opts.get("n", 12000)), int(opts.get("n_test", 2048))
        if n <= 0:
            raise UserError(f"--n must be positive (got {n})")
        if n_test < 0:
            raise UserError(f"--n-test must be >= 0 (got {n_test})")
        frames, size, digit_size = int(opts.get("frames", 16)), int(opts.get("size", 64)), 28
        holdout = opts.get("holdout") or "none"
        if holdout not in ("none", "captions"):
            raise UserError(f"--holdout must be 'none' or 'captions' (got {holdout!r})")
        lo, hi = DEFAULT_SPEEDS[self.motions]
        seed = int(opts.get("seed", 0))
        if not 0 <= seed < 2 ** 63:
            raise UserError(f"--seed must be in 0 .. 2**63-1 (got {seed})")
        cfg = {
            "dataset": self.name, "n": n, "n_test": n_test, "seed": seed,
            "frames": frames, "size": size, "digit_size": digit_size, "channels": 1,
            "digits_per_video": self.digits_per_video, "motions": self.motions,
            "speed_min": int(opts.get("speed_min", lo)), "speed_max": int(opts.get("speed_max", hi)),
            "holdout": holdout, "compositing": "saturating_sum",
        }
        if size < digit_size + 4:
            raise UserError(f"--size {size} is too small for {digit_size}x{digit_size} digits; "
                            f"{_fix_for_no_speed({**cfg, 'size': digit_size + 3})}")
        if cfg["motions"] == 4 and frames < 6:
            raise UserError(f"--frames {frames} is too few for a four-motion clip (each leg needs 3 frames); use >= 6")
        if frames < 2:
            raise UserError(f"--frames must be >= 2 (got {frames})")
        if len(valid_speeds(cfg)) == 0:
            raise UserError(f"no speed in {cfg['speed_min']}..{cfg['speed_max']} px/frame fits "
                            f"{'exactly one bounce' if self.motions == 4 else 'a bounce'} in {frames} frames on a "
                            f"{size}px canvas; {_fix_for_no_speed(cfg)}")
        self._digits_path = opts.get("digits")
        cfg["digit_source_sha256"] = self.digits().sha256
        return cfg

    def digits(self):
        if self._digits is None:
            from t2vbench.digits import load_digits

            self._digits = load_digits(self._digits_path)
            self._digits_path = self._digits.location  # workers reload exactly these, silently
        return self._digits

    # -- builder protocol ------------------------------------------------------------------------
    def counts(self, cfg: dict) -> dict:
        return {"train": cfg["n"], "test": cfg["n_test"]}

    def prepare(self, cfg: dict) -> None:
        """Compile (or load from the cache) the kernel once, before any worker starts."""
        self.render(cfg, "test", 0, 1)

    def video_shape(self, cfg: dict) -> tuple:
        return (cfg["frames"], cfg["size"], cfg["size"])

    def source(self, cfg: dict) -> dict:
        return self.digits().provenance()

    def vocabulary(self, cfg: dict) -> list[str]:
        return cap.vocabulary(cfg["motions"], cfg["digits_per_video"])

    def label_names(self, cfg: dict) -> dict:
        return {"digit": [str(d) for d in range(10)], "motion": list(cap.MOTIONS[cfg["motions"]])}

    def semantics(self, cfg: dict) -> str:
        T, R = cfg["frames"], cfg["size"] - cfg["digit_size"]
        M = cfg["motions"]
        if M == 4:
            how = ("'X then Y': the digit moves in direction X at a constant integer speed, reflects off that "
                   "wall exactly once, then moves in direction Y until the clip ends; each leg shows at least 3 "
                   "frames; it never reaches the opposite wall. 'then' fixes the order of the two legs.")
        else:
            how = ("'X and Y': the digit moves back and forth along that axis at a constant integer speed with "
                   "exact reflections, first direction random; the first reflection comes after at least 2 steps "
                   "and at least 2 steps before the end, so every clip shows a turn.")
        if cfg["holdout"] == "captions":
            how += (f" Held out (--holdout captions): captions whose digit ids plus motion ids sum to a multiple of "
                    f"{M} never occur in train; test draws all captions and marks these in its 'heldout' column.")
            if M == 2 and cfg["digits_per_video"] == 1:
                how += " This is Sync-DRAW's split: each digit trains with one of its two motions."
        return (f"{how} Motion is along one axis only; the other coordinate is constant; the digit never leaves "
                f"the {cfg['size']}x{cfg['size']} canvas (free range {R}px, {T} frames, speeds "
                f"{cfg['speed_min']}..{cfg['speed_max']} px/frame). Two digits combine by saturating sum; slot "
                f"order is caption order. 'left/right' is the x (column) axis, 'up/down' the y (row) axis, 'up' = "
                f"towards row 0.")

    def captions_of(self, cfg: dict, labels: dict) -> list[str]:
        return cap.captions(np.asarray(labels["digit"], np.int64), np.asarray(labels["motion"], np.int64),
                            cfg["motions"])

    def render(self, cfg: dict, split: str, start: int, stop: int, out: np.ndarray | None = None) -> dict:
        """Columns of videos [start, stop); `out` (N, T, H, W) is an optional buffer to render into
        (the shard writer reuses one: fresh 100 MB allocations cost more in page faults than rendering)."""
        from t2vbench.generators.mnist.render import render

        digits = self.digits()
        images, labels = digits.split(split)
        p = draw(cfg, split, start, stop, labels)
        video = render(images, p["img"], p["pos"], cfg["size"], out)[..., None]
        caps = cap.captions(p["digit"].astype(np.int64), p["motion"].astype(np.int64), cfg["motions"])
        vocab = Vocabulary(self.vocabulary(cfg))
        columns = {
            "video": video,
            "caption": caps,
            "tokens": encode_captions(vocab, caps, cfg),
            "label/digit": p["digit"],
            "label/motion": p["motion"],
            "trajectory": p["pos"].astype(np.float32),
        }
        if "heldout" in p:
            columns["heldout"] = p["heldout"]
        return columns


def token_length(cfg: dict) -> int:
    """Words of the longest caption plus <eos>: 'digit d is moving a b c' per slot, 'and' between slots."""
    per_slot = 4 + max(len(m.split()) for m in cap.MOTIONS[cfg["motions"]])
    return per_slot * cfg["digits_per_video"] + (cfg["digits_per_video"] - 1) + 1


def encode_captions(vocab: Vocabulary, caps: list[str], cfg: dict) -> np.ndarray:
    length = token_length(cfg)
    table: dict[str, np.ndarray] = {}
    out = np.zeros((len(caps), length), np.int32)
    for i, c in enumerate(caps):
        row = table.get(c)
        if row is None:
            row = table[c] = vocab.encode(c, length)
        out[i] = row
    return out


class SMNIST4(MovingMNIST):
    name, digits_per_video, motions = "smnist4", 1, 4


class DMNIST4(MovingMNIST):
    name, digits_per_video, motions = "dmnist4", 2, 4


class SMNIST2(MovingMNIST):
    name, digits_per_video, motions = "smnist2", 1, 2


class DMNIST2(MovingMNIST):
    name, digits_per_video, motions = "dmnist2", 2, 2


def _fix_for_no_speed(cfg: dict) -> str:
    """What to change when no speed fits: more frames (every leg needs its steps) or a larger canvas."""
    if cfg["frames"] < 5:
        return "use --frames >= 5 (a turn needs at least 2 steps on each side)"
    for size in range(cfg["size"] + 1, 4 * cfg["size"] + 4 * cfg["frames"] * cfg["speed_max"] + 64):
        if len(valid_speeds({**cfg, "size": size})):
            return f"use --size >= {size} for {cfg['frames']} frames, or fewer --frames"
    return "use fewer --frames or a larger --size"
