"""Contact sheets for checking the inferred directions by eye (kth.md 5.4: a hand-labelled sample).

No public labels say which way KTH's people walk, so the accuracy on the real videos can only be
measured by a person looking at a stratified sample: `direction_sheet` picks walking/running clips of
a built kth4 dataset evenly over scenarios, draws each as first | middle | last frame with an arrow for
the caption's direction, and writes a CSV (index, file, frames, caption, a blank `correct` column) to
fill in. Accuracy per scenario = the share of 'y' in that column.

The form holds a person's work: a re-run keeps every filled-in answer whose row is the same clip with
the same caption, and refuses (without `overwrite`) to drop answers for clips the new sheet does not show.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from t2vbench.errors import UserError

FIELDS = ["index", "scenario", "source_file", "first_frame", "last_frame", "caption", "correct"]
# what makes a row the same clip with the same promise: its answer is about exactly these
CLIP = ("source_file", "first_frame", "last_frame", "caption")


def direction_sheet(root, out_png, split: str = "test", per_scenario: int = 25, seed: int = 0, cols: int = 4,
                    overwrite: bool = False) -> Path:
    """Write OUT.png (the sheet) and OUT.csv (the form, with the answers of an earlier form kept);
    return the PNG path. `overwrite`: drop earlier answers for clips this sheet does not show."""
    import cv2

    from t2vbench.data.dataset import read_split

    out_png = Path(out_png)
    form = out_png.with_suffix(".csv")
    _check_out(out_png, form)
    answers = _earlier_answers(form, overwrite)
    data = read_split(root, split)
    if "label/action" not in data or "label/scenario" not in data:
        raise UserError(f"{root} is not a KTH-4 dataset (no action/scenario labels); review-kth checks the "
                        "directions that `t2vbench make-dataset kth4` inferred")
    action = data["label/action"][:, 0]
    scenario = data["label/scenario"][:, 0]
    rng = np.random.default_rng(seed)
    picks = []
    for s in range(4):
        idx = np.flatnonzero((action <= 3) & (scenario == s))
        picks += sorted(rng.choice(idx, min(per_scenario, len(idx)), replace=False).tolist())
    if not picks:
        raise UserError(f"{root} has no walking/running clips in split '{split}'")
    video = data["video"][..., 0]
    t = video.shape[1]
    h = w = video.shape[2] * 2
    tiles = []
    for i in picks:
        frames = [cv2.resize(video[i, k], (w, h), interpolation=cv2.INTER_NEAREST) for k in (0, t // 2, t - 1)]
        tile = cv2.cvtColor(np.hstack(frames), cv2.COLOR_GRAY2BGR)
        y = h - 8
        a, b = (8, 3 * w - 8) if data["label/direction"][i, 0] == 0 else (3 * w - 8, 8)
        cv2.arrowedLine(tile, (a, y), (b, y), (0, 0, 255), 2, tipLength=0.05)
        cv2.putText(tile, f"#{i} {data['caption'][i].replace('a person is ', '')}", (4, 14),
                    cv2.FONT_HERSHEY_PLAIN, 1.0, (0, 255, 255), 1, cv2.LINE_AA)
        tiles.append(cv2.copyMakeBorder(tile, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=(40, 40, 40)))
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    sheet = np.vstack([np.hstack(tiles[r: r + cols]) for r in range(0, len(tiles), cols)])
    rows = [[i, f"d{scenario[i] + 1}", data["source_file"][i].decode(), *data["frame_range"][i].tolist(),
             data["caption"][i]] for i in picks]
    keys = [tuple(str(v) for v in r[2:6]) for r in rows]
    rows = [[*r, answers.get(k, "")] for r, k in zip(rows, keys)]
    shown = set(keys)
    lost = {k: v for k, v in answers.items() if k not in shown}
    if lost and not overwrite:
        (src, first, last, caption), answer = next(iter(lost.items()))
        raise UserError(f"{form} holds {len(lost)} filled-in answer(s) for clips (with their captions) this sheet "
                        f"does not show (e.g. {src} frames {first}-{last}, {caption!r}: {answer!r}); re-run with the "
                        "--split, --seed and --per-scenario that made it, choose another --out, or add --overwrite "
                        "to drop them")
    _write(out_png, form, sheet, rows)
    return out_png


def _check_out(out_png: Path, form: Path) -> None:
    """Before any work: the sheet needs a .png file name, and neither it nor the form may be a folder."""
    if out_png.is_dir():
        raise UserError(f"--out {out_png} is a folder; give the sheet a file name, e.g. {out_png / 'kth4-review.png'}")
    if out_png.suffix.lower() != ".png":
        raise UserError(f"--out {out_png} must name a .png file (the form is written beside it as .csv)")
    if form.is_dir():
        raise UserError(f"--out {out_png}: its form {form} would replace a folder; choose another --out")
    if out_png.parent.exists() and not out_png.parent.is_dir():
        raise UserError(f"--out {out_png}: {out_png.parent} is a file, not a folder; choose another --out")


def _earlier_answers(form: Path, overwrite: bool) -> dict:
    """{clip key: answer} of the filled-in rows of an earlier form at `form` (none if there is none).
    A file there that is not such a form is refused unless `overwrite`."""
    if not form.exists():
        return {}
    try:
        with open(form, newline="") as f:
            reader = csv.DictReader(f)
            if not set(CLIP) | {"correct"} <= set(reader.fieldnames or ()):
                raise ValueError("not a form")
            return {tuple(r[k] or "" for k in CLIP): r["correct"] for r in reader if (r["correct"] or "").strip()}
    except (OSError, ValueError, csv.Error):  # UnicodeDecodeError is a ValueError
        if overwrite:
            return {}
        raise UserError(f"{form} exists and is not a review-kth form (columns {', '.join(FIELDS)}); move it, choose "
                        "another --out, or add --overwrite to replace it") from None


def _write(out_png: Path, form: Path, sheet: np.ndarray, rows: list) -> None:
    """The sheet and the form, each to a temp file beside it and renamed into place; no temp file stays."""
    import cv2

    tmp_png = out_png.with_name(f".{out_png.stem}.tmp-{os.getpid()}.png")
    tmp_csv = form.with_name(f".{form.name}.tmp-{os.getpid()}")
    try:
        out_png.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(tmp_png), sheet):
            raise OSError(f"cannot write {tmp_png}")
        with open(tmp_csv, "w", newline="") as f:
            wr = csv.writer(f)
            wr.writerow(FIELDS)
            wr.writerows(rows)
        os.replace(tmp_png, out_png)
        os.replace(tmp_csv, form)
    except OSError as e:
        raise UserError(f"cannot write {out_png} ({e.strerror or e}); choose another --out") from None
    finally:
        for tmp in (tmp_png, tmp_csv):
            tmp.unlink(missing_ok=True)
