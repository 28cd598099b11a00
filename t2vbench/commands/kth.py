"""`t2vbench make-fixture kth`: synthetic KTH videos in the real layout, to try kth4 without the data.
Heavy imports (cv2, numpy) stay inside the function so the CLI starts fast."""
from __future__ import annotations

import re
from pathlib import Path

import click

from t2vbench.errors import UserError


def _numbers(text: str, lo: int, hi: int, what: str) -> list[int]:
    """'1-3,17' -> [1, 2, 3, 17], each within lo..hi."""
    out = set()
    for item in filter(None, (x.strip() for x in text.split(","))):
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", item)
        if not m:
            raise UserError(f"--{what}: cannot read {item!r}; write e.g. '1-3,17'")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if not lo <= a <= b <= hi:
            raise UserError(f"--{what}: values must be in {lo}..{hi} (got {item!r})")
        out.update(range(a, b + 1))
    if not out:
        raise UserError(f"--{what} is empty")
    return sorted(out)


@click.command("make-fixture")
@click.argument("kind", type=click.Choice(["kth"]), metavar="kth")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write (made if missing).")
@click.option("--persons", default="1,2,17,18", show_default=True,
              help="KTH persons (1-25); the default split puts 1-16 in train and 17-25 in test.")
@click.option("--scenarios", default="1-4", show_default=True, help="Scenarios d1-d4 to generate.")
@click.option("--passes", type=click.IntRange(1, 8), default=4, show_default=True,
              help="Crossings per walking/running video (KTH has 4).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same videos.")
@click.option("--codec", type=click.Choice(["XVID", "MJPG", "FFV1"]), default="XVID", show_default=True,
              help="XVID is MPEG-4 Part 2 like the real DivX files; FFV1 is lossless.")
@click.option("--layout", type=click.Choice(["flat", "by-action"]), default="flat", show_default=True,
              help="All files in one folder, or one folder per action (as the zips unpack).")
@click.option("--regular", is_flag=True, help="Write a clean 00sequences.txt (no copies of the real file's quirks).")
@click.option("--no-ambiguous", is_flag=True,
              help="Leave out the hard passes (d2 slow oblique walk, d4 turn-around inside a range).")
@click.option("--overwrite", is_flag=True, help="Replace the KTH files of an earlier fixture in --out.")
def make_fixture(kind, out, persons, scenarios, passes, seed, codec, layout, regular, no_ambiguous, overwrite):
    """Write synthetic KTH videos with the real file names and a 00sequences.txt.

    \b
    A stick figure walks or runs across a textured, noisy background at KTH-like speeds
    and turns around between passes, or boxes / waves in place; d2 zooms, d3 lowers the
    clothing contrast, d4 flickers. fixture_truth.json holds the true motion per frame.
    It is NOT real data: use it to try the kth4 pipeline, then point --kth-dir at real KTH.

    \b
    Example:
      t2vbench make-fixture kth --out kth-fake
      t2vbench make-dataset kth4 --kth-dir kth-fake --out data
    """
    from t2vbench.generators.kth.fixture import make_fixture as make

    root = Path(out)
    if root.exists() and not root.is_dir():
        raise UserError(f"--out {root} is a file; choose a folder")
    if root.exists() and any(root.iterdir()):
        ours = [p for p in root.rglob("*") if p.is_file() and (p.name.endswith("_uncomp.avi") or
                                                              p.name in ("00sequences.txt", "fixture_truth.json"))]
        others = [p for p in root.rglob("*") if p.is_file() and p not in ours]
        if others or not overwrite:
            raise UserError(f"{root} is not empty; choose a new --out" +
                            ("" if others else " or add --overwrite to replace the earlier fixture"))
        for p in ours:
            p.unlink()
    truth = make(root, persons=_numbers(persons, 1, 25, "persons"), scenarios=_numbers(scenarios, 1, 4, "scenarios"),
                 seed=seed, passes=passes, ambiguous=not no_ambiguous, irregular=not regular, layout=layout,
                 codec=codec, progress=True)
    n = len(truth["videos"])
    size = sum(p.stat().st_size for p in root.rglob("*_uncomp.avi"))
    click.echo(f"{root}: {n} synthetic KTH videos ({size / 1e6:.1f} MB) and 00sequences.txt. Next:\n"
               f"  t2vbench make-dataset kth4 --kth-dir {root} --out data")


@click.command("review-kth")
@click.argument("dataset", type=click.Path())
@click.option("--out", default="kth4-review.png", show_default=True, help="Sheet to write (plus the same name .csv).")
@click.option("--split", default="test", show_default=True)
@click.option("--per-scenario", type=click.IntRange(1, 500), default=25, show_default=True,
              help="Walking/running clips drawn from each scenario d1-d4.")
@click.option("--seed", type=int, default=0, show_default=True)
def review_kth(dataset, out, split, per_scenario, seed):
    """Contact sheet to check kth4's inferred walking/running directions by eye.

    \b
    Each clip shows its first, middle and last frame with an arrow for the caption's
    direction; fill the 'correct' column of the CSV with y/n to measure the accuracy
    per scenario on the real videos (no public labels exist).
    """
    from t2vbench.generators.kth.review import direction_sheet

    png = direction_sheet(dataset, out, split=split, per_scenario=per_scenario, seed=seed)
    click.echo(f"wrote {png} and {png.with_suffix('.csv')}")
