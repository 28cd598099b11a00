"""Contact sheets for checking the inferred directions by eye (kth.md 5.4: a hand-labelled sample).

No public labels say which way KTH's people walk, so the accuracy on the real videos can only be
measured by a person looking at a stratified sample: `direction_sheet` picks walking/running clips of
a built kth4 dataset evenly over scenarios, draws each as first | middle | last frame with an arrow for
the caption's direction, and writes a CSV (index, file, frames, caption, a blank `correct` column) to
fill in. Accuracy per scenario = the share of 'y' in that column.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np


def direction_sheet(root, out_png, split: str = "test", per_scenario: int = 25, seed: int = 0, cols: int = 4) -> Path:
    """Write OUT.png (the sheet) and OUT.csv (the form); return the PNG path."""
    import cv2

    from t2vbench.data.dataset import read_split
    from t2vbench.errors import UserError

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
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_png.with_name(f".{out_png.stem}.tmp-{os.getpid()}.png")
    cv2.imwrite(str(tmp), sheet)
    os.replace(tmp, out_png)
    form = out_png.with_suffix(".csv")
    tmp = form.with_name(f".{form.name}.tmp-{os.getpid()}")
    with open(tmp, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["index", "scenario", "source_file", "first_frame", "last_frame", "caption", "correct"])
        for i in picks:
            wr.writerow([i, f"d{scenario[i] + 1}", data["source_file"][i].decode(), *data["frame_range"][i].tolist(),
                         data["caption"][i], ""])
    os.replace(tmp, form)
    return out_png
