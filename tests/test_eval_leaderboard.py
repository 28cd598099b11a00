"""Leaderboard: long-format CSV rows per (model, dataset, metric, seed); Markdown mean ± std."""
import csv
import json
from pathlib import Path

from t2vbench.cli import main
from t2vbench.eval import leaderboard as lb


def _result(model, seed, acc, fd, date="2026-01-01T00:00:00+00:00", version="1.0"):
    return {"model": model, "dataset": "smnist4", "dataset_config_sha256": "abc", "protocol": "p",
            "protocol_version": version, "eval_seed": 0, "train_seed": seed, "n_samples": 2048,
            "code_version": {"t2vbench": "0.1.0"}, "hardware": {"cpu": "x", "device": "cpu", "torch": "2"},
            "wall_time_s": 1.0, "judge_sha256": "j", "date": date,
            "metrics": {"caption_acc": acc, "fd_video": fd},
            "metric_impl": {"caption_acc": {"name": "c", "version": "1"}, "fd_video": {"name": "f", "version": "1"}}}


def _write(folder, name, obj):
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(json.dumps(obj))


def test_build_writes_one_row_per_model_metric_and_seed(tmp_path):
    res = tmp_path / "results"
    _write(res, "a0.json", _result("ircgan", 0, 0.5, 10.0))
    _write(res, "a1.json", _result("ircgan", 1, 0.7, 14.0))
    _write(res, "real.json", {**_result("real-data", None, 0.99, 1.0)})
    _write(res, "other.json", {"not": "a result"})
    rows = lb.build(res, tmp_path / "leaderboard.csv")
    assert len(rows) == 6
    with open(tmp_path / "leaderboard.csv") as f:
        got = list(csv.DictReader(f))
    assert len(got) == 6 and set(got[0]) == set(lb.COLUMNS)
    md = lb.render_markdown(rows)
    lines = [l for l in md.splitlines() if l.startswith("| ")]
    assert lines[1].startswith("| real-data")  # the ceiling first
    ircgan = next(l for l in lines if l.startswith("| ircgan"))
    assert "60.0 ± 14.1 (2)" in ircgan and "12.000 ± 2.828 (2)" in ircgan


def test_rerun_replaces_the_older_row_and_versions_never_mix(tmp_path):
    res = tmp_path / "r"
    _write(res, "old.json", _result("m", 0, 0.1, 1.0, date="2026-01-01T00:00:00+00:00"))
    _write(res, "new.json", _result("m", 0, 0.3, 1.0, date="2026-02-01T00:00:00+00:00"))
    _write(res, "v2.json", _result("m", 0, 0.9, 1.0, version="2.0"))
    rows = lb.build(res, None)
    acc = {(r["protocol_version"], r["value"]) for r in rows if r["metric"] == "caption_acc"}
    assert acc == {("1.0", 0.3), ("2.0", 0.9)}
    assert lb.render_markdown(rows).count("### smnist4") == 2


def test_cli_prints_markdown_or_csv(tmp_path, capsys):
    res = tmp_path / "r"
    _write(res, "a.json", _result("m", 0, 0.5, 2.0))
    assert main(["leaderboard", "--results", str(res), "--csv", str(tmp_path / "lb.csv")]) == 0
    assert "| m |" in capsys.readouterr().out
    assert main(["leaderboard", "--results", str(res), "--csv", str(tmp_path / "lb.csv"), "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("model,dataset,")
    assert main(["leaderboard", "--results", str(tmp_path / "empty-dir-missing")]) == 2


def test_only_seeds_are_averaged_other_configs_get_their_own_table(tmp_path):
    res = tmp_path / "r"
    _write(res, "a.json", _result("m", 0, 0.5, 2.0))
    _write(res, "b.json", {**_result("m", 1, 0.7, 2.0), "dataset_config_sha256": "other"})
    _write(res, "c.json", {**_result("m", 2, 0.9, 2.0), "n_samples": 256})
    md = lb.render_markdown(lb.build(res, None))
    assert md.count("### smnist4") == 3 and "config other" in md and "256 samples" in md
    assert "(1)" in md and "(2)" not in md and "(3)" not in md  # no cell mixes the three results


def test_a_model_trained_with_two_configs_is_two_rows(tmp_path):
    res = tmp_path / "r"
    for seed, cfg in ((0, "aaaa1111"), (1, "aaaa1111"), (2, "bbbb2222")):
        _write(res, f"m{seed}.json", {**_result("m", seed, 0.5 + seed / 10, 2.0), "info": {"config_sha256": cfg}})
    _write(res, "same-seed.json", {**_result("m", 0, 0.9, 2.0), "info": {"config_sha256": "bbbb2222"}})
    rows = lb.build(res, None)
    assert len([r for r in rows if r["metric"] == "caption_acc"]) == 4  # same seed, other config: kept
    lines = [l for l in lb.render_markdown(rows).splitlines() if l.startswith("| m ")]
    assert len(lines) == 2 and "(config aaaa1111)" in lines[0] + lines[1]
    assert any("55.0 ± 7.1 (2)" in l for l in lines) and any("80.0 ± 14.1 (2)" in l for l in lines)


def test_damaged_results_are_skipped_and_an_empty_folder_keeps_the_csv(tmp_path, capsys):
    res = tmp_path / "r"
    _write(res, "good.json", _result("m", 0, 0.5, 2.0))
    _write(res, "noname.json", {k: v for k, v in _result("x", 0, 0.5, 2.0).items() if k != "model"})
    _write(res, "text.json", {**_result("y", 0, 0.5, 2.0), "metrics": {"caption_acc": "high"}})
    csv_path = tmp_path / "lb.csv"
    assert main(["leaderboard", "--results", str(res), "--csv", str(csv_path)]) == 0
    err = capsys.readouterr().err
    assert "skipped" in err and "noname.json" in err and "text.json" in err
    before = csv_path.read_text()
    assert {r["model"] for r in csv.DictReader(before.splitlines())} == {"m"}
    (tmp_path / "empty").mkdir()
    assert main(["leaderboard", "--results", str(tmp_path / "empty"), "--csv", str(csv_path)]) == 2
    assert csv_path.read_text() == before


def test_budget_column_reads_results_with_and_without_a_budget_key(tmp_path):
    """`budget` is the training budget, read from the key or, as the committed results/quick-smnist4/*.json
    carry it, from info["protocol"]; protocol_version stays the evaluation protocol's."""
    committed = Path(__file__).resolve().parents[1] / "results" / "quick-smnist4"
    files = sorted(committed.glob("*.json"))
    assert files and all("budget" not in json.loads(f.read_text()) for f in files)  # the older form
    rows = lb.build(committed, None)
    budgets = {r["model"]: r["budget"] for r in rows}
    assert budgets["real-data"] == "" and budgets["ircgan@quick"] == "quick"
    assert {b for m, b in budgets.items() if m != "real-data"} == {"quick"} and len(budgets) == len(files)
    assert {r["protocol_version"] for r in rows} == {"1.0"}

    res = tmp_path / "r"
    _write(res, "new.json", {**_result("m@smoke", 0, 0.5, 2.0), "budget": "smoke",
                             "info": {"budget": "smoke", "config_sha256": "c"}})
    _write(res, "file.json", {**_result("mine", 0, 0.5, 2.0), "budget": None})  # `t2vbench eval` of a samples file
    _write(res, "old.json", {**_result("m@quick", 0, 0.5, 2.0), "info": {"protocol": "quick"}})
    rows = lb.build(res, tmp_path / "lb.csv")
    assert {r["model"]: r["budget"] for r in rows} == {"m@smoke": "smoke", "mine": "", "m@quick": "quick"}
    with open(tmp_path / "lb.csv") as f:
        assert {r["model"]: r["budget"] for r in csv.DictReader(f)}["m@smoke"] == "smoke"


def test_results_that_departed_from_the_protocol_get_a_table_of_their_own(tmp_path):
    """info["warnings"] (e.g. captions other than the protocol's) separate results: never one mean."""
    shuffled = "5 of 2048 captions are not the protocol's (sample i shows test caption i, in order)"
    res = tmp_path / "r"
    _write(res, "a.json", _result("m", 0, 0.5, 2.0))
    _write(res, "b.json", {**_result("m", 1, 0.7, 2.0), "info": {"warnings": []}})  # none: the same as no key
    _write(res, "c.json", {**_result("m", 2, 0.9, 2.0), "info": {"warnings": [shuffled]}})
    rows = lb.build(res, None)
    md = lb.render_markdown(rows)
    assert md.count("### smnist4") == 2 and md.count("departs from the protocol") == 1 and shuffled in md
    assert "60.0 ± 14.1 (2)" in md and "90.0 (1)" in md  # a and b averaged; c alone
    assert {r["protocol_departures"] for r in rows} == {"", shuffled}


def test_values_that_are_no_result_are_skipped_by_name(tmp_path):
    res = tmp_path / "r"
    _write(res, "good.json", _result("m", 0, 0.5, 2.0))
    bad = {"nan.json": float("nan"), "inf.json": float("inf"), "rate.json": 7.5, "negative.json": -0.1}
    for name, acc in bad.items():
        _write(res, name, _result(name, 0, acc, 2.0))
    (res / "cut.json").write_text(json.dumps(_result("cut", 0, 0.5, 2.0))[:50])
    (res / "config.json").write_text(json.dumps({"config": {}, "seed": 0}))  # a run's config: not a result
    warnings = []
    rows = lb.rows_from(lb.load_results(res, warn=warnings.append), warn=warnings.append)
    assert {r["model"] for r in rows} == {"m"}
    assert len(warnings) == 5 and all(w.startswith("skipped ") for w in warnings), warnings
    said = {name: next(w for w in warnings if f"{name}:" in w) for name in [*bad, "cut.json"]}
    assert "is nan (not finite)" in said["nan.json"] and "is inf (not finite)" in said["inf.json"]
    assert "7.5 is outside [0, 1]" in said["rate.json"] and "-0.1 is outside" in said["negative.json"]
    assert "not valid JSON" in said["cut.json"]
    assert "nan" not in lb.render_markdown(rows).lower().replace("smnist4", "")


def test_a_replaced_duplicate_is_named_once(tmp_path):
    res = tmp_path / "r"
    _write(res, "old.json", _result("m", 0, 0.1, 1.0, date="2026-01-01T00:00:00+00:00"))
    _write(res, "new.json", _result("m", 0, 0.3, 1.0, date="2026-02-01T00:00:00+00:00"))
    warnings = []
    rows = lb.rows_from(lb.load_results(res), warn=warnings.append)
    assert warnings == [f"{res / 'old.json'} is replaced by {res / 'new.json'}: a result for the same model, "
                        "dataset, seeds and training config (the newer date wins)"]  # one line for both metrics
    assert {r["value"] for r in rows if r["metric"] == "caption_acc"} == {0.3}
