"""Word-level vocabulary: the captions of a synthetic dataset come from a closed grammar, so every
word a generator can emit is known up front and stored in the manifest (no <unk> at test time)."""
from __future__ import annotations

import numpy as np

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)


def tokenize(caption: str) -> list[str]:
    return caption.lower().split()


class Vocabulary:
    """Ids: 0 = <pad>, 1 = <bos>, 2 = <eos>, 3 = <unk>, then the dataset's words in the given order."""

    def __init__(self, words):
        words = [w for w in words if w not in SPECIALS]
        self.words = list(SPECIALS) + words
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("vocabulary has duplicate words")

    def __len__(self) -> int:
        return len(self.words)

    @property
    def pad_id(self) -> int:
        return 0

    def encode(self, caption: str, length: int | None = None, eos: bool = True) -> np.ndarray:
        ids = [self.index.get(w, 3) for w in tokenize(caption)] + ([2] if eos else [])
        if length is None:
            return np.asarray(ids, dtype=np.int32)
        if len(ids) > length:
            raise ValueError(f"caption of {len(ids)} tokens does not fit length {length}: {caption!r}")
        out = np.zeros(length, dtype=np.int32)
        out[: len(ids)] = ids
        return out

    def encode_batch(self, captions, length: int | None = None) -> np.ndarray:
        if length is None:
            length = max(len(tokenize(c)) + 1 for c in captions)
        return np.stack([self.encode(c, length) for c in captions]) if captions else \
            np.zeros((0, length), np.int32)

    def decode(self, ids) -> str:
        out = []
        for i in np.asarray(ids).tolist():
            if i in (0, 2):
                break
            if i != 1:
                out.append(self.words[i])
        return " ".join(out)
