"""The model interface (`t2vbench.train.model.TextToVideoModel`): every baseline implements it, the
runner refuses a class that does not (one line naming what is missing), and the GAN's hooks are the
GAN training as the runner ran it before the interface (same step, same draws)."""
from __future__ import annotations

import pytest
import torch

from t2vbench.baselines.gan import gan_step
from t2vbench.errors import UserError
from t2vbench.registry import MODELS
from t2vbench.train.config import resolve
from t2vbench.train.model import Pretraining, TextToVideoModel, TrainBatch, missing_members
from t2vbench.train.runner import build_model

VOCAB = 22

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _tokens(b, gen):
    t = torch.randint(4, VOCAB, (b, 8), generator=gen)
    t[:, 6], t[:, 7] = 2, 0
    return t


def _build(name, seed=0):
    torch.manual_seed(seed)
    return build_model(resolve(name, "smoke"), VOCAB, 1)


@pytest.mark.parametrize("name", MODELS.names())
def test_every_baseline_implements_the_interface(name):
    cfg = resolve(name, "smoke")
    m = _build(name)
    assert isinstance(m, TextToVideoModel) and missing_members(m) == []
    assert set(m.optimizers()) == {"g", "d"}
    stage = m.pretraining()
    assert (stage is not None) == (cfg["text"]["mode"] == "pretrained")
    if stage is not None:
        assert isinstance(stage, Pretraining) and stage.name == "text_encoder"
        assert stage.schedule(48, 2) == (cfg["text"]["pretrain"]["iters"], cfg["text"]["pretrain"]["batch"],
                                         cfg["text"]["pretrain"]["lr"])
        assert callable(stage.module().loss)


class Incomplete(torch.nn.Module):
    """Generates clips, but has none of the training hooks."""

    video_text_logit = None  # no discriminator: allowed

    def __init__(self, cfg, vocab_size, channels):
        super().__init__()

    def generate(self, tokens, seeds):
        return torch.zeros(len(tokens), 16, 1, 64, 64)


def test_a_class_that_is_not_a_model_is_refused_in_one_line():
    cfg = {**resolve("tgans-c", "smoke"), "name": "half", "impl": f"{__name__}:Incomplete"}
    with pytest.raises(UserError) as e:
        build_model(cfg, VOCAB, 1)
    msg = str(e.value)
    assert "\n" not in msg and "model 'half'" in msg and "TextToVideoModel" in msg
    missing = msg.split("has no ", 1)[1].split(", ")
    assert missing == ["pretraining", "optimizers", "train_step", "finish_training"], msg
    assert "video_text_logit" in missing_members(torch.nn.Module())  # absent is not None
    with pytest.raises(UserError, match="cannot import its impl 't2vbench.nope:X'"):
        build_model({**cfg, "impl": "t2vbench.nope:X"}, VOCAB, 1)


@pytest.mark.parametrize("name", ["ircgan", "tgans-c"])
def test_train_step_is_the_gan_step_with_the_noise_drawn_from_the_batch_generator(name):
    a, b = _build(name), _build(name)
    for m in (a, b):
        if m.pretraining() is not None:
            m.pretraining().freeze()
    g = torch.Generator().manual_seed(1)
    real = torch.rand(2, 16, 1, 64, 64, generator=g) * 2 - 1
    tokens, mismatched = _tokens(2, g), _tokens(2, g)
    oa, ob = a.optimizers(), b.optimizers()
    torch.manual_seed(7)
    la = a.train_step(TrainBatch(real, tokens, mismatched, torch.Generator().manual_seed(5)), oa)
    torch.manual_seed(7)
    gb = torch.Generator().manual_seed(5)
    lb = gan_step(b, real, tokens, mismatched, b.noise(2, gb), ob["d"], ob["g"])
    assert la == lb
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_finish_training_re_estimates_the_generator_batchnorm_from_the_given_generator():
    a, b = _build("tgans-c"), _build("tgans-c")
    tokens = _tokens(32, torch.Generator().manual_seed(0))
    bn = next(k for k in a.state_dict() if k.startswith("generator.") and k.endswith("running_mean"))
    before = a.state_dict()[bn].clone()
    a.finish_training(tokens, torch.Generator().manual_seed(3))
    b.finish_training(tokens, torch.Generator().manual_seed(3))
    assert not torch.equal(a.state_dict()[bn], before)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
