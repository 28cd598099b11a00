"""Video export for people: captioned clip grids as GIFs, or their first frame as PNG / JPEG (Pillow
only; no ffmpeg, no torchvision)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np


def _text_strip(caption: str, width: int, lines: int, line_h: int = 11) -> np.ndarray:
    import cv2

    strip = np.zeros((lines * line_h + 4, width), np.uint8)
    chars = max(8, width // 6)
    for k, line in enumerate(textwrap.wrap(caption, chars)[:lines]):
        cv2.putText(strip, line, (2, (k + 1) * line_h), cv2.FONT_HERSHEY_PLAIN, 0.75, 255, 1, cv2.LINE_AA)
    return strip


def caption_grid(videos: np.ndarray, captions=None, cols: int = 4, scale: int = 2, pad: int = 2) -> np.ndarray:
    """(N, T, H, W[, C]) uint8 clips -> (T, H', W') grayscale frames of a grid, caption under each clip.

    Colour clips are shown as their mean over channels: previews are for reading motion, not colour.
    """
    v = np.asarray(videos)
    if v.ndim == 5:
        v = v.mean(-1).astype(np.uint8) if v.shape[-1] > 1 else v[..., 0]
    n, t, h, w = v.shape
    v = v.repeat(scale, 2).repeat(scale, 3)
    h, w = h * scale, w * scale
    lines = 0
    if captions is not None:
        lines = max(len(textwrap.wrap(c, max(8, w // 6))) for c in captions)
    strip_h = _text_strip("", w, lines).shape[0] if lines else 0
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    cell_h, cell_w = h + strip_h + pad, w + pad
    grid = np.full((t, rows * cell_h + pad, cols * cell_w + pad), 40, np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = pad + r * cell_h, pad + c * cell_w
        grid[:, y: y + h, x: x + w] = v[i]
        if lines:
            grid[:, y + h: y + h + strip_h, x: x + w] = _text_strip(captions[i], w, lines)
    return grid


FORMATS = {".gif": "GIF", ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def image_format(path) -> str:
    """Pillow's format for `path`'s extension; an unknown one is refused (one line)."""
    from t2vbench.errors import UserError

    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise UserError(f"--out {path}: unknown image type {Path(path).suffix or '(no extension)'!r}; use .gif (the "
                        "clips playing), or .png / .jpg (their first frame)")
    return fmt


def save_gif(frames: np.ndarray, path, fps: float = 8.0) -> Path:
    """Write (T, H, W) uint8 frames as a looping GIF, atomically."""
    return _save(frames, path, fps, "GIF")


def save_preview(frames: np.ndarray, path, fps: float = 8.0) -> Path:
    """Write (T, H, W) uint8 frames in the format `path`'s extension names: a looping GIF, or the first
    frame as PNG or JPEG."""
    return _save(frames, path, fps, image_format(path))


def _save(frames, path, fps: float, fmt: str) -> Path:
    from PIL import Image

    from t2vbench.data.format import atomic_file, cannot_write

    path = Path(path)
    images = [Image.fromarray(f) for f in np.asarray(frames, np.uint8)]
    duration = max(20, int(round(1000 / fps / 10)) * 10)  # GIF delays are in 1/100 s
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as f:
            if fmt == "GIF":
                images[0].save(f, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)
            else:
                images[0].save(f, format=fmt)
    except OSError as e:
        raise cannot_write(path, e) from None
    return path
