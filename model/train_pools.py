"""The training pools: faces augmented (and mixed) at the teacher's input size with the
teacher's embeddings and feature maps (cached), or a classification set with its test split."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from model.data import (augment_faces, balanced_pairs, cutmix, load_fashion_mnist, load_image_folder,
                        load_unlabeled, mixup, resize_images, training_faces, warp_faces)
from model.synthetic import synthetic_faces
from model.teacher import SFACE_TAPS, TeacherError, load_teacher, projection, teacher_input_size
from model.train_config import TrainConfig, TrainError


@dataclass
class Pool:
    x: np.ndarray  # uint8 N x H x W x C
    y: np.ndarray  # labels, -1 for unlabeled / mixed
    t: Optional[np.ndarray] = None  # teacher embeddings (projected), N x D
    tf: list[np.ndarray] = field(default_factory=list)  # teacher feature maps, N x C x H x W fp16
    teacher_size: int = 0  # the image size the teacher saw (the pool's size before scaling down)
    val_x: Optional[np.ndarray] = None
    val_pairs: Optional[tuple[np.ndarray, np.ndarray]] = None
    classes: int = 0
    test_x: Optional[np.ndarray] = None
    test_y: Optional[np.ndarray] = None


def _warped(x: np.ndarray, cfg: TrainConfig, rng: np.random.Generator) -> np.ndarray:
    # no rng draw without a warp, so pools (and teacher caches) of runs without one are unchanged
    if cfg.warp <= 0 and cfg.rotate <= 0:
        return x
    return warp_faces(x, rng, displacement=cfg.warp, rotation=cfg.rotate)


def face_pool(cfg: TrainConfig, size: int, emb: int, teacher_spec: Optional[str]) -> Pool:
    # the pool is built (augmented, mixed) at the teacher's input size and scaled down to the
    # student's afterwards, so a smaller student sees the teacher's images, only coarser
    student_size, size = size, teacher_input_size(teacher_spec) if teacher_spec else size
    if student_size > size:
        raise TrainError(f"the student's input ({student_size}) is larger than the teacher's ({size})")
    x, y = training_faces(cfg.data, cfg.heldout_ids, size)
    val_x, val_pairs = None, None
    if cfg.val_ids:
        ids = np.unique(y)
        if cfg.val_ids >= len(ids):
            raise TrainError(f"--val-ids {cfg.val_ids} leaves no training identities")
        vmask = np.isin(y, ids[-cfg.val_ids:])
        val_x, vy = x[vmask], y[vmask]
        val_pairs = balanced_pairs(vy, cfg.seed)
        x, y = x[~vmask], y[~vmask]
    rng = np.random.default_rng([cfg.seed, 12345])
    xs = [x] + [augment_faces(_warped(x, cfg, rng), rng) for _ in range(max(cfg.copies - 1, 0))]
    ys = [y] * len(xs)
    extra = ([load_unlabeled(cfg.unlabeled, size)] if cfg.unlabeled else []) + \
        ([synthetic_faces(cfg.synthetic, size, seed=cfg.seed)] if cfg.synthetic else [])
    for u in extra:  # faces without labels: each once as it is and once augmented
        xs += [u, augment_faces(u, rng)]
        ys += [np.full(len(u), -1)] * 2
    px, py = np.concatenate(xs), np.concatenate(ys)
    base = len(px)
    for frac, mix in ((cfg.mixup, mixup), (cfg.cutmix, cutmix)):
        if frac > 0:  # both fractions are of the augmented pool; the teacher labels the result
            k = int(frac * base)
            sel = rng.choice(base, size=k, replace=k > base)
            px = np.concatenate([px, mix(px[sel], rng)])
            py = np.concatenate([py, np.full(k, -1)])
    pool = Pool(px, py, val_x=val_x, val_pairs=val_pairs, classes=int(y.max()) + 1, teacher_size=size)
    if teacher_spec:
        pool.t, pool.tf = _teacher_embeddings(cfg, teacher_spec, px, emb)
    if student_size != size:
        pool.x = resize_images(px, student_size)
        pool.val_x = resize_images(val_x, student_size) if val_x is not None else None
    return pool


def _teacher_taps(cfg: TrainConfig, spec: str) -> tuple[str, ...]:
    if cfg.feature_distill <= 0:
        return ()
    if cfg.feature_taps:
        return tuple(t.strip() for t in cfg.feature_taps.split(",") if t.strip())
    if spec != "sface":
        raise TrainError("--feature-distill from a teacher other than SFace needs --feature-taps "
                         "(names of the teacher's feature-map tensors)")
    return SFACE_TAPS


FEATURE_CHANNELS = 128  # teacher feature maps are cut to this many channels (fixed projection)


def _teacher_embeddings(cfg: TrainConfig, spec: str, px: np.ndarray,
                        emb: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Teacher embeddings of the pool (and feature maps when distilled), cached in
    <out or --teacher-cache>/teacher_<hash>[_tapK].npy."""
    taps = _teacher_taps(cfg, spec)
    # the cached arrays are projected with seeded matrices to the student's size: both in the key
    key = spec + "".join("|" + t for t in taps) + f"|emb{emb}|seed{cfg.seed}"
    h = hashlib.sha256(px.tobytes()).hexdigest()[:12] + hashlib.sha256(key.encode()).hexdigest()[:6]
    cache_dir = Path(cfg.teacher_cache or cfg.out)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = cache_dir / f"teacher_{h}.npy"
    tap_cache = [cache.with_name(f"teacher_{h}_tap{k}.npy") for k in range(len(taps))]
    if cache.is_file() and all(c.is_file() for c in tap_cache):
        return np.load(cache), [np.load(c) for c in tap_cache]
    teacher = load_teacher(spec, taps)
    if getattr(teacher, "size", None) != px.shape[1]:
        raise TeacherError(f"teacher input size {teacher.size} does not match the student's "
                           f"{px.shape[1]}")
    t0 = time.time()
    imgs = px if px.shape[-1] == 3 else np.repeat(px, 3, -1)
    if taps:
        # a fixed orthonormal cut of each map's channels (like the embedding's projection:
        # it keeps inner products between maps approximately, and nothing is learned)
        qs: dict[int, Optional[np.ndarray]] = {}

        def reduce(k: int, a: np.ndarray) -> np.ndarray:
            if k not in qs:
                qs[k] = projection(FEATURE_CHANNELS, a.shape[1], cfg.seed + 1 + k) if a.shape[1] > FEATURE_CHANNELS else None
            q = qs[k]
            return (np.einsum("nchw,cd->ndhw", a, q) if q is not None else a).astype(np.float16)

        t, tf = teacher.embed_taps(imgs, reduce=reduce)
    else:
        t, tf = teacher.embed(imgs), []
    print(f"teacher embeddings of {len(px)} images: {time.time() - t0:.0f} s", flush=True)
    p = projection(t.shape[1], emb, cfg.seed)
    if p is not None:
        t = t @ p.T
    for arr, c in [(t.astype(np.float32), cache)] + list(zip(tf, tap_cache)):
        tmp = c.with_suffix(".tmp.npy")
        np.save(tmp, arr)
        os.replace(tmp, c)
    return t, tf


def student_taps(arch, teacher_maps: list[np.ndarray], teacher_size: int) -> list[str]:
    """For each teacher feature map, the student layer it teaches: the last layer before the
    embedding output whose map covers the image at the same stride (the same size when the
    inputs are; a 64x64 student's 8x8 map for a 112x112 teacher's 14x14 one)."""
    names = []
    for m in teacher_maps:
        r = m.shape[2] * arch.input.out_shape[1] / teacher_size
        cands = [l.name for l in arch.layers if l.op != "input" and l.out_shape[1] == r and l.out_shape[2] == r]
        if not cands:
            raise TrainError(f"the student has no {r:g}x{r:g} feature map to match the teacher's "
                             f"{m.shape[2]}x{m.shape[3]}")
        names.append(cands[-1])
    return names


def classify_pool(cfg: TrainConfig, size: int) -> Pool:
    if cfg.data == "fashion-mnist":
        x, y = load_fashion_mnist("train", size, limit=cfg.limit)
        tx, ty = load_fashion_mnist("test", size)
    else:
        x, y, _ = load_image_folder(cfg.data, size, channels=1)
        n = len(x) // 10
        idx = np.random.default_rng(cfg.seed).permutation(len(x))
        tx, ty, x, y = x[idx[:n]], y[idx[:n]], x[idx[n:]], y[idx[n:]]
    return Pool(x, y, classes=int(y.max()) + 1, test_x=tx, test_y=ty)
