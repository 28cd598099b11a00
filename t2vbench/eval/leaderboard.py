"""The leaderboard: results JSON files -> `leaderboard.csv` (long format) -> a Markdown table.

Long format, one row per (model, dataset, protocol version, metric, eval seed, train seed), so
nothing is averaged away: the Markdown view aggregates mean ± sample std (ddof = 1) over seeds, with
n. A cell only ever averages seeds: results of another dataset config, protocol version, judge or
sample count go to a table of their own, and a model trained with two configs shows as two rows.
A re-run of the same (model, dataset, metric, seeds, training config) replaces the older row
(latest `date` wins). `protocol` / `protocol_version` are the evaluation protocol's; `budget` is the
training budget (smoke / quick / paper; empty for real data and samples from elsewhere), also part of a
non-paper model's name (`ircgan@quick`).
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from pathlib import Path

from t2vbench.errors import UserError

COLUMNS = ["model", "dataset", "dataset_config_sha256", "budget", "protocol", "protocol_version", "metric",
           "value", "eval_seed", "train_seed", "train_config_sha256", "n_samples", "metric_impl", "judge_sha256",
           "source", "t2vbench_version", "git_commit", "hardware", "date", "results_file"]
# preferred column order in the Markdown view; other metrics follow alphabetically
ORDER = ["caption_acc", "digit_acc", "motion_acc", "digit_slot_acc", "motion_slot_acc", "action_acc",
         "direction_acc", "caption_acc_heldout", "caption_acc_seen", "motion_com_acc", "temporal_consistency",
         "frame_digit_acc", "frame_action_acc", "fd_frame", "fd_video", "fd2vid", "gam_d_err_real",
         "gam_d_err_own_samples"]
LOWER_IS_BETTER = ("fd_", "fd2vid")  # the GAM error rates are raw parts of a battle, better neither way
REAL = "real-data"


def _result_files(sources) -> list[Path]:
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    files = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            files += sorted(p.rglob("*.json"))
        elif p.exists():
            files.append(p)
        else:
            raise UserError(f"{p} does not exist; pass a results folder or results JSON files")
    return files


def load_results(sources, warn=lambda m: print(f"t2vbench: warning: {m}", file=sys.stderr)) -> list[tuple[Path, dict]]:
    """Every results JSON among `sources` (folders are searched recursively; other JSON is ignored, a
    results file that is damaged is skipped with a warning)."""
    out = []
    for f in _result_files(sources):
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if not (isinstance(data, dict) and isinstance(data.get("metrics"), dict) and "protocol_version" in data):
            continue
        why = _damage(data)
        if why:
            warn(f"skipped {f}: {why}")
        else:
            out.append((f, data))
    return out


def _damage(r: dict) -> str:
    for key in ("model", "dataset"):
        if not isinstance(r.get(key), str) or not r[key]:
            return f"no '{key}' name"
    bad = [k for k, v in r["metrics"].items()
           if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)))]
    return f"metric(s) {', '.join(bad)} are not numbers" if bad else ""


def budget_of(r: dict) -> str:
    """The training budget of a results dict: its `budget`, else `info["protocol"]` (where the results
    in results/quick-smnist4/ record it); "" when there is none."""
    if "budget" in r:
        return r["budget"] or ""
    return str((r.get("info") or {}).get("protocol") or "")


def rows_from(results: list[tuple[Path, dict]]) -> list[dict]:
    rows: dict = {}
    for path, r in results:
        code = r.get("code_version") or {}
        hw = r.get("hardware") or {}
        for metric, value in r["metrics"].items():
            if value is None:
                continue
            impl = (r.get("metric_impl") or {}).get(metric, {})
            row = {
                "model": r["model"], "dataset": r["dataset"],
                "dataset_config_sha256": r.get("dataset_config_sha256", ""), "budget": budget_of(r),
                "protocol": r.get("protocol", ""), "protocol_version": r["protocol_version"],
                "metric": metric, "value": float(value),
                "eval_seed": r.get("eval_seed", ""),
                "train_seed": "" if r.get("train_seed") is None else r["train_seed"],
                "train_config_sha256": str((r.get("info") or {}).get("config_sha256") or ""),
                "n_samples": r.get("n_samples", ""),
                "metric_impl": f"{impl.get('name', '')}@{impl.get('version', '')}" if impl else "",
                "judge_sha256": r.get("judge_sha256", ""),
                "source": r.get("source", "reproduced"),
                "t2vbench_version": code.get("t2vbench", ""), "git_commit": code.get("git_commit", ""),
                "hardware": f"{hw.get('cpu', '')} ({hw.get('device', '')}, torch {hw.get('torch', '')})" if hw else "",
                "date": r.get("date", ""), "results_file": os.path.relpath(path),
            }
            key = (row["model"], row["dataset"], row["dataset_config_sha256"], row["protocol_version"], metric,
                   str(row["eval_seed"]), str(row["train_seed"]), row["train_config_sha256"])
            if key not in rows or str(rows[key]["date"]) <= str(row["date"]):
                rows[key] = row
    return sorted(rows.values(), key=lambda r: (r["dataset"], r["model"] != REAL, r["model"], r["metric"],
                                                 str(r["train_seed"]), str(r["eval_seed"])))


def write_csv(rows: list[dict], csv_path) -> None:
    from t2vbench.data.format import atomic_file

    path = Path(csv_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "w") as f:
        f.write(to_csv(rows))


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in COLUMNS})
    return buf.getvalue()


def build(results_dir_or_files, csv_path="leaderboard.csv") -> list[dict]:
    """Read results JSON, write the long-format CSV (atomically; skipped if csv_path is None), return rows."""
    rows = rows_from(load_results(results_dir_or_files))
    if csv_path is not None:
        write_csv(rows, csv_path)
    return rows


TABLE_KEY = ("dataset", "protocol_version", "dataset_config_sha256", "judge_sha256", "n_samples")


def aggregate(rows: list[dict]) -> dict:
    """{(dataset, protocol_version, dataset config, judge, n_samples): {model: {metric: (mean, std or
    None, n)}}}: only seeds are averaged."""
    configs: dict = {}  # a model trained with two configs (e.g. --set) is two rows, never one mean
    for r in rows:
        table = tuple(str(r[k]) for k in TABLE_KEY)
        configs.setdefault((table, r["model"]), set()).add(r.get("train_config_sha256", ""))
    groups: dict = {}
    for r in rows:
        table = tuple(str(r[k]) for k in TABLE_KEY)
        cfg = r.get("train_config_sha256", "")
        name = r["model"] if len(configs[table, r["model"]]) == 1 else f"{r['model']} (config {cfg[:8] or 'unknown'})"
        groups.setdefault(table, {}).setdefault(name, {}).setdefault(r["metric"], []).append(float(r["value"]))
    out = {}
    for key, models in groups.items():
        out[key] = {}
        for model, metrics in models.items():
            out[key][model] = {}
            for metric, vals in metrics.items():
                n = len(vals)
                mean = sum(vals) / n
                std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else None
                out[key][model][metric] = (mean, std, n)
    return out


def _fmt(mean: float, std, n: int, metric: str) -> str:
    pct = metric.endswith("_acc") or metric.startswith(("caption_acc", "temporal_consistency", "gam_d_err")) \
        or "_acc_" in metric
    scale, digits = (100.0, 1) if pct else (1.0, 3)
    s = f"{mean * scale:.{digits}f}"
    if std is not None:
        s += f" ± {std * scale:.{digits}f}"
    return f"{s} ({n})"


def render_markdown(rows: list[dict], metrics: list[str] | None = None) -> str:
    """One table per (dataset, protocol version): models as rows, metrics as columns, mean ± std (n)
    over seeds. Accuracies in %, distances raw. The real-data ceiling comes first."""
    if not rows:
        return "_no results_\n"
    parts = []
    tables = aggregate(rows)
    datasets = [k[0] for k in tables]
    for key, models in sorted(tables.items()):
        dataset, version, config, judge, n = key
        present = {m for vals in models.values() for m in vals}
        cols = metrics or ([m for m in ORDER if m in present] + sorted(present - set(ORDER)))
        cols = [c for c in cols if c in present]
        head = ["model", *[c + (" ↓" if c.startswith(LOWER_IS_BETTER) else "") for c in cols]]
        title = f"### {dataset} (protocol {version}"
        if datasets.count(dataset) > 1:  # say what sets this table apart from the dataset's others
            title += f", config {config[:12]}, judge {judge[:12]}, {n} samples"
        lines = [title + ")", "", "| " + " | ".join(head) + " |",
                 "|" + "|".join(["---"] + ["---:"] * len(cols)) + "|"]
        order = sorted(models, key=lambda m: (m != REAL, -models[m].get("caption_acc", (0,))[0], m))
        for model in order:
            cells = [_fmt(*models[model][c], c) if c in models[model] else "–" for c in cols]
            lines.append("| " + " | ".join([model, *cells]) + " |")
        parts.append("\n".join(lines))
    note = ("Accuracies in %, mean ± sample std (n seeds). fd_* are Fréchet distances in the t2vbench "
            "judge's feature space (not FID/FVD). real-data = the real test videos: the ceiling.")
    return "\n\n".join(parts) + "\n\n" + note + "\n"
