"""The results JSON of one evaluation: what was measured, with what, on what, by which code.

Keys: model, dataset, dataset_config_sha256, budget, protocol, protocol_version, eval_seed, train_seed,
code_version, hardware, wall_time_s, judge_sha256, metrics {snake_case: number; `caption_acc` is the
exact-match caption accuracy}, metric_impl {metric: {name, version}}, skipped {metric: why}, info.
`protocol` / `protocol_version` name the frozen evaluation protocol; `budget` the training budget the
model was trained for (`info["budget"]`, which `t2vbench run` records; None for samples from elsewhere
and for real data).
"""
from __future__ import annotations

import datetime
import math
import os
import platform
import subprocess
from pathlib import Path

RESULTS_FORMAT = 1


def is_rate(metric: str) -> bool:
    """Accuracies, the temporal consistency and the GAM error rates: fractions of videos, in [0, 1]."""
    return metric.endswith("_acc") or "_acc_" in metric or metric.startswith(
        ("caption_acc", "temporal_consistency", "gam_d_err"))


def metric_problems(metrics: dict) -> list[str]:
    """What makes a results file's metrics no result: a value that is not a number, not finite (an
    evaluation of a diverged model), or a rate outside [0, 1]. None is a metric that was not measured."""
    out = []
    for k, v in metrics.items():
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            out.append(f"metric {k} is not a number ({v!r})")
        elif not math.isfinite(v):
            out.append(f"metric {k} is {v} (not finite)")
        elif is_rate(k) and not 0 <= v <= 1:
            out.append(f"metric {k} = {v} is outside [0, 1]")
    return out


def code_version() -> dict:
    """Package version plus the git commit (and whether the tree is dirty) when run from a checkout."""
    from t2vbench import __version__

    out = {"t2vbench": __version__}
    repo = Path(__file__).resolve().parents[2]
    if (repo / ".git").exists():
        try:
            commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                                    text=True, timeout=5).stdout.strip()
            dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            if commit:
                out.update({"git_commit": commit, "git_dirty": bool(dirty)})
        except (OSError, subprocess.SubprocessError):
            pass
    return out


def hardware() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            # the instruction set torch's kernels use: float results, and so trained weights, depend on it
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "device": "cpu",  # where the judges ran; a generator's own device is not visible here
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def make_results(*, model: str, manifest: dict, judge, metrics: dict, metric_impl: dict, skipped: dict,
                 eval_seed: int, train_seed, n_samples: int, wall_time_s: float, info: dict | None,
                 protocol: dict) -> dict:
    return {
        "results_format": RESULTS_FORMAT,
        "model": model,
        "dataset": manifest["dataset"],
        "dataset_config_sha256": manifest.get("config_sha256"),
        "budget": (info or {}).get("budget"),
        "protocol": protocol["name"],
        "protocol_version": protocol["version"],
        "protocol_config": protocol,
        "eval_seed": int(eval_seed),
        "train_seed": train_seed,
        "n_samples": int(n_samples),
        "code_version": code_version(),
        "hardware": hardware(),
        "wall_time_s": round(float(wall_time_s), 3),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "judge_sha256": judge.sha256,
        "judge": {"file": os.path.basename(judge.path), "trained_on": judge.meta.get("dataset"),
                  "dataset_config_sha256": judge.meta.get("dataset_config_sha256")},
        "metrics": {k: (None if v is None else float(v)) for k, v in sorted(metrics.items())},
        "metric_impl": metric_impl,
        "skipped": skipped,
        "info": info or {},
    }


def check_writable(path) -> None:
    """Fail before an evaluation, not after it: `path` must be a file that can be created."""
    import tempfile

    from t2vbench.errors import UserError

    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder; give the results file a name, e.g. {path / 'results.json'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".t2vbench-write-test-"):
            pass
    except OSError as e:
        raise UserError(f"cannot write {path} ({e.strerror or e}); choose another place for the results") from None


def write_results(path, results: dict) -> None:
    from t2vbench.data.format import write_json_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, results)
