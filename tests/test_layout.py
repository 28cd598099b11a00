"""The shape of the house: no import cycle between the package's modules (lazy imports inside functions
included), bench/ holds benchmarks only, and a command reads a dataset's manifest once."""
from __future__ import annotations

import ast
import pathlib

import pytest

from t2vbench.cli import main

REPO = pathlib.Path(__file__).resolve().parents[1]
# installed name -> folder in the checkout (setup.cfg's package_dir)
PACKAGES = {"t2vbench": "t2vbench", "t2vbench.generators": "generators", "t2vbench.baselines": "baselines"}


def _modules() -> dict:
    mods = {}
    for pkg, folder in PACKAGES.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = [p for p in path.relative_to(REPO / folder).with_suffix("").parts if p != "__init__"]
            mods[".".join([pkg, *parts])] = path
    return mods


def _import_graph() -> dict:
    mods = _modules()

    def owner(name):  # the module a dotted name lives in
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {owner(a.name) for a in node.names if a.name.startswith("t2vbench")}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("t2vbench"):
                deps |= {owner(f"{node.module}.{a.name}") for a in node.names}
        # importing a package above oneself (its __init__) is not a dependency between modules
        graph[name] = {d for d in deps if d and d != name and not name.startswith(d + ".")}
    return graph


def _cycles(graph: dict) -> list:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle():
    graph = _import_graph()
    assert "t2vbench.eval.gam" in graph and "t2vbench.judge.model" in graph["t2vbench.eval.api"]
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_core_does_not_import_a_model_or_a_dataset_builder():
    """Models and datasets are found by name through the registry, never imported by the core."""
    graph = _import_graph()
    core = [m for m in graph if not m.startswith(("t2vbench.baselines", "t2vbench.generators"))]
    allowed = {"t2vbench.data.build", "t2vbench.commands.kth", "t2vbench.train.runner"}
    wrong = {m: sorted(d for d in graph[m] if d.startswith(("t2vbench.baselines.", "t2vbench.generators.")))
             for m in core if m not in allowed}
    assert {m: d for m, d in wrong.items() if d} == {}


def test_bench_holds_benchmarks_only():
    scripts = sorted(p.name for p in (REPO / "bench").glob("*.py"))
    assert scripts and all(n.startswith("bench_") for n in scripts), scripts
    assert sorted(p.name for p in (REPO / "research").glob("probe_*.py"))


@pytest.fixture
def manifest_reads(monkeypatch):
    """Counts reads of any manifest.json (the one file `read_manifest` opens)."""
    reads = []
    original = pathlib.Path.read_text

    def read_text(self, *args, **kwargs):
        if self.name == "manifest.json":
            reads.append(str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "read_text", read_text)
    return reads


def test_eval_reads_the_manifest_once(make, tmp_path, manifest_reads, capsys):
    root = make("smnist4", n=48, n_test=16)
    manifest_reads.clear()
    assert main(["eval", "--real", "--dataset", str(root), "-q", "--out", str(tmp_path / "r.json")]) == 0
    assert len(manifest_reads) == 1, manifest_reads


def test_info_and_preview_read_the_manifest_once(make, tmp_path, manifest_reads, capsys):
    root = make("smnist4", n=48, n_test=16)
    for argv in (["info", str(root)], ["preview", str(root), "--out", str(tmp_path / "p.gif")]):
        manifest_reads.clear()
        assert main(argv) == 0
        assert len(manifest_reads) == 1, (argv, manifest_reads)


def test_judge_train_reads_the_manifest_once(make, tmp_path, manifest_reads, capsys):
    root = make("smnist4", n=48, n_test=16)
    manifest_reads.clear()
    argv = ["judge", "train", str(root), "--out", str(tmp_path / "j.pt"), "--steps", "2", "--frame-steps", "2",
            "--max-train-videos", "32", "-q"]
    assert main(argv) == 0
    assert len(manifest_reads) == 1, manifest_reads
