"""The training runner: budget configs, the run folder, exact resume, bad input, `sample` and `list`."""
from __future__ import annotations

import collections
import copy
import json
import math
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from t2vbench.cli import main
from t2vbench.data.handle import open_dataset
from t2vbench.errors import UserError
from t2vbench.train import checkpoint as ckpt
from t2vbench.train.config import OPTIONAL_COUNTS, ZERO_OK, config_hash, resolve
from t2vbench.train.runner import RunSpec, prepare, run, save_model, train

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def data(make):
    return make("smnist4", n=48, n_test=16)


# ---------------------------------------------------------------- configs

def test_budgets_are_data_and_ablations_layer_on_their_parent():
    for budget in ("smoke", "quick", "paper"):
        irc, rc = resolve("ircgan", budget), resolve("rcgan-c", budget)
        assert irc["model"]["q_heads"] and irc["model"]["lambda_info"] > 0
        assert not rc["model"]["q_heads"] and rc["model"]["lambda_info"] == 0
        strip = lambda c: {k: v for k, v in c.items() if k not in ("name", "model")}  # noqa: E731
        assert strip(irc) == strip(rc)  # everything but the ablated switch is the same
        assert {k: v for k, v in irc["model"].items() if k not in ("q_heads", "lambda_info")} == \
            {k: v for k, v in rc["model"].items() if k not in ("q_heads", "lambda_info")}
        ti = resolve("tgans-info", budget)
        assert ti["model"]["q_heads"] and ti["text"]["mode"] == "pretrained"
        assert ti["impl"] == resolve("tgans-c", budget)["impl"]
        assert irc["budget"] == budget and irc["budget_version"] == 1 and "protocol" not in irc
    assert resolve("ircgan", "paper")["train"]["iters"] == 60000
    assert resolve("ircgan", "smoke")["train"]["iters"] < 10


def test_overrides_and_hash():
    base = resolve("ircgan", "smoke")
    over = resolve("ircgan", "smoke", ["train.iters=7", "model.memory_layers=[1]", "text.mode=pretrained"])
    assert over["train"]["iters"] == 7 and over["model"]["memory_layers"] == [1]
    assert config_hash(base) != config_hash(over) and config_hash(base) == config_hash(resolve("ircgan", "smoke"))
    with pytest.raises(UserError, match="unknown config key 'train.itres'"):
        resolve("ircgan", "smoke", ["train.itres=7"])
    with pytest.raises(UserError, match="key=value"):
        resolve("ircgan", "smoke", ["train.iters"])
    with pytest.raises(UserError, match="unknown model"):
        resolve("nope", "smoke")
    with pytest.raises(UserError, match="unknown budget 'fast'"):
        resolve("ircgan", "fast")
    for bad, says in (("train.iters=abc", "expected an integer"), ("train.iters=-1", "at least 1"),
                      ("train.amp=1", "expected true or false"), ("train.betas=0.5", "expected a JSON list")):
        with pytest.raises(UserError, match=says):
            resolve("ircgan", "smoke", [bad])
    assert resolve("ircgan", "smoke", ["train.lr_g=1"])["train"]["lr_g"] == 1.0  # an int may stand for a float


def _leaves(cfg, prefix=""):
    for k, v in cfg.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict) and v:
            yield from _leaves(v, key)
        elif key not in ("name", "impl", "budget", "budget_version"):  # set by resolve, after the overrides
            yield key, v


SMOKE = resolve("ircgan", "smoke")
PAPER = resolve("ircgan", "paper")  # text.pretrain.iters is null here (epochs set): an optional count
LEAVES = sorted(dict(_leaves(SMOKE)).items())


def _set(text: str, base=SMOKE):
    from t2vbench.train.config import apply_override, parse_override

    cfg = copy.deepcopy(base)
    path, value = parse_override(text)
    apply_override(cfg, path, value)
    return cfg, path


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.builds(lambda k, v: f"{k}={v}", st.sampled_from([k for k, _ in LEAVES]), st.text()),
                 st.builds(lambda k, v: f"{k}={v}", st.sampled_from([k for k, _ in LEAVES]),
                           st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1", "0", "0.0", "null", "true",
                                            "[", "[" * 5000, "1" + "0" * 400, '"x"', "{}", "[]", "1.5", "\n"]))))
def test_any_set_text_is_applied_or_refused_in_one_line(text):
    """Whatever follows --set, the config takes it or a UserError says why in one line; never a crash."""
    try:
        cfg, path = _set(text)
    except UserError as e:
        assert "\n" not in str(e) and "\r" not in str(e), str(e)
        return
    value = cfg
    for part in path:
        value = value[part]
    assert not isinstance(value, float) or math.isfinite(value)


def _valid(key, default):
    """Values an override of `key` (default `default`) must accept."""
    if key in OPTIONAL_COUNTS:
        return st.one_of(st.integers(OPTIONAL_COUNTS[key], 10**6), st.none())
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, int):
        return st.integers(0 if key in ZERO_OK or default <= 0 else 1, 10**9)
    if isinstance(default, float):
        low = 0.0 if not key.rsplit(".", 1)[-1].startswith("lr") else 1e-12
        return st.one_of(st.floats(low, 1e6, allow_nan=False), st.integers(max(1, int(low)), 10**6))
    if isinstance(default, str):
        return st.text()
    if isinstance(default, list):
        return st.lists(st.integers(0, 9) | st.floats(0, 1))
    return st.nothing()


@st.composite
def _override(draw):
    key, default = draw(st.sampled_from(LEAVES))
    return key, draw(_valid(key, default))


@settings(max_examples=300, deadline=None)
@given(_override())
def test_a_valid_set_value_round_trips(kv):
    """A value of the default's kind, written as JSON, is the value the config then holds (an int given
    for a float default becomes that float)."""
    key, value = kv
    cfg, path = _set(f"{key}={json.dumps(value)}", PAPER if key == "text.pretrain.iters" else SMOKE)
    got = cfg
    for part in path:
        got = got[part]
    default = dict(LEAVES)[key]
    want = float(value) if isinstance(default, float) and not isinstance(value, bool) else value
    assert got == want and type(got) is type(want), (key, value, got)


def test_both_stage1_lengths_null_is_refused():
    with pytest.raises(UserError, match="both null"):
        resolve("ircgan", "smoke", ["text.pretrain.iters=null"])


# ---------------------------------------------------------------- the whole path

def _tiny_judge(data, out):
    """A judge trained for a few steps: the path is what is tested here, not the judge's accuracy."""
    from t2vbench.judge.train import train_judge

    train_judge(data, out, recipe={"frame_steps": 3, "steps": 3, "arch": {"width": 8, "hidden": 8},
                                   "warmup_steps": 1}, progress=False)
    return out


@pytest.fixture(scope="module")
def judge(data, tmp_path_factory):
    return _tiny_judge(data, tmp_path_factory.mktemp("judge") / "judge.pt")


@pytest.fixture(scope="module")
def smoke(data, judge, tmp_path_factory):
    """One `t2vbench run ircgan --budget smoke` through the CLI, shared by the tests that read it."""
    out = tmp_path_factory.mktemp("runs")
    rc = main(["run", "ircgan", "--dataset", str(data), "--budget", "smoke", "--out", str(out), "--judge", str(judge)])
    assert rc == 0
    return out / "ircgan-smnist4-smoke-seed0"


def test_smoke_run_writes_config_log_samples_checkpoint_and_result(smoke):
    run_dir = smoke
    tmp_path = run_dir.parent
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["config"]["budget"] == "smoke" and len(cfg["config_sha256"]) == 64 and cfg["seed"] == 0
    from t2vbench.eval.results import code_version

    assert cfg["code_version"] == code_version() and "t2vbench" in cfg["code_version"]  # git commit from a checkout
    rows = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in rows} == {1, 2} and rows[-1]["step"] == cfg["config"]["train"]["iters"]
    assert all(torch.isfinite(torch.tensor(r["d_loss"])) for r in rows if r["stage"] == 2)
    gifs = sorted(p.name for p in (run_dir / "samples").glob("*.gif"))
    assert "final.gif" in gifs and any(g.startswith("step-") for g in gifs)
    from PIL import Image

    with Image.open(run_dir / "samples" / "final.gif") as im:
        assert im.n_frames == 16
    assert (run_dir / "checkpoints" / "last.pt").exists() and (run_dir / "model.pt").exists()
    assert (run_dir / "text_encoder.pt").exists()
    res = json.loads((run_dir / "results.json").read_text())
    assert res["model"] == "ircgan@smoke" and res["info"]["budget"] == "smoke" and res["info"]["smoke"]
    from t2vbench.eval.protocol import PROTOCOL

    assert res["budget"] == "smoke"  # the training budget; the protocol is the evaluation's
    assert (res["protocol"], res["protocol_version"]) == (PROTOCOL["name"], PROTOCOL["version"])
    assert res["train_seed"] == 0 and "caption_acc" in res["metrics"]
    assert "gam_d_err_real" in res["metrics"]  # the designated discriminator was used
    import csv

    board = list(csv.DictReader((tmp_path / "leaderboard.csv").read_text().splitlines()))
    assert any(r["model"] == "ircgan@smoke" and r["budget"] == "smoke" for r in board)


def test_sample_command_and_its_errors(smoke, tmp_path, capsys):
    run_dir = smoke
    out = tmp_path / "clip.gif"
    assert main(["sample", str(run_dir), "--caption", "digit 3 is moving left then right", "--out", str(out),
                 "--n", "2"]) == 0
    from PIL import Image

    with Image.open(out) as im:
        assert im.n_frames == 16 and im.size[0] > 2 * 64
    capsys.readouterr()
    assert main(["sample", str(run_dir), "--caption", "digit 3 is dancing", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dancing" in err[0]
    for caption, says in (("digit 3", "grammar"),  # known words, no promise about motion
                          ("digit 3 is moving up then right", "grammar")):  # no such motion
        assert main(["sample", str(run_dir), "--caption", caption, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0], err


def test_list_shows_models_datasets_budgets(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    for word in ("ircgan", "rcgan-c", "tgans-c", "tgans-info", "smnist4", "budgets:", "smoke", "quick", "paper"):
        assert word in text
    assert "protocols:" not in text  # the training budget is not the evaluation protocol


# ---------------------------------------------------------------- resume

def _weights(path):
    return ckpt.load(path)["model"]


def test_stopping_early_then_resuming_matches_the_uninterrupted_run(data, tmp_path):
    sets = ["train.iters=5", "train.ckpt_every=2", "train.log_every=1", "train.sample_every=100",
            "text.pretrain.iters=2"]
    a = run("ircgan", data, budget="smoke", out=tmp_path / "a", overrides=sets, evaluate=False, progress=False)
    b_out = tmp_path / "b"
    spec = RunSpec("ircgan", open_dataset(data), budget="smoke", out=b_out, overrides=tuple(sets), evaluate=False,
                   progress=False)
    with prepare(spec) as r:
        assert train(r, until_step=3) == 3
        with pytest.raises(UserError, match="stopped at step 3 of 5"):
            save_model(r)  # no final weights from a run that has not finished
    b_dir = b_out / a.name
    assert ckpt.load(b_dir / "checkpoints" / "last.pt")["step"] == 2  # stopped after step 3: last save at 2
    assert not (b_dir / "model.pt").exists()
    with pytest.raises(UserError, match="--resume"):
        run("ircgan", data, budget="smoke", out=b_out, overrides=sets, evaluate=False, progress=False)
    with pytest.raises(UserError, match="another config_sha256"):
        run("ircgan", data, budget="smoke", out=b_out, overrides=sets + ["train.lr_g=0.001"], resume=True,
            evaluate=False, progress=False)
    run("ircgan", data, budget="smoke", out=b_out, overrides=sets, resume=True, evaluate=False, progress=False)
    la, lb = ckpt.load(a / "checkpoints" / "last.pt"), ckpt.load(b_dir / "checkpoints" / "last.pt")
    wa, wb = la["model"], lb["model"]
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    for name in ("g", "d"):  # the optimisers' moments too
        sa, sb = la["optimizers"][name]["state"], lb["optimizers"][name]["state"]
        assert sa.keys() == sb.keys() and all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa), name
    strip = lambda p: [{k: v for k, v in json.loads(x).items() if k != "it_per_s"}  # noqa: E731
                       for x in p.read_text().splitlines()]
    assert strip(a / "log.jsonl") == strip(b_dir / "log.jsonl")  # same losses, no duplicated lines


def test_training_does_not_depend_on_the_evaluation(data, smoke, tmp_path):
    """Loading the judge before training draws from torch's RNG; the run must train the same model with
    and without the evaluation (the smoke run evaluated, this one does not)."""
    other = run("ircgan", data, budget="smoke", out=tmp_path, evaluate=False, progress=False)
    for name in ("checkpoints/last.pt", "model.pt"):
        wa, wb = _weights(smoke / name), _weights(other / name)
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), name
    ta, tb = ckpt.load(smoke / "text_encoder.pt")["state"], ckpt.load(other / "text_encoder.pt")["state"]
    assert all(torch.equal(ta[k], tb[k]) for k in ta)


def test_a_run_reads_the_manifest_once_and_each_test_column_set_once_in_the_evaluation(data, judge, tmp_path,
                                                                                         monkeypatch):
    import t2vbench.data.dataset as dataset_module
    import t2vbench.train.runner as runner

    manifest_reads, reads, phase = [0], collections.Counter(), ["training"]
    read_text, read_split, evaluate_run = Path.read_text, dataset_module.read_split, runner.evaluate_run

    def counting_read_text(self, *a, **k):
        manifest_reads[0] += self.name == "manifest.json"
        return read_text(self, *a, **k)

    def counting_read_split(root, split="test", columns=None, limit=None, manifest=None):
        reads[phase[0], split, tuple(columns or ())] += 1
        return read_split(root, split, columns=columns, limit=limit, manifest=manifest)

    def evaluation(r):
        phase[0] = "evaluation"
        return evaluate_run(r)

    monkeypatch.setattr(Path, "read_text", counting_read_text)
    monkeypatch.setattr(dataset_module, "read_split", counting_read_split)
    monkeypatch.setattr(runner, "evaluate_run", evaluation)
    assert main(["run", "ircgan", "--dataset", str(data), "--budget", "smoke", "--out", str(tmp_path),
                 "--judge", str(judge)]) == 0
    assert (tmp_path / "ircgan-smnist4-smoke-seed0" / "results.json").exists()
    assert manifest_reads[0] == 1
    evaluation_reads = {k: n for k, n in reads.items() if k[0] == "evaluation"}
    assert any(k[1] == "test" for k in evaluation_reads) and set(evaluation_reads.values()) == {1}, reads
    assert set(reads.values()) == {1}, reads  # nor does training read any column set twice


# ---------------------------------------------------------------- bad input: one clear line

def _one_line_error(capsys, argv) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("t2vbench: error:"), err
    return err[0]


def test_the_training_budget_is_an_option_of_its_own(data, tmp_path, capsys):
    """`--budget`; there is no `--protocol` (the protocol is the evaluation's, not a training option)."""
    capsys.readouterr()
    assert main(["run", "ircgan", "--dataset", str(data), "--protocol", "smoke", "--out", str(tmp_path)]) == 2
    assert "--protocol" in capsys.readouterr().err
    assert main(["run", "ircgan", "--dataset", str(data), "--budget", "fast", "--out", str(tmp_path)]) == 2
    assert "'fast' is not one of 'smoke', 'quick', 'paper'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_unknown_model_is_one_line(data, tmp_path, capsys):
    line = _one_line_error(capsys, ["run", "vgan-x", "--dataset", str(data), "--out", str(tmp_path)])
    assert "unknown model 'vgan-x'" in line and "ircgan" in line


def test_bad_set_value_and_missing_cuda_are_one_line_and_write_nothing(data, tmp_path, capsys):
    args = ["run", "ircgan", "--dataset", str(data), "--budget", "smoke", "--out", str(tmp_path / "r")]
    for extra, says in ((["--set", "train.iters=abc"], "expected an integer"),
                        (["--set", "model.ngf=0"], "at least 1"),
                        (["--set", "train.lr_d=0"], "must be positive"),
                        (["--set", "eval.n_samples=0"], "integer >= 2"),
                        (["--set", "train.batch=100000"], "fewer than one global batch"),
                        (["--set", "text.mode=fancy"], "text.mode"),
                        (["--judge", str(tmp_path / "missing.pt")], "does not exist")):
        assert says in _one_line_error(capsys, [*args, *extra]), extra
        assert not (tmp_path / "r").exists(), extra  # the corrected command can start afresh
    import torch

    if not torch.cuda.is_available():
        assert "CUDA device" in _one_line_error(capsys, [*args, "--device", "cuda"])


def test_dataset_that_does_not_fit_is_one_line(make, tmp_path, capsys):
    short = make("smnist4", n=16, n_test=8, frames=8)
    line = _one_line_error(capsys, ["run", "ircgan", "--dataset", str(short), "--budget", "smoke",
                                    "--out", str(tmp_path)])
    assert "16 frames" in line
    line = _one_line_error(capsys, ["run", "ircgan", "--dataset", str(tmp_path / "missing"), "--budget", "smoke",
                                    "--out", str(tmp_path)])
    assert "missing" in line and ("does not exist" in line or "not a t2vbench dataset" in line), line


def test_corrupt_checkpoint_is_one_line(data, smoke, tmp_path, capsys):
    """A truncated file fails its recorded sha256; without a record (a run folder from before t2vbench
    recorded them) torch's own error is named in one whole sentence, not cut mid-word."""
    import shutil

    run_dir = tmp_path / smoke.name
    shutil.copytree(smoke, run_dir)
    last = run_dir / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:200])
    argv = ["run", "ircgan", "--dataset", str(data), "--budget", "smoke", "--out", str(tmp_path), "--resume",
            "--no-eval"]
    line = _one_line_error(capsys, argv)
    assert "does not match its recorded sha256" in line and "last.pt" in line and "delete it" in line
    (run_dir / "checkpoints" / "last.pt.sha256").unlink()
    line = _one_line_error(capsys, argv)
    assert "corrupt checkpoint" in line and "last.pt" in line and "truncated" in line and "If yo" not in line
    assert line.endswith("to train from step 0 again"), line
    (run_dir / "model.pt").write_bytes(b"not a checkpoint")
    sample = ["sample", str(run_dir), "--caption", "digit 1 is moving up then down", "--out", str(tmp_path / "x.gif")]
    line = _one_line_error(capsys, sample)
    assert "does not match its recorded sha256" in line and "model.pt" in line and "--resume" in line
    (run_dir / "model.pt.sha256").unlink()
    line = _one_line_error(capsys, sample)
    assert "corrupt checkpoint" in line and "model.pt" in line and "If yo" not in line
    assert not (tmp_path / "x.gif").exists()
    (run_dir / "config.json").write_text("{ half a file")
    line = _one_line_error(capsys, sample)
    assert "config.json" in line and "damaged" in line


def test_a_killed_save_leaves_no_temp_behind_the_next_save(tmp_path):
    from t2vbench.train import checkpoint as ckpt

    stale = tmp_path / ".last.pt.tmp-otherhost-12345"  # what a save killed in another process leaves
    stale.write_bytes(b"half a checkpoint")
    ckpt.save(tmp_path / "last.pt", {"format": 1, "step": 3})
    assert not stale.exists() and ckpt.load(tmp_path / "last.pt")["step"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "last.pt.sha256"]


def test_a_judge_that_cannot_read_the_dataset_stops_the_run_before_training(data, tmp_path, capsys):
    """The evaluation's judge is checked before the first step, not after an hour of training."""
    argv = ["run", "ircgan", "--dataset", str(data), "--budget", "smoke", "--out", str(tmp_path / "r")]
    line = _one_line_error(capsys, [*argv, "--judge", str(tmp_path / "missing.pt")])
    assert "missing.pt" in line and "--no-eval" in line
    assert not (tmp_path / "r").exists()
