"""The table-driven fault tests' shared form: a `Case` is a command line, the exit code it must end
with, a fragment of the one line it must print on stderr, and the paths it must not leave behind.

    CASES = [Case("eval on an edited test shard", ["eval", "--real", "--dataset", "{data}"], 2,
                  "does not match its sha256", absent=["{tmp}/r.json"], setup=edit_a_test_shard), ...]
    @pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
    def test_fault(case, ...): run_case(case, capsys, data=..., tmp=...)

`{name}` in argv and in the paths is filled from the keyword arguments of `run_case`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from t2vbench.cli import main


@dataclass(frozen=True)
class Case:
    name: str
    argv: list
    exit_code: int
    line: str  # a fragment of the error line ("" for a case that must succeed)
    absent: list = field(default_factory=list)  # paths that must not exist afterwards
    setup: Callable | None = None  # setup(**paths) before the command (corrupt a file, fill a disk, ...)


def run_case(case: Case, capsys, **paths) -> str:
    """Run the case through the CLI's `main` and check it; return stderr."""
    fill = {k: str(v) for k, v in paths.items()}
    if case.setup is not None:
        case.setup(**paths)
    capsys.readouterr()
    code = main([a.format(**fill) for a in case.argv])
    err = capsys.readouterr().err
    assert code == case.exit_code, f"{case.name}: exit {code}, want {case.exit_code}; stderr: {err[-2000:]}"
    if case.exit_code != 0:
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        assert len(lines) == 1 and "Traceback" not in err, f"{case.name}: not one line: {err[-2000:]}"
    assert case.line in err, f"{case.name}: {case.line!r} not in {err!r}"
    for p in case.absent:
        assert not Path(p.format(**fill)).exists(), f"{case.name}: {p.format(**fill)} was written"
    return err
