"""Read KTH's `00sequences.txt`: which frames of each video show the action (1-based, inclusive).

The real file is hand-written and irregular (reference: shared/reference/kth.md, section 3): TABs and
spaces mixed, a `*missing*` entry, lines with three ranges, ranges out of order, shared or overlapping
boundaries, CRLF. All of that is accepted and kept as written (ranges in file order); only lines that
*look like* data (they start with a KTH video name or contain the word `frames`) but cannot be read
are errors, reported with their line numbers, so nothing is dropped silently. Clamping to the decoded
length happens later (`extract.windows`), when the video has been decoded.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from t2vbench.errors import UserError

ACTIONS = ("boxing", "handclapping", "handwaving", "jogging", "running", "walking")
SEQUENCES_FILE = "00sequences.txt"

# ASCII digits only ([0-9], not \d, which takes any script's digits as well), numbers of at most 9
_NAME = re.compile(r"person([0-9]{2})_([a-z]+)_d([0-9])")
_DATA = re.compile(r"^(person[0-9]+_[A-Za-z]+_d[0-9]+)(?:_uncomp(?:\.avi)?)?(\s.*)?$")
_N = r"[0-9]{1,9}"
# ranges apart by a comma or by spaces, never by nothing: one way to read a line, so a line that is
# not ranges fails at once (a pattern with two ways fails in exponential time)
_RANGES = re.compile(rf"^{_N}\s*-\s*{_N}(?:(?:\s*,\s*|\s+){_N}\s*-\s*{_N})*(?:\s*,)?$")
_PAIR = re.compile(rf"({_N})\s*-\s*({_N})")
_MISSING = re.compile(r"^\*?\s*missing\s*\*?$", re.IGNORECASE)


@dataclass(frozen=True)
class VideoName:
    person: int
    action: str
    scenario: int

    @property
    def stem(self) -> str:
        return f"person{self.person:02d}_{self.action}_d{self.scenario}"

    @property
    def filename(self) -> str:
        return f"{self.stem}_uncomp.avi"


def parse_name(text: str) -> VideoName | None:
    """`person01_walking_d1[_uncomp.avi]` -> VideoName, or None if it is not a valid KTH name."""
    m = _NAME.fullmatch(text.replace("_uncomp.avi", ""))
    if not m:
        return None
    person, action, scenario = int(m.group(1)), m.group(2), int(m.group(3))
    if not (1 <= person <= 25 and action in ACTIONS and 1 <= scenario <= 4):
        return None
    return VideoName(person, action, scenario)


@dataclass(frozen=True)
class Entry:
    name: VideoName
    ranges: tuple  # ((first, last), ...) 1-based inclusive, in file order; () when missing
    line: int
    missing: bool = False


@dataclass
class Sequences:
    entries: dict = field(default_factory=dict)  # stem -> Entry
    notes: list = field(default_factory=list)  # irregularities that were accepted, for the provenance


def _notes_for(entry: Entry) -> list[str]:
    out = []
    r = entry.ranges
    where = f"line {entry.line} {entry.name.stem}"
    if len(r) != 4:
        out.append(f"{where}: {len(r)} ranges")
    if any(b[0] < a[0] for a, b in zip(r, r[1:])):
        out.append(f"{where}: ranges out of order")
    # every pair that shares frames, not only sorted neighbours: a long range can cover several later ones
    s = sorted(r)
    for i, a in enumerate(s):
        for b in s[i + 1:]:
            if b[0] > a[1]:
                continue
            if b[0] == a[1]:
                out.append(f"{where}: ranges {a[0]}-{a[1]} and {b[0]}-{b[1]} share frame {a[1]}")
            else:
                out.append(f"{where}: ranges {a[0]}-{a[1]} and {b[0]}-{b[1]} overlap")
    return out


def parse_sequences(text: str, source: str = SEQUENCES_FILE) -> Sequences:
    """Parse the text of `00sequences.txt`; raise UserError listing every unreadable data line."""
    seq = Sequences()
    errors = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line:
            continue
        m = _DATA.match(line)
        if m is None:
            if re.match(r"person[0-9]", line, re.IGNORECASE) or re.search(r"frames|[0-9]\s*-\s*[0-9]", line,
                                                                               re.IGNORECASE):
                errors.append((number, raw, "a data line must start with a name like person01_walking_d1"))
            continue  # header text, including the 'Training: person11, 12, ...' split lines
        name = parse_name(m.group(1))
        if name is None:
            errors.append((number, raw, f"'{m.group(1)}' is not a KTH video name (persons 01-25, "
                                        f"actions {', '.join(ACTIONS)}, scenarios d1-d4)"))
            continue
        tail = (m.group(2) or "").strip()
        if name.stem in seq.entries:
            errors.append((number, raw, f"{name.stem} is listed twice (first on line {seq.entries[name.stem].line})"))
            continue
        if _MISSING.match(tail):
            seq.entries[name.stem] = Entry(name, (), number, missing=True)
            continue
        fm = re.match(r"^frames\b\s*(.*)$", tail, re.IGNORECASE)
        if fm is None or not _RANGES.match(fm.group(1).strip()):
            errors.append((number, raw, "expected 'frames a-b, c-d, ...' after the name"))
            continue
        ranges = tuple((int(a), int(b)) for a, b in _PAIR.findall(fm.group(1)))
        bad = [f"{a}-{b}" for a, b in ranges if a < 1 or b < a]
        if bad:
            errors.append((number, raw, f"range {bad[0]} is empty or starts before frame 1"))
            continue
        entry = Entry(name, ranges, number)
        seq.entries[name.stem] = entry
        seq.notes.extend(_notes_for(entry))
    if errors:
        shown = "; ".join(f"line {n}: cannot read {raw.strip()!r} ({why})" for n, raw, why in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise UserError(f"{source}: {shown}{more}; fix these lines (format: 'person01_walking_d1<TAB>frames<TAB>"
                        f"1-75, 152-225') or restore the original file")
    return seq


def read_sequences(path) -> Sequences:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read {path}: {e}") from None
    return parse_sequences(data.decode("utf-8", errors="replace"), source=str(path))


def parse_numbers(text: str, lo: int, hi: int, what: str) -> list[int]:
    """'1-3,17' -> [1, 2, 3, 17], each within lo..hi; `what` names the option in errors."""
    out = set()
    for item in filter(None, (x.strip() for x in text.split(","))):
        m = re.fullmatch(r"([0-9]{1,6})(?:\s*-\s*([0-9]{1,6}))?", item)
        if not m:
            raise UserError(f"--{what}: cannot read {item!r}; write e.g. '1-3,17'")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if not lo <= a <= b <= hi:
            raise UserError(f"--{what}: values must be in {lo}..{hi} (got {item!r})")
        out.update(range(a, b + 1))
    if not out:
        raise UserError(f"--{what} is empty")
    return sorted(out)
