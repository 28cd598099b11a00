"""The judge recipe as data: what `t2vbench judge train` does, stage by stage, and the recorded recipes
of the shipped judges. A recipe is stored in every judge file and its certificate, so a change of any
value is a new recipe `version`; docs/judges.md keeps the record of each version and what it measured.

Stages: 1 the frame encoder on single frames (`frame_*`); 2 the clip head on whole clips (`steps`,
`batch_size`, `lr`, ...); 2b the clip stage again for the slot counts in `clip_extra`; 3 the locator and
the first crop reader (`reader`, two-digit judges); 4 the further crop readers (`reader["readers"]`).
"""
from __future__ import annotations

import json
from pathlib import Path

from t2vbench.errors import UserError

RECIPE = {
    "version": 8,
    "seed": 0,
    "threads": 1,
    "arch": {"width": 64, "hidden": 64, "encoder": 2},
    # arch["frame_vote"] by the judge's slots: the weight of the summed per-frame readings in the vote
    "frame_vote": {"1": 0.5, "2": 0.0},
    "max_train_videos": 60000,  # the first N of the train split (all if fewer)
    "frame_steps": 6000,  # stage 1: batches of single frames
    "frame_batch_size": 128,
    # stage 1 only: a fraction p of the frames is resampled (bilinear, about the frame centre) with a
    # rotation of up to +-rotate_deg, an isotropic scale in 1 +- scale and a shear of up to +-shear
    "frame_aug": {"p": 0.5, "rotate_deg": 12.0, "scale": 0.12, "shear": 0.15},
    "steps": 600,  # stage 2: batches of whole clips
    "batch_size": 32,
    "optimizer": "adamw",
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "warmup_steps": 100,
    "schedule": "linear warmup, cosine decay to 0",
    "frame_loss_weight": 0.5,
    "clip_extra": {"slots": [2], "times": 2, "lr": 5e-4},  # stage 2b: times x stage 2's steps
    # stages 3-4, judges whose slot count is listed: a locator and crop readers, trained on the
    # `trajectory` column (each reader on each digit's least ink over the clip at its true corners,
    # `shift_px`/`rotate_deg`/`scale` warps). The judge tracks each digit (search `radius` px, frames
    # kept up to match cost `match`), reads its cleared image and adds `vote` x its log-probabilities
    # to the cell scores. Where the reference frame's detections stand under `layers.gate` px apart,
    # the two digits are followed as two layers (`reader.layer_corners`, a beam of `layers.beam`
    # paths); the vote is scaled by 2 ** ((distance - pivot) / doubling).
    "reader": {"slots": [2], "width": 32, "steps": 12000, "batch_size": 128, "locate_batch_size": 64,
               "rotate_deg": 10.0, "scale": 0.1, "shift_px": 1.0, "radius": 1, "match": 0.1, "vote": 1.0,
               "layers": {"gate": 12, "beam": 4}, "vote_distance": {"pivot": 16.0, "doubling": 6.5},
               "readers": 2},
}
# keys of recipe["reader"] that only change how a judge reads, not what stage 3 learns
READER_DECODING = ("radius", "match", "vote", "layers", "vote_distance")
# the recipe version that introduced each key: a recorded recipe of an older version gets none of them
NEWER_KEYS = {3: ("frame_aug", "frame_vote"), 4: ("reader",), 8: ("clip_extra",)}


def recorded_recipe(source: str, family: str | None = None) -> dict:
    """The recipe a judge was made with: a shipped family's entry in judges.json, or a JSON file holding a
    recipe or a judge's metadata (`<out>.json`). `family`: the dataset family it is to train on; a recipe
    recorded for another family (a shipped entry's or a judge metadata's `dataset`) is refused, since its
    steps, arch and reader stages were chosen for that family's data (a bare recipe records none)."""
    from t2vbench.judge.model import shipped_judges

    shipped = shipped_judges()
    if source in shipped:
        recipe, recorded = shipped[source]["recipe"], shipped[source].get("dataset", source)
    else:
        path = Path(source)
        if not path.is_file():
            raise UserError(f"--recipe {source}: neither a shipped judge ({', '.join(sorted(shipped))}) nor a JSON "
                            "file")
        try:
            data = json.loads(path.read_text())
        except OSError as e:
            raise UserError(f"--recipe {source} cannot be read ({e.strerror or e})") from None
        except ValueError as e:
            raise UserError(f"--recipe {source} is not valid JSON ({e})") from None
        recipe = data.get("recipe", data) if isinstance(data, dict) else None
        recorded = data.get("dataset") if isinstance(data, dict) and "recipe" in data else None
        if not isinstance(recipe, dict) or "version" not in recipe:
            raise UserError(f"--recipe {source} holds no judge recipe (a JSON object with a 'version')")
    if family is not None and recorded is not None and recorded != family:
        fix = f"--recipe {family}" if family in shipped else f"a recipe recorded for {family}"
        raise UserError(f"--recipe {source} is the recipe of a {recorded} judge, and this dataset is {family}; "
                        f"use {fix} (or none: today's recipe)")
    return dict(recipe)


def complete(recipe: dict) -> dict:
    """Today's recipe with `recipe`'s keys on top. A recorded recipe gets no key newer than its version
    (absent = off), so it makes the very judge it made then: the recipe is stored in the judge file, and
    one extra key would change its sha256."""
    version = int(recipe.get("version", RECIPE["version"]))
    base = {k: v for k, v in RECIPE.items() if not any(version < v_ and k in keys for v_, keys in NEWER_KEYS.items())}
    return {**base, **recipe}
