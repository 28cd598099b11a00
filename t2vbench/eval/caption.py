"""Caption accuracy: does the judge read back what the caption promised?

Slots are compared as multisets (sorted), because a two-digit video does not say which digit is
"slot 1": `digit 3 ... and digit 7 ...` and `digit 7 ... and digit 3 ...` promise the same video.

- exact (`caption_acc`): the multiset of (attribute tuple) cells equals the caption's;
- per attribute (`<name>_acc`, e.g. `digit_acc`, `motion_acc`): the multiset of that attribute's
  values equals the caption's (pairing ignored; the exact score checks the pairing);
- per slot (`<name>_slot_acc`, two or more slots only): the share of the caption's slots whose value
  the judge read, |read ∩ promised| / S as multisets. A two-digit video with one digit misread
  scores 0 in `digit_acc` and 0.5 here: the rate at which single attribute readings are right.

Captions are turned into labels by the dataset's own grammar: every caption the dataset contains
(train and test) is looked up directly; unseen MNIST captions are parsed with the manifest's names.
"""
from __future__ import annotations

import re

import numpy as np

from t2vbench.data.handle import PROMISED, promised_labels  # noqa: F401 - part of this module's API
from t2vbench.errors import UserError

IMPL = {"name": "t2vbench.caption_multiset", "version": "1"}


def multiset_match(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(N, S) ids each -> (N,) bool: equal as multisets."""
    return np.all(np.sort(pred, axis=1) == np.sort(true, axis=1), axis=1)


def multiset_overlap(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(N, S) ids each -> (N,) share of the S slots in the multiset intersection."""
    n = int(max(pred.max(initial=0), true.max(initial=0))) + 1
    rows = np.arange(len(pred))[:, None]
    cp, ct = np.zeros((len(pred), n), np.int64), np.zeros((len(true), n), np.int64)
    np.add.at(cp, (rows, pred), 1)
    np.add.at(ct, (rows, true), 1)
    return np.minimum(cp, ct).sum(axis=1) / pred.shape[1]


def cells_of(labels: dict, attributes: list, sizes: list) -> np.ndarray:
    idx = np.zeros_like(np.asarray(labels[attributes[0]]), dtype=np.int64)
    for name, size in zip(attributes, sizes):
        idx = idx * size + np.asarray(labels[name]).astype(np.int64)
    return idx


def cell_values(cells: np.ndarray, sizes: list) -> list:
    """(N, S) cell ids -> per attribute (N, S) value ids (inverse of `cells_of`)."""
    out, rest = [], np.asarray(cells, dtype=np.int64)
    for size in reversed(sizes):
        out.append(rest % size)
        rest = rest // size
    return out[::-1]


def accuracy(pred_cells: np.ndarray, labels: dict, attributes: list, sizes: list, mask=None) -> dict:
    """{'caption_acc': ..., '<attr>_acc': ...} over the rows selected by `mask` (None: all)."""
    true_cells = cells_of(labels, attributes, sizes)
    if mask is not None:
        pred_cells, true_cells = pred_cells[mask], true_cells[mask]
    if len(true_cells) == 0:
        return {}
    out = {"caption_acc": float(multiset_match(pred_cells, true_cells).mean())}
    for name, p, t in zip(attributes, cell_values(pred_cells, sizes), cell_values(true_cells, sizes)):
        out[f"{name}_acc"] = float(multiset_match(p, t).mean())
        if t.shape[1] > 1:
            out[f"{name}_slot_acc"] = float(multiset_overlap(p, t).mean())
    return out


def _shown(caption: str) -> str:
    """A caption for a one-line message: quoted, escaped, at most 80 characters of it."""
    return repr(caption[:80]) + ("..." if len(caption) > 80 else "")


def _alternatives(names) -> str:
    return "|".join(re.escape(str(n)) for n in sorted(names, key=len, reverse=True))


class CaptionParser:
    """Caption string -> {attribute: (S,) value ids}, by the dataset's grammar."""

    def __init__(self, manifest: dict, known: dict | None = None, attributes=None):
        labels = manifest.get("labels", {})
        self.labels = {k: list(labels[k]) for k in (attributes or labels)}
        self.known = known or {}  # caption -> {attr: tuple of ids}, from the dataset itself
        self._ids = {k: {str(name): i for i, name in enumerate(v)} for k, v in self.labels.items()}
        motions = self.labels.get("motion")
        self._mnist = None
        if motions is not None and "digit" in self.labels:
            # the manifest's names, not \d (which matches any Unicode digit, e.g. "٣")
            digits, alt = (_alternatives(self.labels[k]) for k in ("digit", "motion"))
            self._mnist = re.compile(rf"digit ({digits}) is moving ({alt})")

    @classmethod
    def from_dataset(cls, dataset, attributes) -> CaptionParser:
        """Index every caption of the dataset (a `DatasetHandle`; both splits, captions and labels only)."""
        known: dict = {}
        names = list(attributes)
        for split in dataset.manifest["splits"]:
            cols = dataset.read(split, columns=["caption", *[f"label/{n}" for n in names]])
            arrays = [np.asarray(cols[f"label/{n}"]) for n in names]
            for i, c in enumerate(cols["caption"]):
                if c not in known:
                    known[c] = {n: tuple(int(x) for x in np.atleast_1d(a[i])) for n, a in zip(names, arrays)}
        return cls(dataset.manifest, known, names)

    def parse(self, caption: str) -> dict:
        if caption in self.known:
            return self.known[caption]
        if self._mnist is not None:
            parts = caption.strip().split(" and digit ")
            parts = parts[:1] + ["digit " + p for p in parts[1:]]
            digits, motions = [], []
            for p in parts:
                m = self._mnist.fullmatch(p.strip())
                if m is None:
                    break
                digits.append(self._ids["digit"][m.group(1)])
                motions.append(self._ids["motion"][m.group(2)])
            else:
                return {"digit": tuple(digits), "motion": tuple(motions)}
        raise UserError(f"caption {_shown(caption)} is not in the dataset's grammar (e.g. "
                        f"{next(iter(self.known), 'digit 3 is moving left then right')!r}); "
                        "samples must be captioned with the dataset's captions")

    def labels_for(self, captions, slots: int) -> dict:
        """Captions -> {attribute: (N, S) int64}; every caption must have exactly `slots` slots."""
        rows = [self.parse(c) for c in captions]
        out = {}
        for name in self.labels:
            arr = [r[name] for r in rows]
            bad = [captions[i] for i, a in enumerate(arr) if len(a) != slots]
            if bad:
                raise UserError(f"caption {_shown(bad[0])} has the wrong number of slots for this dataset ({slots})")
            out[name] = np.asarray(arr, dtype=np.int64).reshape(len(rows), slots)
        return out
