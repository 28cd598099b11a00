"""The judge: a small video network that reads back what a caption promises.

One judge per dataset family, trained on that family's real train split (see `train.py`). It
reads a caption's attributes as a *multiset* of slots: for every cell of the attribute product
(MNIST: digit x motion, 40 or 20 cells; KTH-4: action x direction) it predicts how many slots hold
that cell (0..S). Two-digit videos do not say which digit is "slot 1", so a multiset is the only
honest target; decoding picks the most probable multiset of exactly S slots.

    frames (B, T, C, H, W) --FrameEncoder (6 conv, stride 8)--> maps (B, T, F, H/8, W/8)
      |-- spatial max --> frame features (B, T, F)                  [FD-frame, FD2vid]
      '-- 1x1 conv --> evidence map per value of the first attribute (digit / action), (B, T, K, h, w)
            |-- [max, mean] per frame --> per-frame counts of each value   [temporal consistency]
            '-- ValueHead on each value's map through time (shared 3D conv) --> counts of that
                value's motions (B, K, M, S + 1) = cell counts; hidden max/mean over values
                                                                     -> video features [FD-video]

Decoding picks the most probable multiset from the cell counts; judges with arch["frame_vote"] > 0
(the single-digit ones) add the summed per-frame counts as a vote; judges with crop readers
(arch["reader_width"], the two-digit ones, `reader.py`) add the reading of each digit's image,
tracked through the clip and cleared of the other digit (digits that never stand apart are followed
as two layers, the reading weighted by how far apart they stood; several crop readers, trained apart,
add their log-probabilities).

The frame features feed FD-frame and FD2vid, the video features FD-video. Weights ship as float16
(computation is float32) so every judge stays well under 1 MB.
"""
from __future__ import annotations

import hashlib
import io
import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from t2vbench.errors import UserError
from t2vbench.judge import reader as crop_reader

# Judge file formats (a file records the oldest that holds it, `format_of`): 1 the 4-conv encoder;
# 2 arch["encoder"] picks the frame encoder; 3 arch["frame_vote"] adds the frames' vote to decoding;
# 4 arch["reader_width"] adds the locator and crop reader (`reader.py`); 5 arch["reader_layer_gate"] and
# arch["reader_vote_doubling"] change how it reads (two layers, a distance-scaled vote), not its weights;
# 6 arch["reader_count"] > 1 adds more crop readers (`extra_readers`), whose log-probabilities add up.
READABLE_FORMATS = (1, 2, 3, 4, 5, 6)
SHIPPED_DIR = Path(__file__).resolve().parent / "weights"
SHIPPED_META = SHIPPED_DIR / "judges.json"


class FrameEncoder(nn.Module):
    """Per-frame CNN, 64x64 -> 8x8 maps. Encoder 1 (format-1 judges): 4 convs, receptive field 32 px,
    enough to see a whole 28 px digit. Encoder 2: one more 3x3 conv at 16x16 and one at 8x8 (receptive
    field 56 px, ~9.7M multiply-adds per 64x64 frame instead of ~5.0M): it reads MNIST digits at
    ~99% per frame instead of ~97.5%."""

    def __init__(self, in_channels: int, width: int, version: int = 1):
        super().__init__()
        if version == 1:
            chans = [in_channels, width // 4, width // 2, width, width]
            shapes = [(4, 2), (3, 2), (3, 2), (3, 1)]  # (kernel, stride)
        elif version == 2:
            chans = [in_channels, width // 4, width // 2, width // 2, width, width, width]
            shapes = [(4, 2), (3, 2), (3, 1), (3, 2), (3, 1), (3, 1)]
        else:
            raise ValueError(f"unknown frame encoder version {version}")
        self.convs = nn.ModuleList(nn.Conv2d(a, b, k, s, 1, bias=False)
                                   for a, b, (k, s) in zip(chans, chans[1:], shapes))
        self.norms = nn.ModuleList(nn.BatchNorm2d(b) for b in chans[1:])

    def forward(self, x):
        for conv, norm in zip(self.convs, self.norms):
            x = F.relu(norm(conv(x)))
        return x


class ValueHead(nn.Module):
    """Reads one value's evidence map through time, (1, T, h, w) -> the counts of every combination
    of the remaining attributes (MNIST: the 4 or 2 motions of *this* digit). Shared by all values, so
    the binding of a digit to its motion is structural: a digit's motion is read from its own map."""

    def __init__(self, frames: int, hidden: int, n_out: int, slots: int):
        super().__init__()
        self.c1 = nn.Conv3d(1, 16, 3, 1, 1, bias=False)
        self.n1 = nn.BatchNorm3d(16)
        self.c2 = nn.Conv3d(16, 32, 3, 2, 1, bias=False)
        self.n2 = nn.BatchNorm3d(32)
        self.fc = nn.Linear(32 * ((frames + 1) // 2), hidden)
        self.out = nn.Linear(hidden, n_out * (slots + 1))

    def forward(self, maps):  # (M, 1, T, h, w)
        x = F.relu(self.n1(self.c1(maps)))
        x = F.relu(self.n2(self.c2(x)))
        h = F.relu(self.fc(x.amax(dim=(3, 4)).flatten(1)))  # time stays ordered: "left then right"
        return h, self.out(h)


class Judge(nn.Module):
    """`arch`: in_channels, frames, size, width, hidden, encoder (the FrameEncoder version, 1 if absent);
    `labels`: {attribute: [value names]} in caption order of attributes (the first is read per frame);
    `slots`: S (digits per video). Optional crop reader (`reader.py`): reader_width, reader_radius
    (alignment search, px), reader_match (largest match cost of a frame that is kept), reader_vote
    (weight of its vote in decoding), digit_size (crop side); format 5: reader_layer_gate/_speed/_beam
    (digits never standing apart are followed as two layers) and reader_vote_pivot/_doubling (the vote
    scaled by how far apart the digits stood), see `reader.read_digits`; format 6: reader_count, the
    number of crop readers (trained apart, from their own draws; they read as a product of experts)."""

    def __init__(self, arch: dict, labels: dict, slots: int):
        super().__init__()
        if slots not in (1, 2):
            raise ValueError(f"judges read 1 or 2 slots per video, not {slots}")
        self.arch, self.labels, self.slots = dict(arch), {k: list(v) for k, v in labels.items()}, int(slots)
        self.attributes = list(self.labels)
        self.sizes = [len(v) for v in self.labels.values()]
        self.n_cells = int(np.prod(self.sizes))
        K, rest = self.sizes[0], self.n_cells // self.sizes[0]
        self.encoder = FrameEncoder(arch["in_channels"], arch["width"], int(arch.get("encoder", 1)))
        self.evidence = nn.Conv2d(arch["width"], K, 1)  # where each value (digit) is, per frame
        self.frame_count = nn.Linear(2, slots + 1)  # [max, mean] of a value's map -> its count in a frame
        self.value_head = ValueHead(arch["frames"], arch["hidden"], rest, slots)
        self.locator = self.reader = None
        self.extra_readers = nn.ModuleList()
        if arch.get("reader_width"):  # created last: the modules above keep their initial weights
            self.locator = crop_reader.Locator(arch["in_channels"])
            self.reader = crop_reader.DigitReader(arch["in_channels"], int(arch["reader_width"]), K)
            self.extra_readers.extend(crop_reader.DigitReader(arch["in_channels"], int(arch["reader_width"]), K)
                                      for _ in range(int(arch.get("reader_count", 1)) - 1))

    @property
    def readers(self) -> list:
        """The crop readers, the stage-3 one first ([] for a judge without one)."""
        return [] if self.reader is None else [self.reader, *self.extra_readers]

    @property
    def frame_attribute(self) -> str:
        return self.attributes[0]

    def frame_logits(self, maps: torch.Tensor) -> tuple:
        """Encoder maps (M, F, h, w) -> evidence (M, K, h, w) and per-frame count logits (M, K, S + 1)."""
        ev = self.evidence(maps)
        stats = torch.stack([ev.amax(dim=(2, 3)), ev.mean(dim=(2, 3))], dim=-1)
        return ev, self.frame_count(stats)

    def forward(self, video: torch.Tensor, read: bool = True) -> dict:
        """video: float (B, T, C, H, W) in [0, 1]. Returns features and count logits, and with a crop
        reader and `read` its digit vote (read=False: features only, e.g. for a Fréchet reference)."""
        B, T = video.shape[:2]
        if T != self.arch["frames"] or video.shape[2] != self.arch["in_channels"]:
            raise UserError(f"the judge reads {self.arch['frames']} frames x {self.arch['in_channels']} "
                            f"channel(s), got {T} x {video.shape[2]}; evaluate videos of the dataset's shape")
        maps = crop_reader.by_chunks(self.encoder, video.flatten(0, 1))  # (B*T, F, h, w)
        frame_feat = maps.amax(dim=(2, 3)).view(B, T, -1)  # presence of each pattern anywhere
        ev, frame_logits = self.frame_logits(maps)
        K, (h, w) = self.sizes[0], ev.shape[2:]
        per_value = ev.view(B, T, K, h, w).permute(0, 2, 1, 3, 4).reshape(B * K, 1, T, h, w)
        hid, cell = crop_reader.by_chunks(self.value_head, per_value)
        hid = hid.view(B, K, -1)
        out = {
            "frame_feat": frame_feat,
            "video_feat": torch.cat([hid.amax(dim=1), hid.mean(dim=1)], dim=1),
            "frame_logits": frame_logits.view(B, T, K, -1),
            "cell_logits": cell.view(B, self.n_cells, self.slots + 1),
        }
        if self.reader is not None and read:
            a = self.arch
            layers = ({"gate": float(a["reader_layer_gate"]), "speed": int(a["reader_layer_speed"]),
                       "beam": int(a["reader_layer_beam"])} if a.get("reader_layer_gate") else None)
            distance = ({"pivot": float(a["reader_vote_pivot"]), "doubling": float(a["reader_vote_doubling"])}
                        if a.get("reader_vote_doubling") else None)
            out["digit_vote"] = crop_reader.read_digits(
                self.locator, self.readers, video, self.slots, int(a["digit_size"]),
                int(a["reader_radius"]), float(a["reader_match"]), layers=layers, vote_distance=distance)
        return out

    def decode_output(self, out: dict) -> torch.Tensor:
        """Decoded cell ids (B, S) from a `forward` output, with every vote this judge's format has."""
        if "digit_vote" in out:
            return decode_multiset_read(out["cell_logits"], out["digit_vote"], self.slots,
                                        float(self.arch["reader_vote"]))
        return self.decode(out["cell_logits"], out["frame_logits"])

    def decode(self, logits: torch.Tensor, frame_logits: torch.Tensor | None = None) -> torch.Tensor:
        """Most probable multiset of exactly S cells from count logits (B, n, S + 1) -> (B, S) sorted ids.
        Cell id = value ids of the attributes in C order (`caption.cells_of`). With arch["frame_vote"]
        = w > 0 and the per-frame count logits (B, T, K, S + 1), each multiset's score also gets w x
        the summed per-frame log-odds of the first-attribute counts it implies (`decode_multiset_voted`);
        w = 0 / absent (format 1 and 2 judges): the cells alone."""
        w = float(self.arch.get("frame_vote", 0.0))
        if w > 0 and frame_logits is not None:
            return decode_multiset_voted(logits, frame_logits, self.slots, w)
        return decode_multiset(logits, self.slots)


def decode_multiset(logits: torch.Tensor, slots: int) -> torch.Tensor:
    """Maximise the summed log-probability of a count vector with total `slots` (1 or 2)."""
    logp = F.log_softmax(logits.float(), dim=-1)
    one = logp[..., 1] - logp[..., 0]  # gain of putting one slot in a cell
    if slots == 1:
        return one.argmax(dim=1, keepdim=True)
    two = logp[..., 2] - logp[..., 0]
    top = one.topk(2, dim=1)
    pair_score = top.values.sum(1)
    dbl_score, dbl = two.max(dim=1)
    use_dbl = dbl_score > pair_score
    pair = top.indices.sort(dim=1).values
    return torch.where(use_dbl[:, None], dbl[:, None].expand(-1, 2), pair)


def decode_multiset_read(logits: torch.Tensor, vote: torch.Tensor, slots: int, weight: float):
    """`decode_multiset` plus the crop reader's vote over the first attribute: cell logits (B, n, S + 1),
    vote (B, K) for one slot or (B, K, K) for two (`reader.digit_vote`), cell c holds value c // (n / K).
    A multiset of cells scores its cells' log-prob gains + weight x the vote of the values it implies,
    maximised exactly over all multisets of S cells."""
    logp = F.log_softmax(logits.float(), dim=-1)
    n, K = logp.shape[1], vote.shape[1]
    value = torch.arange(n) // (n // K)
    if slots == 1:
        return (logp[..., 1] - logp[..., 0] + weight * vote[:, value]).argmax(dim=1, keepdim=True)
    return _best_pair(logp, weight * vote[:, value][:, :, value])


def _best_pair(logp: torch.Tensor, bonus: torch.Tensor) -> torch.Tensor:
    """The best multiset of two cells, exactly: count log-probs (B, n, 3), a pair {i, j} scores the
    gains of its counts (cell i once and j once, or i twice when i = j) + bonus[i, j] (B, n, n)
    -> (B, 2) sorted cell ids."""
    n = logp.shape[1]
    one = logp[..., 1] - logp[..., 0]
    pair = one[:, :, None] + one[:, None, :]
    pair = pair + torch.diag_embed(logp[..., 2] - logp[..., 0] - pair.diagonal(dim1=1, dim2=2)) + bonus
    best = pair.flatten(1).argmax(dim=1)
    return torch.stack([best // n, best % n], dim=1).sort(dim=1).values


def decode_multiset_voted(logits: torch.Tensor, frame_logits: torch.Tensor, slots: int, weight: float):
    """`decode_multiset` plus a vote of the frames: cell logits (B, n, S + 1), per-frame count logits
    of the first attribute (B, T, K, S + 1), cell c belongs to value c // (n / K). A multiset scores
    sum of its cells' log-prob gains + weight x sum over frames of log p(count of each value it
    implies) - log p(count 0), maximised exactly over all multisets of S cells."""
    logp = F.log_softmax(logits.float(), dim=-1)
    n, K = logp.shape[1], frame_logits.shape[2]
    fl = F.log_softmax(frame_logits.float(), dim=-1).sum(dim=1)  # (B, K, S + 1)
    vote = weight * (fl - fl[..., :1])  # gain of a value being there c times, c = 0..S
    value = torch.arange(n) // (n // K)
    if slots == 1:
        return (logp[..., 1] - logp[..., 0] + vote[:, value, 1]).argmax(dim=1, keepdim=True)
    same = value[:, None] == value[None, :]  # a pair of one value counts it twice
    v1 = vote[:, value, 1]
    return _best_pair(logp, torch.where(same, vote[:, value, 2][:, :, None], v1[:, :, None] + v1[:, None, :]))


# -- video input ----------------------------------------------------------------------------------
def as_float_video(videos, channels: int | None = None) -> torch.Tensor:
    """uint8 (B, T, H, W, C) array/tensor or float (B, T, C, H, W) in [0, 1] -> float32 (B, T, C, H, W)."""
    v = torch.as_tensor(videos) if not isinstance(videos, torch.Tensor) else videos
    if v.ndim != 5:
        raise UserError("videos must be 5-D, uint8 (B, T, H, W, C) or float (B, T, C, H, W); "
                        f"got shape {tuple(v.shape)}")
    if v.dtype == torch.uint8:
        return v.permute(0, 1, 4, 2, 3).float().div_(255.0)
    if not v.is_floating_point():
        raise UserError(f"videos must be uint8 (B, T, H, W, C) or float in [0, 1] (B, T, C, H, W); got {v.dtype}")
    return v.detach().float().cpu().clamp(0.0, 1.0)


def to_uint8_video(videos) -> np.ndarray:
    """Either accepted layout -> uint8 (B, T, H, W, C), the shard layout (rounded, clipped)."""
    v = torch.as_tensor(videos) if not isinstance(videos, torch.Tensor) else videos
    if v.dtype == torch.uint8:
        return np.ascontiguousarray(v.cpu().numpy())
    f = as_float_video(v)
    return np.ascontiguousarray(f.mul(255.0).round_().to(torch.uint8).permute(0, 1, 3, 4, 2).numpy())


# -- files ----------------------------------------------------------------------------------------
def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def format_of(arch: dict) -> int:
    """The oldest format that holds `arch`, so a judge re-made from a recorded recipe is byte-identical
    to the one shipped then, and older readers keep reading what they can."""
    if int(arch.get("reader_count", 1)) > 1:
        return 6
    if arch.get("reader_layer_gate") or arch.get("reader_vote_doubling"):
        return 5
    if arch.get("reader_width"):
        return 4
    if arch.get("frame_vote"):
        return 3
    return 2 if "encoder" in arch else 1


ARCH_ORDER = ("in_channels", "frames", "size", "width", "hidden", "encoder", "frame_vote", "reader_width",
              "reader_radius", "reader_match", "reader_vote", "digit_size", "reader_layer_gate", "reader_layer_speed",
              "reader_layer_beam", "reader_vote_pivot", "reader_vote_doubling", "reader_count")


def save_judge(judge: Judge, path, meta: dict) -> str:
    """Write weights (float16) + arch + labels + meta atomically; return the file's sha256. The arch
    keys go in one fixed order: a recipe read back from JSON (sorted keys) makes the same bytes."""
    arch = {k: judge.arch[k] for k in ARCH_ORDER if k in judge.arch}
    arch.update({k: judge.arch[k] for k in sorted(judge.arch) if k not in arch})
    state = {k: v.detach().to(torch.float16) if v.is_floating_point() else v
             for k, v in judge.state_dict().items()}
    payload = {"format": format_of(arch), "arch": arch, "labels": judge.labels, "slots": judge.slots,
               "meta_json": json.dumps(meta, sort_keys=True), "state_dict": state}
    buf = io.BytesIO()
    torch.save(payload, buf)
    data = buf.getvalue()
    from t2vbench.data.format import atomic_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as f:
        f.write(data)
    return sha256_bytes(data)


@dataclass
class LoadedJudge:
    model: Judge
    sha256: str
    meta: dict
    path: str


def load_judge(path) -> LoadedJudge:
    path = Path(path)
    if not path.exists():
        raise UserError(f"judge file {path} does not exist; train one with `t2vbench judge train DATASET`")
    data = path.read_bytes()
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        if payload.get("format") not in READABLE_FORMATS:
            raise ValueError(f"judge format {payload.get('format')}, readable: {READABLE_FORMATS}")
        judge = Judge(payload["arch"], payload["labels"], payload["slots"])
        judge.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()})
    except (RuntimeError, ValueError, KeyError, AttributeError, TypeError, EOFError, pickle.UnpicklingError) as e:
        why = ("torch.load cannot read it" if isinstance(e, pickle.UnpicklingError)
               else str(e).strip().splitlines()[0][:160])
        raise UserError(f"{path} is not a t2vbench judge ({why}); retrain it with `t2vbench judge train`") from None
    judge.eval()
    return LoadedJudge(judge, sha256_bytes(data), json.loads(payload["meta_json"]), str(path))


def shipped_judges() -> dict:
    """judges.json: family -> metadata (file, sha256, accuracy, recipe, dataset config)."""
    if not SHIPPED_META.exists():
        return {}
    return json.loads(SHIPPED_META.read_text())


def judge_for(manifest: dict, judge=None) -> LoadedJudge:
    """The judge to use for a dataset: an explicit file, else the shipped one for its family (checked
    against its recorded sha256), else a clear error (KTH-4 judges are trained by the user)."""
    if judge is not None:
        return judge if isinstance(judge, LoadedJudge) else load_judge(judge)
    family = manifest["dataset"]
    entry = shipped_judges().get(family)
    if entry is None:
        raise UserError(f"no judge ships for dataset '{family}'; train one with `t2vbench judge train "
                        f"DATASET_PATH --out judge.pt` and pass it with --judge judge.pt")
    loaded = load_judge(SHIPPED_DIR / entry["file"])
    if loaded.sha256 != entry["sha256"]:
        raise UserError(f"shipped judge {entry['file']} has sha256 {loaded.sha256[:12]}, judges.json says "
                        f"{entry['sha256'][:12]}: the install is corrupt; reinstall t2vbench")
    return loaded


def check_compatible(judge: Judge, manifest: dict) -> None:
    """The judge must read the dataset's labels and shape; anything else would be a silent wrong number."""
    labels = {k: list(v) for k, v in manifest.get("labels", {}).items() if k in judge.labels}
    # (a manifest may hold more labels than a caption promises, e.g. KTH's person and scenario)
    if labels != judge.labels:
        raise UserError(f"judge reads labels {judge.labels}, dataset '{manifest['dataset']}' has "
                        f"{manifest.get('labels')}; use the judge trained for this dataset family")
    cfg = manifest["config"]
    for key, want in (("frames", judge.arch["frames"]), ("size", judge.arch["size"]),
                      ("channels", judge.arch["in_channels"]), ("digits_per_video", judge.slots)):
        if key in cfg and int(cfg[key]) != int(want):
            raise UserError(f"dataset has {key}={cfg[key]} but the judge was trained for {key}={want}; "
                            "train a judge for this config with `t2vbench judge train`")


@torch.inference_mode()
def run_judge(judge: Judge, batches, progress: bool = False, total: int | None = None, desc: str = "judge",
              read: bool = True):
    """Run the judge over an iterable of video batches (either accepted layout). Returns NumPy arrays:
    frame_feat (N, T, F) float32, video_feat (N, D), cells (N, S) decoded cell ids,
    frame_reading (N, T, S) decoded per-frame ids of the first attribute. read=False skips the crop
    reader (features and frame readings are the same; cells are then the cell head's alone)."""
    from tqdm import tqdm

    out = {"frame_feat": [], "video_feat": [], "cells": [], "frame_reading": []}
    bar = tqdm(total=total, desc=desc, unit="video", disable=not progress, leave=False)
    for videos in batches:
        v = as_float_video(videos)
        r = judge(v, read=read)
        B, T = v.shape[:2]
        out["frame_feat"].append(r["frame_feat"].numpy())
        out["video_feat"].append(r["video_feat"].numpy())
        out["cells"].append(judge.decode_output(r).numpy())
        fr = decode_multiset(r["frame_logits"].flatten(0, 1), judge.slots).view(B, T, judge.slots)
        out["frame_reading"].append(fr.numpy())
        bar.update(B)
    bar.close()
    return {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in out.items()}
