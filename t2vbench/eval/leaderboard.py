"""The leaderboard: results JSON files -> `leaderboard.csv` (long format) -> a Markdown table.

Long format, one row per (model, dataset, protocol version, metric, eval seed, train seed), so
nothing is averaged away: the Markdown view aggregates mean ± sample std (ddof = 1) over seeds, with
n. A cell only ever averages seeds: results of another dataset config, protocol version, judge or
sample count go to a table of their own, and a model trained with two configs shows as two rows.
Results whose evaluation departed from the protocol (the results' info["warnings"]: other captions, a
smaller Fréchet reference, ...) never share a table with results that followed it, nor with results
of other departures (`protocol_departures`). A re-run of the same (model, dataset, metric, seeds,
training config) replaces the older row (latest `date` wins), and says which file replaced which.

Nothing is dropped silently: a results file that cannot be read (cut short, not JSON), lacks its names,
or holds a metric that is not a finite number or a rate outside [0, 1] is skipped with one warning
line naming it and why. Skipping rather than failing keeps one bad file from blocking the board, which
`t2vbench run` rebuilds after every run; the warning keeps it from going unnoticed.

`protocol` / `protocol_version` are the evaluation protocol's; `budget` is the training budget (smoke /
quick / paper; empty for real data and samples from elsewhere), also part of a non-paper model's name
(`ircgan@quick`).
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
from t2vbench.eval.results import is_rate, metric_problems

COLUMNS = ["model", "dataset", "dataset_config_sha256", "budget", "protocol", "protocol_version", "metric",
           "value", "eval_seed", "train_seed", "train_config_sha256", "n_samples", "metric_impl", "judge_sha256",
           "protocol_departures", "source", "t2vbench_version", "git_commit", "hardware", "date", "results_file"]
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


def _warn(message: str) -> None:
    print(f"t2vbench: warning: {message}", file=sys.stderr, flush=True)


def load_results(sources, warn=_warn) -> list[tuple[Path, dict]]:
    """Every results JSON among `sources` (folders are searched recursively). Valid JSON that is not a
    results file (a run's config.json) is ignored; a file that cannot be read or parsed (a results file
    cut short) or a damaged results file is skipped with one warning line."""
    out = []
    for f in _result_files(sources):
        try:
            data = json.loads(f.read_text())
        except (OSError, UnicodeDecodeError) as e:
            warn(f"skipped {f}: cannot read it ({getattr(e, 'strerror', None) or e})")
            continue
        except ValueError as e:
            warn(f"skipped {f}: not valid JSON ({e}), e.g. a results file cut short; evaluate again to rewrite it")
            continue
        if not (isinstance(data, dict) and ("metrics" in data or "protocol_version" in data)):
            continue
        why = _damage(data)
        if why:
            warn(f"skipped {f}: {why}")
        else:
            out.append((f, data))
    return out


def _damage(r: dict) -> str:
    if not isinstance(r.get("metrics"), dict):
        return "no 'metrics' object"
    if "protocol_version" not in r:
        return "no 'protocol_version'"
    for key in ("model", "dataset"):
        if not isinstance(r.get(key), str) or not r[key]:
            return f"no '{key}' name"
    info = r.get("info") or {}
    if not isinstance(info, dict):
        return "'info' is not an object"
    warnings = info.get("warnings") or []
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        return "info.warnings is not a list of strings"
    bad = metric_problems(r["metrics"])
    return "; ".join(bad) + " (a failed evaluation is not a result)" if bad else ""


def departures(r: dict) -> str:
    """How the evaluation departed from the protocol (its info["warnings"], joined); "" when it did not."""
    return "; ".join((r.get("info") or {}).get("warnings") or [])


def budget_of(r: dict) -> str:
    """The training budget of a results dict: its `budget`, else `info["protocol"]` (where the results
    in results/quick-smnist4/ record it); "" when there is none."""
    if "budget" in r:
        return r["budget"] or ""
    return str((r.get("info") or {}).get("protocol") or "")


def rows_from(results: list[tuple[Path, dict]], warn=_warn) -> list[dict]:
    rows: dict = {}
    replaced: dict = {}  # (older file, newer file, same date) -> None, in order
    shown = {os.path.relpath(path): str(path) for path, _ in results}
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
                "judge_sha256": r.get("judge_sha256", ""), "protocol_departures": departures(r),
                "source": r.get("source", "reproduced"),
                "t2vbench_version": code.get("t2vbench", ""), "git_commit": code.get("git_commit", ""),
                "hardware": f"{hw.get('cpu', '')} ({hw.get('device', '')}, torch {hw.get('torch', '')})" if hw else "",
                "date": r.get("date", ""), "results_file": os.path.relpath(path),
            }
            key = (row["model"], row["dataset"], row["dataset_config_sha256"], row["protocol_version"], metric,
                   str(row["eval_seed"]), str(row["train_seed"]), row["train_config_sha256"])
            if key not in rows:
                rows[key] = row
                continue
            old, new = (rows[key], row) if str(rows[key]["date"]) <= str(row["date"]) else (row, rows[key])
            if old["results_file"] != new["results_file"]:
                replaced[shown[old["results_file"]], shown[new["results_file"]], old["date"] == new["date"]] = None
            rows[key] = new
    for old, new, same_date in replaced:
        why = "the same date; the later file wins" if same_date else "the newer date wins"
        warn(f"{old} is replaced by {new}: a result for the same model, dataset, seeds and training config "
             f"({why})")
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


TABLE_KEY = ("dataset", "protocol_version", "dataset_config_sha256", "judge_sha256", "n_samples",
             "protocol_departures")


def aggregate(rows: list[dict]) -> dict:
    """{(dataset, protocol_version, dataset config, judge, n_samples, protocol departures): {model: {metric:
    (mean, std or None, n)}}}: only seeds are averaged."""
    configs: dict = {}  # a model trained with two configs (e.g. --set) is two rows, never one mean
    for r in rows:
        table = tuple(str(r.get(k, "")) for k in TABLE_KEY)
        configs.setdefault((table, r["model"]), set()).add(r.get("train_config_sha256", ""))
    groups: dict = {}
    for r in rows:
        table = tuple(str(r.get(k, "")) for k in TABLE_KEY)
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
    scale, digits = (100.0, 1) if is_rate(metric) else (1.0, 3)
    s = f"{mean * scale:.{digits}f}"
    if std is not None:
        s += f" ± {std * scale:.{digits}f}"
    return f"{s} ({n})"


def render_markdown(rows: list[dict], metrics: list[str] | None = None) -> str:
    """One table per (dataset, protocol version, dataset config, judge, sample count, protocol
    departures): models as rows, metrics as columns, mean ± std (n) over seeds. Accuracies in %,
    distances raw. The real-data ceiling comes first; a table of results that departed from the protocol
    says how under its title."""
    if not rows:
        return "_no results_\n"
    parts = []
    tables = aggregate(rows)
    datasets = [k[0] for k in tables]
    for key, models in sorted(tables.items()):
        dataset, version, config, judge, n, departed = key
        present = {m for vals in models.values() for m in vals}
        cols = metrics or ([m for m in ORDER if m in present] + sorted(present - set(ORDER)))
        cols = [c for c in cols if c in present]
        head = ["model", *[c + (" ↓" if c.startswith(LOWER_IS_BETTER) else "") for c in cols]]
        title = f"### {dataset} (protocol {version}"
        if datasets.count(dataset) > 1:  # say what sets this table apart from the dataset's others
            title += f", config {config[:12]}, judge {judge[:12]}, {n} samples"
        if departed:
            title += ", departs from the protocol"
        lines = [title + ")", ""] + ([f"_Departures from the protocol: {departed}_", ""] if departed else []) + [
                 "| " + " | ".join(head) + " |",
                 "|" + "|".join(["---"] + ["---:"] * len(cols)) + "|"]
        order = sorted(models, key=lambda m: (m != REAL, -models[m].get("caption_acc", (0,))[0], m))
        for model in order:
            cells = [_fmt(*models[model][c], c) if c in models[model] else "–" for c in cols]
            lines.append("| " + " | ".join([model, *cells]) + " |")
        parts.append("\n".join(lines))
    note = ("Accuracies in %, mean ± sample std (n seeds). fd_* are Fréchet distances in the t2vbench "
            "judge's feature space (not FID/FVD). real-data = the real test videos: the ceiling.")
    return "\n\n".join(parts) + "\n\n" + note + "\n"
