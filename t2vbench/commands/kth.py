"""`t2vbench make-fixture kth`: synthetic KTH videos in the real layout, to try kth4 without the data.
Heavy imports (cv2, numpy) stay inside the function so the CLI starts fast."""
from __future__ import annotations

from pathlib import Path

import click

from t2vbench.errors import UserError


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
@click.option("--overwrite", is_flag=True,
              help="Replace an earlier fixture in --out (refused if --out holds anything else).")
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
    import os
    import shutil
    import sys
    import tempfile

    from t2vbench.data.format import cannot_write, dangling
    from t2vbench.generators.kth.fixture import make_fixture as make

    root = Path(out)
    if dangling(root):
        raise UserError(f"--out {dangling(root)}; remove the link or choose another --out")
    if root.exists() and not root.is_dir():
        raise UserError(f"--out {root} is a file; choose a folder")
    old = _earlier_fixture(root, overwrite) if root.exists() and any(root.iterdir()) else None
    from t2vbench.generators.kth.sequences import parse_numbers

    persons, scenarios = parse_numbers(persons, 1, 25, "persons"), parse_numbers(scenarios, 1, 4, "scenarios")
    # generate next to --out, then swap it in: an interrupted or failed run leaves --out as it was
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        new = Path(tempfile.mkdtemp(prefix=f".{root.name}.new-", dir=root.parent))
    except OSError as e:
        raise cannot_write(root, e, name_file=False) from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(new, 0o777 & ~umask)  # mkdtemp's 0700 would otherwise become --out's mode
    try:
        truth = make(new, persons=persons, scenarios=scenarios, seed=seed, passes=passes, ambiguous=not no_ambiguous,
                     irregular=not regular, layout=layout, codec=codec, progress=sys.stderr.isatty())
        if old is None:
            os.replace(new, root)  # also replaces an empty folder
        else:
            aside = root.with_name(f".{root.name}.old-{os.getpid()}")
            os.rename(root, aside)
            try:
                os.rename(new, root)
            except OSError:
                os.rename(aside, root)
                raise
            _remove_fixture(aside, old)
    except (OSError, UserError) as e:  # a full disk, say: nothing of this run is kept
        err = cannot_write(root, e) if isinstance(e, OSError) else e
        raise UserError(str(err).replace(str(new), str(root))) from None  # the names --out would hold
    finally:
        if new.exists():
            shutil.rmtree(new, ignore_errors=True)
    n = len(truth["videos"])
    size = sum((root / v["file"]).stat().st_size for v in truth["videos"].values())
    click.echo(f"{root}: {n} synthetic KTH videos ({size / 1e6:.1f} MB) and 00sequences.txt. Next:\n"
               f"  t2vbench make-dataset kth4 --kth-dir {root} --out data")


def _earlier_fixture(root: Path, overwrite: bool) -> list[Path]:
    """The files of an earlier fixture in the non-empty folder `root`, which --overwrite may replace.
    Refuses unless root is exactly such a fixture: fixture_truth.json, a 00sequences.txt with the
    synthetic marker, and no file that its truth file does not list (real KTH data must never go)."""
    import json

    from t2vbench.generators.kth.fixture import SYNTHETIC_MARKER

    if not overwrite:
        raise UserError(f"{root} is not empty; choose a new --out (or add --overwrite if it holds an earlier "
                        "fixture)")
    truth_file, seq_file = root / "fixture_truth.json", root / "00sequences.txt"
    try:
        truth = json.loads(truth_file.read_text())
        marked = SYNTHETIC_MARKER in seq_file.read_text(errors="replace")
        listed = [Path(v["file"]) for v in truth["videos"].values()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        marked, listed = False, []
    if not marked:
        raise UserError(f"--overwrite only replaces an earlier make-fixture output, and {root} is not one (no "
                        "fixture_truth.json or no synthetic 00sequences.txt); choose a new --out")
    ours = {truth_file, seq_file} | {root / p for p in listed if not p.is_absolute() and ".." not in p.parts}
    # anything else, a symlink (even to a folder) included, is not ours and blocks the overwrite
    others = sorted(str(p.relative_to(root)) for p in root.rglob("*")
                    if (p.is_symlink() or not p.is_dir()) and p not in ours)
    if others:
        more = f" and {len(others) - 1} more" if len(others) > 1 else ""
        raise UserError(f"--overwrite: {root} holds files that are not part of the earlier fixture "
                        f"({others[0]}{more}); move them or choose a new --out")
    return sorted(p.relative_to(root) for p in ours if p.exists())


def _remove_fixture(folder: Path, files: list[Path]) -> None:
    """Delete `files` (relative to `folder`), then the folders that leaves empty; nothing else."""
    import os

    for rel in files:
        (folder / rel).unlink(missing_ok=True)
    for sub, _, _ in sorted(os.walk(folder), key=lambda w: -len(w[0])):  # deepest first
        try:
            os.rmdir(sub)
        except OSError:  # not empty: something appeared meanwhile; leave it
            pass


@click.command("review-kth")
@click.argument("dataset", type=click.Path())
@click.option("--out", default="kth4-review.png", show_default=True, help="Sheet to write (plus the same name .csv).")
@click.option("--split", default="test", show_default=True)
@click.option("--per-scenario", type=click.IntRange(1, 500), default=25, show_default=True,
              help="Walking/running clips drawn from each scenario d1-d4.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True,
              help="Drop the earlier form's answers for clips this sheet does not show (answers for the clips it "
                   "shows are always kept), or replace a .csv there that is not a form.")
def review_kth(dataset, out, split, per_scenario, seed, overwrite):
    """Contact sheet to check kth4's inferred walking/running directions by eye.

    \b
    Each clip shows its first, middle and last frame with an arrow for the caption's
    direction; fill the 'correct' column of the CSV with y/n to measure the accuracy
    per scenario on the real videos (no public labels exist). A re-run keeps the
    answers already filled in for the clips it shows.
    """
    from t2vbench.generators.kth.review import direction_sheet

    png = direction_sheet(dataset, out, split=split, per_scenario=per_scenario, seed=seed, overwrite=overwrite)
    click.echo(f"wrote {png} and {png.with_suffix('.csv')}")
