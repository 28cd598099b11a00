"""Faults of a run, one table (tests/cli_cases.py): a failed run is a failure (non-finite losses or
weights, a full disk, a damaged checkpoint or model.pt, damaged or missing test data), never a result;
what a run refuses it refuses before its folder is written; the leaderboard names what it skips. Then
the recovery: a real `t2vbench run` killed with SIGKILL in stage 1, in the training loop and in the
evaluation resumes to the same model.pt bytes as an uninterrupted run.

Each case: the command, its exit code, a fragment of its one line on stderr, and what it must not write;
AFTER[name] checks what a case must leave (the last good checkpoint, the CSV's rows).
"""
from __future__ import annotations

import csv
import errno
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from cli_cases import Case, run_case

from t2vbench.cli import main
from t2vbench.train import checkpoint as ckpt

pytestmark = pytest.mark.usefixtures("torch_one_thread")

FAST = ["--budget", "smoke", "-q", "--set", "train.iters=3", "--set", "text.pretrain.iters=2"]
IRC = "ircgan-smnist4-smoke-seed0"
TGC = "tgans-c-smnist4-smoke-seed0"
CAPTION = "digit 1 is moving up then down"


@pytest.fixture(scope="module")
def data(make):
    return make("smnist4", n=48, n_test=16)


@pytest.fixture(scope="module")
def finished(data, tmp_path_factory):
    """A finished `run ircgan --no-eval` (stage 1, last.pt, model.pt, each with its sha256), copied by the
    cases that damage it."""
    out = tmp_path_factory.mktemp("finished")
    assert main(["run", "ircgan", "--dataset", str(data), *FAST, "--no-eval", "--out", str(out)]) == 0
    return out / IRC


# ---------------------------------------------------------------- set-ups: damage, full disks, divergence

def _flip(path: Path) -> None:
    b = bytearray(path.read_bytes())
    b[len(b) // 2] ^= 0xFF
    path.write_bytes(bytes(b))


def _copy(finished, tmp, **_) -> Path:
    run_dir = Path(tmp) / "runs" / IRC
    shutil.copytree(finished, run_dir)
    return run_dir


def flip_last(finished, tmp, **_):
    run_dir = _copy(finished, tmp)
    for p in (run_dir / "model.pt", run_dir / "model.pt.sha256"):
        p.unlink()
    _flip(run_dir / "checkpoints" / "last.pt")


def flip_model(finished, tmp, **_):
    _flip(_copy(finished, tmp) / "model.pt")


def truncate_unrecorded_model(finished, tmp, **_):
    """A run folder from before t2vbench recorded sha256 values, its model.pt cut short."""
    run_dir = _copy(finished, tmp)
    for p in run_dir.rglob("*.sha256"):
        p.unlink()
    model = run_dir / "model.pt"
    model.write_bytes(model.read_bytes()[:4096])


def flip_text_encoder(finished, tmp, **_):
    _flip(_copy(finished, tmp) / "text_encoder.pt")


def unrecorded(finished, tmp, **_):
    for p in _copy(finished, tmp).rglob("*.sha256"):
        p.unlink()


def a_finished_run(finished, tmp, **_):
    _copy(finished, tmp)


def flip_test_shard(data, tmp, **_):
    bad = Path(tmp) / "bad"
    shutil.copytree(data, bad)
    _flip(next(bad.glob("test-*.h5")))


def _nth_train_step(mp, n: int, poison_logs: bool):
    """From the n-th training step on, the weights hold inf (and, with poison_logs, the logs say nan)."""
    from t2vbench.baselines.gan import TextToVideoGAN

    real, calls = TextToVideoGAN.train_step, [0]

    def step(self, *a, **k):
        logs = real(self, *a, **k)
        calls[0] += 1
        if calls[0] >= n:
            with torch.no_grad():
                next(self.generator.parameters()).fill_(math.inf)
            if poison_logs:
                logs = {**logs, "g_loss": math.nan}
        return logs

    mp.setattr(TextToVideoGAN, "train_step", step)


def nan_at_step_5(mp, **_):
    _nth_train_step(mp, 5, poison_logs=True)


def inf_weights_at_step_3(mp, **_):
    _nth_train_step(mp, 3, poison_logs=False)


def _failing_save(mp, kind: str, nth: int, error):
    """torch.save fails on the nth save of a checkpoint of `kind` (train, model, text_encoder)."""
    real, calls = torch.save, [0]

    def save(obj, f, *a, **k):
        if isinstance(obj, dict) and obj.get("kind") == kind:
            calls[0] += 1
            if calls[0] == nth:
                f.write(b"half a checkpoint")  # a partly written temp file, as a full disk leaves it
                raise error
        return real(obj, f, *a, **k)

    mp.setattr(torch, "save", save)


def disk_full_at_second_checkpoint(mp, **_):
    _failing_save(mp, "train", 2, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))


def torch_write_fails_at_model_pt(mp, **_):
    _failing_save(mp, "model", 1, RuntimeError(
        "[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file data/3: file write "
        "failed"))


def disk_full_at_the_log(mp, **_):
    from t2vbench.train.runner import JsonlLog

    def write(self, row):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))

    mp.setattr(JsonlLog, "write", write)


def _result(model, seed, acc, date="2026-01-01T00:00:00+00:00", **extra):
    return {"model": model, "dataset": "smnist4", "dataset_config_sha256": "abc", "protocol": "p",
            "protocol_version": "1.0", "eval_seed": 0, "train_seed": seed, "n_samples": 2048, "judge_sha256": "j",
            "date": date, "metrics": {"caption_acc": acc, "fd_video": 10.0}, **extra}


def _results(tmp, files: dict):
    res = Path(tmp) / "res"
    res.mkdir(exist_ok=True)
    (res / "good.json").write_text(json.dumps(_result("good", 0, 0.5)))
    for name, text in files.items():
        (res / name).write_text(text)


def a_results_file_cut_short(tmp, **_):
    _results(tmp, {"cut.json": json.dumps(_result("cut", 0, 0.5))[:60]})


def a_nan_metric(tmp, **_):
    _results(tmp, {"nan.json": json.dumps(_result("nan", 0, float("nan")))})  # json writes NaN


def a_rate_of_750_percent(tmp, **_):
    _results(tmp, {"rate.json": json.dumps(_result("rate", 0, 7.5))})


def a_rerun(tmp, **_):
    _results(tmp, {"old.json": json.dumps(_result("m", 0, 0.1)),
                   "new.json": json.dumps(_result("m", 0, 0.3, date="2026-02-01T00:00:00+00:00"))})


def a_departure(tmp, **_):
    w = "3 of 2048 captions are not the protocol's: the results are not comparable with runs under the protocol"
    _results(tmp, {"shuffled.json": json.dumps(_result("good", 1, 0.9, info={"warnings": [w]}))})


# ---------------------------------------------------------------- the table

RUN = "{tmp}/runs/" + IRC
LB = ["leaderboard", "--results", "{tmp}/res", "--csv", "{tmp}/lb.csv"]
NOTHING_OF_TGC = [f"{{tmp}}/runs/{TGC}/{f}" for f in ("model.pt", "results.json")] + ["{tmp}/runs/leaderboard.csv"]
SAMPLE = ["sample", RUN, "--caption", CAPTION, "--out", "{tmp}/clip.gif"]

CASES = [
    # 1. non-finite training
    Case("a non-finite loss stops stage 2", ["run", "tgans-c", "--dataset", "{data}", *FAST, "--out", "{tmp}/runs",
                                             "--set", "train.lr_g=1e30", "--set", "train.lr_d=1e30"],
         2, "training diverged at step 1: ", NOTHING_OF_TGC + [f"{{tmp}}/runs/{TGC}/checkpoints/last.pt"]),
    Case("a nan after a checkpoint keeps that checkpoint",
         ["run", "tgans-c", "--dataset", "{data}", *FAST, "--out", "{tmp}/runs", "--set", "train.iters=8",
          "--set", "train.ckpt_every=2"],
         2, "g_loss = nan (not finite); no result is written and the last good checkpoint", NOTHING_OF_TGC,
         nan_at_step_5),
    Case("weights that turn inf under a finite loss are never checkpointed",
         ["run", "tgans-c", "--dataset", "{data}", *FAST, "--out", "{tmp}/runs", "--set", "train.iters=4",
          "--set", "train.ckpt_every=1"],
         2, "training diverged at step 3: the weights generator.", NOTHING_OF_TGC, inf_weights_at_step_3),
    Case("a non-finite loss stops stage 1", ["run", "ircgan", "--dataset", "{data}", *FAST, "--out", "{tmp}/runs",
                                             "--set", "text.pretrain.lr=1e30", "--set", "text.pretrain.iters=4"],
         2, "stage 1 (text_encoder) diverged at step",
         [f"{RUN}/{f}" for f in ("text_encoder.pt", "checkpoints", "model.pt", "results.json")]),
    Case("a non-finite --set value", ["run", "tgans-c", "--dataset", "{data}", *FAST, "--out", "{tmp}/runs",
                                      "--set", "train.lr_g=NaN"], 2, "expected a finite number", ["{tmp}/runs"]),
    # 2. damaged checkpoints and model.pt
    Case("a byte-flipped last.pt is refused on resume", ["run", "ircgan", "--dataset", "{data}", *FAST, "--no-eval",
                                                          "--out", "{tmp}/runs", "--resume"],
         2, "last.pt does not match its recorded sha256", [f"{RUN}/model.pt"], flip_last),
    Case("a byte-flipped model.pt samples nothing", SAMPLE, 2, "model.pt does not match its recorded sha256",
         ["{tmp}/clip.gif"], flip_model),
    Case("a truncated model.pt without a record is named whole", SAMPLE, 2,
         "not a complete torch file, truncated or damaged (PytorchStreamReader failed reading zip archive: failed "
         "finding central directory); delete it", ["{tmp}/clip.gif"], truncate_unrecorded_model),
    Case("a byte-flipped text_encoder.pt is refused on resume", ["run", "ircgan", "--dataset", "{data}", *FAST,
                                                                  "--no-eval", "--out", "{tmp}/runs", "--resume"],
         2, "text_encoder.pt does not match its recorded sha256", [], flip_text_encoder),
    Case("a run folder from before sha256 records still samples", SAMPLE, 0, "", [], unrecorded),
    # 10. a dataset without test videos
    Case("no test videos: the evaluation is refused before the run folder",
         ["run", "tgans-c", "--dataset", "{data0}", *FAST, "--out", "{tmp}/runs"], 2, "has no test videos",
         ["{tmp}/runs"]),
    Case("no test videos, --no-eval: trains, grids of train captions",
         ["run", "tgans-c", "--dataset", "{data0}", *FAST, "--no-eval", "--out", "{tmp}/runs"], 0, ""),
    # 11. full disks
    Case("a full disk at a checkpoint keeps the previous one",
         ["run", "tgans-c", "--dataset", "{data}", *FAST, "--out", "{tmp}/runs", "--set", "train.iters=4",
          "--set", "train.ckpt_every=2"],
         2, "last.pt: No space left on device (the disk or quota is full: free space); the previous last.pt",
         NOTHING_OF_TGC, disk_full_at_second_checkpoint),
    Case("torch's write failure at model.pt", ["run", "tgans-c", "--dataset", "{data}", *FAST, "--out", "{tmp}/runs"],
         2, "model.pt: torch could not write the file (PytorchStreamWriter failed writing file data/3: file write "
            "failed; is the disk full?)", NOTHING_OF_TGC, torch_write_fails_at_model_pt),
    Case("a full disk at the log", ["run", "tgans-c", "--dataset", "{data}", *FAST, "--out", "{tmp}/runs"],
         2, "log.jsonl: No space left on device", NOTHING_OF_TGC, disk_full_at_the_log),
    # 12. --resume without a run, damaged test data
    Case("--resume with no run starts it and says so", ["run", "tgans-c", "--dataset", "{data}", *FAST,
                                                         "--no-eval", "--out", "{tmp}/runs", "--resume"],
         0, f"/runs/{TGC} holds no run yet; starting it from step 0"),
    Case("a damaged test shard is found before training", ["run", "tgans-c", "--dataset", "{tmp}/bad", *FAST,
                                                            "--out", "{tmp}/runs"],
         2, "does not match its sha256 in the manifest", ["{tmp}/runs"], flip_test_shard),
    # 13. seeds
    Case("a negative seed", ["run", "tgans-c", "--dataset", "{data}", *FAST, "--seed", "-1", "--out", "{tmp}/runs"],
         2, "'--seed': -1 is not in the range x>=0", ["{tmp}/runs"]),
    # neighbours that already held
    Case("a second start without --resume", ["run", "ircgan", "--dataset", "{data}", *FAST, "--no-eval",
                                              "--out", "{tmp}/runs"],
         2, "already holds a run; add --resume", [], a_finished_run),
    Case("--resume with another config", ["run", "ircgan", "--dataset", "{data}", *FAST, "--no-eval", "--out",
                                          "{tmp}/runs", "--resume", "--set", "train.lr_g=0.001"],
         2, "another config_sha256", [], a_finished_run),
    Case("a bad --set kind", ["run", "tgans-c", "--dataset", "{data}", *FAST, "--out", "{tmp}/runs",
                              "--set", "train.iters=abc"], 2, "expected an integer", ["{tmp}/runs"]),
    # 5. the leaderboard names what it skips and replaces
    Case("a results file cut short is named", LB, 0, "res/cut.json: not valid JSON", [],
         a_results_file_cut_short),
    Case("a nan metric is no result", LB, 0, "nan.json: metric caption_acc is nan (not finite)", [], a_nan_metric),
    Case("a rate of 750% is no result", LB, 0, "rate.json: metric caption_acc = 7.5 is outside [0, 1]", [],
         a_rate_of_750_percent),
    Case("a re-run says what it replaced", LB, 0, "res/old.json is replaced by ", [],
         a_rerun),
    Case("a departure from the protocol is recorded", LB, 0, "", [], a_departure),
]


def _board(tmp) -> dict:
    with open(Path(tmp) / "lb.csv") as f:
        return {(r["model"], r["train_seed"]): r for r in csv.DictReader(f) if r["metric"] == "caption_acc"}


def _last_good(tmp, step):
    last = Path(tmp) / "runs" / TGC / "checkpoints" / "last.pt"
    state = ckpt.load(last)  # checked against its recorded sha256
    assert state["step"] == step
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.pt", "last.pt.sha256"]  # no temp left


def _no_test_videos(tmp, err):
    run_dir = Path(tmp) / "runs" / TGC
    assert (run_dir / "model.pt").exists() and not (run_dir / "results.json").exists()
    captions = (run_dir / "samples" / "captions.txt").read_text().splitlines()
    assert captions and all(c.startswith("digit ") for c in captions)


def _only_the_good_row(tmp, err):
    assert set(_board(tmp)) == {("good", "0")}


def _replaced(tmp, err):
    assert f"is replaced by {tmp}/res/new.json: " in err and "(the newer date wins)" in err
    assert _board(tmp)[("m", "0")]["value"] == "0.3"


def _departure(tmp, err):
    board = _board(tmp)
    assert board[("good", "0")]["protocol_departures"] == ""
    assert "3 of 2048 captions" in board[("good", "1")]["protocol_departures"]


def _not_cut(err):
    assert "If yo" not in err  # torch's message is cut at a sentence, not at 120 characters


def _kept_step_4(tmp, err):
    _last_good(tmp, 4)
    assert "(step 4), is kept" in err


def _exists(*parts):
    def check(tmp, err):
        assert Path(tmp).joinpath(*parts).exists()
    return check


def _says(fragment):
    def check(tmp, err):
        assert fragment in err
    return check


AFTER = {  # what a case must leave behind
    "a nan after a checkpoint keeps that checkpoint": _kept_step_4,
    "weights that turn inf under a finite loss are never checkpointed": lambda tmp, err: _last_good(tmp, 2),
    "a full disk at a checkpoint keeps the previous one": lambda tmp, err: _last_good(tmp, 2),
    "a run folder from before sha256 records still samples": _exists("clip.gif"),
    "a byte-flipped text_encoder.pt is refused on resume": _says("to train stage 1 again"),
    "a truncated model.pt without a record is named whole": lambda tmp, err: _not_cut(err),
    "no test videos, --no-eval: trains, grids of train captions": _no_test_videos,
    "--resume with no run starts it and says so": _exists("runs", TGC, "model.pt"),
    "a results file cut short is named": _only_the_good_row,
    "a nan metric is no result": _only_the_good_row,
    "a rate of 750% is no result": _only_the_good_row,
    "a re-run says what it replaced": _replaced,
    "a departure from the protocol is recorded": _departure,
}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_fault(case, make, data, finished, tmp_path, capsys, monkeypatch):
    err = run_case(case, capsys, data=data, data0=make("smnist4", n=48, n_test=0), finished=finished,
                   tmp=tmp_path, mp=monkeypatch)
    if case.name in AFTER:
        AFTER[case.name](tmp_path, err)


def test_the_issue_command_fails_and_writes_no_result(data, tmp_path, capsys):
    """`run ircgan --set train.lr_g=1e6 --set train.lr_d=1e6 --set train.iters=10` (the reported command,
    which printed "done" and wrote a result): the stage-1 warning of a 2-step stage 1, then the error."""
    capsys.readouterr()
    code = main(["run", "ircgan", "--dataset", str(data), *FAST, "--out", str(tmp_path), "--set", "train.lr_g=1e6",
                 "--set", "train.lr_d=1e6", "--set", "train.iters=10"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("t2vbench: error: training diverged at step ") and "Traceback" not in err
    assert all(line.startswith("t2vbench: warning:") for line in err[:-1]), err
    run_dir = tmp_path / IRC
    assert not any((run_dir / f).exists() for f in ("model.pt", "results.json"))
    assert not (tmp_path / "leaderboard.csv").exists()


def test_a_negative_or_non_integer_seed_is_refused_by_the_python_api(data, tmp_path):
    from t2vbench.errors import UserError
    from t2vbench.train.runner import run

    for seed, says in ((-1, "must be >= 0"), (1.5, "must be an integer"), (True, "must be an integer")):
        with pytest.raises(UserError, match=says):
            run("tgans-c", data, budget="smoke", seed=seed, out=tmp_path / "r", evaluate=False, progress=False)
    assert not (tmp_path / "r").exists()


def test_a_save_killed_between_its_rename_and_its_record_still_loads(tmp_path, monkeypatch):
    """The record holds the old and the new sha256 across the rename: whichever file a kill leaves, it
    matches its record."""
    path = tmp_path / "last.pt"
    ckpt.save(path, {"format": 2, "step": 1})
    real = ckpt._write_record

    def killed_after_the_rename(p, digests):
        if len(digests) == 1 and p.exists():
            raise KeyboardInterrupt  # stands in for SIGKILL after os.replace, before the final record
        real(p, digests)

    monkeypatch.setattr(ckpt, "_write_record", killed_after_the_rename)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save(path, {"format": 2, "step": 2})
    monkeypatch.undo()
    assert len(ckpt.recorded(path)) == 2 and ckpt.load(path)["step"] == 2
    ckpt.save(path, {"format": 2, "step": 3})
    assert len(ckpt.recorded(path)) == 1 and ckpt.load(path)["step"] == 3


# ---------------------------------------------------------------- kill -9, then --resume

KILL_SETS = ["--set", "train.iters=6", "--set", "train.ckpt_every=2", "--set", "train.log_every=1",
             "--set", "text.pretrain.iters=20"]


def _rows(run_dir: Path) -> list[dict]:
    rows = []
    try:
        text = (run_dir / "log.jsonl").read_text()
    except FileNotFoundError:
        return rows
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass  # a line being written
    return rows


def _t2vbench_run(data, out, resume: bool, kill_when=None, timeout: float = 120.0) -> int:
    """A real `t2vbench run` subprocess; SIGKILL as soon as kill_when() holds (polled every 5 ms)."""
    cmd = [sys.executable, "-m", "t2vbench.cli", "run", "ircgan", "--dataset", str(data), "--budget", "smoke",
           "--out", str(out), "--threads", "1", "-q", *KILL_SETS] + (["--resume"] if resume else [])
    proc = subprocess.Popen(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    t0 = time.time()
    try:
        while proc.poll() is None:
            if kill_when is not None and kill_when():
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return proc.returncode
            assert time.time() - t0 < timeout, "t2vbench run took too long"
            time.sleep(0.005)
        err = proc.stderr.read().decode()
        assert kill_when is None, f"the run ended (exit {proc.returncode}) before the phase to kill it in: {err}"
        assert proc.returncode == 0, err
        return 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


@pytest.mark.slow
def test_kill_9_in_each_phase_then_resume_gives_the_uninterrupted_model(data, tmp_path):
    """Killed in stage 1, then (resumed) in the training loop, then (resumed) in the evaluation; the last
    resume finishes: model.pt is byte for byte the uninterrupted run's, and so are its metrics."""
    out = tmp_path / "killed"
    run_dir = out / IRC
    stage1_rows = lambda: sum(r.get("stage") == 1 for r in _rows(run_dir))  # noqa: E731

    assert _t2vbench_run(data, out, False, lambda: stage1_rows() >= 3) == -signal.SIGKILL
    assert not (run_dir / "text_encoder.pt").exists(), "not killed in stage 1"

    def mid_loop():
        return (run_dir / "checkpoints" / "last.pt.sha256").exists() and \
            max([r["step"] for r in _rows(run_dir) if r.get("stage") == 2] or [0]) >= 3

    assert _t2vbench_run(data, out, True, mid_loop) == -signal.SIGKILL
    assert (run_dir / "text_encoder.pt").exists() and not (run_dir / "model.pt").exists(), "not killed mid-loop"
    assert 2 <= ckpt.load(run_dir / "checkpoints" / "last.pt")["step"] < 6

    final_gif = run_dir / "samples" / "final.gif"  # written after model.pt, just before the evaluation
    assert _t2vbench_run(data, out, True, final_gif.exists) == -signal.SIGKILL
    assert (run_dir / "model.pt").exists() and not (run_dir / "results.json").exists(), "not killed in evaluation"

    assert _t2vbench_run(data, out, True) == 0
    assert _t2vbench_run(data, tmp_path / "whole", False) == 0
    whole = tmp_path / "whole" / IRC
    assert (run_dir / "model.pt").read_bytes() == (whole / "model.pt").read_bytes()
    assert ckpt.recorded(run_dir / "model.pt") == ckpt.recorded(whole / "model.pt")
    metrics = [json.loads((d / "results.json").read_text())["metrics"] for d in (run_dir, whole)]
    assert metrics[0] == metrics[1]
    strip = lambda d: [{k: v for k, v in r.items() if k != "it_per_s"} for r in _rows(d)]  # noqa: E731
    assert strip(run_dir) == strip(whole)  # no line lost or doubled by the kills


@pytest.mark.parametrize("weights_too", [False, True])
def test_under_mixed_precision_an_overflowed_step_is_skipped_unless_the_weights_broke(data, tmp_path, monkeypatch,
                                                                                     weights_too):
    """An fp16 overflow makes a step's loss inf while the GradScalers skip its update: counted in the log
    (amp_skipped), not divergence; inf weights are. (AMP runs on CUDA only; here its scalers are disabled
    stand-ins, the runner's decision is what is tested.)"""
    import warnings

    import t2vbench.train.runner as runner
    from t2vbench.baselines.gan import TextToVideoGAN
    from t2vbench.errors import UserError

    real, calls = TextToVideoGAN.train_step, [0]

    def step(self, *a, **k):
        calls[0] += 1
        if calls[0] == 3:  # an overflowed forward: no update
            if weights_too:
                with torch.no_grad():
                    next(self.generator.parameters()).fill_(math.inf)
            return {"g_loss": math.inf, "d_loss": 1.0}
        return real(self, *a, **k)

    monkeypatch.setattr(TextToVideoGAN, "train_step", step)
    monkeypatch.setattr(runner, "use_amp", lambda tcfg, device: True)
    sets = ["train.iters=4", "train.log_every=2", "train.ckpt_every=4"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GradScaler("cuda") without CUDA: disabled, says so
        if weights_too:
            with pytest.raises(UserError, match="training diverged at step 3: g_loss = inf"):
                runner.run("tgans-c", data, budget="smoke", out=tmp_path, overrides=sets, evaluate=False,
                           progress=False)
            assert not (tmp_path / TGC / "model.pt").exists()
            return
        runner.run("tgans-c", data, budget="smoke", out=tmp_path, overrides=sets, evaluate=False, progress=False)
    rows = [json.loads(x) for x in (tmp_path / TGC / "log.jsonl").read_text().splitlines()]
    assert [r.get("amp_skipped") for r in rows] == [None, 0.5]
    assert all(math.isfinite(v) for r in rows for k, v in r.items() if isinstance(v, float))
    assert (tmp_path / TGC / "model.pt").exists()
