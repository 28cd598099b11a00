"""What `t2vbench run` and the evaluation need from a model: `TextToVideoModel`.

A model is one file (a class implementing this interface, normally an `nn.Module`) plus one config,
baselines/configs/<name>.json, whose "impl" names the class; the runner builds it with
`cls(config, vocab_size, channels)` and calls nothing outside this interface, so a GAN, a VAE or a
diffusion model trains, samples, checkpoints and evaluates through the same code. The GAN baselines
implement it in `t2vbench.baselines.gan.TextToVideoGAN`.

Reproducibility is the runner's part: every random draw of a training step must come from
`TrainBatch.generator` (seeded by seed, step and rank) or from the global torch generator, whose state
the checkpoints keep; then a resumed run continues exactly as the uninterrupted run would have.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

import torch

from t2vbench.errors import UserError


@dataclass
class TrainBatch:
    """One rank's share of one training step."""

    video: torch.Tensor  # float (B, T, C, H, W) in [-1, 1], on the training device
    tokens: torch.Tensor  # (B, L) the videos' own captions
    mismatched: torch.Tensor  # (B, L) captions of another meaning, for matching-aware losses
    generator: torch.Generator  # (CPU) the step's random source: draw the step's noise from it


class Schedule(NamedTuple):
    """How long and how fast stage 1 trains: `iters` steps of `batch` videos per rank, Adam at `lr`."""

    iters: int
    batch: int
    lr: float


@runtime_checkable
class Pretraining(Protocol):
    """A model's stage 1: a part trained alone before the main loop (IRC-GAN's text encoder), saved once
    to `<run>/<name>.pt` and loaded from there on resume instead of being trained again."""

    name: str

    def module(self) -> torch.nn.Module:
        """The module stage 1 optimises (all its parameters): `loss(video, tokens) -> (loss, {name: float})`."""

    def schedule(self, n_train: int, world: int) -> Schedule: ...

    def finish(self, tokens: torch.Tensor, keys) -> tuple[dict, list[str]]:
        """After the last step, given the first (up to 4,096) train captions and their meaning keys:
        anything fitted on the result; returns logs for log.jsonl and lines to show the user."""

    def state_dict(self) -> dict:
        """What survives stage 1 (written to `<name>.pt`)."""

    def load_state_dict(self, state: dict) -> None: ...

    def freeze(self) -> None:
        """End stage 1, trained now or loaded: the pre-trained part stops learning."""


@runtime_checkable
class TextToVideoModel(Protocol):
    """The interface. Besides these, the runner uses `nn.Module`'s `to`, `train` / `eval` / `training`,
    `parameters`, `buffers` (broadcast under torchrun) and `state_dict` / `load_state_dict` (checkpoints
    hold `state_dict()`): implement it as an `nn.Module`."""

    def generate(self, tokens: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
        """tokens (B, L), seeds (B,) -> float videos (B, T, C, H, W) in [0, 1] on the CPU. Sample i depends
        on (tokens[i], seeds[i]) only, never on the batch (samples and evaluation call it in any batches)."""

    # GAM's video-text discriminator: (float videos (B, T, C, H, W) in [0, 1], tokens (B, L)) -> logits
    # (B,); None for a model without one (the evaluation then skips the GAM metrics).
    video_text_logit: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None

    def pretraining(self) -> Pretraining | None:
        """Stage 1, or None when the model has none."""

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Built once after stage 1; their states are checkpointed under these names."""

    def train_step(self, batch: TrainBatch, optimizers: dict, *, scalers: dict | None = None,
                   reduce_grads: Callable[[list], None] | None = None) -> dict[str, float]:
        """One training iteration; returns float logs. `scalers` ({name: GradScaler}, one per optimiser)
        means mixed precision on CUDA; `reduce_grads(params)` averages gradients across ranks after each
        backward (None in one process)."""

    def finish_training(self, tokens: torch.Tensor, generator: torch.Generator) -> None:
        """After the last step, before model.pt is written (e.g. re-estimate BatchNorm statistics), given
        all train captions (N, L) and a generator seeded for it."""

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict): ...


_MISSING = object()
REQUIRED = ("generate", "pretraining", "optimizers", "train_step", "finish_training", "to", "train", "eval",
            "parameters", "buffers", "state_dict", "load_state_dict")


def missing_members(model) -> list[str]:
    """The interface members `model` lacks (`video_text_logit` may be None, but must be there)."""
    out = [name for name in REQUIRED if not callable(getattr(model, name, None))]
    logit = getattr(model, "video_text_logit", _MISSING)
    if logit is _MISSING or not (logit is None or callable(logit)):
        out.append("video_text_logit")
    return out


def check_model(model, what: str):
    """`model` if it implements `TextToVideoModel`, else a one-line UserError naming what is missing."""
    missing = missing_members(model)
    if missing:
        raise UserError(f"{what} ({type(model).__module__}.{type(model).__qualname__}) is not a "
                        f"t2vbench.train.model.TextToVideoModel: it has no {', '.join(missing)}")
    return model
